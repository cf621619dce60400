"""Which container an output name asks for, which codec it holds by default, and whether a
codec fits in it (tried by muxing into an in-memory file: FFmpeg's tables are not enough)."""

from __future__ import annotations

import tempfile
from fractions import Fraction
from functools import lru_cache
from io import BytesIO
from pathlib import Path

import av
import av.error

from .colour import RANGE_FULL
from ..errors import UsageError
from .input import close_quietly, describe_error

from .pixfmt import probe_format
from .probe import DEFAULT_CODEC, codec_named, trial_open


CONTAINER_ENCODERS = {"vp9": "libvpx-vp9", "vp8": "libvpx", "wrapped_avframe": "rawvideo", "theora": "libtheora", "av1": "libsvtav1"}


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


def own_files_problem(target: Path) -> str | None:
    """Why ``target`` cannot be written, when its muxer writes files of its own (HLS and DASH
    playlists with their segments, segment, tee: named from the part file they were given, next
    to it, and never moved into place; DASH's crashes FFmpeg when tried in memory), or None."""
    name = output_format(target.suffix)
    if name is None or not av.format.ContainerFormat(name, "w").no_file:
        return None
    return (f"{target}: {name} outputs are written as several files of the muxer's own (playlist segments, numbered "
            f"images), not one file; choose another extension (.mkv, .mp4, .ts, ...)")


@lru_cache(maxsize=None)
def container_codec(format_name: str) -> str | None:
    """The encoder FFmpeg would use for video in ``format_name`` files, if this FFmpeg has one."""
    probe = av.open(BytesIO(), "w", format=format_name)
    name = probe.default_video_codec
    close_quietly(probe)  # nothing was written
    name = CONTAINER_ENCODERS.get(name, name)
    try:
        return codec_named(name).name
    except UsageError:
        return None


@lru_cache(maxsize=None)
def codec_for(format_name: str) -> str:
    """The codec a ``format_name`` output gets when --codec is not given: DEFAULT_CODEC where
    the container can hold it, else the container's own."""
    if container_problem(format_name, DEFAULT_CODEC, ()) is None:
        return DEFAULT_CODEC
    return container_codec(format_name) or DEFAULT_CODEC


PROBE_FRAMES = 3


def _mux_failure(format_name: str, codec: str, opts: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
    """(stage, error) where test-muxing a 64x48 ``codec`` stream into an in-memory
    ``format_name`` file fails -- "encoder": the encoder refuses that stream; "codec": the
    muxer refuses the codec; "header": it refuses the stream as set up; "read back": the
    muxer writes it, but FFmpeg finds no video in the file (MPEG-TS takes VP9, AV1, FFV1,
    ProRes, ... as private data its demuxer does not know) -- or None."""
    pix_fmt = probe_format(codec)
    try:
        full = trial_open(codec, pix_fmt, 64, 48, Fraction(25), dict(opts))
    except (av.error.FFmpegError, ValueError, UsageError) as exc:
        return "encoder", describe_error(exc)
    data = BytesIO()
    probe = av.open(data, "w", format=format_name)
    try:
        try:
            stream = probe.add_stream(codec, rate=25)
        except ValueError as exc:
            return "codec", describe_error(exc)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        if full:
            stream.codec_context.color_range = RANGE_FULL
        stream.codec_context.options = dict(opts)
        if probe.format.no_file:
            return None  # it writes files of its own (image2, hls, dash, segment): tried, it left them in the working folder
        try:
            probe.start_encoding()
        except (av.error.FFmpegError, ValueError) as exc:
            return "header", describe_error(exc)
        try:
            for index in range(PROBE_FRAMES):
                frame = av.VideoFrame(64, 48, pix_fmt)
                for plane in frame.planes:  # black, not whatever the memory held: the same file every time
                    plane.update(bytes(plane.buffer_size))
                frame.pts = index
                probe.mux(stream.encode(frame))
            probe.mux(stream.encode(None))
            probe.close()
        except (av.error.FFmpegError, ValueError):
            return None  # the real run judges (and says) what writing frames meets
    finally:
        close_quietly(probe)  # a frameless test file need not finish cleanly
    return _read_back_failure(data, format_name)


def _read_back_failure(data: BytesIO, format_name: str) -> tuple[str, str] | None:
    """("read back", why) when FFmpeg finds no decodable video in the probe file ``data``,
    read with the demuxer of that name where there is one (a file of three black frames is
    too short for FFmpeg to recognise an MPEG-TS by probing)."""
    videos = None
    for name in (format_name, None):
        data.seek(0)
        try:
            with av.open(data, "r", format=name) as check:
                videos = [s for s in check.streams.video if s.codec_context is not None]
            break
        except ValueError:
            continue  # no demuxer of that name (a muxer variant such as ipod): probe
        except (av.error.FFmpegError, OSError):
            return None  # unreadable for another reason: not judged here
    if videos is None or videos:  # not judged here, or video found
        return None
    return "read back", "FFmpeg writes it there but reads no video back"


@lru_cache(maxsize=None)
def container_problem(format_name: str, codec: str, opts: tuple[tuple[str, str], ...]) -> str | None:
    """Why ``format_name`` files cannot hold ``codec`` video, or None. Only a refusal of the
    codec counts: a header refusal, or a file FFmpeg reads no video back from, counts where
    the container's own codec passes the same test (DV and MXF refuse a 64x48 test stream
    whatever its codec: the real run judges)."""
    failure = _mux_failure(format_name, codec, opts)
    if failure is None or failure[0] == "encoder":
        return None
    stage, error = failure
    if stage in ("header", "read back"):
        own = container_codec(format_name)
        if own is None or own == codec or _mux_failure(format_name, own, ()) is not None:
            return None
    return error


