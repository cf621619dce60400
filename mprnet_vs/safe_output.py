"""Writing outputs so that the target path only ever holds a complete file.

Everything is written to a hidden temporary "part file" in the output's own folder (same
file system, so the final move is atomic) with the output's extension (FFmpeg and OpenCV pick
the format from it). The move happens only after the writer finished without error; any
exception -- including KeyboardInterrupt from Ctrl-C or SIGTERM -- deletes the part file and
leaves whatever was at the target before untouched.

A run holds an exclusive ``flock`` on its part file while writing it. That tells two things
apart that look the same on disk: the part file of a run that is still writing (locked: left
alone, and the output is not written twice) and one left by a killed run (nobody holds it:
removed by the next run for the same output). Claiming a part file happens under a short
lock of the output folder, so two runs started at once cannot both claim one output.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import InputError, MprnetError

TEMP_MARK = ".mprnet-part-"
_TOKEN_BYTES = 4  # the part file's random token: 8 lower-case hex digits


class OutputTaken(InputError):
    """The output cannot be claimed now: another run is writing it, or it exists although it
    did not when the run was planned. Front ends skip the output (nothing is wrong with it)."""


class OutputAppeared(InputError):
    """A file appeared at the output path while the output was being restored: it is left
    alone and the restored output discarded (the run did not plan to replace it)."""


def _part_stem(target: Path) -> str:
    """The stem part files of ``target`` use: ``target``'s, shortened until the hidden name
    fits the usual 255-byte limit. It depends only on ``target``, so a later run finds the
    part files an earlier one left."""
    stem = target.stem
    token = "0" * (2 * _TOKEN_BYTES)
    # Measured as the file system sees the name (os.fsencode keeps undecodable bytes of
    # non-UTF-8 names as they are instead of failing on them).
    while stem and len(os.fsencode(f".{stem}{TEMP_MARK}{token}{target.suffix}")) > 255:
        stem = stem[:-1]
    return stem


def temp_path_for(target: Path) -> Path:
    """A fresh hidden name next to ``target`` ending in the same extension (the stem is
    shortened if the name would pass the usual 255-byte limit)."""
    token = secrets.token_hex(_TOKEN_BYTES)
    return target.with_name(f".{_part_stem(target)}{TEMP_MARK}{token}{target.suffix}")


def _part_pattern(target: Path) -> re.Pattern[str]:
    """Exactly the names :func:`temp_path_for` gives ``target``'s part files (nothing else)."""
    token = f"[0-9a-f]{{{2 * _TOKEN_BYTES}}}"
    return re.compile(rf"\.{re.escape(_part_stem(target))}{re.escape(TEMP_MARK)}{token}{re.escape(target.suffix)}")


def _try_lock(fd: int) -> bool | None:
    """Take an exclusive lock without waiting: True, False when someone else holds it, None
    when the file system cannot lock (nothing can be told about the file then)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


def _sweep(target: Path) -> list[Path]:
    """Remove ``target``'s part files that nobody holds (left by killed runs); the ones a
    running process holds are returned. Only regular files with exactly our names are looked at."""
    pattern, live = _part_pattern(target), []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return live
    for entry in entries:
        if not pattern.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            locked = _try_lock(fd)
            if locked:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
            elif locked is False:
                live.append(Path(entry.path))
        finally:
            os.close(fd)
    return live


@contextlib.contextmanager
def _folder_locked(folder: Path) -> Iterator[None]:
    """An exclusive lock of ``folder`` for the moment a part file is claimed or swept (none
    where the file system has no locks)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def sweep_part_files(target: Path) -> list[Path]:
    """Remove the part files earlier, killed runs left for ``target``; the part files other
    running processes are writing for it are returned (left alone)."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    with _folder_locked(target.parent):
        return _sweep(target)


def busy_message(target: Path, live: list[Path]) -> str:
    """The line for an output that another run is writing."""
    return f"{target}: another mprnet-vs run is writing it ({live[0].name}); left to that run"


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


def _claim(target: Path, replace: bool) -> tuple[Path, int]:
    """Create and lock a fresh part file for ``target`` (its path and the descriptor holding
    the lock), after removing stale ones. OutputTaken when another run is writing ``target``,
    or (``replace`` False) when ``target`` exists by now."""
    folder = target.parent
    with _folder_locked(folder):
        live = _sweep(target)
        if live:
            raise OutputTaken(busy_message(target, live))
        if not replace and os.path.lexists(target):
            raise OutputTaken(f"{target}: exists by now (written by another run?); left alone")
        temp = temp_path_for(target)
        try:
            # Claim the name now, so a clear error names an unwritable folder before any work.
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise InputError(f"{target}: cannot write in {folder} ({exc.strerror or exc})") from exc
        _try_lock(fd)
    return temp, fd


def place_new(temp: Path, target: Path) -> None:
    """Move ``temp`` to ``target`` only if nothing is there: a hard link fails on an existing
    name atomically. File systems without hard links get a check, then the rename."""
    appeared = OutputAppeared(f"{target}: a file appeared there while restoring; it was left alone "
                              "and the restored output discarded")
    try:
        os.link(temp, target)
    except FileExistsError:
        raise appeared from None
    except OSError:  # no hard links here (FAT, some network file systems)
        if os.path.lexists(target):
            raise appeared from None
        os.replace(temp, target)
        return
    temp.unlink()


def move_into_place(temp: Path, target: Path, replace: bool) -> None:
    """The final move of a finished output: over whatever is at ``target`` (``replace``, the
    user said --overwrite) or only onto a free name (:func:`place_new`)."""
    if replace:
        os.replace(temp, target)
    else:
        place_new(temp, target)


@contextlib.contextmanager
def atomic_output(target: Path, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success move it onto ``target``, on any exception
    (or interruption) delete it. The target's folder must exist.

    ``replace`` False: a file found at ``target`` at the end is never replaced (it appeared
    after the caller decided to write ``target``): OutputAppeared, and the output is
    discarded. OutputTaken before any work when another run is writing ``target`` (or, with
    ``replace`` False, when ``target`` already exists)."""
    target = Path(target)
    folder = target.parent
    if not folder.is_dir():
        raise InputError(f"{target}: output folder {folder} does not exist")
    if target.is_dir():
        raise InputError(f"{target}: is a folder; the output cannot be written there")
    temp, fd = _claim(target, replace)
    try:
        yield temp
        if not temp.is_file() or temp.stat().st_size == 0:
            raise InputError(f"{target}: nothing was written")
        _fsync(temp)
        move_into_place(temp, target, replace)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    finally:
        os.close(fd)
