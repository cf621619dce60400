"""Restore a video file with PyAV: decode in one thread, restore batches on the device in the
caller's thread, encode in another, with bounded queues so memory stays flat on long videos.

What is kept from the source: every frame and its timestamp (VFR stays VFR; a container that
stores one rate, such as AVI or Y4M, or a codec that does, such as MPEG-2, gets the grid of FFmpeg's
guessed rate), the frame rate,
colour range / matrix / primaries / transfer (and they drive the YUV <-> RGB maths), bit depth
and chroma layout where the encoder can store them, rotation, sample aspect ratio, chapters,
metadata, and every audio and subtitle stream the output container can hold (copied packet
for packet; the report says what could not be copied and why). The output only appears at its
path once it is complete and read back (see safe_output).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from .colour import RANGE_FULL, ColourTags, interpret, layout, output_tags
from .conversion import ColourMatrix
from .frames import FrameReader, FrameWriter
from ..engine.protocol import Engine
from ..errors import InputError, UsageError
from ..safe_output import atomic_output, refuse_inputs
from .streams import COPIED_TYPES, add_copied_streams, copy_container_info
from .carried import check_kept, sample_aspect
from .containers import DEFAULT_CODEC, codec_for, output_format, own_files_problem
from .encoder import DEFAULT_CRF, RateGrid, VideoOptions, add_video_stream, check_settings, encoder_options, needs_constant_rate
from .pes import program_stream
from .pixfmt import pick_pix_fmt
from .probe import takes_time_base
from .threads import Pipeline, Progress
from .frame_times import DECODE_ORDER_FORMATS, Timing
from .timing import audio_start_notes, plan_start_shift, verify_output
from .input import (
    close_quietly,
    DecodeLog,
    announced_frames,
    demux,
    describe_error,
    estimate_frames,
    frame_step,
    incompleteness,
    main_video_stream,
    open_input,
)

__all__ = [
    "DEFAULT_CODEC",
    "DEFAULT_CRF",
    "VideoOptions",
    "VideoReport",
    "check_settings",
    "estimate_frames",
    "restore_video",
]




@dataclass
class VideoReport:
    """What restore_video did, for messages and tests."""

    source: Path
    output: Path
    frames: int = 0
    width: int = 0
    height: int = 0
    source_pix_fmt: str = ""
    codec: str = ""
    pix_fmt: str = ""
    colour: str = ""
    copied: list[str] = field(default_factory=list)
    not_copied: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    incomplete: str | None = None  # why fewer frames than the file announces were restored
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        streams = f", copied {', '.join(self.copied)}" if self.copied else ""
        return (
            f"{self.frames} frames {self.width}x{self.height} {self.source_pix_fmt} -> {self.codec} {self.pix_fmt}"
            f"{streams} ({self.seconds:.1f} s, {self.fps:.1f} fps)"
        )


@dataclass
class _Source:
    """The opened source, decoded up to its first frame (which decides the conversion)."""

    path: Path
    container: av.container.InputContainer
    video: av.video.stream.VideoStream
    time_base: Fraction
    rate: Fraction
    total: int | None  # frames announced (progress only)
    log: DecodeLog
    timing: Timing  # fed by the demuxer as it reads
    items: Iterator[tuple[str, Any]]
    buffered: list[tuple[str, Any]]
    first: av.VideoFrame

    def rest(self, streams: dict[int, av.stream.Stream]) -> Iterator[tuple[str, Any]]:
        """Every frame, and the packets of the streams actually copied, from the start."""
        for kind, value in self.buffered:
            if kind == "frame" or value.stream.index in streams:
                yield kind, value
        self.buffered.clear()
        for kind, value in self.items:
            if kind == "frame" or value.stream.index in streams:
                yield kind, value


def _open_source(path: Path) -> _Source:
    container = open_input(path)
    try:
        video = main_video_stream(container, path)
        # Slice threads, not frame threads: a frame-threaded decoder reports a damaged frame's
        # error only on a later call, and when that is the final drain PyAV stops there and
        # refuses to drain again, so the good frames still inside are lost (an MP4 cut inside
        # its last frame lost two more). Decoding is far from the model's cost either way.
        video.thread_type = "SLICE"
        video.codec_context.thread_count = 0
        time_base = Fraction(video.time_base) if video.time_base else Fraction(1, 90000)
        # FFmpeg's own guess (what `ffmpeg` writes a constant-rate file at) before the average:
        # a recording that pauses has an average far below its frame rate (8 fps for 25 fps
        # frames with a 1 s pause), which a constant-rate container would play its frames at.
        rate = Fraction(video.guessed_rate or video.average_rate or video.base_rate or 25)
        copyable = {s.index for s in container.streams if s.type in COPIED_TYPES}
        log = DecodeLog()
        timing = Timing(step=frame_step(video), time_base=time_base, packet_order=container.format.name in DECODE_ORDER_FORMATS,
                        exact_step=1 / (rate * time_base), sparse=program_stream(container))
        items = demux(container, video, copyable, log, timing)
        # Decode up to the first frame now: its format and colour tags set up the encoder, and
        # a file without a single decodable frame fails before any output exists.
        buffered: list[tuple[str, Any]] = []
        for kind, value in items:
            buffered.append((kind, value))
            if kind == "frame":
                return _Source(path, container, video, time_base, rate, announced_frames(container, video), log, timing, items, buffered, value)
        cause = log.problem()
        raise InputError(f"{path}: no video frames could be decoded{' (' + cause + ')' if cause else ''}")
    except BaseException:
        close_quietly(container)
        raise


@dataclass
class _Conversion:
    """How decoded samples become RGB for the model and go back for the encoder."""

    pix_fmt: str
    tags: ColourTags
    reader: FrameReader
    writer: FrameWriter
    to_rgb: ColourMatrix
    from_rgb: ColourMatrix


def _plan_conversion(source: _Source, options: VideoOptions, opts: dict[str, str], report: VideoReport) -> _Conversion:
    first = source.first
    width, height = first.width, first.height
    pixels = layout(first.format.name)
    tags = ColourTags.of(first)
    if tags.matrix == 2 and tags.range == 0:  # the frame says nothing: ask the stream
        tags = ColourTags.of(source.video.codec_context)
    used = interpret(tags, pixels, width, height)
    if used.note:
        report.notes.append(used.note)
    if pixels.alpha and not av.VideoFormat(pixels.name).has_palette:
        report.notes.append(f"the video's alpha channel ({pixels.name}) is not kept")
    elif _tag(source.video.metadata, "alpha_mode") == "1":
        report.notes.append("the video's alpha channel (VP9 alpha in WebM, not decoded) is not kept")
    interlacing = _interlacing(first, source.video)
    if interlacing:
        report.notes.append(f"interlaced source ({interlacing}): restored as whole frames (not deinterlaced) and written as progressive")
    choice = pick_pix_fmt(options.codec, pixels, width, height, source.rate, opts, options.pix_fmt)
    pix_fmt = choice.pix_fmt
    if choice.note:
        report.notes.append(choice.note)
    out_planar = layout(layout(pix_fmt).planar)
    out_tags, out_used = output_tags(tags, pixels, used, layout(pix_fmt))
    if choice.full_range and out_used.range != RANGE_FULL:
        out_tags = dataclasses.replace(out_tags, range=RANGE_FULL)
        out_used = dataclasses.replace(out_used, range=RANGE_FULL)
        report.notes.append(f"encoder {options.codec} writes {pix_fmt} as full range (pc): converted from limited range (tv)")
    in_planar = layout(pixels.planar)
    report.width, report.height = width, height
    report.source_pix_fmt, report.pix_fmt = first.format.name, pix_fmt
    report.colour = out_tags.describe()
    return _Conversion(
        pix_fmt=pix_fmt,
        tags=out_tags,
        reader=FrameReader(in_planar, used, (width, height)),
        writer=FrameWriter(out_planar, pix_fmt, out_used, out_tags, sample_aspect(source.video)),
        to_rgb=ColourMatrix(in_planar, used),
        from_rgb=ColourMatrix(out_planar, out_used),
    )


# FFmpeg's field orders (coded, displayed) by which field is shown first.
FIELD_ORDERS = {2: "top field first", 3: "bottom field first", 4: "bottom field first", 5: "top field first"}


def _tag(metadata: dict[str, str], key: str) -> str | None:
    """A metadata value whatever the case of its key (Matroska tags come in capitals)."""
    return next((str(v) for k, v in metadata.items() if k.lower() == key), None)


def _interlacing(first: av.VideoFrame, video: av.video.stream.VideoStream) -> str | None:
    """Which field comes first when the source is interlaced, or None for progressive video."""
    order = int(getattr(video.codec_context, "field_order", 0) or 0)
    if order in FIELD_ORDERS:
        return FIELD_ORDERS[order]
    return "field order unknown" if getattr(first, "interlaced_frame", False) else None


def restore_video(
    source: str | Path,
    target: str | Path,
    restorer: Engine,
    options: VideoOptions | None = None,
    progress: Progress | None = None,
    *,
    replace: bool = True,
) -> VideoReport:
    """Restore every frame of ``source`` with ``restorer`` (an engine Restorer) into ``target``.

    The container is chosen by ``target``'s extension. Raises InputError (one line naming the
    file) for unreadable input, no video, or settings the encoder refuses; nothing is left at
    ``target`` then. A file whose end cannot be decoded is restored as far as it decodes and
    ``report.incomplete`` says where it stopped. ``progress(done, total)`` is called after
    each batch (total may be None). ``replace`` False: a file that appears at ``target``
    meanwhile is left alone (see :func:`mprnet_vs.safe_output.atomic_output`).
    """
    source, target = Path(source), Path(target)
    options = options or VideoOptions()
    refuse_inputs(target, [source])
    if not target.suffix:
        raise InputError(f"{target}: the output needs a file extension (e.g. .mkv or .mp4) to choose a container")
    problem = own_files_problem(target)
    if problem:
        raise UsageError(problem)
    started = time.monotonic()
    if options.codec is None:
        container = output_format(target.suffix)
        options = dataclasses.replace(options, codec=codec_for(container) if container else DEFAULT_CODEC)
    report = VideoReport(source=source, output=target, codec=options.codec)
    opts = encoder_options(options)
    opened = _open_source(source)
    try:
        conversion = _plan_conversion(opened, options, opts, report)
        with atomic_output(target, replace) as temp:
            _write(opened, conversion, temp, restorer, options, opts, progress, report)
    finally:
        close_quietly(opened.container)
    report.seconds = time.monotonic() - started
    return report


def _first_time(frame: av.VideoFrame) -> Fraction | None:
    """When the first decoded frame is shown, in seconds (None when it carries no time)."""
    return frame.pts * Fraction(frame.time_base) if frame.pts is not None and frame.time_base else None


def _write(source: _Source, conversion: _Conversion, temp: Path, restorer: Engine, options: VideoOptions,
           opts: dict[str, str], progress: Progress | None, report: VideoReport) -> None:
    target = report.output
    try:
        output = av.open(str(temp), "w")
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise InputError(f"{target}: cannot write this kind of file ({describe_error(exc)})") from None
    pipeline = Pipeline(source.path, restorer, options, progress)
    timing = source.timing
    container_name = output.format.name
    container_one_rate = needs_constant_rate(output.format)  # the container stores one rate; or else the codec may
    holder = f"{container_name} files store" if container_one_rate else f"{options.codec} video stores"
    one_rate = container_one_rate or not takes_time_base(options.codec, conversion.pix_fmt, source.time_base, source.rate)
    grid = RateGrid(source.rate, source.time_base) if one_rate else None
    out_time_base = 1 / source.rate if grid is not None else source.time_base
    try:
        video_out = add_video_stream(
            output, source.video, options.codec, conversion.pix_fmt, (report.width, report.height),
            source.rate, out_time_base, conversion.tags, opts, target,
        )
        streams = add_copied_streams(output, source.container, source.video, report.copied, report.not_copied)
        pipeline.sources = {index: source.container.streams[index] for index in streams}
        pipeline.shift = plan_start_shift(_first_time(source.first), list(pipeline.sources.values()), container_name,
                                          source.rate if container_one_rate else None)
        if pipeline.shift.note:
            report.notes.append(pipeline.shift.note)
        copy_container_info(output, source.container)
        try:
            video_out.codec_context.open()
        except av.error.FFmpegError as exc:
            raise InputError(
                f"{target}: encoder {options.codec} refused the video ({conversion.pix_fmt}, time base "
                f"{out_time_base}): {describe_error(exc)}"
            ) from None
        try:
            output.start_encoding()  # the header now: a container that refuses the video says so before any work
        except (av.error.FFmpegError, ValueError) as exc:
            raise InputError(
                f"{target}: {output.format.name} files cannot hold this video ({options.codec}, {conversion.pix_fmt}): "
                f"{describe_error(exc)}; choose another --codec or extension"
            ) from None
        if grid is None and video_out.time_base:  # the muxer's own time base, chosen with the header
            timing.min_gap = max(1, math.ceil(Fraction(video_out.time_base) / source.time_base))
        pipeline.start(source.rest(streams), conversion, timing, grid, output, video_out, streams)
        pipeline.run(conversion.to_rgb, conversion.from_rgb, source.total)
        output.close()
    except av.error.FFmpegError as exc:  # encoding or writing failed (disk full, muxer refusal, ...)
        pipeline.shutdown()
        close_quietly(output)
        raise InputError(f"{target}: encoding or writing failed ({describe_error(exc)})") from None
    except BaseException:
        pipeline.shutdown()
        close_quietly(output)
        raise
    report.frames = pipeline.written.frames
    if conversion.reader.resized:
        report.notes.append(f"{conversion.reader.resized} frame(s) changed size mid-stream and were scaled to {report.width}x{report.height}")
    if timing.fixed:
        report.notes.append(f"{timing.fixed} frame timestamp(s) were missing or out of order and were repaired")
    if grid is not None and grid.uneven:
        report.notes.append(
            f"{grid.uneven} frame(s) are not evenly spaced (variable frame rate) but {holder} one rate: "
            f"written at a constant {float(source.rate):.4g} fps"
        )
    report.incomplete = incompleteness(source.log, source.container, source.video, timing, source.time_base)
    report.notes.extend(audio_start_notes(pipeline.shift, pipeline.written, pipeline.sources, container_name, 1 / source.rate))
    moved = verify_output(temp, pipeline.written, Fraction(video_out.codec_context.time_base), 1 / source.rate, target)
    if moved:
        report.notes.append(moved)
    check_kept(temp, container_name, source.video, pipeline.sources, pipeline.written.packets, report.copied, report.not_copied, report.notes)

