"""``restore_on_ray``: the Python form of ``mprnet-vs restore ... --ray``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..video.encoder import VideoOptions
from .connection import DEFAULT_SEGMENT_SECONDS


def restore_on_ray(
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    task: str | None = None,
    *,
    address: str = "auto",
    gpus_per_worker: float = 1.0,
    cpus_per_worker: int = 1,
    workers: int | None = None,
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
    transfer: str = "auto",
    stall_seconds: float = 60.0,
    video: VideoOptions | None = None,
    overwrite: bool = False,
    quiet: bool = True,
    **engine: Any,
) -> Any:
    """Restore photos, videos and folders on Ray workers, as the command line does with --ray.

    ``inputs`` / ``output``: as for ``mprnet-vs restore`` (one input and a file, or a folder).
    ``address``: ``"auto"`` (a local cluster, or the one ``RAY_ADDRESS`` names) or a cluster
    address; a process already connected with ``ray.init`` keeps that connection.
    ``gpus_per_worker``: GPUs each worker asks for (0.5 = two per GPU; without GPUs, workers
    ask for ``cpus_per_worker`` CPUs each, also their torch thread count). ``workers``: at most
    this many. ``segment_seconds``: videos longer than this are cut at keyframes into pieces
    restored in parallel (0 = never). ``transfer``: ``"auto"``, ``"shared"`` or ``"store"``
    (see ClusterOptions). ``stall_seconds``: a piece whose worker has not answered for this long
    (its node is gone and nothing can take its place) is given to another worker as well. ``video``: encoder settings (VideoOptions). ``engine``: the
    Restorer's keywords (weights, preset, stages, tile, overlap, batch, precision, device,
    compile, local_stats). Returns the Outcome (restored / incomplete / skipped / failed jobs);
    per-file lines are printed unless ``quiet``. UsageError for settings that cannot work.
    """
    from ..cli.restore import add_arguments, execute, prepare
    from ..engine.options import ENGINE_OPTION_NAMES

    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    args = parser.parse_args(["-o", "-", "-"])  # every default, then the values given here
    video = video or VideoOptions()
    unknown = set(engine) - set(ENGINE_OPTION_NAMES)
    if unknown:
        raise TypeError(f"restore_on_ray() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    for key, value in engine.items():
        setattr(args, key, str(value) if key == "weights" and value is not None else value)
    args.inputs, args.output, args.task = [Path(p) for p in inputs], os.fspath(output), task
    args.ray, args.ray_gpus, args.ray_cpus, args.ray_workers = address, gpus_per_worker, cpus_per_worker, workers
    args.segment_seconds, args.ray_transfer, args.ray_stall_seconds = segment_seconds, transfer, stall_seconds
    args.codec, args.pix_fmt, args.crf = video.codec, video.pix_fmt, video.crf
    args.encoder_opt = list(video.encoder_options.items())
    args.overwrite, args.quiet, args.debug = overwrite, quiet, False
    runner, jobs = prepare(args)
    return execute(runner, jobs)
