"""The seam between the Restorer and whatever runs the network.

A :class:`Backend` is one MPRNet loaded onto a device in a dtype. The Restorer pads, tiles,
batches, retries after out-of-memory errors and clamps; it asks the backend only to run a
padded batch (:meth:`Backend.forward`), how much memory a pixel costs (for ``tile="auto"``),
the smallest frame or tile side it runs exactly, and for a copy in a wider dtype after an
output overflowed (:meth:`Backend.widened`).
"""

from __future__ import annotations

import copy
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from ...errors import MissingDependency, PresetError
from ...model import SIZE_MULTIPLE, MPRNet, use_local_statistics
from .. import autotile, cache

Warn = Callable[[str, str], None]  # (topic, message): the Restorer warns once per topic


@dataclass(frozen=True, eq=False)
class ModelSource:
    """Where a backend's network comes from: a checkpoint (loaded once per process through the
    shared model cache) or an in-memory model (copied, so the caller's is never changed), and
    the local-statistics setting (None = what the checkpoint records, 0 = off, N = N x N crops)."""

    checkpoint: Path | None
    module: MPRNet | None = None
    local_stats: int | None = None

    def torch_model(self, device: torch.device, dtype: torch.dtype) -> MPRNet:
        """The network on ``device`` in ``dtype``, eval mode, channels-last, no gradients."""
        if self.module is None:
            assert self.checkpoint is not None
            return cache.get_model(self.checkpoint, device, dtype, self.local_stats)
        model = copy.deepcopy(self.module).to(device=device, dtype=dtype, memory_format=torch.channels_last)
        if self.local_stats is not None:
            use_local_statistics(model, self.local_stats)
        return model.eval().requires_grad_(False)

    def fingerprint(self) -> str:
        """sha256 of the weights: of the checkpoint file, or of an in-memory model's tensors
        (what caches of exported or built models are keyed by)."""
        digest = hashlib.sha256()
        if self.module is None:
            assert self.checkpoint is not None
            with open(self.checkpoint, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            return digest.hexdigest()
        for name, tensor in self.module.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()


class Backend(ABC):
    """One network on ``device`` in ``dtype``. ``model`` is the torch MPRNet it runs or was
    built from (its ``config`` and ``local_stats_patch`` describe the network either way)."""

    name: ClassVar[str]
    # The dtypes this backend computes in (None: any the device supports); the precision
    # fallback skips the others, and a Restorer asking for one of them is refused.
    dtypes: ClassVar[tuple[torch.dtype, ...] | None] = None
    model: MPRNet

    def __init__(self, source: ModelSource, device: torch.device, dtype: torch.dtype, warn: Warn) -> None:
        self.source = source
        self.device = device
        self.dtype = dtype
        self.warn = warn

    @abstractmethod
    def forward(self, x: torch.Tensor, stages: int) -> torch.Tensor:
        """B x 3 x H x W (H, W multiples of 8, any float dtype, on ``device``) -> the network's
        output of stage ``stages`` as float32 on ``device``, unclamped."""

    @property
    def min_side(self) -> int:
        """The smallest frame or tile side this backend computes exactly as the torch model."""
        return SIZE_MULTIPLE

    def bytes_per_pixel(self, stages: int) -> float:
        """Peak forward-pass memory per input pixel of one image (sizes ``tile="auto"``)."""
        return autotile.bytes_per_pixel(self.model, stages, self.dtype, self.device)

    def supports(self, dtype: torch.dtype) -> bool:
        return self.dtypes is None or dtype in self.dtypes

    def refuse_unsupported_dtype(self) -> None:
        """A clear construction-time error for a precision this backend cannot run."""
        from ..precision import NAMES

        if not self.supports(self.dtype):
            assert self.dtypes is not None
            raise PresetError(
                f"backend {self.name!r} cannot run precision {NAMES.get(self.dtype, self.dtype)}; "
                f"use {' or '.join(NAMES[d] for d in self.dtypes)} (or backend='torch')"
            )

    def widened(self, dtype: torch.dtype) -> Backend:
        """The same network in ``dtype`` (precision "auto" after an overflow)."""
        return type(self)(self.source, self.device, dtype, self.warn)

    def describe(self) -> str:
        """A few words for reprs and benchmark tables."""
        return self.name


def require(module: str, extra: str, user: str):  # noqa: ANN201 - returns the imported module
    """Import an optional dependency of ``user`` ("backend 'openvino'", "ONNX export"); a
    missing one is one line naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if "mismatches with OpenVINO Runtime" in str(exc):
            # vs-mlrt's ov plugin brings its own OpenVINO runtime; once VapourSynth has loaded it,
            # the openvino package refuses to load against it.
            raise MissingDependency(
                f"{user}: the openvino package cannot load next to the OpenVINO runtime VapourSynth's "
                "ov plugin (vs-mlrt) already loaded; import openvino before the VapourSynth core is "
                "first used, or use backend='onnxruntime'"
            ) from None
        raise MissingDependency(
            f"{user} needs the Python package '{module}' ({exc.name or module} is not installed): "
            f"pip install mprnet-vs[{extra}]"
        ) from None

