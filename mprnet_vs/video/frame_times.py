"""Output timestamps from what the source's frames and packets carry: the source's own stamps,
repaired only where missing, out of order or closer than the output can store; and the gaps
between them, by which a damaged constant-rate stream is told from a variable-rate one."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from fractions import Fraction

import av


# Formats whose demuxer stamps packets in decode order (AVI stores no presentation times):
# a decoder that reorders frames hands them out with those stamps, out of order.
DECODE_ORDER_FORMATS = frozenset({"avi"})


@dataclass
class Timing:
    """Output timestamps: the source's own, repaired only where missing or not increasing.

    In a DECODE_ORDER_FORMATS file with B-frames (Xvid/DivX, H.264 in AVI) the frames come
    out of the decoder carrying decode-order stamps (1, 3, 2, 5, 4, ...). The packets' stamps
    are right as a set, so there each frame takes the smallest stamp of the packets fed to the
    decoder and not yet used: the decoder's own delay is the reorder window, and a file
    without B-frames gets its stamps unchanged."""

    step: int  # one frame, stream time base
    time_base: Fraction = Fraction(1)
    packet_order: bool = False  # stamps come from the packets (DECODE_ORDER_FORMATS)
    last_pts: int | None = None
    fixed: int = 0
    _pending: list[int] = field(default_factory=list)  # heap of packet stamps not yet used
    exact_step: Fraction | None = None  # one frame at the nominal rate, unrounded (for gaps)
    frames: int = 0
    skipped: int = 0  # frames' time the stamps jump over (gaps of whole frames)
    irregular: int = 0  # gaps that are not a whole number of frames (variable frame rate)
    first_skip: tuple[int, float] | None = None  # (frames before the first jump, its time in s)
    # Stamps come with some frames only (an MPEG program stream stamps packs of frames, see
    # .pes): a frame without one follows the previous frame, which is no repair.
    sparse: bool = False
    _last_duration: int = 0
    end: int | None = None  # where the latest frame ends (its stamp plus its duration, else one step)
    min_gap: int = 1  # the output's finest step (Matroska stores ms): closer frames would share a time

    def _gap(self, pts: int) -> None:
        """Count a jump between stamps, to tell a damaged constant-rate stream by its holes."""
        if self.last_pts is None or not self.exact_step or pts <= self.last_pts:
            return
        slots = (pts - self.last_pts) / self.exact_step
        whole = round(slots)
        if whole < 1 or abs(slots - whole) * self.exact_step > max(Fraction(3, 2), self.exact_step / 10):
            self.irregular += 1
        elif whole > 1:
            self.skipped += whole - 1
            if self.first_skip is None:
                self.first_skip = (self.frames, float(self.last_pts * self.time_base))

    def _stamp(self, pts: int | None, time_base: Fraction | None) -> int | None:
        if pts is not None and time_base is not None and Fraction(time_base) != self.time_base:
            return round(pts * Fraction(time_base) / self.time_base)
        return pts

    def fed(self, packet: av.Packet) -> None:
        """A video packet goes to the decoder."""
        stamp = self._stamp(packet.pts, packet.time_base)
        if self.packet_order and stamp is not None:
            heapq.heappush(self._pending, stamp)

    def lost(self, packet: av.Packet) -> None:
        """A video packet the decoder refused: no frame will carry its stamp."""
        stamp = self._stamp(packet.pts, packet.time_base)
        if self.packet_order and stamp in self._pending:
            self._pending.remove(stamp)
            heapq.heapify(self._pending)

    def next(self, frame: av.VideoFrame) -> tuple[int, int]:
        """(pts, duration) for a frame, strictly increasing even for broken or missing stamps."""
        pts = self._stamp(frame.pts, frame.time_base)
        if self.packet_order and self._pending:
            pts = heapq.heappop(self._pending)
        duration = int(frame.duration or 0)
        if pts is not None:
            self._gap(pts)
        self.frames += 1
        if pts is None:
            pts = 0 if self.last_pts is None else self.last_pts + (self._last_duration or self.step)
            self.fixed += not self.sparse
        elif self.last_pts is not None and pts < self.last_pts + self.min_gap:
            pts = self.last_pts + self.min_gap
            self.fixed += 1
        self.last_pts = pts
        lasts = self._stamp(duration, frame.time_base) or 0
        self._last_duration = lasts if self.sparse else 0
        self.end = max(self.end or pts, pts + (lasts or self.step))
        return pts, duration
