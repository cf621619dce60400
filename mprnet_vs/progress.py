"""Progress for the command line, drawn by tqdm: one bar for the file being restored and one
for the whole run (frames, rate, ETA). Bars go to stderr only, never stdout (which may carry
data), and only on a terminal: nothing is drawn into logs, pipes or with ``--quiet``."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TextIO

from tqdm import tqdm

_FILE_FORMAT = "{desc}  {n_fmt}/{total_fmt} frames  {rate_fmt}  ETA {remaining}"
_RUN_FORMAT = "all {n_fmt}/{total_fmt} frames  ETA {remaining}"


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
        self.interval = interval
        self.index = 0
        self.file_done = 0
        self._file: tqdm | None = None
        # The run's bar only helps with several files; below it, the current file's.
        self._run = self._bar(frames, _RUN_FORMAT, position=0, leave=False) if enabled and files > 1 else None

    def _bar(self, total: int | None, bar_format: str, *, position: int, leave: bool, desc: str = "") -> tqdm:
        return tqdm(total=total, desc=desc, file=self.stream, position=position, leave=leave, unit="frames",
                    bar_format=bar_format, mininterval=self.interval, dynamic_ncols=True)

    # --- per file ---------------------------------------------------------------------------

    def start_file(self, name: str, frames: int | None) -> None:
        self.index += 1
        self.file_done = 0
        if not self.enabled:
            return
        self._close_file()
        position = 1 if self._run is not None else 0
        self._file = self._bar(frames, _FILE_FORMAT, position=position, leave=False, desc=f"[{self.index}/{self.files}] {name}")
        self._file.refresh()

    def update(self, done: int, total: int | None = None) -> None:
        """The current file has ``done`` frames finished (a callback for restore_video)."""
        step = max(0, done - self.file_done)
        self.file_done = done
        if self._file is not None:
            if total is not None and total != self._file.total:
                self._file.total = total
            self._file.update(step)
        if self._run is not None:
            self._run.update(step)

    def end_file(self, expected: int | None = None) -> None:
        """The file is finished (or skipped/failed): its unprocessed frames leave the total."""
        if self._run is not None and self._run.total is not None and expected is not None and self.file_done < expected:
            self._run.total -= expected - self.file_done
            self._run.refresh()
        self._close_file()

    # --- drawing ----------------------------------------------------------------------------

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def clear(self) -> None:
        """Erase the bars (before printing a message, and at the end)."""
        self._close_file()
        if self._run is not None:
            self._run.clear()

    def close(self) -> None:
        """The run is over: remove the bars."""
        self._close_file()
        if self._run is not None:
            self._run.close()
            self._run = None


def write(text: str, stream: TextIO | None) -> None:
    """Print a line above any bars (they are redrawn below it). A stream nobody reads any
    more (``| head``, a closed pipe) or one closed from the start (``>&-``: None) drops the
    line: a report that cannot be shown must not stop the files still to restore."""
    if stream is None:
        return
    try:
        tqdm.write(text, file=stream)
        stream.flush()
    except BrokenPipeError:
        _discard(stream)


def _discard(stream: TextIO) -> None:
    """Point a stream whose reader is gone at /dev/null: later lines, and the flush at exit
    (which would print "Exception ignored ... BrokenPipeError"), go nowhere quietly."""
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, stream.fileno())
        os.close(null)
