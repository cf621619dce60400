"""Writing outputs so that the target path only ever holds a complete file.

Everything is written to a hidden temporary file in the output's own folder (same file
system, so the final ``os.replace`` is atomic) with the output's extension (FFmpeg and OpenCV
pick the format from it). The rename happens only after the writer finished without error;
any exception -- including KeyboardInterrupt from Ctrl-C or SIGTERM -- deletes the temporary
file and leaves whatever was at the target before untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import InputError, MprnetError

TEMP_MARK = ".mprnet-part-"


def temp_path_for(target: Path) -> Path:
    """A fresh hidden name next to ``target`` ending in the same extension (the stem is
    shortened if the name would pass the usual 255-byte limit)."""
    token = secrets.token_hex(4)
    stem = target.stem
    # Measured as the file system sees the name (os.fsencode keeps undecodable bytes of
    # non-UTF-8 names as they are instead of failing on them).
    while stem and len(os.fsencode(f".{stem}{TEMP_MARK}{token}{target.suffix}")) > 255:
        stem = stem[:-1]
    return target.with_name(f".{stem}{TEMP_MARK}{token}{target.suffix}")


def is_temp_file(path: Path) -> bool:
    """True for the temporary files this module creates (so folder scans can skip them)."""
    return path.name.startswith(".") and TEMP_MARK in path.name


def same_file(a: Path, b: Path) -> bool:
    """True when two paths name the same file (resolved paths, or the same inode)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_inputs(target: Path, inputs: Iterable[Path], error: type[MprnetError] = InputError) -> None:
    """``error`` if ``target`` resolves to one of ``inputs`` -- an input is never overwritten
    (a command line passes UsageError: the paths it was given clash)."""
    for source in inputs:
        if same_file(target, source):
            raise error(f"{target}: output is the input file {source}; refusing to overwrite an input")


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_output(target: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success move it onto ``target``, on any exception
    (or interruption) delete it. The target's folder must exist."""
    target = Path(target)
    folder = target.parent
    if not folder.is_dir():
        raise InputError(f"{target}: output folder {folder} does not exist")
    if target.is_dir():
        raise InputError(f"{target}: is a folder; the output cannot be written there")
    temp = temp_path_for(target)
    try:
        # Claim the name now, so a clear error names an unwritable folder before any work.
        temp.touch(exist_ok=False)
    except OSError as exc:
        raise InputError(f"{target}: cannot write in {folder} ({exc.strerror or exc})") from exc
    try:
        yield temp
        if not temp.is_file() or temp.stat().st_size == 0:
            raise InputError(f"{target}: nothing was written")
        _fsync(temp)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
