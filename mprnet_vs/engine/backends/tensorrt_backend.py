"""The tensorrt backend: TensorRT engines built from our verified fp32 ONNX file (CUDA only).

One engine per input shape (batch, height, width): video repeats one shape, and an engine
built for exactly that shape gets TensorRT's fastest kernels for it. Building takes from
seconds to minutes, so built engines are kept in ``<user cache>/mprnet-vs/tensorrt``, keyed by
the GPU's name and compute capability, the TensorRT version, the ONNX file (itself keyed by
checkpoint hash, stages and local statistics), the shape and the precision. fp16 builds let
TensorRT choose fp16 kernels (``BuilderFlag.FP16``); fp32 builds turn TF32 off, so fp32 means
fp32. Inputs and outputs stay fp32 CUDA tensors, bound by address: no host copies.
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import MprnetError, PresetError
from ...safe_output import atomic_output
from ...weights import cache_dir
from .onnx_common import OnnxFileBackend

WORKSPACE_BYTES = 4 << 30


def engine_folder() -> Path:
    return cache_dir() / "tensorrt"


class TensorRTBackend(OnnxFileBackend):
    name = "tensorrt"
    dtypes = (torch.float32, torch.float16)
    extra = "tensorrt"
    runtime_module = "tensorrt"

    def __init__(self, source, device, dtype, warn, stages: int = 3) -> None:  # noqa: ANN001 - as Backend
        # A GPU-only backend says so before anything else (also before a missing package).
        if device.type != "cuda" or not torch.cuda.is_available():
            raise PresetError(
                f"backend 'tensorrt' needs a CUDA GPU (this Restorer runs on {device}"
                f"{'' if torch.cuda.is_available() else ', and torch sees no CUDA GPU'}); "
                "use backend 'onnxruntime' or 'openvino' on the CPU"
            )
        super().__init__(source, device, dtype, warn, stages)

    def prepare(self) -> None:
        self.refuse_unsupported_dtype()
        trt = self.runtime
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.trt_runtime = trt.Runtime(self.logger)
        self._engines: dict[tuple[str, tuple[int, ...]], tuple[Any, Any]] = {}
        self._engine_lock = threading.Lock()
        props = torch.cuda.get_device_properties(self.device)
        self.gpu_key = re.sub(r"[^A-Za-z0-9]+", "-", f"{props.name}-sm{props.major}{props.minor}").strip("-")

    @property
    def file_fp16(self) -> bool:
        return False  # TensorRT lowers the precision itself (BuilderFlag.FP16)

    def load(self, path: Path) -> Any:
        return path  # engines are built per shape, on first use

    def _engine_path(self, onnx_path: Path, shape: tuple[int, ...]) -> Path:
        precision = "fp16" if self.dtype == torch.float16 else "fp32"
        ident = hashlib.sha256(f"{onnx_path.name}:{self.gpu_key}:{self.runtime.__version__}".encode()).hexdigest()[:16]
        dims = "x".join(str(d) for d in shape)
        return engine_folder() / f"{self.gpu_key}-trt{self.runtime.__version__}-{dims}-{precision}-{ident}.engine"

    def _build(self, onnx_path: Path, shape: tuple[int, ...]) -> bytes:
        trt = self.runtime
        builder = trt.Builder(self.logger)
        network = builder.create_network(0)  # explicit batch: the only kind TensorRT 10 has
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse(onnx_path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise MprnetError(f"TensorRT cannot parse {onnx_path}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        if self.dtype == torch.float16:
            config.set_flag(trt.BuilderFlag.FP16)
        else:
            config.clear_flag(trt.BuilderFlag.TF32)
        profile = builder.create_optimization_profile()
        profile.set_shape("input", shape, shape, shape)
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise MprnetError(f"TensorRT could not build an engine for {onnx_path.name} at shape {shape}")
        return bytes(serialized)

    def _context(self, onnx_path: Path, shape: tuple[int, ...]) -> tuple[Any, Any]:
        key = (onnx_path.name, shape)  # one engine per stage count's file and per shape
        with self._engine_lock:
            if key not in self._engines:
                path = self._engine_path(onnx_path, shape)
                if path.is_file():
                    data = path.read_bytes()
                else:
                    data = self._build(onnx_path, shape)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_output(path) as temp:
                        temp.write_bytes(data)
                engine = self.trt_runtime.deserialize_cuda_engine(data)
                if engine is None:  # e.g. a cached engine from another build of TensorRT
                    path.unlink(missing_ok=True)
                    raise MprnetError(f"TensorRT could not load the engine {path}; it was removed, try again")
                context = engine.create_execution_context()
                context.set_input_shape("input", shape)
                self._engines[key] = (engine, context)
            return self._engines[key]

    def forward(self, x: torch.Tensor, stages: int) -> torch.Tensor:
        self.check_side(x)
        onnx_path = self._runner(stages)  # the verified fp32 file (load() keeps its path)
        shape = tuple(x.shape)
        engine, context = self._context(onnx_path, shape)
        inputs = x.detach().to(device=self.device, dtype=torch.float32).contiguous()
        out = torch.empty(shape, dtype=torch.float32, device=self.device)
        with self._engine_lock, torch.cuda.device(self.device):
            context.set_tensor_address("input", inputs.data_ptr())
            context.set_tensor_address("output", out.data_ptr())
            stream = torch.cuda.current_stream(self.device)
            if not context.execute_async_v3(stream.cuda_stream):
                raise MprnetError(f"TensorRT failed to run the engine for shape {shape}")
        return out

    def run(self, runner: Any, x: np.ndarray) -> np.ndarray:  # pragma: no cover - forward binds CUDA tensors
        raise NotImplementedError

    def bytes_per_pixel(self, stages: int) -> float:
        from .. import autotile

        # TensorRT fuses and reuses activations: torch's measured CUDA footprint is an upper bound.
        model = self.source.torch_model(self.device, self.dtype)
        return autotile.bytes_per_pixel(model, stages, self.dtype, self.device)

    def describe(self) -> str:
        return f"tensorrt {self.runtime.__version__} ({'fp16' if self.dtype == torch.float16 else 'fp32'})"
