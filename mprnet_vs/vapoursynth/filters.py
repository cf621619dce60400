"""VapourSynth filters ``mprnet_vs.derain``, ``deblur`` and ``denoise``.

Each filter is a thin front end on :class:`mprnet_vs.engine.Restorer`: it converts the clip to
RGB float when needed (:mod:`.formats`), groups frames into batches of the engine's ``batch``
size (:mod:`.batching`), and writes the restored planes into copies of the input frames (so
every frame property is kept). The filters' options are the engine's one option description
(:mod:`mprnet_vs.engine.options`) plus the two below that only a clip has; their signature and
docstring are made from it, so ``help(mprnet_vs.derain)`` documents every option.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import vapoursynth as vs

from ..engine.options import ENGINE_OPTIONS, Option, describe
from ..engine.protocol import Engine
from ..errors import MprnetError, first_line
from ..tasks import REGISTRY, TASKS
from .batching import BatchRunner
from .formats import check_clip, check_conversion, color_info, from_engine_rgb, parse_matrix, to_engine_rgb

MAX_STREAMS = 16  # batches in flight on one GPU; more only multiplies the memory held

# Options of a clip, not of the engine: how many batches a GPU keeps in flight, and the matrix of
# a YUV clip whose _Matrix property is missing or wrong.
FILTER_OPTIONS: tuple[Option, ...] = (
    Option("num_streams", "int", f"CUDA streams, i.e. batches in flight on one GPU (1 to {MAX_STREAMS}; try 2); "
           "ignored on the CPU", default=1),
    Option("matrix", "int | str | None", "YUV matrix (709, 170m, 2020ncl, ... or an int code) when the clip's "
           "_Matrix is missing or wrong", kind="text", metavar="NAME"),
)
CLIP_OPTIONS: tuple[Option, ...] = (*ENGINE_OPTIONS, *FILTER_OPTIONS)
_ENGINE_NAMES = frozenset(option.name for option in ENGINE_OPTIONS)
_DEFAULTS = {option.name: option.default for option in CLIP_OPTIONS}


def filter_name(task: str) -> str:
    return f"mprnet_vs.{task}"


def _signature(*leading: inspect.Parameter) -> inspect.Signature:
    keywords = [
        inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=option.default, annotation=option.annotation)
        for option in CLIP_OPTIONS
    ]
    return inspect.Signature([*leading, *keywords], return_annotation="vs.VideoNode")


_CLIP = inspect.Parameter("clip", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="vs.VideoNode")
_OPTIONS_DOC = describe(CLIP_OPTIONS)
_BEHAVIOUR_DOC = """
RGBS and RGBH clips are processed directly; other RGB and YUV clips are converted to RGBS
and back, so the result has the input's format, size, length, rate and frame properties.
Bad arguments, and colour properties the conversion cannot use, raise ``vs.Error`` naming
the filter here rather than on the first frame."""


def _task_filter(task: str) -> Callable[..., vs.VideoNode]:
    """The public filter for one task: the same options for all three, from one description."""

    def task_filter(clip: vs.VideoNode, **options: Any) -> vs.VideoNode:
        return restore_clip(task, clip, **options)

    task_filter.__name__ = task_filter.__qualname__ = task
    task_filter.__signature__ = _signature(_CLIP)  # type: ignore[attr-defined]
    task_filter.__doc__ = f"{REGISTRY[task].purpose}\n\nOptions:\n{_OPTIONS_DOC}\n{_BEHAVIOUR_DOC}"
    return task_filter


derain = _task_filter("derain")
deblur = _task_filter("deblur")
denoise = _task_filter("denoise")

FILTERS = {"derain": derain, "deblur": deblur, "denoise": denoise}


def _checked_options(options: dict[str, Any], name: str) -> dict[str, Any]:
    """Every option with its default filled in; an unknown keyword is a vs.Error naming it."""
    for key in options:
        if key not in _DEFAULTS:
            close = difflib.get_close_matches(key, _DEFAULTS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise vs.Error(f"{name}: unknown option {key!r}{hint}; options: {', '.join(_DEFAULTS)}")
    return {**_DEFAULTS, **options}


def restore_clip(task: str, clip: vs.VideoNode, **options: Any) -> vs.VideoNode:
    """Restore every frame of ``clip`` with the MPRNet ``task`` model (options as for
    :func:`derain`)."""
    if task not in TASKS:
        raise vs.Error(f"mprnet_vs: unknown task {task!r}; choose one of {', '.join(TASKS)}")
    name = filter_name(task)
    check_clip(clip, name)
    values = _checked_options(options, name)
    streams = _check_num_streams(values["num_streams"], name)
    matrix_code = parse_matrix(values["matrix"], name)
    info = color_info(clip, matrix_code, name)
    check_conversion(clip, info, name)
    restorer = make_restorer(task, **{key: value for key, value in values.items() if key in _ENGINE_NAMES})
    rgb = to_engine_rgb(clip, info)
    if restorer.device.type != "cuda":
        streams = 1  # streams are a GPU notion; the CPU already uses all its cores per forward
    # A batch longer than the clip would only restore copies of its last frame.
    batch_size = min(restorer.batch, clip.num_frames)
    runner = BatchRunner(restorer, batch_size=batch_size, num_streams=streams, name=name)
    restored = runner.apply(rgb)
    return from_engine_rgb(restored, clip, info)


restore_clip.__signature__ = _signature(  # type: ignore[attr-defined]
    inspect.Parameter("task", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="str"), _CLIP
)


def _check_num_streams(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_STREAMS:
        raise vs.Error(f"{name}: num_streams must be an int from 1 to {MAX_STREAMS}, got {value!r}")
    return value


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


def make_restorer(task: str, **options: Any) -> Engine:
    """The engine for ``task``; every error about the options becomes vs.Error naming the filter."""
    name = filter_name(task)
    try:
        from ..engine import Restorer

        with _stdout_to_stderr():
            return Restorer(task, **options)
    except MprnetError as exc:
        raise vs.Error(f"{name}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - whatever goes wrong, the host gets a vs.Error
        raise vs.Error(f"{name}: {type(exc).__name__}: {first_line(str(exc))}".rstrip(": ")) from exc
