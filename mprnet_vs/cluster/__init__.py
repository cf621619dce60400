"""Restoring on a Ray cluster: many files and long videos over many GPUs and machines.

``restore_on_ray`` (api.py) is ``mprnet-vs restore ... --ray`` from Python; driver.py plans and
dispatches, actors.py holds the workers, segments.py cuts and joins videos, workdir.py keeps
finished pieces for a rerun. Ray itself is imported only when a run starts (``pip install
mprnet-vs[ray]``)."""

from __future__ import annotations

from .api import restore_on_ray
from .connection import ClusterOptions

__all__ = ["ClusterOptions", "restore_on_ray"]
