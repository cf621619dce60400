"""What the front ends (VapourSynth filters, video pipeline, photos) use from an engine.

Typing them against this protocol instead of ``Any`` (and reading ``batch`` instead of probing
with ``getattr``) lets anything with these three members stand in for a :class:`Restorer`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Engine(Protocol):
    """An engine the front ends can drive: ``batch`` frames per call at most are worth sending,
    tensors live on ``device``, and ``restore_tensor`` maps B x 3 x H x W float in [0, 1] to the
    restored batch, same shape, clamped."""

    batch: int
    device: torch.device

    def restore_tensor(self, x: torch.Tensor) -> torch.Tensor: ...
