"""Asking FFmpeg what an encoder accepts: opening it for real on a tiny frame (its tables of
pixel formats and ranges are not reliable enough to decide from)."""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import av
import av.error

from .colour import RANGE_FULL, layout
from ..errors import UsageError
from .input import ffmpeg_reasons

DEFAULT_CODEC = "libx264"
PALETTE_BITS = 16  # how pal8 (an adaptive palette, see palette.adaptive_palette) ranks among formats


def codec_named(name: str) -> av.Codec:
    try:
        codec = av.Codec(name, "w")
    except Exception as exc:  # noqa: BLE001 - PyAV raises several types for unknown codecs
        raise UsageError(f"unknown video encoder {name!r} (see `ffmpeg -encoders` for names)") from exc
    if codec.type != "video":
        raise UsageError(f"{name!r} is a {codec.type} encoder, not a video encoder")
    return codec


def try_encoder(codec: str, pix_fmt: str, width: int, height: int, rate: Fraction, opts: dict[str, str], full_range: bool = False,
                time_base: Fraction | None = None) -> None:
    """Open a throw-away encoder with these settings (``time_base`` default 1/rate); the
    FFmpeg error if it refuses them."""
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
    ctx.time_base = time_base or 1 / rate
    ctx.framerate = rate
    if full_range:
        ctx.color_range = RANGE_FULL
    ctx.options = dict(opts)
    with ffmpeg_reasons():
        ctx.open()
    leftover = set(ctx.options) & set(opts)
    if leftover:
        raise UsageError(f"encoder {codec} did not accept option(s) {', '.join(sorted(leftover))}")


@lru_cache(maxsize=None)
def full_range_only(codec: str, pix_fmt: str) -> bool:
    """True when the encoder opens with this YUV format only when it is tagged full range
    (MJPEG: non-'j' YUV must be so tagged). Tried with default options, so that a bad option
    of the user's is reported as such."""
    if layout(pix_fmt).family != "yuv":
        return False
    try:
        try_encoder(codec, pix_fmt, 64, 64, Fraction(25), {})
        return False
    except (av.error.FFmpegError, ValueError):
        pass
    try:
        try_encoder(codec, pix_fmt, 64, 64, Fraction(25), {}, full_range=True)
    except (av.error.FFmpegError, ValueError):
        return False
    return True


def trial_open(codec: str, pix_fmt: str, width: int, height: int, rate: Fraction, opts: dict[str, str]) -> bool:
    """Open a throw-away encoder; True when the samples must be full range (the 'j' formats
    always are; MJPEG takes yuv420p only so tagged). The FFmpeg error if it refuses."""
    full = pix_fmt.startswith("yuvj")
    try:
        try_encoder(codec, pix_fmt, width, height, rate, opts, full_range=full)
    except (av.error.FFmpegError, ValueError):
        if full or not full_range_only(codec, pix_fmt):
            raise
        full = True
        try_encoder(codec, pix_fmt, width, height, rate, opts, full_range=True)
    return full


@lru_cache(maxsize=None)
def takes_time_base(codec: str, pix_fmt: str, time_base: Fraction, rate: Fraction) -> bool:
    """False when the encoder opens at 1/rate but not with ``time_base``: MPEG-1/2 take their
    frame rate from the time base ("MPEG-1/2 does not support 90000/1 fps"), MPEG-4 part 2 caps
    its denominator at 65535. Such a codec stores one rate, whatever the container."""
    full_range = pix_fmt.startswith("yuvj")
    try:
        try_encoder(codec, pix_fmt, 64, 48, rate, {}, full_range=full_range, time_base=time_base)
        return True
    except (av.error.FFmpegError, ValueError):
        pass
    try:
        try_encoder(codec, pix_fmt, 64, 48, rate, {}, full_range=full_range)
    except (av.error.FFmpegError, ValueError):
        return True  # not even at 1/rate: the real open reports why
    return False
