"""The Ray side: a pool of actors, each holding one Restorer for its whole life.

Ray *tasks* that ask for a GPU get a fresh process per call (10-16 s to start here, and the
model loaded again each time); an actor starts once and keeps the model. Ray's actors are
at-most-once by default; these restart without limit and their calls are retried
(``max_restarts=-1``, ``max_task_retries=-1``): at-least-once is safe because every piece of
work is written atomically and the same piece written twice is the same file. Two attempts at one
piece can run at once (the worker of a removed node may still be running when its restarted
actor starts again; a stalled piece is given to a second worker), so each attempt writes under a
name of its own and the first to finish is linked into place; a later one is discarded.

A worker reads its input from the path the driver gave it when it can see that file (checked
with a token the driver wrote next to the outputs: a node with a folder of the same name but
another disk fails the check). Otherwise the driver sends the bytes through Ray's object store,
the worker restores a private copy in its own temporary folder and returns the result's bytes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..safe_output import OutputAppeared, place_new
from ..video.encoder import VideoOptions

SCRATCH_PREFIX = "mprnet-vs-ray-"


@dataclass(frozen=True)
class EngineSpec:
    """What every worker builds its Restorer from: the settings the driver resolved (so a
    preset file need not exist on the workers) and the checkpoint's bytes."""

    task: str | None
    weights_name: str
    options: dict[str, Any]  # the engine options (mprnet_vs.engine.options), preset resolved, no weights
    threads: int  # torch CPU threads: the same everywhere, so every worker sums alike


@dataclass(frozen=True)
class Work:
    """One photo, one whole video or one piece of a video."""

    key: str
    kind: str  # "photo" or "video"
    source: str  # the driver's path of the input
    result: str  # the driver's path for the finished output (inside the work folder)
    token_file: str
    token: str
    video: VideoOptions = field(default_factory=VideoOptions)


@dataclass
class Done:
    """A worker's answer: the report (paths are the driver's), its warnings, and in
    object-store mode the result's bytes. ``needs_data``: the worker cannot see the input."""

    key: str
    report: Any = None
    warnings: list[str] = field(default_factory=list)
    data: bytes | None = None
    needs_data: bool = False
    node: str = ""
    pid: int = 0


def _clean_stale_scratch(base: Path) -> None:
    """Remove scratch folders of worker processes that no longer run (killed ones)."""
    for folder in base.glob(f"{SCRATCH_PREFIX}*"):
        try:
            pid = int(folder.name.removeprefix(SCRATCH_PREFIX).split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, PermissionError, OSError):
            continue


class RestoreWorker:
    """Restores Work items with one Restorer (made once, in ``__init__``)."""

    def __init__(self, spec: EngineSpec) -> None:
        import torch

        torch.set_num_threads(spec.threads)
        self.spec = spec
        base = Path(tempfile.gettempdir())
        _clean_stale_scratch(base)
        self.scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=base))
        self.restorer: Any = None
        self.current: tuple[str, int] = ("", 0)

    def _engine(self, weights: list[Any]) -> Any:
        """The Restorer, made on the first call. The checkpoint comes with every call (a
        reference nested in a list, fetched only here), not with the constructor: Ray cannot
        promise a restarted actor its constructor's arguments from the object store."""
        if self.restorer is None:
            import ray

            from ..engine import Restorer

            spec = self.spec
            checkpoint = self.scratch / spec.weights_name
            checkpoint.write_bytes(ray.get(weights[0]))
            self.restorer = Restorer(spec.task, **{**spec.options, "weights": checkpoint})
        return self.restorer

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        """Delete this worker's scratch folder (the checkpoint copy; object-store pieces)."""
        shutil.rmtree(self.scratch, ignore_errors=True)

    def progress(self) -> tuple[str, int]:
        """(key, frames done) of the work under way (answered while it runs)."""
        return self.current

    def restore(self, work: Work, weights: list[Any], data: bytes | None = None) -> Done:
        import ray

        from ..photo import restore_photo
        from ..video import restore_video

        done = Done(work.key, node=ray.get_runtime_context().get_node_id(), pid=os.getpid())
        if data is None and not _sees(work):
            done.needs_data = True
            return done
        self.current = (work.key, 0)
        restorer = self._engine(weights)

        def tick(frames: int, _total: int | None) -> None:
            self.current = (work.key, frames)

        with contextlib.ExitStack() as stack:
            if data is None:
                source, result = Path(work.source), attempt_path(Path(work.result))
                stack.callback(_discard, result)
            else:
                private = Path(tempfile.mkdtemp(dir=self.scratch))
                stack.callback(shutil.rmtree, private, True)
                source = private / f"in{Path(work.source).suffix}"
                result = private / f"out{Path(work.result).suffix}"
                source.write_bytes(data)
            caught = stack.enter_context(warnings.catch_warnings(record=True))
            warnings.simplefilter("always")
            if work.kind == "photo":
                report = restore_photo(source, result, restorer)
            else:
                report = restore_video(source, result, restorer, work.video, tick)
            report.source, report.output = Path(work.source), Path(work.result)
            done.report = report
            done.warnings = list(dict.fromkeys(str(w.message) for w in caught))
            if data is not None:
                done.data = result.read_bytes()
            else:
                with contextlib.suppress(OutputAppeared):  # another attempt finished first: the same piece
                    place_new(result, Path(work.result))
        self.current = (work.key, getattr(done.report, "frames", 1))
        return done


def attempt_path(result: Path) -> Path:
    """This attempt's own name for ``result``, beside it in the work folder (a hidden name that
    the work folder's clean-up removes if the attempt dies)."""
    return result.with_name(f".{result.stem}.attempt-{os.getpid()}-{secrets.token_hex(4)}{result.suffix}")


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _sees(work: Work) -> bool:
    """True when this node sees the driver's files (the token file holds the run's token)."""
    try:
        return Path(work.token_file).read_text() == work.token and Path(work.source).is_file()
    except OSError:
        return False


def start_workers(count: int, spec: EngineSpec, gpus: float, cpus: float) -> list[Any]:
    """``count`` actors, each asking for ``gpus`` GPUs (0 on a cluster without any) and
    ``cpus`` CPUs; they restart without limit and their calls are retried."""
    import ray

    actor = ray.remote(
        num_gpus=gpus, num_cpus=cpus, max_restarts=-1, max_task_retries=-1, max_concurrency=2,
    )(RestoreWorker)
    return [actor.remote(spec) for _ in range(count)]


def engine_spec(args: Any) -> tuple[EngineSpec, Path]:
    """The Restorer settings the driver resolves once (preset files and the checkpoint are
    read here, so workers need neither) and the checkpoint file to ship."""
    from .. import presets
    from ..cli import engine_options
    from ..errors import MprnetError, UsageError
    from ..weights import resolve_weights

    try:
        settings = presets.resolve_args(args)
        weights = resolve_weights(args.task, args.weights)
    except MprnetError as exc:
        raise UsageError(str(exc)) from None
    threads = max(1, int(getattr(args, "ray_cpus", 1) or 1))
    options = {**engine_options(args), **settings.as_dict(), "preset": None, "weights": None}
    spec = EngineSpec(task=args.task, weights_name=weights.name, options=options, threads=threads)
    return spec, weights
