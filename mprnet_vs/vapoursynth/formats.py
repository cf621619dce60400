"""Getting any RGB or YUV VapourSynth clip into the engine's RGB float and back again.

The engine works on RGB in [0, 1]. RGBS and RGBH clips go to it as they are; every other
constant-format RGB or YUV clip is converted to RGBS with VapourSynth's own resizer, using the
matrix, range and chroma location of its first frame (a ``matrix`` argument wins; with no matrix
at all it is guessed from the frame size the way VapourSynth tools do, and the guess is logged),
and the result is converted back to the clip's own format, range and frame properties.

Both directions use that one :class:`ColorInfo` for every frame: the frames' own ``_Matrix``,
``_Range`` and ``_ChromaLocation`` are removed before the conversion into RGB, because resize
lets a frame property win over its ``*_in`` argument (a wrong tag would defeat ``matrix=``, and
frames tagged unlike the first would come back in other colours). The output frames get the
input frames' properties back. Whether the conversion works at all is checked on the first
frame when the filter is called (:func:`check_conversion`), not left to the first frame fetched.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import vapoursynth as vs

from ..untagged import MATRIX_LABELS, guess_matrix

DIRECT_FORMATS = (vs.RGBS, vs.RGBH)

# Names resize understands, for a ``matrix`` given as a string.
MATRIX_NAMES = {
    "rgb": 0,
    "709": 1,
    "fcc": 4,
    "470bg": 5,
    "170m": 6,
    "601": 6,
    "240m": 7,
    "ycgco": 8,
    "2020ncl": 9,
    "2020cl": 10,
    "chromancl": 12,
    "chromacl": 13,
    "ictcp": 14,
}
_RESERVED_MATRICES = {2, 3}
# _Matrix tags understood (0, 2 and 3 mean "no usable matrix" and lead to a guess).
_TAGGABLE_MATRICES = frozenset(range(15)) - {11}
# Matrices zimg derives from the transfer and primaries: they need fitting _Transfer/_Primaries.
_DERIVED_MATRICES = {10, 12, 13, 14}
# The colour properties resize would read instead of its arguments.
COLOR_PROPS = ["_Matrix", "_Range", "_ChromaLocation"]


@dataclass(frozen=True)
class ColorInfo:
    """How to leave and re-enter the clip's own colour space (YUV only; RGB needs none)."""

    matrix: int | None  # None for RGB clips
    full_range: bool
    chromaloc: int | None  # None: let resize use its default (left)
    guessed_matrix: bool = False


def check_clip(clip: object, name: str) -> vs.VideoNode:
    """The clip itself when the filter can process it; otherwise vs.Error saying why."""
    if not isinstance(clip, vs.VideoNode):
        raise vs.Error(f"{name}: clip must be a video clip (vs.VideoNode), got {type(clip).__name__}")
    fmt = clip.format
    if fmt is None or fmt.id == 0 or fmt.color_family == vs.UNDEFINED:
        raise vs.Error(f"{name}: variable-format clips are not supported; convert to one format first")
    if clip.width == 0 or clip.height == 0:
        raise vs.Error(f"{name}: variable-size clips are not supported; resize to one size first")
    if fmt.color_family == vs.GRAY:
        raise vs.Error(f"{name}: GRAY clips are not supported (the model restores colour images); give an RGB or YUV clip")
    if fmt.color_family not in (vs.RGB, vs.YUV):
        raise vs.Error(f"{name}: colour family {fmt.color_family.name} is not supported; give an RGB or YUV clip")
    if clip.num_frames == 0:
        raise vs.Error(f"{name}: the clip has no frames")
    return clip


def parse_matrix(matrix: int | str | None, name: str) -> int | None:
    """A ``matrix`` argument as resize's integer code (H.273 numbering), or None."""
    if matrix is None:
        return None
    if isinstance(matrix, bool):
        raise vs.Error(f"{name}: matrix must be an int or a name like '709', got {matrix!r}")
    if isinstance(matrix, str):
        key = matrix.strip().lower().removeprefix("bt").removeprefix(".")
        if key.isdigit() and key not in MATRIX_NAMES:
            matrix = int(key)
        elif key in MATRIX_NAMES:
            return MATRIX_NAMES[key]
        else:
            raise vs.Error(f"{name}: unknown matrix {matrix!r}; use one of {', '.join(MATRIX_NAMES)} or an int")
    try:
        value = int(matrix)
    except (TypeError, ValueError):
        raise vs.Error(f"{name}: matrix must be an int or a name like '709', got {matrix!r}") from None
    if value < 0 or value > 14 or value in _RESERVED_MATRICES or value == 11:
        raise vs.Error(f"{name}: matrix {value} is not a usable matrix code (0-14 without 2, 3, 11)")
    return value


def _log(message: str, level: vs.MessageType = vs.MESSAGE_TYPE_WARNING) -> None:
    # VapourSynth's log reaches stderr (vspipe) or the host's handler, never stdout.
    vs.core.log_message(level, message)


def _int_prop(props: vs.FrameProps, key: str, allowed: Collection[int], name: str, hint: str) -> int | None:
    """Frame property ``key`` as an int in ``allowed``, None when absent; vs.Error otherwise."""
    if key not in props:
        return None
    value = props[key]
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, bool) or not isinstance(value, int) or int(value) not in allowed:
        raise vs.Error(f"{name}: the first frame has {key} = {value!r}, which is not {hint}")
    return int(value)


def _check_fields(clip: vs.VideoNode, props: vs.FrameProps, name: str) -> None:
    """Interlaced 4:2:0 is converted field by field: each field has height / 2 lines and
    height / 4 chroma lines, so the height must divide by 4. Said here with the reason; resize
    would only refuse the odd chroma line count later."""
    field_based = props.get("_FieldBased")
    if field_based in (1, 2) and clip.format.subsampling_h == 1 and clip.height % 4:
        raise vs.Error(f"{name}: a field-based (interlaced, _FieldBased={field_based}) 4:2:0 clip needs a height "
                       f"divisible by 4 (each field holds half the lines, its chroma half of those); got height "
                       f"{clip.height}: crop or pad it, or set _FieldBased=0 if the clip is progressive")


def color_info(clip: vs.VideoNode, matrix: int | None, name: str) -> ColorInfo:
    """Read matrix, range and chroma location from the clip's first frame (none is needed for
    RGBS/RGBH, which go to the engine as they are). A property of the wrong type or out of
    range is a vs.Error now: resize would only fail on a frame."""
    is_rgb = clip.format.color_family == vs.RGB
    if clip.format.id in DIRECT_FORMATS:
        return ColorInfo(matrix=None, full_range=True, chromaloc=None)
    try:
        props = clip.get_frame(0).props
    except vs.Error as exc:
        raise vs.Error(f"{name}: could not read the first frame to learn its colour properties ({exc})") from None
    fix = "; correct or remove the frame property"
    _check_fields(clip, props, name)
    tagged_range = _int_prop(props, "_Range", (0, 1), name, f"0 (limited) or 1 (full){fix}")
    # untagged: RGB is full range, YUV limited ("TV") range
    full_range = is_rgb if tagged_range is None else tagged_range == int(vs.RANGE_FULL)
    if is_rgb:
        return ColorInfo(matrix=None, full_range=full_range, chromaloc=None)
    chromaloc = _int_prop(props, "_ChromaLocation", range(6), name, f"a chroma location (0-5){fix}")
    guessed = False
    if matrix == 0:
        raise vs.Error(f"{name}: matrix 0 (rgb) cannot describe a YUV clip; give its YUV matrix, e.g. '709'")
    if matrix is None:
        tagged = _int_prop(props, "_Matrix", _TAGGABLE_MATRICES, name,
                           "a matrix code resize knows (0-14 without 11); pass matrix=... to choose one")
        if tagged is None or tagged in _RESERVED_MATRICES or tagged == 0:
            primaries = props.get("_Primaries")
            matrix, why = guess_matrix(clip.width, clip.height, primaries if isinstance(primaries, int) else None)
            guessed = True
            _log(
                f"{name}: the clip has no usable _Matrix frame property; guessing {MATRIX_LABELS[matrix]} "
                f"from the {why}. Pass matrix=... to choose."
            )
        else:
            matrix = tagged
    return ColorInfo(matrix=matrix, full_range=full_range, chromaloc=chromaloc, guessed_matrix=guessed)


def check_conversion(clip: vs.VideoNode, info: ColorInfo, name: str) -> None:
    """Convert the first frame into RGB and back, as the filter will: vs.Error naming the
    filter now when resize refuses (e.g. matrix 14 without a usable _Transfer), instead of a
    bare resize error on the first frame fetched (under vspipe, after the y4m header)."""
    if clip.format.id in DIRECT_FORMATS:
        return
    first = clip[0]
    try:
        from_engine_rgb(to_engine_rgb(first, info), first, info).get_frame(0)
    except vs.Error as exc:
        detail = " ".join(str(exc).split())
        hint = ""
        if info.matrix in _DERIVED_MATRICES:
            hint = f"; matrix {info.matrix} is derived from the clip's _Transfer and _Primaries, which do not suit it"
        raise vs.Error(f"{name}: cannot convert the clip to RGB and back with {describe(info)}{hint} ({detail})") from None


def describe(info: ColorInfo) -> str:
    """``info`` in words, for messages: "matrix 14, limited range"."""
    parts = [] if info.matrix is None else [f"matrix {info.matrix}"]
    parts.append("full range" if info.full_range else "limited range")
    if info.chromaloc is not None:
        parts.append(f"chroma location {info.chromaloc}")
    return ", ".join(parts)


def to_engine_rgb(clip: vs.VideoNode, info: ColorInfo) -> vs.VideoNode:
    """The clip as RGBS (or as it is when already RGBS/RGBH), every frame converted with
    ``info``: the frames' own colour tags are removed first, as resize would prefer them."""
    if clip.format.id in DIRECT_FORMATS:
        return clip
    core = vs.core
    clip = core.std.RemoveFrameProps(clip, COLOR_PROPS)
    if clip.format.color_family == vs.RGB:
        return core.resize.Point(clip, format=vs.RGBS, range_in_s="full" if info.full_range else "limited",
                                 range_s="full")
    kwargs: dict[str, object] = {
        "format": vs.RGBS,
        "matrix_in": info.matrix,
        "range_in_s": "full" if info.full_range else "limited",
    }
    if info.chromaloc is not None:
        kwargs["chromaloc_in"] = info.chromaloc
    return core.resize.Bicubic(clip, **kwargs)


def from_engine_rgb(rgb: vs.VideoNode, original: vs.VideoNode, info: ColorInfo) -> vs.VideoNode:
    """``rgb`` back in ``original``'s format and range, each frame carrying the original frame's
    properties (so _Matrix, _Range, _ChromaLocation, durations and user props are kept)."""
    if original.format.id in DIRECT_FORMATS:
        return rgb
    core = vs.core
    fmt = original.format.id
    if original.format.color_family == vs.RGB:
        back = core.resize.Point(rgb, format=fmt, range_in_s="full", range_s="full" if info.full_range else "limited")
    else:
        kwargs: dict[str, object] = {
            "format": fmt,
            "matrix": info.matrix,
            "range_s": "full" if info.full_range else "limited",
        }
        if info.chromaloc is not None:
            kwargs["chromaloc"] = info.chromaloc
        back = core.resize.Bicubic(rgb, **kwargs)
    return core.std.CopyFrameProps(back, original)
