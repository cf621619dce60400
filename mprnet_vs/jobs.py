"""Planning a restore run: which inputs become which outputs, and what is already done.

``plan`` turns the command line's inputs and output into :class:`Job` s (a file to a file, or
folders mirrored into an output folder), refusing every unsafe pairing before any work;
``settle`` decides the jobs that need no restoring (finished outputs are skipped, so a rerun
resumes); ``make_folders`` creates an output's folders and says what it made, so a failure
leaves none behind. The local runner (``mprnet-vs restore``) and the cluster driver share it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError, MprnetError, UsageError, first_line
from .photo import PHOTO_SUFFIXES, is_photo
from .safe_output import busy_message, is_temp_file, same_file, sweep_part_files
from .video.containers import output_format

VIDEO_SUFFIXES = (
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".asf", ".flv", ".ts", ".mts", ".m2ts",
    ".mpg", ".mpeg", ".m2v", ".vob", ".3gp", ".3g2", ".ogv", ".mxf", ".nut", ".y4m", ".gif", ".dv", ".rm", ".rmvb",
)


@dataclass
class Job:
    source: Path
    target: Path
    kind: str  # "video", "photo", or for a folder entry that must not be opened "special" / "broken"
    problem: str = ""  # for "special" and "broken": what is wrong with it, one line naming it


def _kind(path: Path) -> str:
    return "photo" if is_photo(path) else "video"


def _broken_link(path: Path) -> str:
    """One line for a symbolic link that leads nowhere (its target is missing, or a loop)."""
    return f"{path}: broken symbolic link (to {os.readlink(path)}, which cannot be opened)"


def _entry(path: Path, target: Path) -> Job:
    """The job for a media file a folder scan found. Anything but a regular file is never
    opened: reading a pipe (or device) named like a photo would wait forever. Such entries are
    skipped (they hold no picture); a symbolic link to nothing fails, since a picture the
    folder names is missing."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:  # a link to nothing, or a file gone since the folder was listed
        problem = _broken_link(path) if path.is_symlink() else f"{path}: cannot be opened ({exc.strerror or exc})"
        return Job(path, target, "broken", problem)
    if not stat.S_ISREG(mode):
        return Job(path, target, "special", f"{path}: not a regular file (a pipe, socket or device); nothing to restore")
    return Job(path, target, _kind(path))


def _is_media(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in PHOTO_SUFFIXES or suffix in VIDEO_SUFFIXES


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _scan(folder: Path, output: Path) -> list[Path]:
    """Media files under ``folder`` (sorted, recursive), skipping hidden entries, our own
    temporary files and anything inside the output folder."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not same_file(root_path / d, output))
        for name in sorted(files):
            path = root_path / name
            if name.startswith(".") or is_temp_file(path) or not _is_media(path):
                continue
            if output.exists() and _inside(path, output):
                continue
            found.append(path)
    return found


def plan(inputs: list[Path], output: Path | str) -> list[Job]:
    """Input -> output pairs; UsageError for missing inputs, clashing or unsafe outputs. An
    output given with a trailing slash is a folder even for one input."""
    as_folder = str(output).endswith(("/", os.sep))
    output = Path(output)
    for source in inputs:
        if not source.exists():
            raise UsageError(_broken_link(source) if source.is_symlink() else f"{source}: no such file or folder")
        if not source.is_file() and not source.is_dir():
            raise UsageError(f"{source}: not a regular file or folder (a device, pipe or socket cannot be restored)")
    if output.exists() and not output.is_dir() and as_folder:
        raise UsageError(f"{output}: is a file, not a folder")
    single = len(inputs) == 1 and inputs[0].is_file() and not output.is_dir() and not as_folder
    jobs: list[Job] = []
    if single:
        source = inputs[0]
        kind = _kind(source)
        if not output.suffix:
            hidden = output.name.startswith(".") and "." not in output.name[1:]  # "-o .png": a hidden name, no extension
            what = "a name before its extension" if hidden else "a file extension"
            raise UsageError(f"{output}: the output needs {what} (e.g. clean{output.name if hidden else source.suffix or '.mkv'})")
        if kind == "photo" and not is_photo(output):
            raise UsageError(f"{output}: a photo must be written as one of {', '.join(PHOTO_SUFFIXES)}")
        if kind == "video" and is_photo(output):
            if not _is_media(source):
                raise UsageError(f"{source}: not a photo extension ({', '.join(PHOTO_SUFFIXES)}); other files are read as "
                                 f"videos, which cannot be written as a {output.suffix} photo")
            raise UsageError(f"{source}: a video cannot be written as a {output.suffix} photo ({output})")
        if kind == "video" and output_format(output.suffix) is None:
            raise UsageError(f"{output}: FFmpeg knows no container for {output.suffix} files; use e.g. .mkv or .mp4")
        jobs.append(Job(source, output, kind))
    else:
        if output.exists() and not output.is_dir():
            raise UsageError(f"{output}: must be a folder when restoring several inputs or a folder")
        for source in inputs:
            if source.is_dir():
                if output.exists() and same_file(source, output):
                    raise UsageError(f"{output}: output folder is the input folder {source}; refusing to overwrite an input")
                for path in _scan(source, output):
                    jobs.append(_entry(path, output / path.relative_to(source)))
            else:
                jobs.append(Job(source, output / source.name, _kind(source)))
    sources = [job.source for job in jobs]
    targets: dict[Path, Path] = {}
    for job in jobs:
        for source in sources:
            if same_file(job.target, source):
                raise UsageError(f"{job.target}: output is the input file {source}; refusing to overwrite an input")
        key = job.target.resolve()
        if key in targets:
            raise UsageError(f"{job.source} and {targets[key]} would both be written to {job.target}")
        targets[key] = job.source
    return jobs


@dataclass
class Outcome:
    restored: list[Job] = field(default_factory=list)
    incomplete: list[tuple[Job, str]] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)
    failed: list[tuple[Job, str]] = field(default_factory=list)



def named(source: Path, text: str) -> str:
    """``text`` starting with the input it is about (not merely mentioning it: ``photo.gif``
    is also part of ``out/photo.gif``)."""
    return text if text.startswith(f"{source}: ") else f"{source}: {text}"


def failure_reason(exc: BaseException, source: Path) -> str:
    """The one line a failed job is reported with: the message, named after its input."""
    text = first_line(exc)
    if not isinstance(exc, MprnetError):
        text = f"{type(exc).__name__}: {text}"
    return named(source, text)


def settle(job: Job, overwrite: bool) -> tuple[str, str] | None:
    """("skipped" or "failed", the line saying why) for a job decided without opening its
    input; None for one to restore. A failing look-up of the target counts as "not there":
    writing it then fails with a clear message of its own. Part files that killed runs left
    for the target are removed here; one that a running process is writing makes the job
    "skipped" (two runs on one folder share the work instead of writing a file twice)."""
    if job.kind == "special":
        return "skipped", job.problem
    if job.kind == "broken":
        return "failed", job.problem
    if os.path.isdir(job.target):
        return "failed", f"{job.source}: {job.target} is a folder; the output cannot be written there"
    live = sweep_part_files(job.target)
    if live:
        return "skipped", named(job.source, busy_message(job.target, live))
    if not overwrite and os.path.exists(job.target):
        return "skipped", f"{job.source}: {job.target} exists (use --overwrite to replace it)"
    return None


def make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, deepest first. A path in
    the way (a file where a folder should be) is a clear InputError naming it."""
    missing: list[Path] = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise InputError(f"{folder}: cannot create the output folder, {probe} is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_empty(missing)
        raise InputError(f"{folder}: cannot create the output folder ({exc.strerror or exc})") from None
    return missing


def remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first
        try:
            folder.rmdir()
        except OSError:
            return
