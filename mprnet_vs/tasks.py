"""The task registry: every fact about derain, deblur and denoise, in one table.

Front ends, the engine, training and the benchmarks read a task's name, purpose, published
checkpoint, published architecture and degradation recipes from here, so adding a task (or
correcting one) is one edit.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import WeightsError
from .model.mprnet import MPRNetConfig


@dataclass(frozen=True)
class Task:
    """One restoration task.

    ``purpose`` is the one line shown by ``help()`` and the CLI; ``published_file`` is the
    authors' checkpoint name (found by :mod:`mprnet_vs.weights`); ``published_config`` its
    widths (all published checkpoints use num_cab 8, reduction 4, no bias); ``recipe`` the
    degradation training and evaluation apply to clean photos by default (:mod:`mprnet_vs.degrade`);
    ``demo_recipe`` the one the demo applies to a whole clip (rain keeps one direction and
    streak length for the whole clip, as real rain does).
    """

    name: str
    purpose: str
    published_file: str
    published_config: MPRNetConfig
    recipe: str
    demo_recipe: str


REGISTRY: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            "derain", "Remove rain streaks.", "model_deraining.pth",
            MPRNetConfig(n_feat=40, scale_unetfeats=20, scale_orsnetfeats=16),
            "rain", "rain:angle=-12,length=26,brightness=0.55",
        ),
        Task(
            "deblur", "Remove motion blur.", "model_deblurring.pth",
            MPRNetConfig(n_feat=96, scale_unetfeats=48, scale_orsnetfeats=32),
            "blur", "blur:kind=linear,length=11,angle=20",
        ),
        Task(
            "denoise", "Remove camera noise.", "model_denoising.pth",
            MPRNetConfig(n_feat=80, scale_unetfeats=48, scale_orsnetfeats=32),
            "noise", "noise:sigma=25",
        ),
    )
}
TASKS: tuple[str, ...] = tuple(REGISTRY)


def check_task(task: object) -> str:
    """``task`` if it names a registered task; else a WeightsError listing the tasks."""
    if not isinstance(task, str) or task not in REGISTRY:
        raise WeightsError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    return task


def get(task: str) -> Task:
    """The registry entry of ``task`` (checked)."""
    return REGISTRY[check_task(task)]
