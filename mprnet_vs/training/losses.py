"""The released training loss: Charbonnier + 0.05 x edge loss, summed over the three stage outputs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

EDGE_WEIGHT = 0.05


def charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """mean(sqrt((x - y)^2 + eps^2)): an L1 that stays smooth at zero."""
    diff = x - y
    return torch.sqrt(diff * diff + eps * eps).mean()


class EdgeLoss(nn.Module):
    """Charbonnier distance between one-level Laplacian pyramids (the band-pass detail) of x and y."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        taps = torch.tensor([0.05, 0.25, 0.4, 0.25, 0.05])
        kernel = torch.outer(taps, taps)
        self.register_buffer("kernel", kernel.expand(channels, 1, 5, 5).clone(), persistent=False)

    def _gauss(self, img: torch.Tensor) -> torch.Tensor:
        padded = F.pad(img, (2, 2, 2, 2), mode="replicate")
        return F.conv2d(padded, self.kernel.to(img.dtype), groups=img.shape[1])

    def laplacian(self, img: torch.Tensor) -> torch.Tensor:
        smooth = self._gauss(img)
        up = torch.zeros_like(smooth)
        up[:, :, ::2, ::2] = smooth[:, :, ::2, ::2] * 4  # downsample by 2, zero-insert back
        return img - self._gauss(up)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return charbonnier(self.laplacian(x), self.laplacian(y))


class MPRNetLoss(nn.Module):
    """Sum over stage outputs of Charbonnier(out, target) + 0.05 * EdgeLoss(out, target)."""

    def __init__(self, edge_weight: float = EDGE_WEIGHT) -> None:
        super().__init__()
        self.edge = EdgeLoss()
        self.edge_weight = edge_weight

    def forward(self, outputs: Sequence[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        total = target.new_zeros(())
        for out in outputs:
            total = total + charbonnier(out, target) + self.edge_weight * self.edge(out, target)
        return total
