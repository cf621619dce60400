"""Reading the source video: opening it, finding the video stream, decoding every frame in
file order alongside the packets of the streams being copied, and judging afterwards whether
the file delivered what it announces (a truncated file is restored as far as it decodes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import av.logging

from ..errors import InputError, first_line
from .frame_times import Timing
from .pes import PackStamps

MAX_CONSECUTIVE_DECODE_ERRORS = 32

# Formats whose demuxer reports the file's end time as its "duration": their muxers (FFmpeg's
# among them) store the last timestamp, not the length, so a file whose timestamps start late
# (a cut made with -copyts, a broadcast capture) would otherwise look too short. Read as an
# end time the duration is never stricter than read as a length.
END_TIME_FORMATS = frozenset({"matroska", "webm", "nut", "asf"})
# Formats that store frames back to back and nothing after them: bytes left after the last
# packet are a frame cut off (their demuxers drop a partial frame without a word).
BACK_TO_BACK_FORMATS = frozenset({"yuv4mpegpipe", "rawvideo"})


def describe_error(exc: BaseException) -> str:
    """One line for an exception (FFmpeg's own wording where there is one, with the error
    line FFmpeg logged when :func:`ffmpeg_reasons` caught it)."""
    text = str(exc).strip()
    if isinstance(exc, av.error.FFmpegError) and getattr(exc, "strerror", None):
        text = exc.strerror
        logged = getattr(exc, "log", None)
        reason = str(logged[2]).strip() if logged and len(logged) > 2 else ""
        if reason:
            text = f"{text}: {reason}"
    return first_line(text) or type(exc).__name__


def close_quietly(container: Any) -> None:
    """Close a container whose error, if any, must not mask the one being reported (or that
    cannot be finished, like an empty probe file)."""
    try:
        container.close()
    except Exception:  # noqa: BLE001, S110 - closing after a failure must not mask it
        pass


@contextmanager
def ffmpeg_reasons() -> Iterator[None]:
    """Attach FFmpeg's own error line to the exception (``exc.log``) instead of printing it:
    'Invalid argument' alone does not tell that MPEG-2 refuses 7 fps."""
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture():
            yield
    finally:
        av.logging.set_level(previous)


def open_input(path: Path) -> av.container.InputContainer:
    """The opened file; InputError naming it when it is missing, empty or not a media file."""
    if not path.is_file():
        raise InputError(f"{path}: not found" if not path.exists() else f"{path}: not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    try:
        return av.open(str(path), "r")
    except av.error.EOFError:
        raise InputError(f"{path}: no video data (the file ends before its first frame: empty or truncated)") from None
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not a readable video ({describe_error(exc)})") from None


def main_video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The first video stream that is not cover art and that FFmpeg can decode; InputError for
    audio-only files and for video no decoder reads (instead of a library error later)."""
    streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not streams:
        kinds = sorted({s.type for s in container.streams})
        raise InputError(f"{path}: no video stream (found {', '.join(kinds) or 'no streams'})")
    decodable = [s for s in streams if s.codec_context is not None]  # PyAV gives no context without a decoder
    if not decodable:
        raise InputError(f"{path}: no decoder for the video codec of stream #{streams[0].index} (a codec id or fourcc this "
                         "FFmpeg does not know, or one it was built without)")
    return decodable[0]


def frame_step(stream: av.video.stream.VideoStream) -> int:
    """One frame's duration in the stream's time base (for frames that come without one)."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    tb = stream.time_base
    if rate and tb:
        return max(1, round(1 / (Fraction(rate) * Fraction(tb))))
    return 1


def estimate_frames(path: Path) -> int | None:
    """Frames the file announces (for progress only; never trusted for correctness)."""
    try:
        with av.open(str(path), "r") as container:
            stream = main_video_stream(container, path)
            return announced_frames(container, stream)
    except Exception:  # noqa: BLE001 - a guess for a progress bar; the real run reports errors
        return None


def duration_is_end_time(container: av.container.InputContainer) -> bool:
    """True when the container's (and its streams') duration is an end timestamp."""
    return bool(END_TIME_FORMATS & set(container.format.name.split(",")))


def announced_end(container: av.container.InputContainer, start: int, duration: int) -> int:
    """Where content announced as (start, duration) ends, in the same units."""
    return max(duration, start) if duration_is_end_time(container) else start + duration


def tagged_end(container: av.container.InputContainer, stream: av.stream.Stream) -> Fraction | None:
    """Where a Matroska track says it ends, in seconds, or None. FFmpeg's muxer (and
    mkvmerge's) tags every track with DURATION, the end of its last frame to the nanosecond,
    kept near the file's start so that it survives a cut; the Segment's duration is no help
    when another track (audio) runs on after the video's lost frames."""
    if not {"matroska", "webm"} & set(container.format.name.split(",")):
        return None
    text = next((str(v) for k, v in stream.metadata.items() if k.upper() == "DURATION"), "")
    hours, _, rest = text.partition(":")
    minutes, _, seconds = rest.partition(":")
    try:
        return int(hours) * 3600 + int(minutes) * 60 + Fraction(seconds)
    except ValueError:  # no tag, or not HH:MM:SS.fraction
        return None


def announced_seconds(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Fraction | None:
    """How long the video (its duration, or a Matroska track's DURATION tag; else the whole
    file) says it lasts, exactly, or None."""
    if stream.duration and stream.time_base:
        start = stream.start_time or 0
        return (announced_end(container, start, stream.duration) - start) * Fraction(stream.time_base)
    tagged = tagged_end(container, stream)
    if tagged is not None:
        return tagged - (stream.start_time or 0) * Fraction(stream.time_base or 0)
    if container.duration:
        start = container.start_time or 0
        return Fraction(announced_end(container, start, container.duration) - start, 1_000_000)
    return None


def announced_frames(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int | None:
    """Frames the header announces: its frame count, else its length at the nominal rate (which
    over-counts a variable-rate video whose frames last longer than the nominal one)."""
    if stream.frames:
        return int(stream.frames)
    rate = stream.average_rate or stream.guessed_rate
    seconds = announced_seconds(container, stream)
    if not rate or seconds is None:
        return None
    return int(round(float(seconds * Fraction(rate))))


@dataclass
class DecodeLog:
    """What decoding met: frames, damaged packets, an early stop, how far the content went."""

    frames: int = 0
    errors: int = 0
    first_error: str | None = None
    stopped: str | None = None
    content_end: float | None = None  # seconds: the latest packet end read, any stream
    damaged: int = 0  # packets the demuxer flagged corrupt, frames the decoder patched up
    first_damage: int | None = None  # the frame number where damage was first met
    discarded: int = 0  # packets the file itself marks as not to be shown (outside an edit list)
    video_end_pos: int | None = None  # byte just after the last video packet read

    def damage(self) -> None:
        self.damaged += 1
        if self.first_damage is None:
            self.first_damage = self.frames + 1

    def saw(self, packet: av.Packet) -> None:
        if packet.pts is not None and packet.time_base:
            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            if self.content_end is None or end > self.content_end:
                self.content_end = end

    def problem(self) -> str | None:
        if self.stopped:
            return self.stopped
        if self.errors:
            return f"{self.errors} damaged packet(s) skipped, the first at frame {self.first_error}"
        return None

    def damage_found(self) -> str | None:
        """Corrupt packets or frames the demuxer or decoder flagged (and went on after)."""
        if self.damaged:
            return (f"damaged data: {self.damaged} corrupt packet(s) or frame(s), the first at frame {self.first_damage} "
                    f"of {self.frames} (frames there may be missing or patched up by the decoder)")
        return None


def demux(container: av.container.InputContainer, video: av.video.stream.VideoStream, copied: set[int], log: DecodeLog,
          timing: Timing | None = None) -> Iterator[tuple[str, Any]]:
    """("frame", VideoFrame) and ("packet", Packet) of the ``copied`` streams, in file order.
    Damaged video packets are skipped (up to a limit); a demuxer error ends the file early.
    Both are logged, never raised. Every stream is read, copied or not: how far the content
    goes is judged on all of them (a file whose audio cannot be copied is no less cut).
    ``timing`` hears of every video packet fed to the decoder and of every one it refused. In
    an MPEG program stream each video stamp first goes to the frame the file gives it to, and
    FFmpeg's guesses are cleared (see :mod:`.pes`): ``timing`` fills those frames in."""
    packets = container.demux(list(container.streams))
    stamps = PackStamps.open(container)
    try:
        yield from _demux(packets, video, copied, log, timing, stamps)
    finally:
        if stamps is not None:
            stamps.close()


def _demux(packets: Iterator[av.Packet], video: av.video.stream.VideoStream, copied: set[int], log: DecodeLog,
           timing: Timing | None, stamps: PackStamps | None) -> Iterator[tuple[str, Any]]:
    consecutive = 0
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as exc:
            log.stopped = f"reading stopped after frame {log.frames} ({describe_error(exc)})"
            break
        # The closing dummy packets carry no stream_index; their .stream is right.
        if packet.stream.index != video.index:
            if packet.size:
                log.saw(packet)
                if packet.stream.index in copied:
                    yield ("packet", packet)
            continue
        if not packet.size:
            continue  # the decoder is drained below, once
        log.saw(packet)
        if packet.pos is not None and packet.pos >= 0:
            log.video_end_pos = max(log.video_end_pos or 0, packet.pos + packet.size)
        if packet.is_discard:
            log.discarded += 1
        if packet.is_corrupt:
            log.damage()
        if stamps is not None:
            stamps.check(packet)
        if timing is not None:
            timing.fed(packet)
        try:
            frames = video.decode(packet)
        except av.error.FFmpegError as exc:
            if timing is not None:
                timing.lost(packet)
            log.errors += 1
            consecutive += 1
            if log.first_error is None:
                log.first_error = f"{log.frames + 1} ({describe_error(exc)})"
            if consecutive > MAX_CONSECUTIVE_DECODE_ERRORS:
                log.stopped = f"decoding stopped at frame {log.frames + 1} after {consecutive} damaged packets ({describe_error(exc)})"
                break
            continue
        consecutive = 0
        for frame in frames:
            if frame.is_corrupt:
                log.damage()
            log.frames += 1
            yield ("frame", frame)
    try:  # frames the decoder still holds (frame threading and B-frames delay them)
        for frame in video.decode(None):
            if frame.is_corrupt:
                log.damage()
            log.frames += 1
            yield ("frame", frame)
    except av.error.EOFError:
        pass
    except av.error.FFmpegError as exc:
        if not log.stopped:
            log.stopped = f"decoding stopped after frame {log.frames} ({describe_error(exc)})"


def cut_frame(container: av.container.InputContainer, log: DecodeLog) -> str | None:
    """For a BACK_TO_BACK_FORMATS file, the bytes after its last whole frame (a cut inside a
    frame), or None."""
    if not BACK_TO_BACK_FORMATS & set(container.format.name.split(",")) or log.video_end_pos is None:
        return None
    try:
        size = container.size
    except Exception:  # noqa: BLE001 - a size unknown to the demuxer: nothing to compare
        return None
    left = size - log.video_end_pos
    if left > 0:
        return f"the file ends inside frame {log.frames + 1} ({left} bytes of it) after {log.frames} whole frames (truncated file?)"
    return None


def _where(video: av.video.stream.VideoStream, timing: Timing, time_base: Fraction, frames: int) -> str:
    """Where the frames went missing, for a message that knows only how many: the first jump
    in the stamps, else the end of the last frame that decoded."""
    if timing.first_skip is not None:
        after, at = timing.first_skip
        return f"; frames are missing after frame {after} ({at:.2f} s)"
    if timing.last_pts is None:
        return ""
    return f"; decoding stopped after frame {frames} ({float((timing.last_pts - (video.start_time or 0)) * time_base):.2f} s)"


def incompleteness(
    log: DecodeLog,
    container: av.container.InputContainer,
    video: av.video.stream.VideoStream,
    timing: Timing,
    time_base: Fraction,
) -> str | None:
    """Why the decoded video falls short of what the file announces (a truncated or damaged
    file), or None. Announcements checked: frame count, the video stream's duration, a
    Matroska track's DURATION tag, and the container's duration (a length, or for
    END_TIME_FORMATS the end timestamp) against every stream :func:`demux` read."""
    if log.stopped:
        return log.stopped
    frames = log.frames
    # A stored frame count (MP4, MOV, AVI indexes) is exact: every frame short of it is lost,
    # except those the file itself marks as not shown. It is said first: damaged packets
    # alone (a cut last frame) would hide how much of the file is missing.
    expected = video.frames - log.discarded
    if video.frames and frames < expected:
        where = _where(video, timing, time_base, frames)
        damaged = f"; {log.problem()}" if log.errors else ""
        return f"only {frames} of the {expected} frames the file announces could be decoded{where}{damaged} (truncated or damaged file?)"
    problem = log.problem()
    if problem:
        return problem
    cut = cut_frame(container, log)
    if cut:
        return cut
    if video.duration and timing.last_pts is not None:
        start = video.start_time or 0
        expected_end = announced_end(container, start, video.duration)
        tolerance = max(2 * timing.step, round(Fraction(1, 10) / time_base))
        if timing.last_pts + timing.step < expected_end - tolerance:
            stopped = float((timing.last_pts - start) * time_base)
            lasts = float((expected_end - start) * time_base)
            return f"the video stops after {frames} frames at {stopped:.2f} s but the file says it lasts {lasts:.2f} s (truncated file?)"
    content_end = log.content_end
    if content_end is not None and timing.last_pts is not None:  # the last frame lasts a frame (FLV packets say nothing)
        content_end = max(content_end, float((timing.last_pts + timing.step) * time_base))
    if container.duration and content_end is not None:
        start = (container.start_time or 0) / 1_000_000
        end = announced_end(container, container.start_time or 0, container.duration) / 1_000_000
        tolerance = max(0.1, 2 * float(timing.step * time_base))
        if content_end < end - tolerance:
            return (
                f"the file's content stops at {content_end - start:.2f} s after {frames} frames but it says it lasts "
                f"{end - start:.2f} s (truncated file?)"
            )
    # Finer than the Segment's duration, which the audio may reach while the video's last
    # frames are lost.
    tagged = tagged_end(container, video)
    if tagged is not None and timing.end is not None:
        ends = timing.end * time_base
        if ends + max(timing.step * time_base / 2, Fraction(1, 500)) < tagged:
            return (f"the video stops after {frames} frames at {float(ends):.3f} s but its track says it lasts until "
                    f"{float(tagged):.3f} s (truncated file?)")
    # FFmpeg guesses a program stream's base rate from its 90 kHz ticks (50 for 25 fps MPEG-1 or
    # H.264): there the rate its video bitstream states is the one to agree with.
    stated = video.codec_context.framerate if timing.sparse else None
    if timing.skipped and not timing.irregular and video.average_rate and video.average_rate in (video.base_rate, stated):
        after, at = timing.first_skip or (frames, 0.0)
        return (f"the video jumps over {timing.skipped} frame(s) of time after frame {after} ({at:.2f} s) although it runs at "
                f"a constant {float(video.average_rate):g} fps (damaged file?)")
    return log.damage_found()
