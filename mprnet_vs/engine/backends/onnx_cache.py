"""ONNX files for the ONNX backends, exported on demand and kept in the user cache folder.

A file is keyed by what changes the graph: the checkpoint's sha256, stages, local statistics,
opset and precision (plus a format number bumped when the export changes). Exports are checked
against torch before they are written (:mod:`mprnet_vs.export.onnx`), atomically, so a cache
entry is always a complete, verified file; two processes exporting at once both write a good
file and the last rename wins.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from ...weights import cache_dir
from .base import ModelSource

FORMAT = 1
OPSET = 17
_lock = threading.Lock()
_fingerprints: dict[tuple[str, int, int], str] = {}


def folder() -> Path:
    """Where exported files are kept: ``<user cache>/mprnet-vs/onnx``."""
    return cache_dir() / "onnx"


def _fingerprint(source: ModelSource) -> str:
    if source.module is not None or source.checkpoint is None:
        return source.fingerprint()
    stat = source.checkpoint.stat()
    key = (str(source.checkpoint.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _fingerprints:
        _fingerprints[key] = source.fingerprint()
    return _fingerprints[key]


def onnx_file(source: ModelSource, stages: int, fp16: bool = False) -> Path:
    """A verified ONNX file (dynamic batch, height and width; fp32 or fp16 weights, fp32 I/O)
    of ``source``'s network for ``stages``, exported the first time it is asked for."""
    from ...export.onnx import OnnxSettings, write_onnx

    import torch

    model = source.torch_model(torch.device("cpu"), torch.float32)
    patch = model.local_stats_patch or 0
    precision = "fp16" if fp16 else "fp32"
    sha = _fingerprint(source)
    name = hashlib.sha256(f"{FORMAT}:{sha}:{stages}:{patch}:{OPSET}:{precision}".encode()).hexdigest()[:32]
    path = folder() / f"{name}.onnx"
    with _lock:
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            metadata = {"task": "", "checkpoint_sha256": sha, "checkpoint": source.checkpoint.name if source.checkpoint else ""}
            write_onnx(model, path, OnnxSettings(stages=stages, fp16=fp16, opset=OPSET), metadata)
    return path
