"""A one-line progress display for the command line: frames, fps and ETA for the current file
and for the whole run. It draws only on a terminal (never into logs or pipes) and never on
stdout, which may carry data."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0 or seconds > 360000:
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts frames per file and over the run; ``enabled=None`` means "if stream is a TTY"."""

    def __init__(
        self,
        files: int,
        frames: int | None = None,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        interval: float = 0.2,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.files = files
        self.run_total = frames
        self.interval = interval
        self.run_done = 0
        self.run_start = time.monotonic()
        self.index = 0
        self.name = ""
        self.file_total: int | None = None
        self.file_done = 0
        self.file_start = self.run_start
        self._last_draw = 0.0
        self._drawn = False

    # --- per file ---------------------------------------------------------------------------

    def start_file(self, name: str, frames: int | None) -> None:
        self.index += 1
        self.name = name
        self.file_total = frames
        self.file_done = 0
        self.file_start = time.monotonic()
        self._draw(force=True)

    def update(self, done: int, total: int | None = None) -> None:
        """The current file has ``done`` frames finished (a callback for restore_video)."""
        if total is not None:
            self.file_total = total
        self.run_done += max(0, done - self.file_done)
        self.file_done = done
        self._draw()

    def end_file(self, expected: int | None = None) -> None:
        """The file is finished (or skipped/failed): its unprocessed frames leave the total."""
        if self.run_total is not None and expected is not None and self.file_done < expected:
            self.run_total -= expected - self.file_done
        self.clear()

    # --- drawing ----------------------------------------------------------------------------

    def line(self) -> str:
        now = time.monotonic()
        elapsed = max(now - self.file_start, 1e-6)
        fps = self.file_done / elapsed
        parts = [f"[{self.index}/{self.files}] {self.name}"]
        if self.file_total:
            left = (self.file_total - self.file_done) / fps if fps > 0 else None
            parts.append(f"{self.file_done}/{self.file_total} frames")
        else:
            left = None
            parts.append(f"{self.file_done} frames")
        parts.append(f"{fps:.2f} fps" if fps < 10 else f"{fps:.1f} fps")
        parts.append(f"ETA {_clock(left)}")
        if self.files > 1 and self.run_total:
            run_elapsed = max(now - self.run_start, 1e-6)
            run_fps = self.run_done / run_elapsed
            run_left = (self.run_total - self.run_done) / run_fps if run_fps > 0 else None
            parts.append(f"| all {self.run_done}/{self.run_total} ETA {_clock(run_left)}")
        return "  ".join(parts)

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        self.stream.write("\r\033[K" + self.line())
        self.stream.flush()
        self._drawn = True

    def clear(self) -> None:
        """Erase the line (before printing a message, and at the end)."""
        if self.enabled and self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False
