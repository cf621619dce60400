"""``mprnet-vs restore``: restore videos, photos and whole folders.

One input and a file OUTPUT, or several inputs / folders and a folder OUTPUT (relative names
and sub-folders mirrored). Existing outputs are skipped unless --overwrite, so re-running an
interrupted folder finishes the rest. One failing file does not stop the others. Exit codes:
0 all restored (or skipped), 1 some inputs failed or were incomplete, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

from .. import presets
from ..engine.protocol import Engine
from ..errors import MprnetError, PresetError, UsageError, describe_os_error
from ..jobs import Job, Outcome, failure_reason, make_folders, named, plan, remove_empty, settle
from ..photo import restore_photo
from ..progress import Progress, write
from ..safe_output import OutputTaken
from ..tasks import TASKS
from ..video import DEFAULT_CODEC, DEFAULT_CRF, VideoOptions, check_settings, estimate_frames, restore_video
from ..video.encoder import CRF_HELP
from ..engine.options import MAX_THREADS
from . import MAX_SEGMENT_SECONDS, MAX_WORKERS, above, add_engine_options, at_least, engine_options

# --- arguments ------------------------------------------------------------------------------


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def _given_path(text: str) -> str:
    """A path as typed, refused when one of its folder names is only spaces (``"$DIR/x.png"``
    with DIR set to spaces). An empty or blank path (an unset shell variable, which pathlib
    would read as the current folder) never gets here: the parser refuses every blank value."""
    blank = next((part for part in text.split(os.sep) if part and not part.strip()), None)
    if blank is not None:
        raise argparse.ArgumentTypeError(f"{text!r}: a folder name of only spaces ({blank!r}); an unset shell variable?")
    return text


def _input_path(text: str) -> Path:
    return Path(_given_path(text))


_input_path.__name__ = "INPUT"  # argparse names the type in its "invalid value" message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", type=_input_path, help="video files, photos or folders")
    parser.add_argument("-o", "--output", required=True, metavar="OUTPUT", type=_given_path,
                        help="output file (one input) or folder (several inputs or a folder; or one input and a name ending in /)")
    parser.add_argument("--task", choices=TASKS, help="what to remove (picks the checkpoint and presets)")
    add_engine_options(parser)
    video = parser.add_argument_group("video encoding")
    video.add_argument("--codec", metavar="NAME",
                       help=f"video encoder (default {DEFAULT_CODEC}, or the output container's own where it cannot hold it: VP9 for .webm)")
    video.add_argument("--pix-fmt", metavar="NAME", help="pixel format (default: the input's bit depth and chroma)")
    video.add_argument("--crf", type=at_least(0), metavar="N",
                       help=f"constant quality (default {DEFAULT_CRF} where the encoder has it; checked against the encoder's range: {CRF_HELP})")
    video.add_argument("--encoder-opt", action="append", type=_key_value, default=[], metavar="KEY=VALUE",
                       help="encoder option, repeatable (e.g. preset=slow, tune=film)")
    cluster = parser.add_argument_group("Ray cluster (pip install mprnet-vs[ray])")
    cluster.add_argument("--ray", metavar="auto|ADDRESS",
                         help="restore on Ray workers: auto = a local cluster (or RAY_ADDRESS, or one ray start made here), else a cluster address")
    cluster.add_argument("--ray-gpus", type=above(0, maximum=8), default=1.0, metavar="F",
                         help="GPUs per worker, above 0 and at most 8 (0.5 = two per GPU; default 1)")
    cluster.add_argument("--ray-cpus", type=at_least(1, maximum=MAX_THREADS), default=1, metavar="N",
                         help=f"CPUs per worker, also its torch thread count (1 to {MAX_THREADS}; default 1)")
    cluster.add_argument("--ray-workers", type=at_least(1, maximum=MAX_WORKERS), metavar="N",
                         help=f"at most N workers, 1 to {MAX_WORKERS} (default: all the cluster holds)")
    cluster.add_argument("--ray-transfer", choices=("auto", "shared", "store"), default="auto",
                         help="inputs/outputs by path where workers see them, else through Ray's object store (default auto)")
    cluster.add_argument("--segment-seconds", type=at_least(0, float, maximum=MAX_SEGMENT_SECONDS), metavar="S",
                         help="with --ray: cut videos longer than S seconds at keyframes into pieces restored in parallel "
                              "(default 120, 0 = never, at most 86400: one day)")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that exist (default: skip them)")
    parser.add_argument("--quiet", action="store_true", help="no progress and no per-file lines; errors only")


# --- running ----------------------------------------------------------------------------------


class _Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.restorer: Engine | None = None
        self.video_options = VideoOptions(
            codec=args.codec, pix_fmt=args.pix_fmt, crf=args.crf, encoder_options=dict(args.encoder_opt)
        )

    def say(self, text: str) -> None:
        if not self.args.quiet:
            write(text, sys.stdout)

    def warn(self, text: str) -> None:
        write(f"mprnet-vs: warning: {text}", sys.stderr)

    def error(self, text: str) -> None:
        write(f"mprnet-vs: error: {text}", sys.stderr)

    def engine(self) -> Engine:
        """The Restorer, built on first use (a rerun that skips everything loads no model)."""
        if self.restorer is None:
            from ..engine import Restorer

            a = self.args
            try:
                self.restorer = Restorer(a.task, **engine_options(a))
            except MprnetError as exc:
                raise UsageError(str(exc)) from None
        return self.restorer

    def one(self, job: Job, progress: Progress) -> tuple[str, Any]:
        restorer = self.engine()
        created = make_folders(job.target.parent)
        try:
            if job.kind == "photo":
                report = restore_photo(job.source, job.target, restorer, replace=self.args.overwrite)
                progress.update(1, 1)
                return "restored", report
            report = restore_video(job.source, job.target, restorer, self.video_options, progress.update,
                                   replace=self.args.overwrite)
            return ("incomplete" if report.incomplete else "restored"), report
        except Exception:
            remove_empty(created)  # a failed file leaves no folders it made behind either
            raise

    def run(self, jobs: list[Job]) -> Outcome:
        outcome = Outcome()
        show = not self.args.quiet and sys.stderr.isatty()
        verdicts = {id(j): settle(j, self.args.overwrite) for j in jobs}  # looked up once: the targets are stat'ed here
        todo = [j for j in jobs if verdicts[id(j)] is None]
        estimates = {id(j): (1 if j.kind == "photo" else estimate_frames(j.source)) for j in todo} if show else {}
        total = sum(v or 0 for v in estimates.values()) if show else None
        progress = Progress(len(todo), total, enabled=show)
        for job in jobs:
            settled = verdicts[id(job)]
            if settled is not None:
                self.record_settled(job, settled, outcome)
                continue
            progress.start_file(job.source.name, estimates.get(id(job)))
            try:
                status, report = self.one(job, progress)
            except UsageError:
                progress.clear()
                raise
            except OutputTaken as exc:  # another run writes it, or wrote it since planning
                progress.end_file(estimates.get(id(job)))
                self.record_settled(job, ("skipped", named(job.source, str(exc))), outcome)
                continue
            except (KeyboardInterrupt, SystemExit):
                progress.clear()
                self.error(f"{job.source}: interrupted; {job.target} was not written")
                raise
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
                progress.end_file(estimates.get(id(job)))
                reason = failure_reason(exc, job.source)
                outcome.failed.append((job, reason))
                self.error(reason)
                if getattr(self.args, "debug", False):
                    traceback.print_exc()
                continue
            progress.end_file(estimates.get(id(job)))
            self.report(job, status, report, outcome)
        progress.close()
        return outcome

    def record_settled(self, job: Job, settled: tuple[str, str], outcome: Outcome) -> None:
        """Count and print a job decided without restoring it (``jobs.settle``'s verdict)."""
        verdict, line = settled
        if verdict == "skipped":
            outcome.skipped.append(job)
            self.say(f"skipped {line}")
        else:
            outcome.failed.append((job, line))
            self.error(line)

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


def _summary(outcome: Outcome, runner: _Runner) -> None:
    parts = [f"{len(outcome.restored)} restored"]
    if outcome.incomplete:
        parts.append(f"{len(outcome.incomplete)} incomplete")
    parts += [f"{len(outcome.skipped)} skipped", f"{len(outcome.failed)} failed"]
    line = "summary: " + ", ".join(parts)
    if outcome.failed or outcome.incomplete:
        print(line, file=sys.stderr, flush=True)
        for job, reason in outcome.incomplete:
            print(f"  incomplete: {named(job.source, reason)}", file=sys.stderr)
        for _job, reason in outcome.failed:
            print(f"  failed: {reason}", file=sys.stderr)
    else:
        runner.say(line)


def prepare(args: argparse.Namespace) -> tuple[_Runner, list[Job]]:
    """The runner and the planned jobs; UsageError for settings or paths that cannot work."""
    if args.task is None and args.weights is None:
        raise UsageError("--task is required (or give --weights)")
    if getattr(args, "ray", None) is None and getattr(args, "segment_seconds", None) is not None:
        raise UsageError("--segment-seconds needs --ray (pieces are restored by Ray workers)")
    if getattr(args, "ray", None) is not None:
        from ..cluster.connection import import_ray

        import_ray()  # one line naming the extra when Ray is not installed
    # Settings errors are usage errors, found before any file is touched.
    try:
        presets.resolve_args(args)
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
    return runner, jobs


def execute(runner: _Runner, jobs: list[Job]) -> Outcome:
    """Run the jobs here, or on Ray workers with --ray."""
    args = runner.args
    with warnings.catch_warnings():
        # The engine's warnings (precision fallback, smaller tiles after running out of
        # memory, ...) as one line each, like every other message of the command.
        warnings.showwarning = lambda message, *_args, **_kw: runner.warn(str(message).removeprefix("mprnet_vs: "))
        if getattr(args, "ray", None) is None:
            return runner.run(jobs)
        from ..cluster.connection import options_from_args
        from ..cluster.driver import ClusterRun

        return ClusterRun(runner, options_from_args(args)).run(jobs, Outcome())


def run(args: argparse.Namespace) -> int:
    runner, jobs = prepare(args)
    outcome = execute(runner, jobs)
    if len(jobs) > 1:  # one file: its own error or warning line already says it all
        _summary(outcome, runner)
    return 1 if outcome.failed or outcome.incomplete else 0
