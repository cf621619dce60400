"""Video encoder settings: which encoder, pixel format and options, checked before any work.

The encoder follows the output container unless one is asked for, and must fit in it (tried
by muxing into an in-memory file). The pixel format defaults to the source's bit depth and
chroma layout where the encoder can store it; otherwise the closest format it can (never
fewer bits if more are available), tried for real at the frame's size so odd-sized 4:2:0
video falls back to 4:4:4 instead of failing. Containers that store one frame rate get a
1/rate time base and frames on that grid (RateGrid).
"""

from __future__ import annotations

import dataclasses
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from io import BytesIO
from pathlib import Path

import av
import av.error
import numpy as np

from .colour import RANGE_FULL, ColourTags, PixelLayout, interpret, layout
from .frames import FrameWriter
from ..errors import InputError, UsageError
from .streams import fresh_metadata
from .input import close_quietly, describe_error, ffmpeg_reasons

DEFAULT_CODEC = "libx264"
DEFAULT_CRF = 16
# Encoders for the codecs FFmpeg's muxers default to, where the name is not an encoder.
CONTAINER_ENCODERS = {"vp9": "libvpx-vp9", "vp8": "libvpx", "wrapped_avframe": "rawvideo", "theora": "libtheora", "av1": "libsvtav1"}
PALETTE_BITS = 16  # how pal8 (an adaptive palette, see colour.adaptive_palette) ranks among formats
# --encoder-opt keys (and keys inside x264-params, x265-params, svtav1-params, ...) that choose
# the rate control: given one, the default crf is left out.
RATE_CONTROL_OPTIONS = frozenset({"crf", "qp", "b", "lossless", "global_quality", "cq", "rc"})
RATE_CONTROL_PARAMS = frozenset({"crf", "qp", "bitrate", "lossless", "tbr", "rc"})
# Encoders where crf with a bitrate is one mode (constrained quality), not a clash.
CRF_WITH_BITRATE_CAP = frozenset({"libvpx", "libvpx-vp9", "libaom-av1"})


@dataclass
class VideoOptions:
    """Encoder settings. ``codec=None`` follows the output container (DEFAULT_CODEC where it
    can hold it, else the container's own: VP9 for WebM, rawvideo for Y4M, ...); ``crf=None``
    uses DEFAULT_CRF where the codec has a crf option; ``pix_fmt=None`` picks the source's bit
    depth and chroma layout where the codec allows."""

    codec: str | None = None
    pix_fmt: str | None = None
    crf: int | None = None
    encoder_options: dict[str, str] = field(default_factory=dict)
    queue_frames: int | None = None  # decoded frames waiting for the device; default 2 batches + 4


def _codec(name: str) -> av.Codec:
    try:
        codec = av.Codec(name, "w")
    except Exception as exc:  # noqa: BLE001 - PyAV raises several types for unknown codecs
        raise UsageError(f"unknown video encoder {name!r} (see `ffmpeg -encoders` for names)") from exc
    if codec.type != "video":
        raise UsageError(f"{name!r} is a {codec.type} encoder, not a video encoder")
    return codec


def _option_names(codec: str) -> set[str]:
    options = av.CodecContext.create(codec, "w").supported_options
    return {o.name for o in (*options.generic, *options.private)}


def rate_control(encoder_opts: dict[str, str]) -> list[str]:
    """The --encoder-opt settings that choose the rate control (``qp=0``, ``b=2M``, ``crf``
    inside ``x264-params``, ...), as KEY=VALUE."""
    found = [f"{k}={v}" for k, v in encoder_opts.items() if k in RATE_CONTROL_OPTIONS]
    for key, value in encoder_opts.items():
        if key.endswith(("-params", "opts")):
            for item in value.split(":"):
                if item.partition("=")[0].strip() in RATE_CONTROL_PARAMS:
                    found.append(f"{key}={item}")
    return found


def encoder_options(options: VideoOptions) -> dict[str, str]:
    """The AVOptions handed to the encoder: crf (explicit, or the default where the codec has
    one and no --encoder-opt chooses the rate control: libx264 would let crf win over qp or
    b) then every --encoder-opt. An explicit crf the codec cannot take, or one that clashes
    with another rate control option, is a UsageError."""
    names = _option_names(options.codec)
    for key in options.encoder_options:
        if key not in names:
            raise UsageError(f"encoder {options.codec} has no option {key!r}")
    chosen = rate_control(options.encoder_options)
    result: dict[str, str] = {}
    if options.crf is not None:
        if "crf" not in names:
            raise UsageError(f"encoder {options.codec} has no crf setting; use --encoder-opt for its quality options")
        capped = options.codec in CRF_WITH_BITRATE_CAP
        clash = [c for c in chosen if not (capped and c.partition("=")[0] in ("b", "maxrate"))]
        if clash:
            raise UsageError(f"--crf {options.crf} and --encoder-opt {clash[0]} both set encoder {options.codec}'s rate control; give one of them")
        result["crf"] = str(options.crf)
    elif "crf" in names and not chosen:
        result["crf"] = str(DEFAULT_CRF)
    if options.codec == "libx265" and "x265-params" not in options.encoder_options:
        result["x265-params"] = "log-level=error"  # x265 prints its banner to stderr otherwise
    result.update((key, str(value)) for key, value in options.encoder_options.items())
    return result


def try_encoder(codec: str, pix_fmt: str, width: int, height: int, rate: Fraction, opts: dict[str, str], full_range: bool = False) -> None:
    """Open a throw-away encoder with these settings; the FFmpeg error if it refuses them."""
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
    ctx.time_base = 1 / rate
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


def check_settings(options: VideoOptions, targets: Iterable[Path] = ()) -> None:
    """Validate codec, pixel format and options once, before any file is touched (UsageError):
    for each output container among ``targets`` the codec it gets (``options.codec`` or the
    container's default) must fit in it, and the encoder must open with the format asked for,
    or the one an 8-bit 4:2:0 source would get."""
    targets = [Path(t) for t in targets]
    formats = {name for name in (output_format(t.suffix) for t in targets) if name}
    pairs = sorted({(options.codec or codec_for(name), name) for name in formats}) or [(options.codec or DEFAULT_CODEC, "")]
    checked: dict[str, dict[str, str]] = {}
    for codec, container in pairs:
        if codec not in checked:
            checked[codec] = _check_encoder(dataclasses.replace(options, codec=codec))
        if not container:
            continue
        problem = container_problem(container, codec, tuple(checked[codec].items()))
        if problem:
            fits = container_codec(container)
            hint = f"use e.g. --codec {fits} for {container}" if fits and fits != codec else "choose another --codec"
            target = next(t for t in targets if output_format(t.suffix) == container)
            raise UsageError(f"{target}: {container} files cannot hold {codec} video ({problem}); {hint}, or another extension")


def _check_encoder(options: VideoOptions) -> dict[str, str]:
    codec = _codec(options.codec)
    opts = encoder_options(options)
    pix_fmt = options.pix_fmt
    supported = [f.name for f in (codec.video_formats or [])]
    if pix_fmt is not None:
        try:
            layout(pix_fmt)
        except InputError as exc:
            raise UsageError(str(exc)) from None
        if supported and pix_fmt not in supported:
            raise UsageError(f"encoder {options.codec} cannot write pixel format {pix_fmt}; it takes: {', '.join(supported)}")
        problem = conversion_problem(pix_fmt)
        if problem:
            raise UsageError(f"--pix-fmt {pix_fmt}: restored frames cannot be converted to it ({problem})")
    probe = _probe_format(options.codec, pix_fmt)
    try:
        trial_open(options.codec, probe, 64, 64, Fraction(25), opts)
    except UsageError:
        raise
    except (av.error.FFmpegError, ValueError) as exc:
        try:
            trial_open(options.codec, probe, 64, 64, Fraction(25), {})
        except (av.error.FFmpegError, ValueError):
            return opts  # not even its defaults at 64x64 (DV takes only its own sizes): each file is judged
        raise UsageError(f"encoder {options.codec} refused the settings {opts or '(defaults)'}: {describe_error(exc)}") from None
    return opts


def _probe_format(codec: str, requested: str | None = None) -> str:
    """The format asked for, or the one an 8-bit 4:2:0 source would get first."""
    typical = layout("yuv420p")
    return requested or next(iter(_candidates(codec, typical, 64, 64)), typical).name


# --- containers ----------------------------------------------------------------------------


@lru_cache(maxsize=None)
def output_format(suffix: str) -> str | None:
    """FFmpeg's muxer for an output file ending in ``suffix`` (its own guess, made on an empty
    file in a temporary folder), or None when it has none."""
    if not suffix:
        return None
    with tempfile.TemporaryDirectory() as folder:
        try:
            probe = av.open(str(Path(folder) / f"probe{suffix.lower()}"), "w")
        except Exception:  # noqa: BLE001 - no muxer for this extension
            return None
        name = probe.format.name
        close_quietly(probe)  # an empty file that cannot be finished is no matter
        return name


@lru_cache(maxsize=None)
def container_codec(format_name: str) -> str | None:
    """The encoder FFmpeg would use for video in ``format_name`` files, if this FFmpeg has one."""
    probe = av.open(BytesIO(), "w", format=format_name)
    name = probe.default_video_codec
    close_quietly(probe)  # nothing was written
    name = CONTAINER_ENCODERS.get(name, name)
    try:
        return _codec(name).name
    except UsageError:
        return None


@lru_cache(maxsize=None)
def codec_for(format_name: str) -> str:
    """The codec a ``format_name`` output gets when --codec is not given: DEFAULT_CODEC where
    the container can hold it, else the container's own."""
    if container_problem(format_name, DEFAULT_CODEC, ()) is None:
        return DEFAULT_CODEC
    return container_codec(format_name) or DEFAULT_CODEC


def _mux_failure(format_name: str, codec: str, opts: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
    """(stage, error) where test-muxing a 64x48 ``codec`` stream into an in-memory
    ``format_name`` file fails -- "encoder": the encoder refuses that stream; "codec": the
    muxer refuses the codec; "header": it refuses the stream as set up -- or None."""
    pix_fmt = _probe_format(codec)
    try:
        full = trial_open(codec, pix_fmt, 64, 48, Fraction(25), dict(opts))
    except (av.error.FFmpegError, ValueError, UsageError) as exc:
        return "encoder", describe_error(exc)
    probe = av.open(BytesIO(), "w", format=format_name)
    try:
        try:
            stream = probe.add_stream(codec, rate=25)
        except ValueError as exc:
            return "codec", describe_error(exc)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        if full:
            stream.codec_context.color_range = RANGE_FULL
        stream.codec_context.options = dict(opts)
        try:
            probe.start_encoding()
        except (av.error.FFmpegError, ValueError) as exc:
            return "header", describe_error(exc)
        return None
    finally:
        close_quietly(probe)  # a frameless test file need not finish cleanly


@lru_cache(maxsize=None)
def container_problem(format_name: str, codec: str, opts: tuple[tuple[str, str], ...]) -> str | None:
    """Why ``format_name`` files cannot hold ``codec`` video, or None. Only a refusal of the
    codec counts: a header refusal counts where the container's own codec passes the same
    test (DV and MXF refuse a 64x48 test stream whatever its codec: the real run judges)."""
    failure = _mux_failure(format_name, codec, opts)
    if failure is None or failure[0] == "encoder":
        return None
    stage, error = failure
    if stage == "header":
        own = container_codec(format_name)
        if own is None or own == codec or _mux_failure(format_name, own, ()) is not None:
            return None
    return error


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


# The MP4 muxer under other names: it stores every frame's duration, although FFmpeg does not
# flag these variants as variable-rate.
MP4_VARIANTS = frozenset({"3gp", "3g2", "ipod", "psp", "ismv", "f4v"})


def needs_constant_rate(container_format: av.format.ContainerFormat) -> bool:
    """True for muxers that store one frame rate, mostly taken from the stream's time base
    (AVI, Y4M, MXF, ...: no AVFMT_VARIABLE_FPS, the rule FFmpeg's -vsync auto follows): their
    time base must be 1/rate. MKV, MP4, MOV and TS keep every timestamp."""
    if container_format.name in MP4_VARIANTS:
        return False
    return not container_format.flags & av.format.Flags.variable_fps.value


@dataclass
class RateGrid:
    """Output timestamps for a constant-rate container, in slots of 1/rate: each frame takes
    the slot nearest its own time and never an earlier frame's, so frame count and A/V sync
    survive (an AVI marks skipped slots as dropped frames). ``uneven`` counts frames off the
    grid or after a gap (a variable-frame-rate source), for a note."""

    rate: Fraction
    source_time_base: Fraction
    last: int | None = None
    uneven: int = 0

    def place(self, pts: int) -> int:
        exact = pts * self.source_time_base * self.rate
        slot = round(exact)
        if self.last is not None and slot <= self.last:
            slot = self.last + 1
        if abs(slot - exact) > Fraction(1, 4) or (self.last is not None and slot > self.last + 1):
            self.uneven += 1
        self.last = slot
        return slot


def add_video_stream(
    output: av.container.OutputContainer,
    source: av.video.stream.VideoStream,
    codec: str,
    pix_fmt: str,
    size: tuple[int, int],
    rate: Fraction,
    time_base: Fraction,
    tags: ColourTags,
    opts: dict[str, str],
    target: Path,
) -> av.video.stream.VideoStream:
    """The restored video's stream: ``time_base`` (the source's, so every timestamp survives,
    or 1/rate for a constant-rate container), nominal rate, sample aspect ratio, colour tags,
    chroma siting, rotation and metadata."""
    try:
        stream = output.add_stream(codec, rate=rate)
    except ValueError as exc:
        raise InputError(f"{target}: {output.format.name} files cannot hold {codec} video ({describe_error(exc)}); choose another --codec or extension") from None
    ctx = stream.codec_context
    ctx.width, ctx.height = size
    ctx.pix_fmt = pix_fmt
    ctx.time_base = time_base
    stream.time_base = time_base
    ctx.framerate = rate
    ctx.thread_count = 0
    ctx.flags |= int(av.codec.context.Flags.frame_duration)
    sar = source.codec_context.sample_aspect_ratio
    if sar:
        ctx.sample_aspect_ratio = sar
    tags.apply(ctx)
    location = getattr(source.codec_context, "chroma_sample_location", 0)
    if location:
        ctx.chroma_sample_location = location
    ctx.options = dict(opts)
    matrix = source.codec_context.coded_side_data.get("display_matrix") if hasattr(source.codec_context, "coded_side_data") else None
    if matrix and len(matrix) >= 36:
        stream.set_display_matrix(list(struct.unpack("<9i", matrix[:36])))
    stream.metadata.update(fresh_metadata(dict(source.metadata)))
    stream.disposition = source.disposition
    return stream
