"""Cutting a long video into pieces workers restore apart, and joining the restored pieces.

Cut: the video stream alone is stream-copied, packet for packet, into one file per piece in
the source's own container (Matroska stays Matroska, MP4 stays MP4, so no timestamp is
rounded), at keyframes where decoding can start afresh (see keyframes.py). Each piece keeps
the source's timestamps, so its restored frames carry exactly the timestamps the serial run
gives them.

Join: the restored pieces' video packets are remuxed, in order, into the output (no
re-encoding), and audio, subtitles, attachments, chapters and metadata are copied once from
the source, exactly as the serial run copies them. Matroska stores no decode times, so a
piece read back has none on its first packets: the join gives every packet a decode time that
increases and never passes its presentation time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from ..errors import InputError
from ..video.streams import AudioRetimer, add_copied_streams, copy_container_info, fresh_metadata
from ..video.containers import output_format
from ..video.input import close_quietly, describe_error, main_video_stream, open_input
from .keyframes import nal_length_size, resets_decoder, safe_cuts

# Containers whose cut pieces keep every timestamp exactly (measured: MP4 pieces written as
# Matroska round to 1 ms; NUT shifts timestamps by the B-frame delay; AVI stores none).
CUTTABLE = {"matroska": ".mkv", "webm": ".webm", "mp4": ".mp4", "mov": ".mov"}


@dataclass(frozen=True)
class Segment:
    """Packets ``first`` .. ``first + count - 1`` (decode order) of the video stream."""

    index: int
    first: int
    count: int
    start: float  # seconds: the first frame's time (for messages)


@dataclass
class SplitPlan:
    """How one video is cut: ``segments`` (one means "not split") and, when it could not be
    cut though it is long, ``reason``."""

    segments: list[Segment]
    suffix: str  # the pieces' container (the source's)
    reason: str | None = None


def container_suffix(format_name: str, path: Path) -> str | None:
    """The piece extension for a container FFmpeg names ``format_name`` (None: not cuttable)."""
    names = set(format_name.split(","))
    if path.suffix.lower() in CUTTABLE.values() and (names & set(CUTTABLE)):
        return path.suffix.lower()
    if "matroska" in names:
        return ".mkv"
    if "mp4" in names or "mov" in names:
        return ".mp4"
    return None


def joinable(target: Path) -> bool:
    """True when an output of this extension can be joined from pieces of the same format."""
    name = output_format(target.suffix)
    return name is not None and bool(set(name.split(",")) & set(CUTTABLE))


def plan_split(source: Path, seconds: float, target: Path) -> SplitPlan:
    """Cut ``source`` every ``seconds`` or more, at the first safe keyframe after each mark.
    InputError for a file that cannot be read at all."""
    container = open_input(source)
    try:
        video = main_video_stream(container, source)
        suffix = container_suffix(container.format.name, source)
        format_name = container.format.name
        codec = video.codec_context.name
        length_size = nal_length_size(codec, video.codec_context.extradata)
        time_base = Fraction(video.time_base) if video.time_base else Fraction(1, 90000)
        stamps: list[int] = []
        resets: list[bool] = []
        unstamped = False
        for packet in container.demux(video):
            if not packet.size:
                continue
            if packet.pts is None:
                unstamped = True
                stamps.append(stamps[-1] + 1 if stamps else 0)
            else:
                stamps.append(packet.pts)
            resets.append(packet.is_keyframe and resets_decoder(codec, bytes(packet), length_size))
    except av.error.FFmpegError as exc:
        raise InputError(f"{source}: cannot be read to plan the pieces ({describe_error(exc)})") from None
    finally:
        close_quietly(container)
    whole = SplitPlan([Segment(0, 0, len(stamps), 0.0)], suffix or source.suffix)
    if len(stamps) < 2 or float((max(stamps) - min(stamps)) * time_base) <= seconds:
        return whole
    if not joinable(target):
        whole.reason = f"{target.suffix} outputs cannot be joined from pieces (use .mkv or .mp4)"
    elif suffix is None:
        whole.reason = f"{format_name} files cannot be cut without changing timestamps"
    elif unstamped:
        whole.reason = "some video packets have no timestamp"
    if whole.reason:
        return whole
    origin = min(stamps)
    cuts = safe_cuts(stamps, resets)
    if not cuts:
        whole.reason = "no keyframe where decoding can start afresh (open GOP or a single keyframe)"
        return whole
    starts = [0]
    for cut in cuts:
        if float((stamps[cut] - stamps[starts[-1]]) * time_base) >= seconds:
            starts.append(cut)
    if len(starts) == 1:
        whole.reason = f"no safe keyframe {seconds:g} s or more after the start (open GOP or keyframes too far apart)"
        return whole
    bounds = starts + [len(stamps)]
    segments = [
        Segment(i, bounds[i], bounds[i + 1] - bounds[i], float((stamps[bounds[i]] - origin) * time_base))
        for i in range(len(starts))
    ]
    return SplitPlan(segments, suffix)


def write_segments(source: Path, plan: SplitPlan, destination: Callable[[Segment], Path | None]) -> None:
    """Stream-copy the video packets of every segment into ``destination(segment)`` (None:
    not needed, e.g. restored by an earlier run), in one pass over the source."""
    wanted = [(s, destination(s)) for s in plan.segments]
    wanted = [(s, path) for s, path in wanted if path is not None]
    if not wanted:
        return
    container = open_input(source)
    writing: av.container.OutputContainer | None = None
    try:
        video = main_video_stream(container, source)
        pending = iter(wanted)
        segment, path = next(pending)
        index = -1
        out_stream = None
        for packet in container.demux(video):
            if not packet.size:
                continue
            index += 1
            if index < segment.first:
                continue
            if writing is None:
                writing = av.open(str(path), "w")
                out_stream = writing.add_stream_from_template(video)
                out_stream.time_base = video.time_base
                out_stream.metadata.update(fresh_metadata(dict(video.metadata)))
                out_stream.disposition = video.disposition
            packet.stream = out_stream
            writing.mux(packet)
            if index == segment.first + segment.count - 1:
                writing.close()
                writing = None
                following = next(pending, None)
                if following is None:
                    return
                segment, path = following
    except av.error.FFmpegError as exc:
        raise InputError(f"{source}: cutting into pieces failed ({describe_error(exc)})") from None
    finally:
        close_quietly(container)
        if writing is not None:
            close_quietly(writing)


def _piece_packets(path: Path) -> Iterator[av.Packet]:
    with av.open(str(path), "r") as piece:
        for packet in piece.demux(piece.streams.video[0]):
            if packet.size:
                yield packet


def _decode_times(path: Path, time_base: Fraction, after: int | None) -> Iterator[av.Packet]:
    """The piece's packets rescaled to ``time_base`` with decode times that increase from
    ``after`` and never pass the presentation time (Matroska pieces have none at their start)."""
    last = after
    for packet in _piece_packets(path):
        pts = round(packet.pts * Fraction(packet.time_base) / time_base)
        dts = None if packet.dts is None else round(packet.dts * Fraction(packet.time_base) / time_base)
        duration = round(packet.duration * Fraction(packet.time_base) / time_base) if packet.duration else 0
        if dts is None or (last is not None and dts <= last):
            dts = pts if last is None else last + 1
        dts = min(dts, pts)
        if last is not None and dts <= last:
            raise InputError(f"{path}: its frames cannot be joined in order (decode time {dts} after {last})")
        packet.time_base, packet.pts, packet.dts = time_base, pts, dts
        if duration:
            packet.duration = duration
        last = dts
        yield packet


def join_segments(source: Path, pieces: list[Path], temp: Path, target: Path, copied: list[str], not_copied: list[str]) -> int:
    """Write ``temp`` (the output's temporary file) from the restored ``pieces`` and the
    source's other streams; returns the number of video packets written. ``target`` names
    the output in messages; ``copied`` / ``not_copied`` get labels as restore_video gives."""
    container = open_input(source)
    output = None
    try:
        video = main_video_stream(container, source)
        output = av.open(str(temp), "w", format=output_format(target.suffix))
        with av.open(str(pieces[0]), "r") as first:
            template = first.streams.video[0]
            out_video = output.add_stream_from_template(template)
            out_video.time_base = template.time_base
            out_video.metadata.update(dict(template.metadata))
            out_video.disposition = template.disposition
            time_base = Fraction(template.time_base)
        streams = add_copied_streams(output, container, video, copied, not_copied)
        copy_container_info(output, container)
        retimers = {i: AudioRetimer(container.streams[i]) for i in streams if container.streams[i].type == "audio"}
        others = container.demux([container.streams[i] for i in streams]) if streams else iter(())
        waiting: av.Packet | None = None
        written, last = 0, None

        def copy_until(seconds: float | None) -> None:
            """Mux the source's other packets that come before ``seconds`` (None: all)."""
            nonlocal waiting
            while True:
                packet = waiting if waiting is not None else next(others, None)
                waiting = None
                if packet is None:
                    return
                if not packet.size:
                    continue
                stamp = packet.dts if packet.dts is not None else packet.pts
                if seconds is not None and stamp is not None and float(stamp * packet.time_base) > seconds:
                    waiting = packet
                    return
                index = packet.stream.index
                if index in retimers:
                    retimers[index](packet)
                packet.stream = streams[index]
                output.mux(packet)

        for piece in pieces:
            for packet in _decode_times(piece, time_base, last):
                copy_until(float(packet.dts * time_base))
                last = packet.dts
                packet.stream = out_video
                output.mux(packet)
                written += 1
        copy_until(None)
        output.close()
        return written
    except av.error.FFmpegError as exc:
        if output is not None:
            close_quietly(output)
        raise InputError(f"{target}: joining the restored pieces failed ({describe_error(exc)})") from None
    except BaseException:
        if output is not None:
            close_quietly(output)
        raise
    finally:
        close_quietly(container)
