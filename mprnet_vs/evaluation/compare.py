"""The standing comparison: a model and a baseline on the same independently rendered images,
PSNR/SSIM beside seconds per megapixel (``mprnet-vs evaluate --render independent --baseline``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..degrade import to_dtype
from ..errors import InputError, UsageError
from ..photo import read_rgb_photo
from ..training.data import list_images
from ..training.evaluate import Pair, Score, evaluate, mean_score
from .baselines import BASELINES, baseline_restorer
from .render import Rendered, parse_spec, render

_TASK_OF_KIND = {"noise": "denoise", "blur": "deblur", "rain": "derain"}


@dataclass
class Timed:
    """The scores of one method and its restoration time: wall clock, and CPU time summed over all
    of the process's threads. Wall clock favours whichever method can spread onto a free core (the
    ``bm3d`` package runs on ~1.8 cores even under OMP_NUM_THREADS=1); CPU time does not."""

    method: str
    scores: list[Score]
    seconds: float
    megapixels: float
    cpu_seconds: float

    @property
    def seconds_per_megapixel(self) -> float:
        return self.seconds / self.megapixels

    @property
    def cpu_seconds_per_megapixel(self) -> float:
        return self.cpu_seconds / self.megapixels


def check_spec_for(task: str, spec: str, baseline: str | None) -> None:
    """A render spec must degrade what the task restores, and a baseline must suit the task."""
    kind = parse_spec(spec)[0]
    if _TASK_OF_KIND[kind] != task:
        raise UsageError(f"--degrade {spec!r} renders {kind}, which the {task} model does not restore")
    if baseline is not None and BASELINES.get(baseline, task) != task:
        raise UsageError(f"--baseline {baseline} is compared on {BASELINES[baseline]}, not {task}")


def rendered_pairs(clean_dir: str | Path, spec: str, seed: int = 0) -> list[tuple[Pair, Rendered]]:
    """Each clean image degraded by the independent renderer (image i seeded by (seed, i)), stored
    at the clean image's depth, with the truth the renderer used."""
    parse_spec(spec)
    out = []
    for index, path in enumerate(list_images(clean_dir)):
        clean = read_rgb_photo(path)[0]
        rendered = render(clean, spec, (seed, index))
        out.append(((path.name, to_dtype(rendered.image, clean.dtype), clean), rendered))
    return out


def timed(method: str, restore_for: Callable[[Rendered | None], Callable[[np.ndarray], np.ndarray]],
          pairs: Iterable[tuple[Pair, Rendered | None]],
          on_image: Callable[[str, np.ndarray, np.ndarray], None] | None = None) -> Timed:
    """Score ``restore_for(truth)`` on every pair (truth None for recipe-degraded pairs), timing
    only the restorations (wall clock and process CPU time)."""
    scores, seconds, cpu_seconds, pixels = [], 0.0, 0.0, 0
    for pair, truth in pairs:
        restore = restore_for(truth)
        clock = [0.0, 0.0]

        def clocked(img: np.ndarray, restore: Callable[[np.ndarray], np.ndarray] = restore) -> np.ndarray:
            start, cpu_start = time.perf_counter(), time.process_time()
            out = restore(img)
            clock[0] += time.perf_counter() - start
            clock[1] += time.process_time() - cpu_start
            return out

        scores += evaluate(clocked, [pair], on_image)
        seconds += clock[0]
        cpu_seconds += clock[1]
        pixels += pair[1].shape[0] * pair[1].shape[1]
    if not scores:
        raise InputError("no images to evaluate")
    return Timed(method, scores, seconds, pixels / 1e6, cpu_seconds)


def baseline_run(name: str, pairs: list[tuple[Pair, Rendered]]) -> Timed:
    return timed(f"{name} (true {'sigma' if name == 'bm3d' else 'kernel'})",
                 lambda truth: baseline_restorer(name, truth.kernel, truth.sigma), pairs)  # type: ignore[union-attr]


def comparison_table(runs: list[Timed]) -> str:
    """One row per method: mean PSNR and SSIM (RGB) input -> output (gain), seconds per megapixel
    of wall clock and of CPU time (all threads)."""
    width = max(len(r.method) for r in runs)
    head = (f"{'method':<{width}}  {'PSNR RGB (dB)':>22}  {'SSIM RGB':>15}  {'PSNR Y gain':>11}  {'s/MP':>7}"
            f"  {'CPU s/MP':>8}")
    lines = [head, "-" * len(head)]
    for run in runs:
        m = mean_score(run.scores)
        lines.append(f"{run.method:<{width}}  {m.input['psnr']:6.2f} -> {m.output['psnr']:6.2f} ({m.gain('psnr'):+5.2f})  "
                     f"{m.input['ssim']:.4f} -> {m.output['ssim']:.4f}  {m.gain('psnr_y'):+11.2f}  {run.seconds_per_megapixel:7.2f}"
                     f"  {run.cpu_seconds_per_megapixel:8.2f}")
    return "\n".join(lines)
