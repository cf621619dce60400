"""Where the restored streams start, and the check that the written file plays as reported.

A source may start before 0 (an MPEG-TS whose timestamps run across the 33-bit wrap, which
FFmpeg unwraps to negative times): MP4 and MOV players drop every frame before 0, so every
stream is shifted by the same amount to start at 0. A container that cannot hold a start
offset for audio (AVI and the other constant-rate containers) would start the copied audio at
0 while the video keeps its offset: every stream is shifted to start at 0 there too. Either
shift keeps the streams in sync and is said in a note.

AVI stores no times at all: each stream plays from the file's start, packet after packet (the
muxer never pads before a stream's first packet). So the shift there puts the first frame at
0, and copied audio packets that would play before it are left out -- an AAC encoder's
priming packet, which FFmpeg marks as not to be played, would otherwise be played and delay
the sound; stamped before 0 it also made the muxer shift every stream by a fraction of a frame,
which the AVI muxer turned into an empty frame after the first. Audio that starts after the
first frame cannot be delayed in AVI: it plays earlier, and the note says by how much.

The written file is then decoded once more: its frame count and its first and last
timestamps must be the ones the pipeline wrote (a file that "opens" may still show fewer
frames, e.g. through an edit list).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error

from ..errors import InputError
from .encoder import MAX_SKIPPED_SLOTS
from .frame_times import DECODE_ORDER_FORMATS, Timing
from .input import BACK_TO_BACK_FORMATS, DecodeLog, demux, describe_error, frame_step
from .pes import program_stream
from .streams import stream_label


@dataclass(frozen=True)
class StartShift:
    """Seconds added to every timestamp of every stream (0: none), and the note saying why."""

    seconds: Fraction = Fraction(0)
    note: str | None = None
    # Output seconds before which copied audio cannot play (AVI: the first frame is at 0);
    # packets mostly before it are left out. None: every packet is copied.
    audio_from: Fraction | None = None

    def drops(self, start: Fraction, duration: Fraction, shown: Fraction | None) -> bool:
        """True for a copied audio packet (output seconds) that lies mostly before ``audio_from``
        or before ``shown``, its stream's first sample meant to be heard (source seconds): the
        encoder's priming, which AVI would play."""
        if self.audio_from is None:
            return False
        until = self.audio_from if shown is None else max(self.audio_from, shown + self.seconds)
        return start + duration / 2 <= until

    def ticks(self, time_base: Fraction | None) -> int:
        """The shift in units of ``time_base``."""
        if not self.seconds or not time_base:
            return 0
        return round(self.seconds / Fraction(time_base))


def stream_start(stream: av.stream.Stream) -> Fraction | None:
    """When a stream's first sample or frame is meant to be shown, in seconds (after any priming)."""
    if stream.start_time is None or not stream.time_base:
        return None
    return stream.start_time * Fraction(stream.time_base)


def plan_start_shift(first: Fraction | None, copied: list[av.stream.Stream], container_name: str,
                     grid_rate: Fraction | None) -> StartShift:
    """The shift for this output (see the module's docstring): ``first`` is when the first
    video frame is shown (seconds), ``copied`` the input streams copied alongside,
    ``grid_rate`` the one rate of a constant-rate container (None: it keeps timestamps)."""
    starts = [first] if first is not None else []
    starts += [s for s in (stream_start(stream) for stream in copied if stream.type in ("audio", "subtitle")) if s is not None]
    if not starts:
        return StartShift()
    earliest = min(starts)
    audio = any(stream.type == "audio" for stream in copied)
    if container_name in DECODE_ORDER_FORMATS and audio and first is not None:  # a start before 0 too
        note = (f"{container_name} files cannot hold a start time for audio: every stream shifted by {float(-first):+.3f} s "
                f"for the first frame to start at 0") if first else None
        return StartShift(-first, note, audio_from=Fraction(0))
    if earliest < 0:
        return StartShift(-earliest, f"the source starts at {float(earliest):.3f} s (before 0, as after an MPEG-TS timestamp "
                                     f"wrap), where players drop frames: every stream shifted by +{float(-earliest):.3f} s")
    if grid_rate is not None and audio and earliest > 0:
        return StartShift(-earliest, f"{container_name} files cannot hold a start time for audio: every stream shifted by "
                                     f"-{float(earliest):.3f} s to start at 0, in sync")
    if grid_rate is not None and earliest * grid_rate > MAX_SKIPPED_SLOTS:
        return StartShift(-earliest, f"{container_name} files hold a start time as dropped frames (at most {MAX_SKIPPED_SLOTS}): "
                                     f"every stream shifted by -{float(earliest):.3f} s to start at 0")
    return StartShift()


@dataclass
class Written:
    """What the pipeline wrote to the video stream, in its time base."""

    frames: int = 0
    first: int | None = None
    last: int | None = None
    packets: Counter[int] = field(default_factory=Counter)  # copied packets, by input stream index
    # Copied audio where StartShift.audio_from applies, by input stream index: the output
    # second its first packet was stamped with, and where the packets left out ended.
    audio_first: dict[int, Fraction] = field(default_factory=dict)
    audio_dropped: dict[int, Fraction] = field(default_factory=dict)

    def add(self, pts: int) -> None:
        self.frames += 1
        self.first = pts if self.first is None else min(self.first, pts)
        self.last = pts if self.last is None else max(self.last, pts)


def audio_start_notes(shift: StartShift, written: Written, sources: dict[int, av.stream.Stream], container_name: str,
                      step: Fraction) -> list[str]:
    """Where StartShift.audio_from applies (AVI), what became of each copied audio track's
    start against the video, said when it is more than half a frame (``step``: one frame)."""
    if shift.audio_from is None:
        return []
    notes = []
    for index, stream in sources.items():
        label = stream_label(stream)
        shown = stream_start(stream)
        dropped = written.audio_dropped.get(index)
        if dropped is not None and shown is not None and dropped - (shown + shift.seconds) > step / 2:
            notes.append(f"{label}: its first {float(dropped - shown - shift.seconds):.3f} s, before the first frame, "
                         f"not copied ({container_name} files start every stream together)")
        first = written.audio_first.get(index)
        if first is not None and abs(first - shift.audio_from) > step / 2:
            way = "earlier" if first > shift.audio_from else "later"
            notes.append(f"{label}: plays {float(abs(first - shift.audio_from)):.3f} s {way} against the video than in the "
                         f"source ({container_name} files start every stream together)")
    return notes


def verify_output(path: Path, written: Written, time_base: Fraction, step: Fraction, target: Path) -> str | None:
    """InputError unless ``path`` decodes to ``written.frames`` frames whose first and last
    timestamps are those written (to within half a frame; AVI, which stores decode order,
    within its encoder's reorder delay of three frames), or all moved by one amount (returned
    as a note: the muxer shifted the whole file). ``step``: one frame, in seconds."""
    try:
        with av.open(str(path), "r") as check:
            stream = check.streams.video[0]
            stream.thread_type = "AUTO"
            kind = check.format.name
            stamped = not (BACK_TO_BACK_FORMATS & set(kind.split(",")) or check.format.flags & av.format.Flags.no_timestamps.value)
            count, times = 0, []
            # Read as an input is: an MPEG-PS output stamps packs of frames, not each frame, and
            # FFmpeg's reader misplaces some of those stamps (see .pes)
            log, base = DecodeLog(), Fraction(stream.time_base or time_base)
            reading = Timing(step=frame_step(stream), time_base=base, sparse=program_stream(check))
            for _, frame in demux(check, stream, set(), log, reading):
                count += 1
                filled, _ = reading.next(frame)
                if frame.pts is not None and frame.time_base:
                    times.append(frame.pts * Fraction(frame.time_base))
                elif reading.sparse:  # one frame after the previous one
                    times.append(filled * base)
            if log.problem():
                raise InputError(f"{target}: the written file does not read back ({log.problem()})")
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise InputError(f"{target}: the written file does not read back ({describe_error(exc)})") from None
    if written.frames == 0 or count == 0:
        raise InputError(f"{target}: no frames were written")
    if count != written.frames:
        raise InputError(f"{target}: {written.frames} frames were encoded but the written file decodes to {count}")
    if not stamped or not times or written.first is None or written.last is None:
        return None  # Y4M and raw video store no times: frames are read back to back
    tolerance = max(Fraction(1, 500), step * (3 if kind in DECODE_ORDER_FORMATS else Fraction(1, 2)))
    first, last = written.first * time_base, written.last * time_base
    got_first, got_last = min(times), max(times)
    moved = got_first - first
    if abs(moved) > tolerance and abs(got_last - last - moved) <= tolerance:
        # The muxer moved the whole file (MPEG-TS/PS cannot store the negative decode times of
        # an encoder's reorder delay, and the PS muxers add their preload): every stream moves
        # together, so sync holds; the start changes and is said.
        return (f"{kind} files cannot start where the source did: the muxer moved every stream by "
                f"{float(moved):+.3f} s (the output starts at {float(got_first):.3f} s)")
    if kind in DECODE_ORDER_FORMATS and abs(moved) > step / 2:
        # AVI keeps no presentation times: FFmpeg's demuxer guesses them, and it stamps H.264 (and
        # any stream with B-frames) a frame after its place, which players built on it show.
        return (f"{kind} files store no presentation times, and FFmpeg reads this video back {float(abs(moved)):.3f} s "
                f"{'later' if moved > 0 else 'earlier'} than written: players built on FFmpeg show it that much "
                f"{'late' if moved > 0 else 'early'} against the audio (.mkv or .mp4 keep exact times)")
    if abs(got_first - first) > tolerance or abs(got_last - last) > tolerance:
        raise InputError(
            f"{target}: the written file plays from {float(got_first):.3f} s to {float(got_last):.3f} s, but its frames were "
            f"written from {float(first):.3f} s to {float(last):.3f} s"
        )
    return None
