"""The onnxruntime backend: the exported network run by ONNX Runtime.

On the CPU it uses the CPU execution provider with every graph optimisation and as many
intra-op threads as torch uses (measured in docs/benchmarks.md); on a CUDA device the CUDA
provider (``pip install onnxruntime-gpu``), preceded by the TensorRT provider where the
installed onnxruntime has it (engines cached in the user cache folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import PresetError
from ...weights import cache_dir
from .onnx_common import OnnxFileBackend


class OnnxRuntimeBackend(OnnxFileBackend):
    name = "onnxruntime"
    dtypes = (torch.float32, torch.float16)

    def prepare(self) -> None:
        self.refuse_unsupported_dtype()
        available = self.runtime.get_available_providers()
        if self.device.type == "cpu":
            self.providers: list[Any] = ["CPUExecutionProvider"]
            return
        if "CUDAExecutionProvider" not in available:
            raise PresetError(
                f"backend 'onnxruntime' on {self.device}: this onnxruntime has no CUDA provider "
                f"(it has {', '.join(available)}); pip install onnxruntime-gpu, or use device='cpu'"
            )
        index = self.device.index or 0
        self.providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        if "TensorrtExecutionProvider" in available:
            engines = cache_dir() / "ort-tensorrt"
            engines.mkdir(parents=True, exist_ok=True)
            trt = {"device_id": index, "trt_fp16_enable": self.dtype == torch.float16,
                   "trt_engine_cache_enable": True, "trt_engine_cache_path": str(engines)}
            self.providers.insert(0, ("TensorrtExecutionProvider", trt))

    def load(self, path: Path) -> Any:
        ort = self.runtime
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = max(1, torch.get_num_threads())
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        return ort.InferenceSession(str(path), options, providers=self.providers)

    def run(self, runner: Any, x: np.ndarray) -> np.ndarray:
        return runner.run(None, {"input": x})[0]

    def describe(self) -> str:
        provider = self.providers[0]
        return f"onnxruntime ({provider[0] if isinstance(provider, tuple) else provider})"
