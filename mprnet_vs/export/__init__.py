"""Exporting models for other runtimes: ONNX (onnxruntime, OpenVINO, TensorRT, vs-mlrt)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..engine.backends.base import ModelSource
from ..tasks import check_task
from ..weights import check_local_stats, resolve_weights
from .onnx import DEFAULT_OPSET, OnnxSettings, check_target, exact_min_side, read_metadata, write_onnx

__all__ = ["ExportResult", "OnnxSettings", "export_onnx", "exact_min_side", "read_metadata"]


@dataclass(frozen=True)
class ExportResult:
    path: Path
    checkpoint: Path
    max_error: float  # largest |onnx - torch fp32| the check before writing found
    min_side: int  # smallest height and width the file runs exactly (dynamic files)


def export_onnx(
    target: str | os.PathLike,
    task: str | None = None,
    *,
    weights: str | os.PathLike | None = None,
    stages: int = 3,
    local_stats: int | None = None,
    fp16: bool = False,
    fp16_io: bool = False,
    static: tuple[int, int] | None = None,
    batch: int | None = None,
    opset: int = DEFAULT_OPSET,
) -> ExportResult:
    """Export the checkpoint of ``task`` (or ``weights``) to ``target`` (.onnx), check it with
    onnxruntime against torch on two sizes, and write it atomically.

    ``static`` (width, height): a fixed frame size, multiples of 8 (default: dynamic height and
    width). ``batch``: a fixed batch (default dynamic; vs-mlrt needs 1, and runs any file by
    fixing the batch itself). ``fp16``: fp16 weights and arithmetic, with fp32 inputs and
    outputs unless ``fp16_io``. ``local_stats`` as for :class:`mprnet_vs.Restorer`; a dynamic
    file with local statistics runs exactly only from :func:`exact_min_side` px per side up.
    The file records task, stages, config, size multiple, minimum side, local statistics,
    precision and the checkpoint's sha256 in its metadata."""
    settings = OnnxSettings(stages, fp16, fp16_io, static, batch, opset).check()
    task = check_task(task) if task is not None else None
    source = ModelSource(resolve_weights(task, weights), None, check_local_stats(local_stats))
    assert source.checkpoint is not None
    path = check_target(Path(target), (source.checkpoint,))
    model = source.torch_model(torch.device("cpu"), torch.float32)
    metadata = {"task": task or "", "checkpoint_sha256": source.fingerprint(), "checkpoint": source.checkpoint.name}
    worst = write_onnx(model, path, settings, metadata)
    return ExportResult(path, source.checkpoint, worst, exact_min_side(model) if static is None else 8)
