"""What the front ends use of the engine, declared once.

VapourSynth, video, photo and the cluster workers are typed against :class:`Engine`, not
against :class:`~mprnet_vs.engine.Restorer` itself, so a front end states exactly what it needs
(and a test double or another engine shape can stand in without probing attributes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import torch


@runtime_checkable
class Engine(Protocol):
    """A restoration engine: ``batch`` images per forward pass on ``device``."""

    @property
    def batch(self) -> int:
        """Images (or tiles) per forward pass: front ends group frames by it."""
        ...

    @property
    def device(self) -> torch.device:
        """Where ``restore_tensor`` wants its input."""
        ...

    def restore_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """B x 3 x H x W float in [0, 1] on ``device`` -> restored, same shape, clamped."""
        ...

    def restore(self, image: np.ndarray) -> np.ndarray:
        """One H x W x 3 RGB image (uint8, uint16 or float in [0, 1]) -> restored, same dtype."""
        ...
