"""Geometric self-ensemble: restore flipped (and transposed) copies of a frame and average them.

A convolutional restorer's errors depend on orientation while the image's content does not, so
the mean of the restorations of a frame's mirror images, each mirrored back, has less error than
any one of them (the "x8" of EDSR+ and most restoration papers). It costs one network pass per
copy: ``ensemble=4`` is four times the time for, on the shipped denoiser and eleven held-out
photos, +0.11 / +0.11 / +0.18 dB at sigma 15 / 25 / 50 (``ensemble=8``: +0.15 / +0.16 / +0.23;
docs/models.md has these and the other models'). The copies go through the whole engine
(padding, tiling, batching, precision fallback, out-of-memory retries), so any backend runs them.

Copy ``k`` (0-7) mirrors the columns when bit 0 is set, the rows when bit 1 is set, and swaps
rows and columns first when bit 2 is set. ``ensemble`` n uses copies 0 .. n-1: 2 adds the
left-right mirror, 4 every mirror (the frame's shape never changes, so a backend built for one
shape serves them all), 8 the transposed ones too.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

ENSEMBLE_SIZES = (1, 2, 4, 8)


def transform(x: torch.Tensor, copy: int) -> torch.Tensor:
    """``x`` (... x H x W) as ensemble copy ``copy``."""
    if copy & 4:
        x = x.transpose(-2, -1)
    dims = [d for bit, d in ((1, -1), (2, -2)) if copy & bit]
    return x.flip(dims) if dims else x


def untransform(x: torch.Tensor, copy: int) -> torch.Tensor:
    """The inverse of :func:`transform`: copy ``copy``'s result back in the frame's orientation."""
    dims = [d for bit, d in ((1, -1), (2, -2)) if copy & bit]
    if dims:
        x = x.flip(dims)
    return x.transpose(-2, -1) if copy & 4 else x


def ensemble_mean(x: torch.Tensor, size: int, restore: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The mean of ``restore`` over the first ``size`` copies of ``x``, each clamped to [0, 1]
    first (so it is the mean of what ``ensemble=1`` gives for each mirrored frame, whose output
    the Restorer clamps); ``restore(x)`` itself, untouched, for size 1."""
    if size == 1:
        return restore(x)
    total = restore(x).float().clamp_(0.0, 1.0)
    for copy in range(1, size):
        total += untransform(restore(transform(x, copy).contiguous()), copy).float().clamp_(0.0, 1.0)
    return total.div_(size)
