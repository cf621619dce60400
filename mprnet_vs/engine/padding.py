"""Padding frames to the multiple of 8 that MPRNet needs, and cropping back.

Reflection continues the picture's texture into the border, which disturbs the network least;
torch can only reflect by less than the axis length, so tiny axes (e.g. 1 pixel wide) replicate.
Padding goes at the bottom and right, so cropping back is a plain slice from the origin.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..model import SIZE_MULTIPLE


def padded_size(size: int, multiple: int = SIZE_MULTIPLE) -> int:
    """``size`` rounded up to a multiple of ``multiple``."""
    return -(-size // multiple) * multiple


def _pad_axis(x: torch.Tensor, amount: int, axis: int) -> torch.Tensor:
    if amount == 0:
        return x
    mode = "reflect" if amount < x.shape[axis] else "replicate"
    pad = (0, amount, 0, 0) if axis == 3 else (0, 0, 0, amount)
    return F.pad(x, pad, mode=mode)


def pad_to_multiple(x: torch.Tensor, multiple: int = SIZE_MULTIPLE) -> torch.Tensor:
    """``x`` (B x C x H x W) padded at the bottom and right to multiples of ``multiple``.
    Returns ``x`` itself when no padding is needed."""
    h, w = x.shape[-2:]
    x = _pad_axis(x, padded_size(w, multiple) - w, axis=3)
    return _pad_axis(x, padded_size(h, multiple) - h, axis=2)


def crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The top-left ``height`` x ``width`` of ``x`` (a view, no copy)."""
    return x[..., :height, :width]
