"""What the ONNX-file backends share: the file per stage count, the size rule, the copies."""

from __future__ import annotations

import threading
from abc import abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import InputError
from ...export.onnx import exact_min_side
from .base import Backend, ModelSource, Warn, require
from .onnx_cache import onnx_file


class OnnxFileBackend(Backend):
    """A backend that runs the network exported to ONNX (:func:`onnx_cache.onnx_file`).

    ``model`` is the torch network the file was exported from (fp32, CPU, shared through the
    model cache). Subclasses load a file (:meth:`load`) and run a float array through it
    (:meth:`run`); this class picks the file for a stage count and converts tensors."""

    extra: str = "onnx"
    runtime_module: str = "onnxruntime"

    def __init__(self, source: ModelSource, device: torch.device, dtype: torch.dtype, warn: Warn, stages: int = 3) -> None:
        super().__init__(source, device, dtype, warn)
        require("onnx", self.extra, f"backend {self.name!r}")
        self.runtime = require(self.runtime_module, self.extra, f"backend {self.name!r}")
        self.model = source.torch_model(torch.device("cpu"), torch.float32)
        self._min_side = exact_min_side(self.model)
        self._loaded: dict[int, Any] = {}
        self._lock = threading.Lock()
        self.prepare()
        self._runner(stages)  # export and load now: errors show at construction, not on frame 1

    def prepare(self) -> None:
        """Check the device and precision before anything is exported (subclasses)."""

    @property
    def file_fp16(self) -> bool:
        """Whether the backend runs an fp16 file (else an fp32 file at its own precision)."""
        return self.dtype == torch.float16

    @property
    def min_side(self) -> int:
        return self._min_side

    def _runner(self, stages: int) -> Any:
        with self._lock:
            if stages not in self._loaded:
                self._loaded[stages] = self.load(onnx_file(self.source, stages, fp16=self.file_fp16))
            return self._loaded[stages]

    @abstractmethod
    def load(self, path: Path) -> Any:
        """The runtime's loaded form of the ONNX file at ``path``."""

    @abstractmethod
    def run(self, runner: Any, x: np.ndarray) -> np.ndarray:
        """The output array of ``runner`` for the input array ``x`` (N x 3 x H x W)."""

    def check_side(self, x: torch.Tensor) -> None:
        """Refuse an input smaller than :attr:`min_side` (a dynamic file with local statistics
        is not exact there, and may not run at all)."""
        height, width = x.shape[-2:]
        if min(height, width) < self._min_side:
            raise InputError(
                f"backend {self.name!r}: a {width}x{height} frame or tile is smaller than the {self._min_side} px "
                f"per side its exported network is exact for (local statistics for "
                f"{self.model.local_stats_patch} px crops); use tile >= {self._min_side} or backend='torch'"
            )

    def forward(self, x: torch.Tensor, stages: int) -> torch.Tensor:
        self.check_side(x)
        array = x.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()
        out = self.run(self._runner(stages), array)
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)).to(self.device)

    def bytes_per_pixel(self, stages: int) -> float:
        from .. import autotile

        # The runtimes' arenas hold about what torch's CPU estimate allows for.
        return autotile.bytes_per_pixel(self.model, stages, torch.float32, torch.device("cpu"))

    def widened(self, dtype: torch.dtype) -> Backend:
        return type(self)(self.source, self.device, dtype, self.warn, stages=next(iter(self._loaded), 3))
