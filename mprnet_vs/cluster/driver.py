"""The driver of a Ray run: the local command plans, dispatches, joins and reports.

The jobs come from the command's own planning (the same outputs, skips and refusals as a run
without Ray). Each photo or video is one piece of work; a video longer than
``segment_seconds`` is cut at safe keyframes into pieces (see segments.py). Pieces go to a pool
of actors (one per GPU or fraction of one; see actors.py); finished results land in the hidden
work folder (workdir.py) and are moved or joined into place atomically by the driver, which
prints the usual per-file lines, the summary and one progress line over all workers.
Interrupted (Ctrl-C, SIGTERM), it stops the workers, deletes what is half-written and keeps
the finished pieces, so the same command resumes.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, MprnetError, UsageError
from ..jobs import failure_reason, make_folders, remove_empty, settle
from ..progress import Progress
from ..safe_output import OutputAppeared, atomic_output, move_into_place
from ..video import VideoReport, estimate_frames
from .actors import Done, Work, engine_spec, start_workers
from .connection import TRANSFERS, ClusterOptions, connect, import_ray, pool_size
from .segments import SplitPlan, join_segments, plan_split, write_segments
from .workdir import JobFolder, Token, job_key, tidy, work_root

@dataclass
class _JobRun:
    """One input on its way: its pieces, what they returned, what is still to come."""

    job: Any
    folder: JobFolder
    split: SplitPlan | None = None
    works: dict[str, Work] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)
    reports: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reused: int = 0
    frames: int | None = None
    failed: bool = False
    started: float = field(default_factory=time.monotonic)


class ClusterRun:
    """Runs planned jobs on a worker pool; ``runner`` is the command's (say, warn, error,
    record_settled, report, args)."""

    def __init__(self, runner: Any, options: ClusterOptions) -> None:
        if options.transfer not in TRANSFERS:
            raise UsageError(f"transfer must be one of {', '.join(TRANSFERS)}, got {options.transfer!r}")
        self.runner = runner
        self.options = options
        self.ray = import_ray()
        self.runs: dict[str, _JobRun] = {}
        self.owner: dict[str, _JobRun] = {}  # work key -> its job
        self.needs_data: set[str] = set()
        self.actors: list[Any] = []
        self.inflight: dict[Any, tuple[int, Work]] = {}  # call -> (worker index, its piece)
        self.seen: dict[int, float] = {}  # worker index -> when it last answered (or got work)
        self.asks: dict[int, Any] = {}  # worker index -> its unanswered progress question
        self.doubled: set[str] = set()  # pieces given to a second worker
        self.partial: dict[str, int] = {}
        self.finished_frames = 0

    # --- planning ----------------------------------------------------------------------------

    def prepare(self, job: Any, index: int, folder: JobFolder, token: Token, video: Any) -> _JobRun:
        run = _JobRun(job, folder)
        run.folder.create()
        run.folder.clean_partial()
        suffix = job.target.suffix
        seconds = self.options.segment_seconds
        if job.kind == "video" and seconds > 0:
            run.split = plan_split(job.source, seconds, job.target)
            if run.split.reason:
                run.notes.append(f"restored whole, not in pieces: {run.split.reason}")
        pieces = run.split.segments if run.split is not None and len(run.split.segments) > 1 else []
        if pieces:
            run.frames = sum(s.count for s in pieces)
            cuts: dict[int, Path] = {}
            for segment in pieces:
                name = f"{index}/{segment.index}"
                result = run.folder.piece(segment.index, suffix)
                if result.is_file():
                    run.reused += 1
                    run.reports[name] = None
                    continue
                cuts[segment.index] = run.folder.cut(segment.index, run.split.suffix)
                run.works[name] = Work(name, "video", str(cuts[segment.index]), str(result), str(token.path), token.value, video)
            write_segments(job.source, run.split, lambda s: cuts.get(s.index))
        else:
            name = f"{index}/whole"
            result = run.folder.whole(suffix)
            run.frames = 1 if job.kind == "photo" else estimate_frames(job.source)
            if result.is_file():
                run.reused += 1
                run.reports[name] = None
            else:
                run.works[name] = Work(name, job.kind, str(job.source), str(result), str(token.path), token.value, video)
        run.pending = set(run.works)
        for name in run.works:
            self.owner[name] = run
        return run

    # --- running ----------------------------------------------------------------------------

    def run(self, jobs: list[Any], outcome: Any) -> Any:
        """Restore ``jobs`` (planned by the command) into ``outcome``."""
        runner = self.runner
        todo = []
        for job in jobs:
            settled = settle(job, runner.args.overwrite)
            if settled is None:
                todo.append(job)
                continue
            runner.record_settled(job, settled, outcome)
        if not todo:
            return outcome
        spec, weights = engine_spec(runner.args)
        video = runner.video_options
        started = connect(self.ray, self.options)
        root = work_root(runner.args.output, single=len(jobs) == 1 and jobs[0].target == Path(runner.args.output))
        token = Token(root)
        try:
            fingerprint = (spec, weights.stat().st_mtime_ns, video, self.options.segment_seconds)  # what changes the result
            for index, job in enumerate(todo):
                folder = JobFolder(root, job_key(job.source, job.target, fingerprint))
                try:
                    self.runs[str(index)] = self.prepare(job, index, folder, token, video)
                except InputError as exc:
                    outcome.failed.append((job, failure_reason(exc, job.source)))
                    runner.error(failure_reason(exc, job.source))
                    folder.remove()
            queue = collections.deque(w for run in self.runs.values() for w in run.works.values())
            count, gpus = pool_size(self.ray, self.options, max(1, len(queue)))
            if queue:
                self.weights_ref = self.ray.put(weights.read_bytes())  # kept alive: restarted workers fetch it again
                self.actors = start_workers(count, spec, gpus, self.options.cpus)
            show = not runner.args.quiet and sys.stderr.isatty()
            total = sum(r.frames or 0 for r in self.runs.values())
            progress = Progress(1, total, enabled=show)
            progress.start_file(f"{len(self.runs)} file(s) on {len(self.actors)} Ray worker(s)", total or None)
            for run in list(self.runs.values()):
                if not run.pending:
                    self.complete(run, outcome, progress)
            self.dispatch(queue, outcome, progress)
            progress.clear()
            self.close()
        except BaseException as exc:  # Ctrl-C, SIGTERM, or a failure of the run itself
            self.stop()
            for run in self.runs.values():
                run.folder.clean_partial()
            if isinstance(exc, KeyboardInterrupt):
                runner.error(f"interrupted; finished pieces are kept in {root} for the next run of the same command")
            raise
        finally:
            token.remove()
            tidy(root)
            if started:
                self.ray.shutdown()
        return outcome

    def dispatch(self, queue: collections.deque, outcome: Any, progress: Progress) -> None:
        """Hand out the queue, one piece per idle worker, until every piece is settled. A piece
        whose worker has not answered for ``stall_seconds`` (its node is gone and there is no
        room to restart it) is given to an idle worker as well; the first result counts."""
        ray = self.ray
        idle = list(range(len(self.actors)))
        last_poll = 0.0
        while queue or any(not self.settled(work) for _, work in self.inflight.values()):
            for work in self.stalled() if idle and not queue else []:
                queue.append(work)
                self.doubled.add(work.key)
            while idle and queue:
                work = queue.popleft()
                if self.settled(work):
                    continue
                index = idle.pop()
                store = self.options.transfer == "store" or work.key in self.needs_data
                data = ray.put(Path(work.source).read_bytes()) if store else None
                self.inflight[self.actors[index].restore.remote(work, [self.weights_ref], data)] = (index, work)
                self.seen[index] = time.monotonic()
            ready, _ = ray.wait(list(self.inflight), num_returns=1, timeout=0.5)
            for ref in ready:
                index, work = self.inflight.pop(ref)
                idle.append(index)
                if self.settled(work):
                    continue  # a doubled piece done twice, or one of a failed input: nothing to add
                try:
                    done: Done = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    self.fail(work, exc.cause if exc.cause is not None else exc, outcome)
                    continue
                except ray.exceptions.RayActorError:
                    queue.appendleft(work)  # its worker is gone for good: another one takes it
                    idle.remove(index)
                    if not idle and not self.inflight:
                        raise MprnetError("every Ray worker is gone (killed or out of restarts); nothing more can be restored") from None
                    continue
                except ray.exceptions.RayError:
                    queue.appendleft(work)  # the result was lost with its node: do it again
                    continue
                if done.needs_data:
                    if self.options.transfer == "shared":
                        self.fail(work, InputError(f"a worker on node {done.node} cannot see {work.source} (--ray-transfer shared)"), outcome)
                    else:
                        self.needs_data.add(work.key)
                        queue.appendleft(work)
                    continue
                self.accept(work, done, outcome, progress)
            if time.monotonic() - last_poll > 0.5:
                last_poll = time.monotonic()
                self.poll(progress)

    def settled(self, work: Work) -> bool:
        run = self.owner[work.key]
        return run.failed or work.key in run.reports

    def stalled(self) -> list[Work]:
        """Pieces in flight on workers silent for longer than ``stall_seconds``, not yet doubled."""
        limit = time.monotonic() - self.options.stall_seconds
        return [work for index, work in self.inflight.values()
                if self.seen.get(index, limit) < limit and work.key not in self.doubled and not self.settled(work)]

    def poll(self, progress: Progress) -> None:
        """Ask each busy worker how far it is (one question at a time each): its answers feed
        the progress line and show that it is alive."""
        ray = self.ray
        for index in {i for i, _ in self.inflight.values()} - set(self.asks):
            self.asks[index] = self.actors[index].progress.remote()
        if not self.asks:
            return
        ready = set(ray.wait(list(self.asks.values()), num_returns=len(self.asks), timeout=0)[0])
        for index, ref in list(self.asks.items()):
            if ref not in ready:
                continue
            del self.asks[index]
            self.seen[index] = time.monotonic()
            with contextlib.suppress(Exception):
                key, frames = ray.get(ref)
                if key in self.owner and key not in self.owner[key].reports:
                    self.partial[key] = frames
        progress.update(self.finished_frames + sum(self.partial.values()))

    def accept(self, work: Work, done: Done, outcome: Any, progress: Progress) -> None:
        run = self.owner[work.key]
        if self.settled(work):
            return
        if done.data is not None:
            with atomic_output(Path(work.result)) as temp:
                temp.write_bytes(done.data)
        if not work.key.endswith("/whole"):
            with contextlib.suppress(OSError):
                os.unlink(work.source)  # the cut piece is restored: its copy of the source goes
        run.reports[work.key] = done.report
        run.warnings += [w for w in done.warnings if w not in run.warnings]
        run.pending.discard(work.key)
        self.partial.pop(work.key, None)
        self.finished_frames += getattr(done.report, "frames", 1)
        progress.update(self.finished_frames + sum(self.partial.values()))
        if not run.pending:
            self.complete(run, outcome, progress)

    def fail(self, work: Work, exc: BaseException, outcome: Any) -> None:
        run = self.owner[work.key]
        if run.failed:
            return
        run.failed = True
        reason = failure_reason(exc, run.job.source)
        outcome.failed.append((run.job, reason))
        self.runner.error(reason)
        run.folder.remove()

    def complete(self, run: _JobRun, outcome: Any, progress: Progress) -> None:
        """Every piece of ``run`` is restored: move or join it into place and report it."""
        job = run.job
        created = make_folders(job.target.parent)
        progress.clear()
        try:
            if run.split is not None and len(run.split.segments) > 1:
                report = self.join(run)
            else:
                (name,) = run.reports
                report = run.reports[name] or _probe(job.source, job.target, run.folder.whole(job.target.suffix), job.kind)
                _move(run.folder.whole(job.target.suffix), job.target, replace=self.runner.args.overwrite)
                report.output = job.target
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
            remove_empty(created)
            run.failed = True
            reason = failure_reason(exc, job.source)
            outcome.failed.append((job, reason))
            self.runner.error(reason)
            run.folder.remove()
            return
        for text in run.warnings:
            self.runner.warn(text.removeprefix("mprnet_vs: "))
        report.source, report.output = job.source, job.target
        report.notes = list(dict.fromkeys(report.notes + run.notes))
        report.seconds = time.monotonic() - run.started
        status = "incomplete" if getattr(report, "incomplete", None) else "restored"
        self.runner.report(job, status, report, outcome)
        run.folder.remove()

    def join(self, run: _JobRun) -> VideoReport:
        job, split = run.job, run.split
        pieces = [run.folder.piece(s.index, job.target.suffix) for s in split.segments]
        done = [r for r in run.reports.values() if r is not None]
        report = _probe(job.source, job.target, pieces[0], "video") if not done else done[0]
        report.output = job.target
        report.copied, report.not_copied = [], []
        with atomic_output(job.target, replace=self.runner.args.overwrite) as temp:
            report.frames = join_segments(job.source, pieces, temp, job.target, report.copied, report.not_copied)
        report.notes = list(dict.fromkeys(n for r in done for n in r.notes))
        reused = f", {run.reused} restored by an earlier run" if run.reused else ""
        report.notes.append(f"restored in {len(pieces)} pieces cut at keyframes{reused}")
        report.incomplete = next((r.incomplete for r in done if r.incomplete), None)
        return report

    def close(self) -> None:
        """Let every worker delete its scratch folder, then end it."""
        self._end_workers(clean_up_seconds=10)

    def stop(self) -> None:
        """Stop every worker and wait (a little) until its work is gone, so nothing is
        written after the clean-up; each deletes its scratch folder first where it can."""
        inflight = list(self.inflight)
        self._end_workers(clean_up_seconds=5)
        if inflight:
            with contextlib.suppress(Exception):
                self.ray.wait(inflight, num_returns=len(inflight), timeout=10)

    def _end_workers(self, clean_up_seconds: float) -> None:
        """Ask every worker to delete its scratch folder (waiting at most ``clean_up_seconds``),
        then kill it for good."""
        ray = self.ray
        with contextlib.suppress(Exception):
            ray.wait([actor.close.remote() for actor in self.actors], num_returns=len(self.actors),
                     timeout=clean_up_seconds)
        for actor in self.actors:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
        self.actors = []


def _move(result: Path, target: Path, replace: bool) -> None:
    """Put a finished result in place: a rename on the same file system, else an atomic copy.
    ``replace`` False (no --overwrite): a file that appeared at ``target`` meanwhile is never
    replaced (OutputAppeared), as in a local run."""
    try:
        move_into_place(result, target, replace)
        return
    except OutputAppeared:
        result.unlink()
        raise
    except OSError:
        with atomic_output(target, replace=replace) as temp:
            temp.write_bytes(result.read_bytes())
        result.unlink()


def _probe(source: Path, target: Path, result: Path, kind: str) -> Any:
    """A report for a result an earlier run finished (its own report is gone with that run)."""
    if kind == "photo":
        from ..photo import PhotoReport

        return PhotoReport(source=source, output=target, notes=["restored by an earlier run"])
    import av

    report = VideoReport(source=source, output=target, notes=["restored by an earlier run"])
    with av.open(str(result)) as container:
        stream = container.streams.video[0]
        report.width, report.height = stream.codec_context.width, stream.codec_context.height
        report.codec, report.pix_fmt = stream.codec_context.name, stream.codec_context.pix_fmt or ""
        report.frames = sum(1 for p in container.demux(stream) if p.size)
    return report
