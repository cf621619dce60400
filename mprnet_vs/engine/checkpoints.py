"""Which checkpoint a Restorer loads: an explicit path, else the task's published checkpoint,
else the model shipped in the package for that task."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import WeightsError
from ..weights import TASKS, check_task, default_weights, find_published, shipped_path


def resolve_weights(task: str | None, weights: str | os.PathLike | None) -> Path:
    """The checkpoint path to load. A missing published and shipped model raises the
    WeightsError that says where to put the published file."""
    if weights is not None:
        if not isinstance(weights, (str, os.PathLike)):
            raise WeightsError(f"weights must be a checkpoint path, got {type(weights).__name__}")
        if not str(weights).strip():
            raise WeightsError("weights: empty path; give a checkpoint file, or leave weights out for the task's default")
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"{path}: no such checkpoint file" if not path.exists() else f"{path}: not a file")
        return path
    if task is None:
        raise WeightsError(f"give a task ({', '.join(TASKS)}) or weights= (a checkpoint path) so a model can be chosen")
    check_task(task)
    found = find_published(task) or shipped_path(task)
    return found if found is not None else default_weights(task)  # raises with instructions
