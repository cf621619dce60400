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
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error

from .colour import ColourTags, layout
from ..errors import InputError, UsageError
from .streams import track_metadata
from .input import describe_error

from .containers import DEFAULT_CODEC, codec_for, container_codec, container_problem, output_format, own_files_problem
from .pixfmt import conversion_problem, probe_format
from .probe import codec_named, trial_open

DEFAULT_CRF = 16
# Encoders for the codecs FFmpeg's muxers default to, where the name is not an encoder.
# --encoder-opt keys (and keys inside x264-params, x265-params, svtav1-params, ...) that choose
# the rate control: given one, the default crf is left out.
RATE_CONTROL_OPTIONS = frozenset({"crf", "qp", "b", "lossless", "global_quality", "cq", "rc"})
RATE_CONTROL_PARAMS = frozenset({"crf", "qp", "bitrate", "lossless", "tbr", "rc"})
# Encoders where crf with a bitrate is one mode (constrained quality), not a clash.
CRF_WITH_BITRATE_CAP = frozenset({"libvpx", "libvpx-vp9", "libaom-av1"})
# crf ranges of encoders whose AVOption declares none (x264 and x265 take a float up to FLT_MAX
# and clamp it silently); the others (VP8/VP9 0-63, SVT-AV1 0-63, ...) are read from the encoder.
CRF_RANGES = {"libx264": (0, 51), "libx264rgb": (0, 51), "libx265": (0, 51)}
CRF_HELP = "x264/x265 0-51, VP8/VP9/AV1 0-63; lossless encoders such as ffv1 have none"


def crf_range(codec: str) -> tuple[float, float] | None:
    """The crf values ``codec`` takes, or None when it has no crf setting."""
    if codec in CRF_RANGES:
        return CRF_RANGES[codec]
    options = av.CodecContext.create(codec, "w").supported_options
    crf = next((o for o in (*options.generic, *options.private) if o.name == "crf"), None)
    if crf is None:
        return None
    low, high = max(0.0, float(getattr(crf, "min", 0.0))), float(getattr(crf, "max", float("inf")))
    return low, high


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
        low, high = crf_range(options.codec) or (0, float("inf"))
        if not low <= options.crf <= high:
            raise UsageError(f"--crf {options.crf}: encoder {options.codec} takes crf {low:g} to {high:g}")
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


def check_settings(options: VideoOptions, targets: Iterable[Path] = ()) -> None:
    """Validate codec, pixel format and options once, before any file is touched (UsageError):
    for each output container among ``targets`` the codec it gets (``options.codec`` or the
    container's default) must fit in it, and the encoder must open with the format asked for,
    or the one an 8-bit 4:2:0 source would get."""
    for name in ("codec", "pix_fmt"):  # "" from a caller in Python: a mistake, not the default
        value = getattr(options, name)
        if isinstance(value, str) and not value.strip():
            raise UsageError(f"{name}: empty value; leave it out (None) for the default")
    targets = [Path(t) for t in targets]
    for target in targets:
        problem = own_files_problem(target)
        if problem:
            raise UsageError(problem)
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
    codec = codec_named(options.codec)
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
    probe = probe_format(options.codec, pix_fmt)
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


# FFmpeg's AVI muxer keeps the time before a frame as dropped frames, one index entry each, and
# refuses a run of more than this many (a capture whose clock starts hours in, or pauses).
MAX_SKIPPED_SLOTS = 60000


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
    # How far the first frame sits off the grid (in slots): a constant-rate source that starts
    # between two slots (an MPEG-PS at 0.54 s, 13.5 frames at 25 fps) is off the grid by the same
    # amount at every frame, so the grid is anchored on the first frame: every frame keeps its
    # spacing and none is taken for variable frame rate.
    phase: Fraction | None = None
    placed: int = 0

    def place(self, pts: int) -> int:
        """The slot for a frame stamped ``pts`` (source time base); InputError for a jump
        longer than the muxer can hold as dropped frames."""
        exact = pts * self.source_time_base * self.rate
        if self.phase is None:
            self.phase = exact - round(exact)
        exact -= self.phase
        slot = round(exact)
        if self.last is not None and slot - self.last - 1 > MAX_SKIPPED_SLOTS:
            raise InputError(
                f"the video's timestamps jump {float((slot - self.last) / self.rate):.2f} s after frame {self.placed}: "
                f"constant-rate files (AVI) hold a pause as dropped frames, at most {MAX_SKIPPED_SLOTS} in a row; "
                "restore into .mkv or .mp4, which keep every timestamp"
            )
        self.placed += 1
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
    stream.metadata.update(track_metadata(dict(source.metadata), output.format.name))
    stream.disposition = source.disposition
    return stream
