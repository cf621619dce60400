"""Colour tags of video streams: which matrix, range, primaries and transfer a stream has, how
an untagged one is interpreted, and which tags an output gets. The YUV <-> RGB maths is in
:mod:`.conversion`, reading and writing PyAV frames in :mod:`.frames`.

Why not let swscale do YUV -> RGB? Its high-bit-depth RGB output is scaled as if white were
255 << 8 (about 0.4 % dark at 10 bit), and older PyAV ignored the frame's tags and silently
used BT.601. So swscale only does what needs no matrix -- chroma up/down-sampling and packing
into a planar 4:4:4 (or planar RGB / gray) layout at the same bit depth -- and the matrix is
applied here, in torch, on the restoring device, with the coefficients and ranges of H.273.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import av
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorTrc

from ..errors import InputError
from ..untagged import MATRIX_LABELS, guess_matrix

# AVColorSpace values (libavutil/pixfmt.h), named as ffprobe names them.
MATRIX_NAMES = {
    0: "gbr", 1: "bt709", 2: "unknown", 3: "reserved", 4: "fcc", 5: "bt470bg", 6: "smpte170m",
    7: "smpte240m", 8: "ycgco", 9: "bt2020nc", 10: "bt2020c", 11: "smpte2085",
    12: "chroma-derived-nc", 13: "chroma-derived-c", 14: "ictcp",
}
RANGE_NAMES = {0: "unknown", 1: "tv", 2: "pc"}
MATRIX_RGB, MATRIX_BT709, MATRIX_UNSPECIFIED, MATRIX_SMPTE170M, MATRIX_YCGCO = 0, 1, 2, 6, 8
RANGE_UNSPECIFIED, RANGE_LIMITED, RANGE_FULL = 0, 1, 2
PRIMARIES_BT709, PRIMARIES_BT470BG, PRIMARIES_SMPTE170M, PRIMARIES_BT2020 = 1, 5, 6, 9

# Luma weights (Kr, Kb) per matrix (H.273 table 4).
LUMA_WEIGHTS = {
    1: (0.2126, 0.0722),
    4: (0.30, 0.11),
    5: (0.299, 0.114),
    6: (0.299, 0.114),
    7: (0.212, 0.087),
    9: (0.2627, 0.0593),
    10: (0.2627, 0.0593),  # constant-luminance BT.2020 approximated by its non-constant form
}

# Planar layouts the frames are read and written in (same bit depth as the stream's format).
PLANAR = {
    "yuv": {8: "yuv444p", 9: "yuv444p9le", 10: "yuv444p10le", 12: "yuv444p12le", 14: "yuv444p14le", 16: "yuv444p16le"},
    "rgb": {8: "gbrp", 9: "gbrp9le", 10: "gbrp10le", 12: "gbrp12le", 14: "gbrp14le", 16: "gbrp16le"},
    "gray": {8: "gray", 9: "gray9le", 10: "gray10le", 12: "gray12le", 14: "gray14le", 16: "gray16le"},
}


def _name(enum: type, value: int) -> str:
    try:
        return enum(value).name.lower()
    except ValueError:
        return str(value)


@dataclass(frozen=True)
class PixelLayout:
    """What matters about a pixel format here: its family, bit depth, chroma subsampling, alpha."""

    name: str
    family: str  # "yuv", "rgb" or "gray"
    depth: int  # bits per sample of the planar layout (8, 9, 10, 12, 14 or 16)
    chroma_shift: tuple[int, int]  # log2 of the horizontal / vertical chroma subsampling
    alpha: bool

    @property
    def planar(self) -> str:
        """The planar format frames of this layout are converted through."""
        return PLANAR[self.family][self.depth]

    @property
    def channels(self) -> int:
        return 1 if self.family == "gray" else 3

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.depth == 8 else np.uint16)

    def fits(self, width: int, height: int) -> bool:
        """True when the size is a whole number of chroma samples (encoders insist on it)."""
        sx, sy = self.chroma_shift
        return width % (1 << sx) == 0 and height % (1 << sy) == 0


def _planar_depth(bits: int) -> int:
    for depth in (8, 9, 10, 12, 14, 16):
        if bits <= depth:
            return depth
    return 16  # float formats: 16-bit integers are finer than any camera


@lru_cache(maxsize=None)
def layout(pix_fmt: str) -> PixelLayout:
    """Classify a pixel format name; InputError for one that cannot carry a picture."""
    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, TypeError) as exc:
        raise InputError(f"unknown pixel format {pix_fmt!r}") from exc
    components = list(fmt.components)
    if not components or fmt.is_bit_stream and fmt.name not in ("monow", "monob"):
        raise InputError(f"pixel format {pix_fmt!r} is not a picture format")
    alpha = any(c.is_alpha for c in components)
    colour = [c for c in components if not c.is_alpha]
    bits = max(c.bits for c in colour)
    shift = (1 if fmt.chroma_width(16) == 8 else 2 if fmt.chroma_width(16) == 4 else 0,
             1 if fmt.chroma_height(16) == 8 else 2 if fmt.chroma_height(16) == 4 else 0)
    if fmt.name.startswith("xyz"):
        return PixelLayout(fmt.name, "rgb", 16, (0, 0), False)
    if fmt.has_palette:
        return PixelLayout(fmt.name, "rgb", 8, (0, 0), True)
    if fmt.is_bayer:
        return PixelLayout(fmt.name, "rgb", 16 if "16" in fmt.name else 8, (0, 0), False)
    if fmt.is_rgb:
        return PixelLayout(fmt.name, "rgb", _planar_depth(bits), (0, 0), alpha)
    if len(colour) == 1:
        return PixelLayout(fmt.name, "gray", _planar_depth(max(bits, 8)), (0, 0), alpha)
    return PixelLayout(fmt.name, "yuv", _planar_depth(bits), shift, alpha)


@dataclass(frozen=True)
class ColourTags:
    """The four colour properties a stream or frame is tagged with (FFmpeg's enum values)."""

    matrix: int = MATRIX_UNSPECIFIED
    range: int = RANGE_UNSPECIFIED
    primaries: int = 2
    transfer: int = 2

    @classmethod
    def of(cls, obj: object) -> ColourTags:
        """Tags of a decoded VideoFrame or a video CodecContext."""
        return cls(
            matrix=int(getattr(obj, "colorspace", MATRIX_UNSPECIFIED) or 0),
            range=int(getattr(obj, "color_range", RANGE_UNSPECIFIED) or 0),
            primaries=int(getattr(obj, "color_primaries", 2) or 2),
            transfer=int(getattr(obj, "color_trc", 2) or 2),
        )

    def apply(self, obj: object) -> None:
        """Write these tags on an encoder CodecContext or a VideoFrame."""
        obj.colorspace = self.matrix
        obj.color_range = self.range
        obj.color_primaries = self.primaries
        obj.color_trc = self.transfer

    def describe(self) -> str:
        return (
            f"range {RANGE_NAMES.get(self.range, self.range)}, matrix {MATRIX_NAMES.get(self.matrix, self.matrix)}, "
            f"primaries {_name(ColorPrimaries, self.primaries)}, transfer {_name(ColorTrc, self.transfer)}"
        )


@dataclass(frozen=True)
class Interpretation:
    """How the samples of one layout are turned into RGB: the matrix and range actually used,
    and a note when either had to be assumed because the stream does not say."""

    matrix: int
    range: int
    note: str = ""


def interpret(tags: ColourTags, pixels: PixelLayout, width: int, height: int) -> Interpretation:
    """The matrix and range to convert with. Untagged YUV follows the primaries, else the
    frame size as VapourSynth tools guess (:mod:`mprnet_vs.untagged`) -- and says so."""
    notes = []
    rng = tags.range
    if pixels.family == "rgb":
        return Interpretation(MATRIX_RGB, RANGE_FULL)
    if rng not in (RANGE_LIMITED, RANGE_FULL):
        rng = RANGE_FULL if pixels.family == "gray" else RANGE_LIMITED
        if pixels.family == "yuv":
            notes.append("colour range not tagged: assumed limited (tv)")
    if pixels.family == "gray":
        return Interpretation(MATRIX_BT709, rng, "; ".join(notes))
    matrix = tags.matrix
    if matrix in LUMA_WEIGHTS or matrix in (MATRIX_RGB, MATRIX_YCGCO):
        if matrix == 10:
            notes.append("BT.2020 constant-luminance matrix converted as non-constant-luminance")
        return Interpretation(matrix, rng, "; ".join(notes))
    guess, why = guess_matrix(width, height, tags.primaries)
    label = MATRIX_LABELS[guess]
    if matrix == MATRIX_UNSPECIFIED:
        notes.append(f"colour matrix not tagged: assumed {label} ({why})")
    else:
        notes.append(f"colour matrix {MATRIX_NAMES.get(matrix, matrix)} is not supported: converted as {label}")
    return Interpretation(guess, rng, "; ".join(notes))


def output_tags(source: ColourTags, source_pixels: PixelLayout, used: Interpretation, out_pixels: PixelLayout) -> tuple[ColourTags, Interpretation]:
    """Tags to write and the conversion to use for the output. The source's tags are carried
    over unchanged whenever the output family can hold them; a family change (RGB source to a
    YUV encoder, or the reverse) tags what was actually written."""
    if out_pixels.family == source_pixels.family or (out_pixels.family == "gray" and source_pixels.family == "yuv"):
        return source, Interpretation(used.matrix, used.range)
    if out_pixels.family == "rgb":
        tags = ColourTags(MATRIX_RGB, RANGE_FULL, source.primaries, source.transfer)
        return tags, Interpretation(MATRIX_RGB, RANGE_FULL)
    if out_pixels.family == "gray":
        tags = ColourTags(source.matrix, RANGE_FULL, source.primaries, source.transfer)
        return tags, Interpretation(MATRIX_BT709, RANGE_FULL)
    # RGB or gray source written as YUV: BT.709 limited, and tagged as such.
    tags = ColourTags(MATRIX_BT709, RANGE_LIMITED, source.primaries, source.transfer)
    return tags, Interpretation(MATRIX_BT709, RANGE_LIMITED)
