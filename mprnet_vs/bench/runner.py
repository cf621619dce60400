"""Timing the engine, the released code's schedule, and the video pipeline on one device.

Device work is asynchronous, so every timed region ends with a device synchronise; warm-up runs
keep cuDNN autotuning, compilation and allocation out of the numbers.
"""

from __future__ import annotations

import copy
import math
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from ..engine import Restorer
from ..model import MPRNetConfig
from .macs import count_macs
from .released_way import forward_released_way

RESOLUTIONS = {"360p": (360, 640), "720p": (720, 1280), "1080p": (1080, 1920), "4k": (2160, 3840)}


@dataclass
class Measurement:
    name: str
    stages: int
    precision: str
    batch: int
    height: int
    width: int
    tile: int | str
    seconds_per_frame: float
    frames_per_second: float
    megapixels_per_second: float
    tflops: float
    peak_memory_mib: float | None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, warmup: int, reps: int) -> float:
    """Median seconds of ``fn`` over ``reps`` synchronised runs, after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device: torch.device) -> float | None:
    """Peak device memory on CUDA; on the CPU the process's peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_engine(
    restorer: Restorer, config: MPRNetConfig, height: int, width: int, warmup: int, reps: int, name: str = "engine"
) -> tuple[Measurement, torch.Tensor]:
    """Model-only rate of the engine's tensor path on a batch of ``restorer.batch`` frames."""
    device = restorer.device
    generator = torch.Generator().manual_seed(0)
    frames = torch.rand(restorer.batch, 3, height, width, generator=generator).to(device)
    reset_peak_memory(device)
    output: list[torch.Tensor] = []

    def run() -> None:
        output[:] = [restorer.restore_tensor(frames)]

    seconds = time_call(run, device, warmup, reps) / restorer.batch
    m = _measurement(name, restorer.stages, restorer.precision, restorer.batch, height, width, restorer.tile,
                     seconds, count_macs(config, height, width, restorer.stages), device)
    return m, output[0]


def measure_released_way(
    restorer: Restorer, config: MPRNetConfig, height: int, width: int, warmup: int, reps: int
) -> tuple[Measurement, torch.Tensor]:
    """The same weights run as the released code runs them: fp32, patches one after another,
    one frame at a time, whole frame (padded to a multiple of 8, as its demo does)."""
    device = restorer.device
    # A copy (never touch the engine's shared model), in fp32 and the default NCHW layout the
    # released code uses.
    model = copy.deepcopy(restorer.model).to(dtype=torch.float32, memory_format=torch.contiguous_format)
    pad_h, pad_w = (-height) % 8, (-width) % 8
    frame = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)).to(device)
    padded = torch.nn.functional.pad(frame, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else frame
    reset_peak_memory(device)
    output: list[torch.Tensor] = []

    def run() -> None:
        output[:] = [forward_released_way(model, padded, restorer.stages)[:, :, :height, :width].clamp(0, 1)]

    seconds = time_call(run, device, warmup, reps)
    m = _measurement("released way", restorer.stages, "fp32", 1, height, width, 0,
                     seconds, count_macs(config, height, width, restorer.stages), device)
    return m, output[0]


def _measurement(name: str, stages: int, precision: str, batch: int, height: int, width: int, tile: int | str,
                 seconds: float, macs: int, device: torch.device) -> Measurement:
    return Measurement(
        name=name,
        stages=stages,
        precision=precision,
        batch=batch,
        height=height,
        width=width,
        tile=tile,
        seconds_per_frame=seconds,
        frames_per_second=1 / seconds,
        megapixels_per_second=height * width / seconds / 1e6,
        tflops=2 * macs / seconds / 1e12,
        peak_memory_mib=peak_memory_mib(device),
    )


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB between two images in [0, 1] (inf when identical)."""
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)
