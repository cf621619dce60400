"""Cutting a (padded) frame into overlapping tiles and blending the restored tiles back.

Each restored tile is weighted by a window that is 1 inside and falls off as a raised cosine
over the overlap at edges shared with another tile; frame borders keep weight 1, so every pixel
is covered by a positive weight. Sums of weighted outputs divided by sums of weights give the
frame: across an overlap the result fades from one tile to the next instead of jumping (a seam).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..model import SIZE_MULTIPLE

MIN_SPLIT = 32  # the smallest tile side an out-of-memory retry shrinks to


def round_tile(tile: int, multiple: int = SIZE_MULTIPLE) -> int:
    """A tile side rounded to the nearest multiple of ``multiple`` (at least ``multiple``)."""
    return max(multiple, int(round(tile / multiple)) * multiple)


def starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of side ``tile`` along an axis of ``length`` pixels, neighbours
    sharing ``overlap`` pixels. The last tile is moved back inside the axis (sharing more with
    its neighbour) instead of running past the end and being padded. ``tile >= length`` gives
    one tile at 0 (the caller then uses ``length`` as its side)."""
    if tile >= length:
        return [0]
    step = tile - overlap
    if step <= 0:
        raise ValueError(f"overlap {overlap} must be smaller than the tile {tile}")
    positions = list(range(0, length - tile, step))
    positions.append(length - tile)
    return positions


def ramp(length: int, overlap: int, fade_in: bool, fade_out: bool, device: torch.device) -> torch.Tensor:
    """1-D window of ``length``: raised cosine rising over the first ``overlap`` samples when
    ``fade_in``, falling over the last ``overlap`` when ``fade_out``, 1 elsewhere. Samples sit at
    pixel centres, so the window never reaches 0, and a rising and a falling ramp over the same
    pixels sum to exactly 1."""
    window = torch.ones(length, dtype=torch.float32, device=device)
    n = min(overlap, length // 2) if fade_in and fade_out else min(overlap, length)
    if n <= 0:
        return window
    centres = (torch.arange(n, dtype=torch.float64, device=device) + 0.5) / n
    rise = (0.5 - 0.5 * torch.cos(math.pi * centres)).to(torch.float32)
    if fade_in:
        window[:n] = rise
    if fade_out:
        window[length - n :] = rise.flip(0)
    return window


@dataclass(frozen=True)
class Tile:
    """One tile: its top-left corner and size in the padded frame, and its blend window."""

    y: int
    x: int
    height: int
    width: int
    weight: torch.Tensor  # height x width, float32


def plan(height: int, width: int, tile: int, overlap: int, device: torch.device) -> list[Tile]:
    """Tiles covering a ``height`` x ``width`` frame (both multiples of 8). ``tile`` 0 or one at
    least as large as the frame gives a single tile of weight 1 (exactly the whole-frame output)."""
    if tile <= 0:
        tile = max(height, width)
    tile = round_tile(tile)
    overlap = max(0, min(overlap, tile // 2))
    th, tw = min(tile, height), min(tile, width)
    ys, xs = starts(height, th, overlap), starts(width, tw, overlap)
    windows_y = [ramp(th, overlap, y > 0, y + th < height, device) for y in ys]
    windows_x = [ramp(tw, overlap, x > 0, x + tw < width, device) for x in xs]
    return [
        Tile(y, x, th, tw, wy[:, None] * wx[None, :])
        for y, wy in zip(ys, windows_y)
        for x, wx in zip(xs, windows_x)
    ]
