"""The openvino backend: the exported network compiled by OpenVINO for the CPU.

The fp32 file is read once; for each input shape a copy is reshaped to that static shape and
compiled (video repeats one shape, and a static shape compiles to faster kernels than the
dynamic graph: measured in docs/benchmarks.md). The precision is OpenVINO's inference
precision hint, set explicitly: left alone, OpenVINO computes in bf16 on CPUs that have it,
which is not what precision fp32 means.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import PresetError
from .onnx_common import OnnxFileBackend

HINTS = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}


class OpenVinoBackend(OnnxFileBackend):
    name = "openvino"
    dtypes = tuple(HINTS)
    extra = "openvino"
    runtime_module = "openvino"

    def prepare(self) -> None:
        self.refuse_unsupported_dtype()
        if self.device.type != "cpu":
            raise PresetError(
                f"backend 'openvino' runs on the CPU, not {self.device}: use device='cpu' "
                "(or backend 'tensorrt' / 'onnxruntime' on a CUDA GPU)"
            )
        self.core = self.runtime.Core()
        self.config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": max(1, torch.get_num_threads()),
            "INFERENCE_PRECISION_HINT": HINTS[self.dtype],
        }
        self._compiled: dict[tuple[int, ...], Any] = {}
        self._compile_lock = threading.Lock()

    @property
    def file_fp16(self) -> bool:
        return False  # OpenVINO lowers the precision itself (INFERENCE_PRECISION_HINT)

    def load(self, path: Path) -> Any:
        return self.core.read_model(str(path))

    def _compiled_for(self, network: Any, shape: tuple[int, ...]) -> Any:
        key = (id(network), *shape)
        with self._compile_lock:
            if key not in self._compiled:
                static = network.clone()
                static.reshape(list(shape))
                self._compiled[key] = self.core.compile_model(static, "CPU", self.config)
            return self._compiled[key]

    def run(self, runner: Any, x: np.ndarray) -> np.ndarray:
        request = self._compiled_for(runner, x.shape).create_infer_request()
        request.infer({0: x})
        return request.get_output_tensor(0).data.copy()

    def describe(self) -> str:
        return f"openvino (CPU, {self.config['INFERENCE_PRECISION_HINT']})"
