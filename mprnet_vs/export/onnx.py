"""Exporting an MPRNet to one self-contained ONNX file, checked against torch before it is written.

Why these choices (measured, see docs/backends.md):
- torch's legacy (TorchScript) exporter, ``dynamo=False``: seconds per file where the dynamo
  exporter took minutes, and one file then serves every batch and every height and width that
  is a multiple of 8. The model stacks quarters and halves along the batch and splits them back
  with ``Tensor.chunk``; the legacy exporter keeps that batch dynamic (the dynamo exporter
  silently fixes it), which the export check verifies with a batch of 2.
- Weights inside the file (no ``.data`` side file): vs-mlrt's plugins need that.
- Local statistics (:mod:`mprnet_vs.model.local_stats`) choose per block, from the input size,
  between pooling the whole input and pooling windows; a trace records one choice. A dynamic
  file is therefore traced where every block pools windows (at least 256 px per side) and is
  exact only for inputs where torch makes the same choice, from :func:`exact_min_side` on;
  smaller inputs are refused by the engine's backends. A static file is traced at its own size
  and is exact there.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..engine.backends.base import require
from ..engine.padding import padded_size
from ..errors import InputError, MprnetError, UsageError, first_line
from ..model import SIZE_MULTIPLE, STAGE_CHOICES, MPRNet
from ..model.local_stats import block_input_sizes
from ..safe_output import atomic_output

OPSETS = range(13, 22)
DEFAULT_OPSET = 17
TRACE_SIDE = 64  # any multiple of 8 traces the same graph when local statistics are off
LOCAL_STATS_TRACE_SIDE = 256
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}  # largest |onnx - torch fp32| the export check accepts
INPUT, OUTPUT = "input", "output"


@dataclass(frozen=True)
class OnnxSettings:
    """What to export. ``static`` (width, height) fixes the frame size (TensorRT-style); None
    keeps height and width dynamic. ``batch`` fixes the batch (vs-mlrt needs 1); None keeps it
    dynamic. ``fp16`` stores fp16 weights and computes in fp16; ``fp16_io`` also makes the
    input and output fp16 (vs-mlrt: RGBH clips), otherwise they stay fp32."""

    stages: int = 3
    fp16: bool = False
    fp16_io: bool = False
    static: tuple[int, int] | None = None
    batch: int | None = None
    opset: int = DEFAULT_OPSET

    def check(self) -> OnnxSettings:
        if self.stages not in STAGE_CHOICES:
            raise UsageError(f"stages must be one of {STAGE_CHOICES}, got {self.stages!r}")
        if self.static is not None:
            width, height = self.static
            if width <= 0 or height <= 0 or width % SIZE_MULTIPLE or height % SIZE_MULTIPLE:
                raise UsageError(
                    f"static size {width}x{height}: width and height must be positive multiples of {SIZE_MULTIPLE}"
                )
        if self.batch is not None and self.batch < 1:
            raise UsageError(f"batch must be at least 1, got {self.batch}")
        if self.opset not in OPSETS:
            raise UsageError(f"opset {self.opset} is not supported: choose {OPSETS.start}..{OPSETS.stop - 1}")
        if self.fp16_io and not self.fp16:
            raise UsageError("fp16 inputs and outputs need fp16 weights (fp16=True)")
        return self

    @property
    def precision(self) -> str:
        return "fp16" if self.fp16 else "fp32"


def exact_min_side(model: MPRNet) -> int:
    """The smallest height and width a dynamic export of ``model`` runs exactly (SIZE_MULTIPLE
    without local statistics). Every block's input grows in proportion to the frame; a block
    pools windows (as the traced graph always does) once its input is at least its window on
    each axis, so the bound is the largest window / input ratio seen at the training crop."""
    patch = model.local_stats_patch
    if not patch:
        return SIZE_MULTIPLE
    seen = block_input_sizes(model, patch)
    blocks = [b for b in seen if b.window is not None]
    need = max(max(b.window[0] * patch / seen[b][0], b.window[1] * patch / seen[b][1]) for b in blocks)
    return padded_size(math.ceil(need - 1e-9))


def trace_shape(model: MPRNet, settings: OnnxSettings) -> tuple[int, int, int]:
    """(batch, height, width) of the example input the graph is traced with."""
    batch = settings.batch or 1
    if settings.static is not None:
        width, height = settings.static
        return batch, height, width
    if not model.local_stats_patch:
        return batch, TRACE_SIDE, TRACE_SIDE
    side = max(LOCAL_STATS_TRACE_SIDE, 2 * exact_min_side(model))
    return batch, side, side


def check_sizes(model: MPRNet, settings: OnnxSettings) -> list[tuple[int, int, int]]:
    """The (batch, height, width) inputs the export is checked on: two sizes (and a batch of 2
    where the batch is dynamic), all at least :func:`exact_min_side`; a static file is checked
    at its size with two different images."""
    batch = settings.batch or 2
    if settings.static is not None:
        width, height = settings.static
        return [(settings.batch or 1, height, width), (batch, height, width)]
    low = max(exact_min_side(model), 2 * SIZE_MULTIPLE)
    return [(1, low, low + SIZE_MULTIPLE), (batch, low + 2 * SIZE_MULTIPLE, low + 5 * SIZE_MULTIPLE)]


class _Graph(nn.Module):
    """What is traced: one stage count, fp32 or fp16 inside, fp32 or fp16 at the edges."""

    def __init__(self, model: MPRNet, stages: int, compute: torch.dtype, io_dtype: torch.dtype) -> None:
        super().__init__()
        self.model, self.stages, self.compute, self.io_dtype = model, stages, compute, io_dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(self.compute), stages=self.stages).to(self.io_dtype)


def to_onnx_bytes(model: MPRNet, settings: OnnxSettings) -> bytes:
    """The serialised ONNX graph of ``model`` (left unchanged) for ``settings``."""
    settings.check()
    compute = torch.float16 if settings.fp16 else torch.float32
    io_dtype = torch.float16 if settings.fp16_io else torch.float32
    network = copy.deepcopy(model).to(device="cpu", dtype=compute, memory_format=torch.contiguous_format).eval()
    graph = _Graph(network, settings.stages, compute, io_dtype)
    example = torch.rand(*_nchw(trace_shape(model, settings), model.config.in_c), generator=torch.Generator().manual_seed(0))
    axes: dict[int, str] = {}
    if settings.batch is None:
        axes[0] = "batch"
    if settings.static is None:
        axes.update({2: "height", 3: "width"})
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer warnings
        try:
            torch.onnx.export(
                graph, (example.to(io_dtype),), buffer, dynamo=False, opset_version=settings.opset,
                input_names=[INPUT], output_names=[OUTPUT], do_constant_folding=True,
                dynamic_axes={INPUT: axes, OUTPUT: axes} if axes else None,
            )
        except Exception as exc:  # noqa: BLE001 - the exporter's own error types vary by version
            raise MprnetError(f"ONNX export failed at opset {settings.opset}: {first_line(exc)}") from None
    return buffer.getvalue()


def _nchw(shape: tuple[int, int, int], channels: int) -> tuple[int, int, int, int]:
    batch, height, width = shape
    return batch, channels, height, width


def with_metadata(data: bytes, metadata: dict[str, str]) -> bytes:
    """``data`` with ``metadata`` in the ONNX file's metadata_props (ONNX keeps strings)."""
    onnx = require("onnx", "onnx", "ONNX export")
    proto = onnx.load_from_string(data)
    del proto.metadata_props[:]
    for key, value in metadata.items():
        onnx.helper.set_model_props(proto, {**{p.key: p.value for p in proto.metadata_props}, key: value})
    proto.producer_name, proto.producer_version = "mprnet-vs", __version__
    return proto.SerializeToString()


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata an exported file records (task, stages, config, size_multiple, min_side,
    local_stats, precision, io, checkpoint_sha256)."""
    onnx = require("onnx", "onnx", "ONNX export")
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def verify(data: bytes, model: MPRNet, settings: OnnxSettings) -> float:
    """Largest |onnxruntime - torch fp32| over :func:`check_sizes`; an error above TOLERANCE."""
    ort = require("onnxruntime", "onnx", "ONNX export")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    reference = _fp32_copy(model)
    worst = 0.0
    generator = torch.Generator().manual_seed(1)
    for shape in check_sizes(model, settings):
        x = torch.rand(*_nchw(shape, model.config.in_c), generator=generator)
        with torch.inference_mode():
            expected = reference(x, stages=settings.stages).numpy()
        feed = x.numpy().astype(np.float16 if settings.fp16_io else np.float32)
        try:
            got = session.run(None, {INPUT: feed})[0].astype(np.float32)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise MprnetError(f"export check: the ONNX file fails on {_describe(shape)} ({first_line(exc)})") from None
        if got.shape != expected.shape:
            raise MprnetError(f"export check: output {got.shape} for {_describe(shape)}, expected {expected.shape}")
        error = float(np.nanmax(np.abs(got - expected))) if np.isfinite(got).all() else math.inf
        if error > TOLERANCE[settings.precision]:
            raise MprnetError(
                f"export check: the ONNX file differs from torch by {error:.3g} on {_describe(shape)} "
                f"(allowed {TOLERANCE[settings.precision]:g} for {settings.precision}); nothing was written"
            )
        worst = max(worst, error)
    return worst


def _fp32_copy(model: MPRNet) -> MPRNet:
    param = next(model.parameters())
    if param.dtype == torch.float32 and param.device.type == "cpu":
        return model
    return copy.deepcopy(model).to(device="cpu", dtype=torch.float32)


def _describe(shape: tuple[int, int, int]) -> str:
    batch, height, width = shape
    return f"a batch of {batch} at {width}x{height}"


def check_target(target: Path, inputs: tuple[Path, ...] = ()) -> Path:
    """Refuse, before any work, an output that is a folder, lies in a missing folder, or is one
    of the ``inputs`` (never overwrite the checkpoint being exported)."""
    from ..safe_output import refuse_inputs

    target = Path(target).expanduser()
    if target.is_dir():
        raise InputError(f"{target}: is a folder; give the .onnx file to write")
    if not target.parent.is_dir():
        raise InputError(f"{target}: output folder {target.parent} does not exist")
    refuse_inputs(target, [p for p in inputs if p.exists()])
    return target


def write_onnx(model: MPRNet, target: Path, settings: OnnxSettings, metadata: dict[str, str]) -> float:
    """Export, check and atomically write ``model`` to ``target``; returns the largest
    difference from torch the check found. Nothing is written when any step fails."""
    settings.check()
    data = to_onnx_bytes(model, settings)
    worst = verify(data, model, settings)
    meta = {
        **metadata,
        "stages": str(settings.stages),
        "config": json.dumps(model.config.as_dict(), sort_keys=True),
        "size_multiple": str(SIZE_MULTIPLE),
        "min_side": str(exact_min_side(model) if settings.static is None else SIZE_MULTIPLE),
        "local_stats": str(model.local_stats_patch or 0),
        "precision": settings.precision,
        "io": "fp16" if settings.fp16_io else "fp32",
        "max_error_vs_torch": f"{worst:.3g}",
    }
    data = with_metadata(data, meta)
    with atomic_output(target) as temp:
        temp.write_bytes(data)
    return worst
