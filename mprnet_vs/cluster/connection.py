"""Connecting to Ray and sizing the worker pool: ``--ray auto`` starts a local cluster,
``--ray ADDRESS`` joins one (Ray 2.60 clusters made by ``ray start`` want token
authentication: ``RAY_AUTH_MODE=token`` and the cluster's token on the driver)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

TRANSFERS = ("auto", "shared", "store")
DEFAULT_SEGMENT_SECONDS = 120.0
RAY_EXTRA = "pip install mprnet-vs[ray]"


@dataclass
class ClusterOptions:
    """Where and how to run.

    address: ``"auto"`` starts a local Ray cluster (or joins the one ``RAY_ADDRESS`` names, or
    one ``ray start`` started on this machine: ``ray.init()``'s rule),
    else a cluster address (``HOST:6379`` or ``ray://HOST:10001``); a driver already connected
    (``ray.init`` called) keeps its connection. gpus: GPUs per worker (0.5 = two workers per
    GPU); on a cluster without GPUs the workers use ``cpus`` CPUs each. cpus: CPUs per worker,
    also its torch thread count (the same everywhere, so every worker computes alike).
    workers: at most this many workers (default: as many as the cluster holds).
    segment_seconds: videos longer than this are cut into pieces about this long (0: never).
    transfer: ``"auto"`` (workers read and write the driver's files where they see them, else
    through Ray's object store), ``"shared"`` (one file system required), ``"store"`` (always the
    object store). stall_seconds: a piece whose worker has not answered for this long (its node
    is gone and the cluster has no room to restart it) is given to another worker as well."""

    address: str = "auto"
    gpus: float = 1.0
    cpus: int = 1
    workers: int | None = None
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS
    transfer: str = "auto"
    stall_seconds: float = 60.0


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(f"--ray needs Ray, which is not installed: {RAY_EXTRA}") from None
    return ray


def connect(ray: Any, options: ClusterOptions) -> bool:
    """Connect (or start a local cluster); True when this call started the connection."""
    if ray.is_initialized():
        return False
    address = None if options.address == "auto" else options.address
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=True, logging_level="error")
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, AuthenticationError, ...
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = "" if address is None else (
            "; check the address, and that RAY_AUTH_MODE is the cluster's (token for clusters made by 'ray start' in "
            "Ray 2.60, with the token in ~/.ray/auth_token, RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH)")
        raise UsageError(f"--ray {options.address}: cannot connect to Ray ({text}){hint}") from None
    return True


def pool_size(ray: Any, options: ClusterOptions, units: int) -> tuple[int, float]:
    """(workers, GPUs each) for the cluster as it is now."""
    resources = ray.cluster_resources()
    gpus = float(resources.get("GPU", 0))
    if gpus > 0:
        count, each = int(math.floor(gpus / options.gpus + 1e-9)), options.gpus
    else:
        count, each = int(resources.get("CPU", 1) // max(1, options.cpus)), 0.0
    if options.workers:
        count = min(count, options.workers)
    return max(1, min(count, units)), each


def options_from_args(args: Any) -> ClusterOptions:
    seconds = args.segment_seconds
    return ClusterOptions(
        address=args.ray, gpus=args.ray_gpus, cpus=args.ray_cpus, workers=args.ray_workers,
        segment_seconds=DEFAULT_SEGMENT_SECONDS if seconds is None else seconds, transfer=args.ray_transfer,
        stall_seconds=getattr(args, "ray_stall_seconds", ClusterOptions.stall_seconds),
    )
