"""Choosing a tile that fits the device's memory ("auto" tiling).

Activation memory grows linearly with the pixels in one forward pass. On CUDA the engine
measures that growth once per (stages, dtype) with two small probe passes; on the CPU it uses
an estimate from the network's widths. The whole frame is used when it fits (exactly the
paper's output); otherwise the largest square tile that fits.
"""

from __future__ import annotations

import math

import torch

from ..model import MPRNet
from .devices import free_memory_bytes
from .tiling import round_tile

SAFETY = 0.7  # use at most this share of the free memory (fragmentation, cuDNN workspaces)
MIN_TILE = 64
# Peak live activations per pixel, in units of (n_feat + scale_orsnetfeats) values, for
# stages 1, 2, 3 on the CPU. Generous: peak RSS growth measured for the published derain widths
# at 512 x 512 in fp32 was about 7 units for stage 1 and 14 for stage 3.
CPU_ACTIVATION_FACTOR = {1: 12, 2: 16, 3: 24}


def _probe_cuda(model: MPRNet, stages: int, dtype: torch.dtype, device: torch.device) -> float:
    sizes = (64, 128)
    peaks = []
    memory_format = torch.channels_last
    for side in sizes:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        x = torch.zeros(1, model.config.in_c, side, side, device=device, dtype=dtype)
        with torch.inference_mode():
            model(x.contiguous(memory_format=memory_format), stages=stages)
        torch.cuda.synchronize(device)
        peaks.append(torch.cuda.max_memory_allocated(device) - base)
        del x
    slope = (peaks[1] - peaks[0]) / (sizes[1] ** 2 - sizes[0] ** 2)
    return max(slope, peaks[1] / sizes[1] ** 2 * 0.5, 1.0)


def bytes_per_pixel(model: MPRNet, stages: int, dtype: torch.dtype, device: torch.device) -> float:
    """Peak forward-pass memory per input pixel (one image)."""
    if device.type == "cuda":
        return _probe_cuda(model, stages, dtype, device) * 1.15
    config = model.config
    element = torch.finfo(dtype).bits // 8
    return float(CPU_ACTIVATION_FACTOR[stages] * (config.n_feat + config.scale_orsnetfeats) * element)


def choose_tile(
    height: int, width: int, frames_per_forward: int, bytes_pp: float, device: torch.device, tiles_per_forward: int | None = None
) -> int:
    """0 (whole frame) when ``frames_per_forward`` padded frames of ``height`` x ``width`` fit
    the free memory, else the largest tile side (a multiple of 8, at least MIN_TILE) of which
    ``tiles_per_forward`` (default: as many as frames) fit."""
    budget = free_memory_bytes(device) * SAFETY
    if height * width * frames_per_forward * bytes_pp <= budget:
        return 0
    side = math.sqrt(budget / (bytes_pp * (tiles_per_forward or frames_per_forward)))
    return max(MIN_TILE, round_tile(int(side) - 4))
