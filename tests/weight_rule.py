"""The golden files' deterministic weight and input rule (see tests/data/README.md).

Integer-only arithmetic (splitmix64 over a crc32 key) makes every float32 bit reproducible on
any machine, so the released code's outputs for these weights can be checked exactly.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def uniform(name: str, seed: int, shape) -> np.ndarray:
    """float32 values in [-1, 1), C order."""
    count = int(np.prod(shape)) if len(shape) else 1
    key = zlib.crc32(f"{seed}:{name}".encode())
    offset = np.uint64((key * _GOLDEN + _GOLDEN) & _MASK)
    with np.errstate(over="ignore"):
        z = np.arange(count, dtype=np.uint64) + offset
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    top24 = (z >> np.uint64(40)).astype(np.float64)
    return (top24 / float(1 << 23) - 1.0).astype(np.float32).reshape(shape)


def weight(name: str, shape, seed: int) -> np.ndarray:
    if int(np.prod(shape)) == 1:
        return np.full(shape, 0.25, dtype=np.float32)
    fan_in = int(np.prod(shape[1:]))
    return (uniform(name, seed, shape) * np.float32(1.0 / np.sqrt(fan_in))).astype(np.float32)


def image(seed: int, shape) -> np.ndarray:
    return ((uniform("image", seed, shape) + 1.0) * 0.5).astype(np.float32)


def state_dict_for(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Deterministic weights for every entry of ``model``'s state dict."""
    return {
        name: torch.from_numpy(weight(name, tuple(t.shape), seed)) for name, t in model.state_dict().items()
    }
