"""``mprnet-vs restore``: restore videos, photos and whole folders.

One input and a file OUTPUT, or several inputs / folders and a folder OUTPUT (relative names
and sub-folders mirrored). Existing outputs are skipped unless --overwrite, so re-running an
interrupted folder finishes the rest. One failing file does not stop the others. Exit codes:
0 all restored (or skipped), 1 some inputs failed or were incomplete, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import presets
from ..errors import InputError, MprnetError, PresetError, describe_os_error
from ..photo import PHOTO_SUFFIXES, is_photo, restore_photo
from ..progress import Progress
from ..safe_output import is_temp_file, same_file
from ..video import DEFAULT_CODEC, DEFAULT_CRF, UsageError, VideoOptions, check_settings, estimate_frames, restore_video
from ..video_encoder import output_format
from ..weights import TASKS
from . import LOCAL_STATS_HELP, at_least

VIDEO_SUFFIXES = (
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".asf", ".flv", ".ts", ".mts", ".m2ts",
    ".mpg", ".mpeg", ".m2v", ".vob", ".3gp", ".3g2", ".ogv", ".mxf", ".nut", ".y4m", ".gif", ".dv", ".rm", ".rmvb",
)


# --- arguments ------------------------------------------------------------------------------


def _tile(text: str) -> int | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels or 'auto', got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0 (0 = whole frame)")
    return value


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", type=Path, help="video files, photos or folders")
    parser.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                        help="output file (one input) or folder (several inputs or a folder; or one input and a name ending in /)")
    parser.add_argument("--task", choices=TASKS, help="what to remove (picks the checkpoint and presets)")
    model = parser.add_argument_group("model")
    model.add_argument("--weights", metavar="PATH", help="checkpoint file (default: the task's published or shipped one)")
    model.add_argument("--preset", metavar="NAME|FILE", help="profile (fast, balanced, quality) or a preset YAML file")
    model.add_argument("--stages", type=int, choices=(1, 2, 3), help="stages to run (3 = the paper's output)")
    model.add_argument("--tile", type=_tile, metavar="N|auto", help="tile side in pixels, 0 = whole frame, auto = fit memory")
    model.add_argument("--overlap", type=at_least(0), metavar="N", help="pixels shared by neighbouring tiles")
    model.add_argument("--batch", type=at_least(1), metavar="N", help="frames (or tiles) per forward pass")
    model.add_argument("--precision", choices=presets.PRECISIONS, help="compute precision")
    model.add_argument("--device", metavar="DEVICE", help="cpu, cuda or cuda:N (default: CUDA when available)")
    model.add_argument("--compile", action="store_true", help="run the model through torch.compile")
    model.add_argument("--local-stats", type=at_least(0), metavar="N", help=LOCAL_STATS_HELP)
    video = parser.add_argument_group("video encoding")
    video.add_argument("--codec", metavar="NAME",
                       help=f"video encoder (default {DEFAULT_CODEC}, or the output container's own where it cannot hold it: VP9 for .webm)")
    video.add_argument("--pix-fmt", metavar="NAME", help="pixel format (default: the input's bit depth and chroma)")
    video.add_argument("--crf", type=at_least(0), metavar="N", help=f"constant quality (default {DEFAULT_CRF} where the encoder has it)")
    video.add_argument("--encoder-opt", action="append", type=_key_value, default=[], metavar="KEY=VALUE",
                       help="encoder option, repeatable (e.g. preset=slow, tune=film)")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that exist (default: skip them)")
    parser.add_argument("--quiet", action="store_true", help="no progress and no per-file lines; errors only")


# --- planning ---------------------------------------------------------------------------------


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


# --- running ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    restored: list[Job] = field(default_factory=list)
    incomplete: list[tuple[Job, str]] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)
    failed: list[tuple[Job, str]] = field(default_factory=list)


def _named(source: Path, text: str) -> str:
    """``text`` starting with the input it is about (not merely mentioning it: ``photo.gif``
    is also part of ``out/photo.gif``)."""
    return text if text.startswith(f"{source}: ") else f"{source}: {text}"


def _reason(exc: BaseException, source: Path) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if not isinstance(exc, MprnetError):
        text = f"{type(exc).__name__}: {text}"
    return _named(source, text)


class _Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.restorer: Any = None
        self.video_options = VideoOptions(
            codec=args.codec, pix_fmt=args.pix_fmt, crf=args.crf, encoder_options=dict(args.encoder_opt)
        )

    def say(self, text: str) -> None:
        if not self.args.quiet:
            print(text, flush=True)

    def warn(self, text: str) -> None:
        print(f"mprnet-vs: warning: {text}", file=sys.stderr, flush=True)

    def error(self, text: str) -> None:
        print(f"mprnet-vs: error: {text}", file=sys.stderr, flush=True)

    def engine(self) -> Any:
        """The Restorer, built on first use (a rerun that skips everything loads no model)."""
        if self.restorer is None:
            from ..engine import Restorer

            a = self.args
            try:
                self.restorer = Restorer(
                    a.task, weights=a.weights, preset=a.preset, stages=a.stages, tile=a.tile, overlap=a.overlap,
                    batch=a.batch, precision=a.precision, device=a.device, compile=a.compile,
                    local_stats=a.local_stats,
                )
            except MprnetError as exc:
                raise UsageError(str(exc)) from None
        return self.restorer

    def one(self, job: Job, progress: Progress) -> tuple[str, Any]:
        restorer = self.engine()
        created = _make_folders(job.target.parent)
        try:
            if job.kind == "photo":
                report = restore_photo(job.source, job.target, restorer)
                progress.update(1, 1)
                return "restored", report
            report = restore_video(job.source, job.target, restorer, self.video_options, progress.update)
            return ("incomplete" if report.incomplete else "restored"), report
        except Exception:
            _remove_empty(created)  # a failed file leaves no folders it made behind either
            raise

    def settled(self, job: Job) -> tuple[str, str] | None:
        """("skipped" or "failed", the line saying why) for a job decided without opening its
        input; None for one to restore. A failing look-up of the target counts as "not there":
        writing it then fails with a clear message of its own."""
        if job.kind == "special":
            return "skipped", job.problem
        if job.kind == "broken":
            return "failed", job.problem
        if os.path.isdir(job.target):
            return "failed", f"{job.source}: {job.target} is a folder; the output cannot be written there"
        if not self.args.overwrite and os.path.exists(job.target):
            return "skipped", f"{job.source}: {job.target} exists (use --overwrite to replace it)"
        return None

    def run(self, jobs: list[Job]) -> Outcome:
        outcome = Outcome()
        show = not self.args.quiet and sys.stderr.isatty()
        verdicts = {id(j): self.settled(j) for j in jobs}  # looked up once: the targets are stat'ed here
        todo = [j for j in jobs if verdicts[id(j)] is None]
        estimates = {id(j): (1 if j.kind == "photo" else estimate_frames(j.source)) for j in todo} if show else {}
        total = sum(v or 0 for v in estimates.values()) if show else None
        progress = Progress(len(todo), total, enabled=show)
        for job in jobs:
            settled = verdicts[id(job)]
            if settled is not None:
                verdict, line = settled
                if verdict == "skipped":
                    outcome.skipped.append(job)
                    self.say(f"skipped {line}")
                else:
                    outcome.failed.append((job, line))
                    self.error(line)
                continue
            progress.start_file(job.source.name, estimates.get(id(job)))
            try:
                status, report = self.one(job, progress)
            except UsageError:
                progress.clear()
                raise
            except (KeyboardInterrupt, SystemExit):
                progress.clear()
                self.error(f"{job.source}: interrupted; {job.target} was not written")
                raise
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
                progress.end_file(estimates.get(id(job)))
                reason = _reason(exc, job.source)
                outcome.failed.append((job, reason))
                self.error(reason)
                if getattr(self.args, "debug", False):
                    traceback.print_exc()
                continue
            progress.end_file(estimates.get(id(job)))
            self.report(job, status, report, outcome)
        return outcome

    def report(self, job: Job, status: str, report: Any, outcome: Outcome) -> None:
        self.say(f"restored {job.source} -> {job.target}: {report.summary()}")
        for note in report.notes:
            self.say(f"  note: {note}")
        for item in getattr(report, "not_copied", []):
            self.warn(f"{job.target}: not copied: {item}")
        if status == "incomplete":
            outcome.incomplete.append((job, report.incomplete))
            damaged = report.incomplete.startswith("damaged data: ")
            what = "input is damaged" if damaged else "input ends early"
            self.warn(f"{job.source}: {what}: {report.incomplete.removeprefix('damaged data: ')}; "
                      f"restored the {report.frames} frames that decode")
        else:
            outcome.restored.append(job)


def _make_folders(folder: Path) -> list[Path]:
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
        _remove_empty(missing)
        raise InputError(f"{folder}: cannot create the output folder ({exc.strerror or exc})") from None
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first
        try:
            folder.rmdir()
        except OSError:
            return


def _summary(outcome: Outcome, runner: _Runner) -> None:
    parts = [f"{len(outcome.restored)} restored"]
    if outcome.incomplete:
        parts.append(f"{len(outcome.incomplete)} incomplete")
    parts += [f"{len(outcome.skipped)} skipped", f"{len(outcome.failed)} failed"]
    line = "summary: " + ", ".join(parts)
    if outcome.failed or outcome.incomplete:
        print(line, file=sys.stderr, flush=True)
        for job, reason in outcome.incomplete:
            print(f"  incomplete: {_named(job.source, reason)}", file=sys.stderr)
        for _job, reason in outcome.failed:
            print(f"  failed: {reason}", file=sys.stderr)
    else:
        runner.say(line)


def run(args: argparse.Namespace) -> int:
    if args.task is None and args.weights is None:
        raise UsageError("--task is required (or give --weights)")
    # Settings errors are usage errors, found before any file is touched.
    try:
        presets.resolve(args.task, args.preset).override(
            stages=args.stages, tile=args.tile, overlap=args.overlap, batch=args.batch, precision=args.precision
        )
    except PresetError as exc:
        raise UsageError(str(exc)) from None
    try:
        jobs = plan(list(args.inputs), args.output)
    except OSError as exc:  # e.g. a name longer than the file system allows, an unreadable parent
        raise UsageError(describe_os_error(exc)) from exc
    if not jobs:
        raise UsageError(f"no photos or videos found in {', '.join(map(str, args.inputs))}")
    runner = _Runner(args)
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its configuration otherwise; errors only
    if any(job.kind == "video" for job in jobs):
        check_settings(runner.video_options, [job.target for job in jobs if job.kind == "video"])
    with warnings.catch_warnings():
        # The engine's warnings (precision fallback, smaller tiles after running out of
        # memory, ...) as one line each, like every other message of the command.
        warnings.showwarning = lambda message, *_args, **_kw: runner.warn(str(message).removeprefix("mprnet_vs: "))
        outcome = runner.run(jobs)
    if len(jobs) > 1:  # one file: its own error or warning line already says it all
        _summary(outcome, runner)
    return 1 if outcome.failed or outcome.incomplete else 0
