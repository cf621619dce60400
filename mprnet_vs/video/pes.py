"""Which video timestamps of an MPEG program stream (.vob, .mpg) are the file's own.

A program stream stamps PES packets, not frames: one PES (2 KiB in a VOB) may carry many small
frames under one stamp, or none. FFmpeg hands every frame a stamp anyway -- the PES stamp to
one frame, a guess to the others -- and two of its rules disagree. Its PS muxer stamps a PES
with the first frame whose *first byte* falls in it; its MPEG-1/2 parser gives that stamp to
the frame whose *picture start code* falls in it. When a PES begins inside a frame's sequence
or GOP header, the parser puts the next frame's time on this frame: the stamps skip a frame,
then (at the next PES that begins cleanly) repeat one. The guesses for the frames around it
lean on that wrong stamp too.

So for a program stream only the stamps the PES headers carry are kept, each on the frame it
belongs to (:class:`PackStamps`); every other video frame gets no stamp, and
:class:`~.frame_times.Timing` gives it the previous frame's time plus its duration (a PS video stream
is shown frame after frame: time passes between its stamps only by frames). A real gap still
shows: the next stamp jumps.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import av

PROGRAM_STREAM_FORMATS = frozenset({"mpeg"})  # FFmpeg's demuxer for .vob, .mpg, .mpeg, .vcd files
WRAP = 1 << 33  # PES stamps are 33-bit counts of 90 kHz ticks


def program_stream(container: av.container.InputContainer) -> bool:
    """True for a file FFmpeg reads as an MPEG program stream."""
    return bool(PROGRAM_STREAM_FORMATS & set(container.format.name.split(",")))


def read_pes(head: BinaryIO, pos: int) -> tuple[int | None, bytes] | None:
    """(PTS, payload) of the video PES packet at byte ``pos``, or None where there is none.
    Both header syntaxes: MPEG-2 (VOB, DVD) and MPEG-1 (VCD-era .mpg)."""
    head.seek(pos)
    start = head.read(6)
    if len(start) < 6 or start[:3] != b"\0\0\1" or not 0xE0 <= start[3] <= 0xEF:
        return None
    body = head.read(int.from_bytes(start[4:6], "big"))
    if len(body) >= 3 and body[0] & 0xC0 == 0x80:  # MPEG-2: flags, header length, then the fields
        pts = _timestamp(body[3:8]) if body[1] & 0x80 else None
        return pts, body[3 + body[2]:]
    at = 0
    while at < len(body) and body[at] == 0xFF:  # MPEG-1: stuffing, buffer size, then the stamps
        at += 1
    if at + 1 < len(body) and body[at] & 0xC0 == 0x40:
        at += 2
    if at < len(body) and body[at] & 0xE0 == 0x20:  # '0010' PTS or '0011' PTS and DTS
        size = 10 if body[at] & 0x10 else 5
        return _timestamp(body[at:at + 5]), body[at + size:]
    return None, body[at + 1:] if at < len(body) and body[at] == 0x0F else body[at:]


def _timestamp(field: bytes) -> int | None:
    if len(field) < 5:
        return None
    return ((field[0] >> 1) & 7) << 30 | field[1] << 22 | (field[2] >> 1) << 15 | field[3] << 7 | field[4] >> 1


def starts_inside(frame: bytes, payload: bytes) -> bool:
    """True when ``payload`` (a PES's) begins strictly inside ``frame`` (the frame began in an
    earlier PES): the rest of the frame from some byte on is the payload's beginning."""
    probe = payload[:16]
    if not probe:
        return False
    at = frame.find(probe, 1)
    while at > 0:
        size = min(len(payload), len(frame) - at)
        if frame[at:at + size] == payload[:size]:
            return True
        at = frame.find(probe, at + 1)
    return False


class PackStamps:
    """Keeps a program stream's video stamps only where the file says them for that frame
    (see the module's docstring); reads the PES headers from the file beside the demuxer.

    A PES that begins inside a frame's headers is ambiguous: the standard gives its stamp to
    that frame, FFmpeg's muxer to the next. The frames' own count decides: a stamp at least one
    frame later than this frame's decoding time (counted from the last stamp) is the next
    frame's, and moves to it."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self._next_dts: int | None = None  # this frame's decoding time, counted on from the last stamp
        self._moved: tuple[int, int] | None = None  # (pts, dts) the previous packet handed on
        self.moved = 0  # stamps moved on to the frame FFmpeg's muxer meant

    @classmethod
    def open(cls, container: av.container.InputContainer) -> PackStamps | None:
        """One for a program stream read from a file, else None."""
        if not program_stream(container):
            return None
        path = Path(str(container.name))
        return cls(path) if path.is_file() else None

    def _own(self, packet: av.Packet) -> tuple[int, int] | None:
        """(pts, dts) when the PES that starts at this frame's position stamps it, else None."""
        if packet.pts is None or packet.pos is None or packet.pos < 0:
            return None
        pes = read_pes(self._file, packet.pos)
        if pes is None or pes[0] is None or (packet.pts - pes[0]) % WRAP:
            return None  # no PES here, or one without a stamp: FFmpeg's guess
        stamp = packet.pts, packet.pts if packet.dts is None else packet.dts
        duration = packet.duration or 0
        if starts_inside(bytes(packet), pes[1]) and self._next_dts is not None and duration and stamp[1] - self._next_dts >= duration:
            self._moved = stamp
            self.moved += 1
            return None
        return stamp

    def check(self, packet: av.Packet) -> None:
        """Give ``packet`` the stamps its PES gives it (or the previous packet handed on), or none."""
        handed, self._moved = self._moved, None
        stamp = self._own(packet) or (handed if self._moved is None else None)
        packet.pts, packet.dts = stamp if stamp is not None else (None, None)
        base = stamp[1] if stamp is not None else self._next_dts
        self._next_dts = base + packet.duration if base is not None and packet.duration else None

    def close(self) -> None:
        self._file.close()
