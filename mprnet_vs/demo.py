"""The demo: degrade a slow pan over a shipped photo, restore it through the video pipeline with
the default model for the task, and measure what restoration gained. Needs nothing downloaded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .clips import DEFAULT_PHOTO, pan, read_rgb, read_rgb_frames, write_lossless
from .degrade import degrade, to_uint8
from .engine import Restorer
from .tasks import get as get_task
from .safe_output import atomic_output
from .training.data import write_rgb
from .training.metrics import psnr
from .video import VideoOptions, restore_video



@dataclass
class DemoResult:
    degraded: Path
    restored: Path
    side_by_side: Path
    frames: int
    psnr_degraded: float
    psnr_restored: float
    fps: float


def mean_psnr(frames: list[np.ndarray], clean: list[np.ndarray]) -> float:
    return float(np.mean([psnr(f, c) for f, c in zip(frames, clean, strict=True)]))


def run_demo(
    out_dir: Path, restorer: Restorer, *, frames: int = 24, width: int = 320, height: int = 240,
    photo: Path = DEFAULT_PHOTO, seed: int = 0,
) -> DemoResult:
    task = restorer.task or "derain"
    out_dir.mkdir(parents=True, exist_ok=True)
    clean = list(pan(read_rgb(photo), width, height, frames))
    degraded_frames = [
        to_uint8(degrade(frame, get_task(task).demo_recipe, seed=seed * 100_003 + i)) for i, frame in enumerate(clean)
    ]
    degraded = out_dir / "degraded.mkv"
    restored = out_dir / "restored.mkv"
    for stale in (degraded, restored):
        stale.unlink(missing_ok=True)
    with atomic_output(degraded) as temp:  # interrupted, it leaves no half clip
        write_lossless(temp, degraded_frames)
    report = restore_video(degraded, restored, restorer, VideoOptions(codec="ffv1", pix_fmt="bgr0"))
    restored_frames = read_rgb_frames(restored)

    middle = frames // 2
    side = out_dir / "side_by_side.png"
    row = np.concatenate([clean[middle], degraded_frames[middle], restored_frames[middle]], axis=1)
    with atomic_output(side) as temp:
        write_rgb(temp, row)
    return DemoResult(
        degraded=degraded,
        restored=restored,
        side_by_side=side,
        frames=len(restored_frames),
        psnr_degraded=mean_psnr(degraded_frames, clean),
        psnr_restored=mean_psnr(restored_frames, clean),
        fps=report.fps,
    )
