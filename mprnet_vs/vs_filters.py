"""VapourSynth filters ``mprnet_vs.derain``, ``deblur`` and ``denoise``, and the code behind
the ready ``filters/*.vpy`` scripts.

Each filter is a thin front end on :class:`mprnet_vs.engine.Restorer`: it converts the clip to
RGB float when needed (:mod:`mprnet_vs.vs_formats`), groups frames into batches of the engine's
``batch`` size, runs one forward per batch, and writes the restored planes into copies of the
input frames (so every frame property is kept).

Batching inside VapourSynth's frame-request model: output frame ``n`` belongs to batch
``b = n // N``. For every ``k < N`` an aligned clip is built whose frame ``n`` is source frame
``b * N + k``, so one ModifyFrame over the N aligned clips hands the callback of any frame all
N source frames of its batch without calling ``get_frame`` inside a callback. The first
callback of a batch computes it and keeps the N output frames until all of them were handed
out; the others take theirs from that store. Frames asked for out of order or from several
threads therefore get the same frames as a sequential run, and a frame asked for again after
its batch was dropped is simply recomputed. The clip is padded to a multiple of N by
repeating its last frame (one input shape for every forward) and trimmed back afterwards.

On CUDA with ``num_streams=K > 1`` there are K ModifyFrame instances, each with its own CUDA
stream; a FrameEval sends batch ``b`` to instance ``b % K``, so K batches can be in flight
while VapourSynth's threads wait on the GIL-free GPU work.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import os
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import vapoursynth as vs

from .errors import MprnetError
from .presets import split_preset_path
from .vs_source import caller_path, check_complete, looked_in, source_problem
from .vs_formats import check_clip, check_conversion, color_info, from_engine_rgb, parse_matrix, to_engine_rgb

TASKS = ("derain", "deblur", "denoise")


def filter_name(task: str) -> str:
    return f"mprnet_vs.{task}"


# ---------------------------------------------------------------------------------------------
# The public filters


def _task_filter(task: str, purpose: str):
    """The public filter for one task: the same options for all three, defined once."""

    def task_filter(
        clip: vs.VideoNode,
        *,
        weights: str | os.PathLike | None = None,
        preset: str | None = None,
        stages: int | None = None,
        tile: int | str | None = None,
        overlap: int | None = None,
        batch: int | None = None,
        precision: str | None = None,
        device: str | int | None = None,
        num_streams: int = 1,
        matrix: int | str | None = None,
        compile: bool = False,
        local_stats: int | None = None,
    ) -> vs.VideoNode:
        return restore_clip(task, clip, weights=weights, preset=preset, stages=stages, tile=tile, overlap=overlap,
                            batch=batch, precision=precision, device=device, num_streams=num_streams,
                            matrix=matrix, compile=compile, local_stats=local_stats)

    task_filter.__name__ = task_filter.__qualname__ = task
    task_filter.__doc__ = f"{purpose} Options as in :func:`restore_clip`."
    return task_filter


derain = _task_filter("derain", "Remove rain streaks.")
deblur = _task_filter("deblur", "Remove motion blur.")
denoise = _task_filter("denoise", "Remove camera noise.")

FILTERS = {"derain": derain, "deblur": deblur, "denoise": denoise}


def restore_clip(
    task: str,
    clip: vs.VideoNode,
    *,
    weights: str | os.PathLike | None = None,
    preset: str | None = None,
    stages: int | None = None,
    tile: int | str | None = None,
    overlap: int | None = None,
    batch: int | None = None,
    precision: str | None = None,
    device: str | int | None = None,
    num_streams: int = 1,
    matrix: int | str | None = None,
    compile: bool = False,
    local_stats: int | None = None,
) -> vs.VideoNode:
    """Restore every frame of ``clip`` with the MPRNet ``task`` model.

    ``weights``, ``preset``, ``stages``, ``tile`` (0 = whole frame), ``overlap``, ``batch``,
    ``precision``, ``device``, ``compile`` and ``local_stats`` (0 = off, N = channel attention
    over windows sized for N x N training crops; default: what the checkpoint records) mean what they mean to the engine
    (:class:`mprnet_vs.engine.Restorer`). ``num_streams`` is the number of CUDA streams (and
    batches in flight) on a GPU; it is ignored on the CPU. ``matrix`` overrides the YUV matrix
    read from the frame properties (an int code or a name such as ``"709"``, ``"170m"``).

    RGBS and RGBH clips are processed directly; other RGB and YUV clips are converted to RGBS
    and back, so the result has the input's format, size, length, rate and frame properties.
    Bad arguments, and colour properties the conversion cannot use, raise ``vs.Error`` naming
    the filter here rather than on the first frame.
    """
    if task not in TASKS:
        raise vs.Error(f"mprnet_vs: unknown task {task!r}; choose one of {', '.join(TASKS)}")
    name = filter_name(task)
    check_clip(clip, name)
    streams = _check_num_streams(num_streams, name)
    matrix_code = parse_matrix(matrix, name)
    if not isinstance(compile, bool):
        raise vs.Error(f"{name}: compile must be True or False, got {compile!r}")
    info = color_info(clip, matrix_code, name)
    check_conversion(clip, info, name)
    restorer = make_restorer(task, weights=weights, preset=preset, stages=stages, tile=tile, overlap=overlap,
                             batch=batch, precision=precision, device=device, compile=compile,
                             local_stats=local_stats)
    rgb = to_engine_rgb(clip, info)
    if restorer.device.type != "cuda":
        streams = 1  # streams are a GPU notion; the CPU already uses all its cores per forward
    # A batch longer than the clip would only restore copies of its last frame.
    batch_size = min(_batch_size(restorer), clip.num_frames)
    runner = BatchRunner(restorer, batch_size=batch_size, num_streams=streams, name=name)
    restored = runner.apply(rgb)
    return from_engine_rgb(restored, clip, info)


MAX_STREAMS = 16  # batches in flight on one GPU; more only multiplies the memory held


def _check_num_streams(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_STREAMS:
        raise vs.Error(f"{name}: num_streams must be an int from 1 to {MAX_STREAMS}, got {value!r}")
    return value


def _batch_size(restorer: Any) -> int:
    """Frames per forward: the engine's resolved batch (anything not a positive int -> 1)."""
    value = getattr(restorer, "batch", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Anything printed while the engine starts goes to stderr: under vspipe stdout is video."""
    target = sys.stderr if sys.stderr is not None else open(os.devnull, "w")  # noqa: SIM115
    try:
        with contextlib.redirect_stdout(target):
            yield
    finally:
        if target is not sys.stderr:
            target.close()


def make_restorer(task: str, **options: Any) -> Any:
    """The engine for ``task``; every error about the options becomes vs.Error naming the filter."""
    name = filter_name(task)
    try:
        from .engine import Restorer

        with _stdout_to_stderr():
            return Restorer(task, **options)
    except MprnetError as exc:
        raise vs.Error(f"{name}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - whatever goes wrong, the host gets a vs.Error
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise vs.Error(f"{name}: {type(exc).__name__}: {detail}".rstrip(": ")) from exc


# ---------------------------------------------------------------------------------------------
# Batching


class _Batch:
    """The output frames of one batch, computed once, kept until every frame was handed out."""

    __slots__ = ("lock", "frames", "served")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames: list[vs.VideoFrame] | None = None
        self.served: set[int] = set()


class _StreamSlot:
    """One lane of work: a CUDA stream (None on the CPU), its lock and reusable host buffers."""

    def __init__(self, device: torch.device) -> None:
        self.lock = threading.Lock()
        self.device = device
        self.stream = torch.cuda.Stream(device=device) if device.type == "cuda" else None
        self._buffers: dict[str, torch.Tensor] = {}

    def host_buffer(self, key: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """A host tensor of ``shape``; pinned on CUDA (asynchronous copies), reused between
        batches (only used under ``self.lock``)."""
        if self.stream is None:
            return torch.empty(shape, dtype=dtype)  # the CPU gains nothing from reuse here
        buf = self._buffers.get(key)
        if buf is None or tuple(buf.shape) != shape or buf.dtype != dtype:
            buf = torch.empty(shape, dtype=dtype, pin_memory=True)
            self._buffers[key] = buf
        return buf


class BatchRunner:
    """Runs the engine over a clip N frames per forward (see the module docstring)."""

    def __init__(self, restorer: Any, *, batch_size: int, num_streams: int, name: str) -> None:
        self.restorer = restorer
        self.batch_size = batch_size
        self.name = name
        self.slots = [_StreamSlot(restorer.device) for _ in range(num_streams)]
        self._lock = threading.Lock()
        self._batches: OrderedDict[int, _Batch] = OrderedDict()
        self._core = vs.core.core  # the core whose threads ask for frames
        self._length = 0
        self.forwards = 0  # number of batches computed (tests check batches are not recomputed)

    def max_batches(self) -> int:
        """Unfinished batches kept: as many as the core's threads can have in flight, plus slack;
        older ones (frames never asked for, e.g. after a Trim) are dropped and would just be
        recomputed. Read when frames are asked for, as a script may raise ``core.num_threads``
        after creating the filter."""
        threads = max(1, self._core.num_threads)
        return max(2, -(-threads // self.batch_size) + len(self.slots) + 1)

    def apply(self, rgb: vs.VideoNode) -> vs.VideoNode:
        """The restored clip, same format (RGBS or RGBH), length and frame properties."""
        core = vs.core
        n_frames = rgb.num_frames
        self._length = n_frames
        size = self.batch_size
        padded = rgb
        if n_frames % size:
            padded = rgb + rgb[-1] * (size - n_frames % size)
        if size == 1:
            aligned = [padded]
        else:
            aligned = [
                core.std.Interleave(
                    [core.std.SelectEvery(padded, cycle=size, offsets=[k], modify_duration=False)] * size,
                    modify_duration=False,
                )
                for k in range(size)
            ]
        nodes = [
            core.std.ModifyFrame(padded, aligned, self._selector_for(slot))
            for slot in self.slots
        ]
        if len(nodes) == 1:
            out = nodes[0]
        else:
            out = core.std.FrameEval(padded, lambda n: nodes[(n // size) % len(nodes)], clip_src=aligned)
        return out if out.num_frames == n_frames else out[:n_frames]

    def _selector_for(self, slot: _StreamSlot):  # noqa: ANN202 - a VapourSynth callback
        def selector(n: int, f: vs.VideoFrame | Sequence[vs.VideoFrame]) -> vs.VideoFrame:
            frames = [f] if isinstance(f, vs.VideoFrame) else list(f)
            try:
                return self.frame(n, frames, slot)
            except vs.Error:
                raise
            except Exception as exc:  # reported by VapourSynth as this frame's error
                raise vs.Error(f"{self.name}: frame {n}: {type(exc).__name__}: {exc}") from exc

        return selector

    def frame(self, n: int, frames: list[vs.VideoFrame], slot: _StreamSlot) -> vs.VideoFrame:
        """Output frame ``n``, given the N input frames of its batch."""
        index = n // self.batch_size
        limit = self.max_batches()
        with self._lock:
            batch = self._batches.get(index)
            if batch is None:
                batch = self._batches[index] = _Batch()
            self._batches.move_to_end(index)
            while len(self._batches) > limit:
                self._batches.popitem(last=False)
        with batch.lock:
            if batch.frames is None:
                batch.frames = self.run(frames, slot)
            out = batch.frames[n - index * self.batch_size]
            batch.served.add(n)
            first = index * self.batch_size
            done = len(batch.served) >= min(self.batch_size, self._length - first)
        if done:
            with self._lock:
                if self._batches.get(index) is batch:
                    del self._batches[index]
        return out

    def run(self, frames: list[vs.VideoFrame], slot: _StreamSlot) -> list[vs.VideoFrame]:
        """One forward for the batch: stack the planes into one host tensor, one copy to the
        device and one back, then write the planes into copies of the input frames."""
        first = frames[0]
        height, width = first.height, first.width
        dtype = torch.float16 if first.format.id == vs.RGBH else torch.float32
        shape = (len(frames), 3, height, width)
        with slot.lock:
            host_in = slot.host_buffer("in", shape, dtype)
            stacked = host_in.numpy()
            for i, frame in enumerate(frames):
                for plane in range(3):
                    stacked[i, plane] = np.asarray(frame[plane])
            if slot.stream is None:
                # NaN samples (e.g. from a division by zero upstream) have nothing to restore
                # to; they become 0 instead of spreading through the network.
                restored = self.restorer.restore_tensor(host_in.nan_to_num_(0.0).clamp_(0.0, 1.0))
                result = restored.numpy()
            else:
                host_out = slot.host_buffer("out", shape, dtype)
                with torch.cuda.stream(slot.stream):
                    x = host_in.to(slot.device, non_blocking=True).nan_to_num_(0.0).clamp_(0.0, 1.0)
                    host_out.copy_(self.restorer.restore_tensor(x), non_blocking=True)
                slot.stream.synchronize()
                result = host_out.numpy()
            outputs = []
            for i, frame in enumerate(frames):
                out = frame.copy()
                for plane in range(3):
                    np.copyto(np.asarray(out[plane]), result[i, plane])
                outputs.append(out)
        with self._lock:
            self.forwards += 1
        return outputs


# ---------------------------------------------------------------------------------------------
# filters/*.vpy


_TEXT_OPTIONS = ("weights", "preset", "precision", "matrix")
# Options given as integers, and what else each takes as text (None: any text, the engine checks it).
_NUMBER_OPTIONS: dict[str, tuple[str, ...] | None] = {
    "stages": (), "tile": ("auto",), "overlap": (), "batch": (), "device": None, "num_streams": (), "local_stats": (),
}
SCRIPT_KEYS = ("src", *_TEXT_OPTIONS, *_NUMBER_OPTIONS)
_INTEGER = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: str.isdigit() also takes "²", which int() refuses


def script_options(scope: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Filter options from the ``-a key=value`` arguments vspipe put into the script's globals.
    Numbers become ints; ``tile=auto``, ``device=cuda:1`` and the like stay text. A key the
    scripts do not know is logged as a warning (vspipe itself accepts any)."""
    warn_unknown_keys(scope, name)
    options: dict[str, Any] = {}
    for key in (*_TEXT_OPTIONS, *_NUMBER_OPTIONS):
        value = scope.get(key)
        if isinstance(value, bytes):
            value = value.decode()
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        value = str(value).strip()
        if key == "weights":
            value = caller_path(value, name, key)
        elif key == "preset":
            split = split_preset_path(value)
            if split is not None:
                value = caller_path(split[0], name, key) + (f":{split[1]}" if split[1] else "")
        if key not in _NUMBER_OPTIONS:
            options[key] = value
        elif _INTEGER.fullmatch(value):
            options[key] = int(value)
        elif _NUMBER_OPTIONS[key] is None or value.lower() in _NUMBER_OPTIONS[key]:
            options[key] = value
        else:
            words = "".join(f" or {word}" for word in _NUMBER_OPTIONS[key])
            raise vs.Error(f"{name}: -a {key}={value}: must be an integer{words}")
    return options


def warn_unknown_keys(scope: Mapping[str, Any], name: str) -> None:
    """Log a warning for each ``-a`` key the scripts do not know (``tiel=512`` would otherwise
    be ignored without a word). vspipe's ``-a`` values are the script's str/bytes globals;
    names the script binds itself are told apart by reading the script."""
    own = _names_bound_by(scope.get("__file__"))
    if own is None:
        return  # the script cannot be read: its own names and -a arguments look alike
    for key, value in scope.items():
        if not isinstance(value, (str, bytes)) or key in SCRIPT_KEYS or key in own or key.startswith("__"):
            continue
        close = difflib.get_close_matches(key, SCRIPT_KEYS, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        vs.core.log_message(
            vs.MESSAGE_TYPE_WARNING,
            f"{name}: ignoring -a {key}=...: not an option of this script; {hint}options: {', '.join(SCRIPT_KEYS)}",
        )


def _names_bound_by(script: object) -> set[str] | None:
    """Every name a script's own code binds (assignments, imports, defs), or None if unreadable."""
    if not isinstance(script, str):
        return None
    try:
        tree = ast.parse(Path(script).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def _for_y4m(clip: vs.VideoNode, name: str) -> vs.VideoNode:
    """y4m carries YUV or GRAY only: an RGB result becomes YUV 4:4:4 (BT.709, limited range)
    of the same bit depth (16 bits for float RGB)."""
    fmt = clip.format
    if fmt.color_family != vs.RGB:
        return clip
    bits = fmt.bits_per_sample if fmt.sample_type == vs.INTEGER else 16
    target = vs.core.query_video_format(vs.YUV, vs.INTEGER, bits, 0, 0)
    vs.core.log_message(vs.MESSAGE_TYPE_INFORMATION, f"{name}: RGB source, writing {target.name} (BT.709) for y4m")
    return vs.core.resize.Bicubic(clip, format=target.id, matrix_s="709", range_s="limited")


def script_main(task: str, scope: Mapping[str, Any]) -> vs.VideoNode:
    """Body of ``filters/<task>.vpy``: read ``-a src=PATH`` with bestsource, restore it with the
    options given as ``-a key=value``, and set it as output 0."""
    if task not in TASKS:
        raise vs.Error(f"mprnet_vs: unknown task {task!r}; choose one of {', '.join(TASKS)}")
    name = f"{filter_name(task)} script"
    src = scope.get("src")
    if isinstance(src, bytes):
        src = src.decode()
    if not src or not str(src).strip():
        raise vs.Error(f"{name}: name the input video with -a src=PATH")
    given, src = src, caller_path(str(src).strip(), name, "src")
    if os.path.isdir(src):
        raise vs.Error(f"{name}: src={given}: is a folder, not a video file")
    if not os.path.isfile(src):
        what = "no such file" if not os.path.exists(src) else "not a regular file"
        raise vs.Error(f"{name}: src={given}: {what}{looked_in(given)}")
    core = vs.core
    if not hasattr(core, "bs"):
        raise vs.Error(f"{name}: the bestsource plugin is missing (pip install vapoursynth-bestsource)")
    options = script_options(scope, name)
    try:
        clip = core.bs.VideoSource(source=src)
    except vs.Error as exc:
        raise vs.Error(f"{name}: src={src}: cannot be read: {source_problem(src) or exc}") from None
    check_complete(clip, src, name)
    out = _for_y4m(FILTERS[task](clip, **options), name)
    out.set_output()
    return out
