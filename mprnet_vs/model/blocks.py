"""Building blocks shared by all three stages: CAB, SAM and the U-Net resamplers.

Attribute names and the order they are created in mirror the released implementation, so the
``state_dict`` of our modules is key-for-key the one of the published checkpoints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv(in_channels: int, out_channels: int, kernel_size: int, bias: bool = False) -> nn.Conv2d:
    """A 'same'-padded convolution, the only kind of k x k convolution MPRNet uses."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: global average pool, bottleneck, sigmoid gate per channel.

    ``window`` (rows, columns), when set, pools each pixel's own neighbourhood of that size
    instead of the whole input: see :mod:`mprnet_vs.model.local_stats`. None (the default) is
    the released model.
    """

    def __init__(self, channels: int, reduction: int, bias: bool) -> None:
        super().__init__()
        self.window: tuple[int, int] | None = None
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1, bias=bias),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1, bias=bias),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window = self.window
        if window is None or (window[0] >= x.shape[-2] and window[1] >= x.shape[-1]):
            return x * self.conv_du(self.avg_pool(x))
        return x * self.local_gate(x, window)

    def local_gate(self, x: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
        """The gates from each pixel's ``window`` of statistics. Means over windows of 18-144
        pixels change slowly from pixel to pixel, so they are taken on a grid of cells an eighth
        of a window wide and the gates interpolated back: a few percent of the cost of a 3 x 3
        convolution, where exact means at every pixel cost five times one."""
        step = max(1, min(window) // 8)
        if step == 1:
            return self.conv_du(local_mean(x, window))
        cells = F.avg_pool2d(x, step, stride=step, ceil_mode=True, count_include_pad=False)
        gates = self.conv_du(local_mean(cells, (max(1, round(window[0] / step)), max(1, round(window[1] / step)))))
        return F.interpolate(gates, size=x.shape[-2:], mode="bilinear", align_corners=False)


def local_mean(x: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
    """The mean of every ``window`` (clipped to the input) around each pixel of ``x``
    (B x C x H x W), from prefix sums in fp32 (O(1) per pixel whatever the window). Pixels closer
    to the border than half a window take the nearest whole window's mean, so every mean covers
    as much of the picture as in training."""
    rows, cols = min(window[0], x.shape[-2]), min(window[1], x.shape[-1])
    sums = F.pad(x.float().cumsum(-1), (1, 0))
    sums = sums[..., cols:] - sums[..., :-cols]
    sums = F.pad(sums.cumsum(-2), (0, 0, 1, 0))
    means = (sums[..., rows:, :] - sums[..., :-rows, :]) / (rows * cols)
    dh, dw = x.shape[-2] - means.shape[-2], x.shape[-1] - means.shape[-1]
    return F.pad(means, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), mode="replicate").to(x.dtype)


class CAB(nn.Module):
    """Channel Attention Block: conv - act - conv, channel attention, residual."""

    def __init__(self, channels: int, kernel_size: int, reduction: int, bias: bool, act: nn.Module) -> None:
        super().__init__()
        # ``CA`` is created before ``body`` as in the released code: it fixes the key order.
        self.CA = ChannelAttention(channels, reduction, bias)
        self.body = nn.Sequential(
            conv(channels, channels, kernel_size, bias),
            act,
            conv(channels, channels, kernel_size, bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.CA(self.body(x)) + x


def cab_stack(count: int, channels: int, kernel_size: int, reduction: int, bias: bool, act: nn.Module) -> list[CAB]:
    return [CAB(channels, kernel_size, reduction, bias, act) for _ in range(count)]


class SAM(nn.Module):
    """Supervised Attention Module (paper Fig. 3).

    Predicts a restored image from the stage's features (supervised by the loss), then uses that
    image to gate the features passed on to the next stage. The image has 3 channels whatever the
    model's ``in_c``/``out_c``, as in the released code (their checkpoints' shapes depend on it).
    """

    IMAGE_CHANNELS = 3

    def __init__(self, n_feat: int, kernel_size: int, bias: bool) -> None:
        super().__init__()
        self.conv1 = conv(n_feat, n_feat, kernel_size, bias)
        self.conv2 = conv(n_feat, self.IMAGE_CHANNELS, kernel_size, bias)
        self.conv3 = conv(self.IMAGE_CHANNELS, n_feat, kernel_size, bias)

    def forward(self, features: torch.Tensor, degraded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        restored = self.conv2(features) + degraded
        gate = torch.sigmoid(self.conv3(restored))
        return self.conv1(features) * gate + features, restored


class DownSample(nn.Module):
    """Halve the resolution (bilinear, as the released code does) and widen by ``extra`` channels."""

    def __init__(self, channels: int, extra: int) -> None:
        super().__init__()
        self.down = nn.Sequential(
            nn.Upsample(scale_factor=0.5, mode="bilinear", align_corners=False),
            nn.Conv2d(channels, channels + extra, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(x)


class UpSample(nn.Module):
    """Double the resolution (bilinear) and narrow from ``channels + extra`` to ``channels``."""

    def __init__(self, channels: int, extra: int) -> None:
        super().__init__()
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(channels + extra, channels, 1, bias=False),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.up(x)
        return x if skip is None else x + skip
