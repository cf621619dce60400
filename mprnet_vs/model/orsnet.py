"""Stage 3: the Original Resolution Subnetwork (ORSNet), which never downsamples."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import UpSample, cab_stack, conv
from .unet import Features


class ORB(nn.Module):
    """Original Resolution Block: ``num_cab`` CABs and a conv, with a residual around them."""

    def __init__(self, channels: int, kernel_size: int, reduction: int, act: nn.Module, bias: bool, num_cab: int) -> None:
        super().__init__()
        # The trailing conv has no bias even when ``bias`` is set, as in the released code.
        self.body = nn.Sequential(
            *cab_stack(num_cab, channels, kernel_size, reduction, bias, act), conv(channels, channels, kernel_size)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class ORSNet(nn.Module):
    """Three ORBs; after each, stage-2 encoder and decoder features of one U-Net level are
    upsampled to full resolution and added (the CSFF from stage 2 into stage 3)."""

    def __init__(
        self,
        n_feat: int,
        scale_orsnetfeats: int,
        kernel_size: int,
        reduction: int,
        act: nn.Module,
        bias: bool,
        scale_unetfeats: int,
        num_cab: int,
    ) -> None:
        super().__init__()
        width = n_feat + scale_orsnetfeats
        self.orb1 = ORB(width, kernel_size, reduction, act, bias, num_cab)
        self.orb2 = ORB(width, kernel_size, reduction, act, bias, num_cab)
        self.orb3 = ORB(width, kernel_size, reduction, act, bias, num_cab)
        self.up_enc1 = UpSample(n_feat, scale_unetfeats)
        self.up_dec1 = UpSample(n_feat, scale_unetfeats)
        self.up_enc2 = nn.Sequential(UpSample(n_feat + scale_unetfeats, scale_unetfeats), UpSample(n_feat, scale_unetfeats))
        self.up_dec2 = nn.Sequential(UpSample(n_feat + scale_unetfeats, scale_unetfeats), UpSample(n_feat, scale_unetfeats))
        for kind in ("enc", "dec"):
            for level in (1, 2, 3):
                setattr(self, f"conv_{kind}{level}", nn.Conv2d(n_feat, width, 1, bias=bias))

    def forward(self, x: torch.Tensor, enc: Features, dec: Features) -> torch.Tensor:
        x = self.orb1(x)
        x = x + self.conv_enc1(enc[0]) + self.conv_dec1(dec[0])
        x = self.orb2(x)
        x = x + self.conv_enc2(self.up_enc1(enc[1])) + self.conv_dec2(self.up_dec1(dec[1]))
        x = self.orb3(x)
        x = x + self.conv_enc3(self.up_enc2(enc[2])) + self.conv_dec3(self.up_dec2(dec[2]))
        return x
