"""The pixel format a restored video is written in: the source's bit depth and chroma layout
where the encoder can store them, else the closest it can (never fewer bits if more are
available), tried for real at the frame's size so odd-sized 4:2:0 falls back to 4:4:4."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import av
import av.error
import numpy as np

from .colour import ColourTags, PixelLayout, interpret, layout
from .frames import FrameWriter
from ..errors import InputError
from .input import describe_error

from .probe import PALETTE_BITS, trial_open


def _normalised_name(pixels: PixelLayout) -> str:
    """The source format without alpha and without the deprecated full-range 'j' variants."""
    name = pixels.name.replace("yuvj", "yuv")
    for alpha, plain in (("yuva", "yuv"), ("gbrap", "gbrp"), ("bgra", "bgr0"), ("rgba", "rgb0"), ("argb", "0rgb"), ("abgr", "0bgr")):
        name = name.replace(alpha, plain)
    return name


def _candidate_key(candidate: PixelLayout, source: PixelLayout, wanted: str, width: int, height: int) -> tuple:
    family = 0 if candidate.family == source.family else 1 if source.family in ("rgb", "gray") and candidate.family == "yuv" else 2
    if candidate.depth == source.depth:
        depth = 0.0
    elif candidate.depth > source.depth:
        depth = 1.0 + (candidate.depth - source.depth) / 16
    else:
        depth = 10.0 + source.depth - candidate.depth
    same = candidate.chroma_shift == source.chroma_shift
    finer = all(c <= s for c, s in zip(candidate.chroma_shift, source.chroma_shift))
    chroma = 0 if same else 1 if finer else 5
    semi_planar = candidate.name.startswith(("nv", "p0", "p2", "p4", "y2", "yuyv", "uyvy"))
    deprecated = candidate.name.startswith("yuvj")
    return (0 if candidate.fits(width, height) else 1, family, depth, chroma, -colour_bits(candidate.name), deprecated,
            candidate.name != wanted, semi_planar, candidate.name)


def colour_bits(pix_fmt: str) -> int:
    """Bits of colour a pixel really holds: rgb24 24, bgr8 8, bgr4_byte 4 (all three 'depth
    8'); an adaptive 256-colour palette (pal8) counts as 16, between true colour and 3-3-2."""
    fmt = av.VideoFormat(pix_fmt)
    if fmt.has_palette:
        return PALETTE_BITS
    return sum(c.bits for c in fmt.components if not c.is_alpha)


@lru_cache(maxsize=None)
def conversion_problem(pix_fmt: str) -> str | None:
    """Why restored frames cannot be turned into ``pix_fmt`` (swscale writes no Bayer, for
    one), or None: a small frame goes through the real conversion."""
    planar = layout(layout(pix_fmt).planar)
    used = interpret(ColourTags(matrix=1, range=1), planar, 16, 16)
    try:
        FrameWriter(planar, pix_fmt, used, ColourTags()).frame(np.zeros((planar.channels, 16, 16), planar.dtype))
    except (av.error.FFmpegError, ValueError, TypeError) as exc:
        return describe_error(exc)
    return None


def _candidates(codec: str, source: PixelLayout, width: int, height: int) -> list[PixelLayout]:
    """The encoder's pixel formats that can hold this source, closest first."""
    wanted = _normalised_name(source)
    names = [f.name for f in (av.Codec(codec, "w").video_formats or [])] or [wanted]
    candidates = []
    for name in names:
        try:
            pixels = layout(name)
        except InputError:
            continue
        palette = av.VideoFormat(name).has_palette
        if (pixels.alpha and not palette) or av.VideoFormat(name).is_bayer or conversion_problem(name):
            continue
        candidates.append(pixels)
    return sorted(candidates, key=lambda c: _candidate_key(c, source, wanted, width, height))


@dataclass(frozen=True)
class PixelChoice:
    """The encoder's pixel format, a note when it differs from the source's layout, and
    whether the encoder needs full-range samples in it."""

    pix_fmt: str
    note: str | None = None
    full_range: bool = False


def pick_pix_fmt(codec: str, source: PixelLayout, width: int, height: int, rate: Fraction, opts: dict[str, str], requested: str | None) -> PixelChoice:
    """The encoder pixel format for this source. Candidates are tried in order of closeness
    (depth, family, chroma) and the first one the encoder really opens with at this frame
    size wins; an odd-sized frame thus falls back to a 4:4:4 format instead of failing on
    4:2:0. A YUV format the encoder takes only as full range (MJPEG) is chosen as such; the
    deprecated 'j' formats come last (AMV and RoQ take nothing else)."""
    if requested is not None:
        try:
            full = trial_open(codec, requested, width, height, rate, opts)
        except (av.error.FFmpegError, ValueError) as exc:
            hint = ""
            if not layout(requested).fits(width, height):
                hint = f"; {requested} needs even width/height, use e.g. --pix-fmt {layout(requested).planar}"
            raise InputError(f"encoder {codec} cannot write {width}x{height} as {requested}: {describe_error(exc)}{hint}") from None
        return PixelChoice(requested, None, full)
    wanted = _normalised_name(source)
    errors: list[tuple[str, str]] = []
    for pixels in _candidates(codec, source, width, height)[:6]:
        try:
            full = trial_open(codec, pixels.name, width, height, rate, opts)
        except (av.error.FFmpegError, ValueError) as exc:
            errors.append((pixels.name, describe_error(exc)))
            continue
        note = None
        if pixels.name != wanted:
            why = "" if pixels.fits(width, height) or source.fits(width, height) else f" ({width}x{height} cannot be stored with subsampled chroma)"
            note = f"source pixel format {source.name}: encoder {codec} writes {pixels.name}{why}"
        return PixelChoice(pixels.name, note, full)
    reasons = {reason for _, reason in errors}
    if len(reasons) == 1 and len(errors) > 1:  # the same refusal for every format: not about pixels
        raise InputError(f"encoder {codec} cannot write {width}x{height} video at {float(rate):g} fps: {reasons.pop()}")
    listed = "; ".join(f"{name}: {reason}" for name, reason in errors)
    raise InputError(f"encoder {codec} cannot write {width}x{height} video ({listed or 'no usable pixel format'})")


def probe_format(codec: str, requested: str | None = None) -> str:
    """The format asked for, or the one an 8-bit 4:2:0 source would get first."""
    typical = layout("yuv420p")
    return requested or next(iter(_candidates(codec, typical, 64, 64)), typical).name
