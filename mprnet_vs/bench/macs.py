"""Counted multiply-accumulates of an MPRNet forward, for achieved-TFLOP/s figures.

Counting runs the model on the ``meta`` device: shapes only, no arithmetic, so even a 4K count
is instant and needs no memory.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..model import SIZE_MULTIPLE, MPRNet, MPRNetConfig


def padded(size: int) -> int:
    return -(-size // SIZE_MULTIPLE) * SIZE_MULTIPLE


@lru_cache(maxsize=64)
def count_macs(config: MPRNetConfig, height: int, width: int, stages: int = 3) -> int:
    """MACs of one forward on one ``height`` x ``width`` image (padded to a multiple of 8)."""
    with torch.device("meta"):
        model = MPRNet.from_config(config)
        x = torch.empty(1, config.in_c, padded(height), padded(width))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x, stages=stages)
    return counter.get_total_flops() // 2
