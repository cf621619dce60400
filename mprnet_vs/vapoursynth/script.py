"""The code behind the ready ``.vpy`` scripts shipped in ``mprnet_vs/vapoursynth/scripts/``.

``vspipe -a key=value`` puts text into the script's globals; :func:`script_options` turns it
into filter options through the same option description the filters use
(:mod:`mprnet_vs.engine.options`), so every option is an ``-a`` key and means the same there.
``mprnet-vs vpy derain`` prints an installed script's path.
"""

from __future__ import annotations

import ast
import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import vapoursynth as vs

from ..errors import MprnetError
from ..presets import split_preset_path
from ..tasks import TASKS
from .filters import CLIP_OPTIONS, FILTERS, filter_name
from .source import caller_path, check_complete, looked_in, source_problem

SCRIPT_KEYS = ("src", *(option.name for option in CLIP_OPTIONS))
_FLAG_WORDS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _as_text(value: object) -> str | None:
    return value.decode() if isinstance(value, bytes) else value if isinstance(value, str) else None


def script_options(scope: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Filter options from the ``-a key=value`` arguments vspipe put into the script's globals.
    Numbers become ints; ``tile=auto``, ``device=cuda:1`` and the like stay text; ``compile``
    takes 1/0, true/false, yes/no. A key the scripts do not know is logged as a warning (vspipe
    itself accepts any); an empty value is an error, as on the command line (``-a weights=``
    from an unset shell variable must not silently mean the default)."""
    warn_unknown_keys(scope, name)
    options: dict[str, Any] = {}
    for option in CLIP_OPTIONS:
        text = _as_text(scope.get(option.name))
        if text is None:
            continue
        key = option.name
        if not text.strip():
            raise vs.Error(f"{name}: -a {key}= is empty; give a value or leave the option out for its default")
        value = text.strip()
        if option.kind == "flag":
            if value.lower() not in _FLAG_WORDS:
                raise vs.Error(f"{name}: -a {key}={value}: must be 1 or 0 (true/false, yes/no)")
            options[key] = _FLAG_WORDS[value.lower()]
            continue
        if key == "weights":
            value = caller_path(value, name, key)
        elif key == "preset":
            split = split_preset_path(value)
            if split is not None:
                value = caller_path(split[0], name, key) + (f":{split[1]}" if split[1] else "")
        try:
            options[key] = option.parse(value)
        except MprnetError as exc:
            raise vs.Error(f"{name}: -a {exc}") from None
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
    """Body of the shipped ``scripts/<task>.vpy``: read ``-a src=PATH`` with bestsource, restore it with the
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
    if "_Alpha" in clip.get_frame(0).props:  # a log message: vspipe prints it on stderr, never in the video
        vs.core.log_message(vs.MESSAGE_TYPE_WARNING, f"{name}: src={given}: the source's alpha plane is dropped "
                            "(not restored and not written: y4m holds no alpha)")
    out = _for_y4m(FILTERS[task](clip, **options), name)
    out.set_output()
    return out
