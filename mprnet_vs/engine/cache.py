"""Process-wide cache of loaded models, so several filters on one device share one copy.

Keyed by the checkpoint's resolved path, its modification time and size (a rewritten file is
loaded afresh), the device, the dtype and the local-statistics setting. One lock guards it: VapourSynth may build filters
from several threads at once, and each checkpoint must still be read only once.
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from ..model import MPRNet, use_local_statistics
from ..weights import load_model

CacheKey = tuple[str, int, int, str, str, int | None]

_models: dict[CacheKey, torch.nn.Module] = {}
_lock = threading.Lock()


def _key(path: Path, device: torch.device, dtype: torch.dtype, local_stats: int | None) -> CacheKey:
    resolved = path.expanduser().resolve()
    try:
        stat = resolved.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = (-1, -1)  # load_model reports the missing file with a clear message
    return (str(resolved), *stamp, str(device), str(dtype), local_stats)


def get_model(path: Path, device: torch.device, dtype: torch.dtype, local_stats: int | None = None) -> MPRNet:
    """The model of ``path`` on ``device`` in ``dtype`` (eval mode, no gradients), loading it
    on first use. Its weights are laid out channels-last, which both cuDNN and oneDNN (CPU) run
    faster (about 1.25x on the CPU, see docs/benchmarks.md). ``local_stats``: None keeps the
    checkpoint's own setting, 0 turns local statistics off, N sizes them for N x N crops."""
    key = _key(path, device, dtype, local_stats)
    with _lock:
        model = _models.get(key)
        if model is None:
            model = load_model(path, device=device, dtype=dtype).to(memory_format=torch.channels_last)
            if local_stats is not None:
                use_local_statistics(model, local_stats)
            model.requires_grad_(False)
            _models[key] = model
        return model  # type: ignore[return-value]


def loaded_model_count() -> int:
    """How many distinct models are resident (one per checkpoint, device and dtype)."""
    with _lock:
        return len(_models)


def clear_model_cache() -> None:
    """Forget every cached model (Restorers still holding one keep it alive)."""
    with _lock:
        _models.clear()
