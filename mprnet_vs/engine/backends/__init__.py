"""What runs the network: torch (eager or compiled), ONNX Runtime, OpenVINO, TensorRT.

Every backend implements :class:`Backend`; the Restorer keeps padding, tiling, batching,
out-of-memory retries, the precision fallback and clamping, so they behave the same whichever
backend runs. A backend's optional package is imported only when that backend is chosen.
"""

from __future__ import annotations

import importlib.util

import torch

from ..options import BACKEND_HELP, BACKENDS, check_backend
from .base import Backend, ModelSource, Warn

__all__ = ["BACKENDS", "BACKEND_HELP", "Backend", "ModelSource", "auto_backend", "check_backend", "make_backend"]


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def auto_backend(device: torch.device, local_stats: bool) -> str:
    """The backend ``backend="auto"`` runs, by this rule (measured in docs/benchmarks.md):

    - local statistics on: torch. Exported files are exact only from 144 px per side up (for
      96 px crops), and torch is exact at every size.
    - CPU: openvino when installed (1.2-1.8x torch eager at <= 1e-6), else torch
      (onnxruntime measured 0.84-1.03x torch: never faster enough to be chosen).
    - CUDA: tensorrt when installed (public reports: 1.5-2x eager), else torch (onnxruntime's
      CUDA provider copies every batch through host memory here, so it is not faster).
    """
    if local_stats:
        return "torch"
    if device.type == "cpu":
        return "openvino" if _installed("openvino") and _installed("onnx") else "torch"
    return "tensorrt" if _installed("tensorrt") and _installed("onnx") else "torch"


def make_backend(
    name: str, source: ModelSource, device: torch.device, dtype: torch.dtype, warn: Warn, *,
    compile: bool = False, stages: int = 3,
) -> Backend:
    """A loaded backend ``name`` (see :data:`BACKENDS`) for ``source`` on ``device`` in ``dtype``.
    ``stages`` is what the ONNX backends export first (others are exported when asked for)."""
    name = check_backend(name)
    if name == "auto":
        local = bool(source.local_stats) or (source.local_stats is None and _records_local_stats(source))
        name = auto_backend(device, local)
    if compile and name != "torch":
        warn("compile", f"compile=True applies to backend 'torch' only; backend {name!r} compiles its own graph")
    if name == "torch":
        from .torch_eager import TorchBackend

        return TorchBackend(source, device, dtype, warn, compile=compile)
    if name == "tensorrt":
        from .tensorrt_backend import TensorRTBackend

        return TensorRTBackend(source, device, dtype, warn, stages=stages)
    if name == "onnxruntime":
        from .ort_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(source, device, dtype, warn, stages=stages)
    from .openvino_backend import OpenVinoBackend

    return OpenVinoBackend(source, device, dtype, warn, stages=stages)


def _records_local_stats(source: ModelSource) -> bool:
    """Whether the network uses local statistics when the setting is left to the checkpoint."""
    return bool(source.torch_model(torch.device("cpu"), torch.float32).local_stats_patch)
