"""Local statistics for the channel attention at test time (TLC: Chu et al., "Improving Image
Restoration by Revisiting Global Information Aggregation", ECCV 2022).

Every CAB gates its channels by their average over the whole input. In training that input is a
crop (96 x 96 pixels for our deblur model, a quarter of it in stage 1); on a whole photo the
average mixes sky, clouds and sharp edges from far away, so the gates see statistics they never
saw in training. With local statistics each pixel's gate uses the average over a window of the
size the block saw in training (times ``factor``), around that pixel. It changes no weight; the
means are taken on a grid of cells an eighth of a window wide and the gates interpolated between
them (:meth:`ChannelAttention.local_gate`), which costs about 4% of a forward pass on the CPU.
Off (None) is the released model, exactly, and so is any input no larger than the windows.
"""

from __future__ import annotations

import torch

from ..engine.options import MAX_LOCAL_STATS
from .blocks import ChannelAttention
from .mprnet import SIZE_MULTIPLE, MPRNet

DEFAULT_FACTOR = 1.5  # the TLC paper's choice: windows 1.5 times the training extent


def patch_problem(patch: object) -> str | None:
    """Why ``patch`` cannot be a training crop to size windows for ("must be ..."), or None."""
    if isinstance(patch, bool) or not isinstance(patch, int):
        return "must be a whole number of pixels"
    if patch < 2 * SIZE_MULTIPLE or patch % SIZE_MULTIPLE or patch > MAX_LOCAL_STATS:
        return (f"must be a multiple of {SIZE_MULTIPLE} from {2 * SIZE_MULTIPLE} to {MAX_LOCAL_STATS} "
                "(a training crop; larger ones cost gigabytes)")
    return None


def use_local_statistics(model: MPRNet, patch: int | None, factor: float = DEFAULT_FACTOR) -> MPRNet:
    """Give every channel attention of ``model`` the window it needs for a model trained on
    ``patch`` x ``patch`` crops (None or 0: back to global pooling, the released model). Each
    block's training extent is measured by running the model once on a crop of that size, so it
    holds for every stage and U-Net level without computing their sizes here."""
    if patch:
        problem = patch_problem(patch)
        if problem:
            raise ValueError(f"local statistics: patch {problem}, got {patch!r}")
        if not factor > 0:
            raise ValueError(f"local statistics: factor must be > 0, got {factor!r}")
    blocks = [m for m in model.modules() if isinstance(m, ChannelAttention)]
    for block in blocks:
        block.window = None
    model.local_stats_patch = None
    if not patch:
        return model
    seen = block_input_sizes(model, patch)
    for block in blocks:
        rows, cols = seen[block]
        block.window = (max(1, round(rows * factor)), max(1, round(cols * factor)))
    model.local_stats_patch = patch
    return model


def block_input_sizes(model: MPRNet, side: int) -> dict[ChannelAttention, tuple[int, int]]:
    """(rows, columns) of the input each channel attention of ``model`` sees when the model
    runs on one ``side`` x ``side`` image (the sizes do not depend on the windows)."""
    blocks = [m for m in model.modules() if isinstance(m, ChannelAttention)]
    seen: dict[ChannelAttention, tuple[int, int]] = {}

    def note_size(block: ChannelAttention, args: tuple[torch.Tensor]) -> None:
        seen[block] = (args[0].shape[-2], args[0].shape[-1])

    hooks = [block.register_forward_pre_hook(note_size) for block in blocks]
    param = next(model.parameters())
    try:
        with torch.no_grad():
            model(torch.zeros(1, model.config.in_c, side, side, device=param.device, dtype=param.dtype))
    finally:
        for hook in hooks:
            hook.remove()
    return seen
