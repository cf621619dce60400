"""The hidden work folder next to the outputs, where a Ray run keeps what it has finished.

``.mprnet-ray-work/`` holds one folder per video or photo, named by a hash of the input (path,
size, modification time), the output and every setting that changes the result, so a rerun
with the same command finds the pieces it finished and a rerun with other settings does not
reuse them. Inside: ``piece-NNNN.EXT`` (a restored piece, complete: written atomically),
``whole.EXT`` (a restored file not yet moved into place), ``cut-NNNN.EXT`` (a stream-copied
piece of the source waiting for a worker: temporary) and the writers' own temporary files
(each attempt's ``.piece-NNNN.attempt-*`` before it is linked into place).
Only complete results survive a clean-up; the folder goes once its output is in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path

from ..safe_output import is_temp_file

WORK_FOLDER = ".mprnet-ray-work"
TOKEN_PREFIX = ".token-"


def work_root(output: Path | str, single: bool) -> Path:
    """Where the work folder goes: inside a folder output, next to a file output."""
    output = Path(output)
    return (output.parent if single else output) / WORK_FOLDER


def job_key(source: Path, target: Path, settings: object) -> str:
    stat = source.stat()
    text = json.dumps([str(source.resolve()), stat.st_size, stat.st_mtime_ns, str(target.resolve()), repr(settings)])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class JobFolder:
    """The work folder of one input."""

    def __init__(self, root: Path, key: str) -> None:
        self.path = root / key

    def piece(self, index: int, suffix: str) -> Path:
        return self.path / f"piece-{index:04d}{suffix}"

    def cut(self, index: int, suffix: str) -> Path:
        return self.path / f"cut-{index:04d}{suffix}"

    def whole(self, suffix: str) -> Path:
        return self.path / f"whole{suffix}"

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    def clean_partial(self) -> None:
        """Delete everything but complete results (cut pieces, half-written files)."""
        if not self.path.is_dir():
            return
        for entry in self.path.iterdir():
            if entry.name.startswith("cut-") or is_temp_file(entry) or not entry.name.startswith(("piece-", "whole")):
                with contextlib.suppress(OSError):
                    entry.unlink()

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class Token:
    """A file in the work folder holding a random token: a worker that reads the same token
    there sees the driver's files (one shared file system)."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.value = secrets.token_hex(16)
        self.path = root / f"{TOKEN_PREFIX}{os.getpid()}-{self.value[:8]}"
        self.path.write_text(self.value)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


def tidy(root: Path) -> None:
    """Remove the work folder when nothing is left in it."""
    with contextlib.suppress(OSError):
        root.rmdir()
