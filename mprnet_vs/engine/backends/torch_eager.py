"""The torch backend: the network run eagerly by PyTorch, optionally through ``torch.compile``."""

from __future__ import annotations

import torch

from ...errors import first_line
from ...model import MPRNet
from ..precision import check_supported
from .base import Backend, ModelSource, Warn

OOM_ERRORS: tuple[type[BaseException], ...] = (getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError),)


class TorchBackend(Backend):
    """Eager PyTorch, channels-last (faster in both cuDNN and oneDNN). ``compile=True`` wraps
    the model in ``torch.compile``; a compiler that cannot be set up or fails on the first call
    warns once and the model runs eagerly."""

    name = "torch"

    def __init__(
        self, source: ModelSource, device: torch.device, dtype: torch.dtype, warn: Warn, compile: bool = False
    ) -> None:
        super().__init__(source, device, dtype, warn)
        check_supported(dtype, device)
        self.model: MPRNet = source.torch_model(device, dtype)
        self.compile = compile
        self._compiled: torch.nn.Module | None = self._compile(self.model) if compile else None

    def _compile(self, model: MPRNet) -> torch.nn.Module | None:
        try:
            return torch.compile(model)
        except Exception as exc:  # noqa: BLE001 - any compiler set-up failure means "run eagerly"
            self.warn("compile", f"torch.compile is unavailable ({first_line(exc)}); running the model uncompiled")
            return None

    def forward(self, x: torch.Tensor, stages: int) -> torch.Tensor:
        x = x.to(self.dtype).contiguous(memory_format=torch.channels_last)
        compiled = self._compiled
        if compiled is not None:
            try:
                return compiled(x, stages=stages).float()
            except OOM_ERRORS:
                raise
            except Exception as exc:  # noqa: BLE001 - compiler failures surface on first call
                self.warn("compile", f"torch.compile failed ({first_line(exc)}); running the model uncompiled")
                self._compiled = None
        return self.model(x, stages=stages).float()

    def widened(self, dtype: torch.dtype) -> Backend:
        return TorchBackend(self.source, self.device, dtype, self.warn, compile=self.compile)

    def describe(self) -> str:
        return "torch (compiled)" if self._compiled is not None else "torch"
