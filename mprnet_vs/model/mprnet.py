"""MPRNet: Multi-Stage Progressive Image Restoration (Zamir et al., CVPR 2021).

Stage 1 runs a U-Net on the four quarters of the image, stage 2 on its two halves, stage 3
(ORSNet) on the whole image at full resolution. Between stages a SAM hands over gated features
and a supervised intermediate image; CSFF carries U-Net features forward.

Where the released code loops over patches one after another, we stack them along the batch
dimension and run each shared sub-network once: the same arithmetic per patch, fewer and larger
kernel launches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .blocks import CAB, SAM, conv
from .orsnet import ORSNet
from .unet import Decoder, Encoder, Features

STAGE_CHOICES = (1, 2, 3)
SIZE_MULTIPLE = 8  # quarters are downsampled twice inside the U-Net


@dataclass(frozen=True)
class MPRNetConfig:
    """Constructor arguments of :class:`MPRNet`; the published models differ only in widths."""

    in_c: int = 3
    out_c: int = 3
    n_feat: int = 40
    scale_unetfeats: int = 20
    scale_orsnetfeats: int = 16
    num_cab: int = 8
    kernel_size: int = 3
    reduction: int = 4
    bias: bool = False

    def as_dict(self) -> dict:
        return asdict(self)



def _split_join(features: Features, parts: int, dim: int) -> Features:
    """Undo a batch stack: split each tensor into ``parts`` along the batch and concatenate them
    spatially along ``dim`` (3 = side by side, 2 = one above the other)."""
    return [torch.cat(f.chunk(parts, 0), dim) for f in features]


class MPRNet(nn.Module):
    def __init__(
        self,
        in_c: int = 3,
        out_c: int = 3,
        n_feat: int = 40,
        scale_unetfeats: int = 20,
        scale_orsnetfeats: int = 16,
        num_cab: int = 8,
        kernel_size: int = 3,
        reduction: int = 4,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.config = MPRNetConfig(
            in_c, out_c, n_feat, scale_unetfeats, scale_orsnetfeats, num_cab, kernel_size, reduction, bias
        )
        # Set by model.local_stats.use_local_statistics: the training crop the channel attention
        # windows are sized for, or None (global pooling, the released model).
        self.local_stats_patch: int | None = None
        # One PReLU serves every block, as in the released code: its slope appears under many keys.
        act = nn.PReLU()
        self.shallow_feat1 = nn.Sequential(conv(in_c, n_feat, kernel_size, bias), CAB(n_feat, kernel_size, reduction, bias, act))
        self.shallow_feat2 = nn.Sequential(conv(in_c, n_feat, kernel_size, bias), CAB(n_feat, kernel_size, reduction, bias, act))
        self.shallow_feat3 = nn.Sequential(conv(in_c, n_feat, kernel_size, bias), CAB(n_feat, kernel_size, reduction, bias, act))
        self.stage1_encoder = Encoder(n_feat, kernel_size, reduction, act, bias, scale_unetfeats, csff=False)
        self.stage1_decoder = Decoder(n_feat, kernel_size, reduction, act, bias, scale_unetfeats)
        self.stage2_encoder = Encoder(n_feat, kernel_size, reduction, act, bias, scale_unetfeats, csff=True)
        self.stage2_decoder = Decoder(n_feat, kernel_size, reduction, act, bias, scale_unetfeats)
        self.stage3_orsnet = ORSNet(n_feat, scale_orsnetfeats, kernel_size, reduction, act, bias, scale_unetfeats, num_cab)
        self.sam12 = SAM(n_feat, kernel_size=1, bias=bias)
        self.sam23 = SAM(n_feat, kernel_size=1, bias=bias)
        self.concat12 = conv(n_feat * 2, n_feat, kernel_size, bias)
        self.concat23 = conv(n_feat * 2, n_feat + scale_orsnetfeats, kernel_size, bias)
        self.tail = conv(n_feat + scale_orsnetfeats, out_c, kernel_size, bias)

    @classmethod
    def from_config(cls, config: MPRNetConfig) -> MPRNet:
        return cls(**config.as_dict())

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is B x in_c x H x W with H, W multiples of 8."""
        shape = tuple(x.shape)
        if x.ndim != 4 or shape[1] != self.config.in_c:
            raise ValueError(f"MPRNet expects a B x {self.config.in_c} x H x W tensor, got shape {shape}")
        if shape[2] % SIZE_MULTIPLE or shape[3] % SIZE_MULTIPLE or shape[2] == 0 or shape[3] == 0:
            raise ValueError(
                f"MPRNet needs H and W to be positive multiples of {SIZE_MULTIPLE}, got shape {shape} "
                "(pad the image first; the engine does this for you)"
            )

    def forward(self, x: torch.Tensor, stages: int = 3) -> torch.Tensor:
        """The restored image of stage ``stages`` (3 = final output), unclamped."""
        return self.forward_stages(x, stages)[-1]

    def forward_stages(self, x: torch.Tensor, stages: int = 3) -> list[torch.Tensor]:
        """The images of stages 1..``stages``, in order; later stages are never computed."""
        if stages not in STAGE_CHOICES:
            raise ValueError(f"stages must be one of {STAGE_CHOICES}, got {stages!r}")
        self.check_input(x)
        h, w = x.shape[2] // 2, x.shape[3] // 2
        top, bottom = x[:, :, :h], x[:, :, h:]
        halves = torch.cat([top, bottom], 0)  # 2B: top halves, then bottom halves

        # Stage 1: the four quarters in one batch, ordered (left-top, left-bottom, right-top,
        # right-bottom), so that splitting the batch in two gives left and right columns.
        quarters = torch.cat([halves[..., :w], halves[..., w:]], 0)
        enc1 = self.stage1_encoder(self.shallow_feat1(quarters))
        enc1 = _split_join(enc1, 2, dim=3)  # quarters -> halves (2B)
        dec1 = self.stage1_decoder(enc1)
        sam_feats, stage1_halves = self.sam12(dec1[0], halves)
        outputs = [torch.cat(stage1_halves.chunk(2, 0), 2)]
        if stages == 1:
            return outputs

        # Stage 2: both halves in one batch, fused with stage-1 features (CSFF).
        x2 = self.concat12(torch.cat([self.shallow_feat2(halves), sam_feats], 1))
        enc2 = _split_join(self.stage2_encoder(x2, enc1, dec1), 2, dim=2)  # halves -> whole (B)
        dec2 = self.stage2_decoder(enc2)
        sam_feats, stage2_img = self.sam23(dec2[0], x)
        outputs.append(stage2_img)
        if stages == 2:
            return outputs

        # Stage 3: ORSNet at full resolution, fused with stage-2 features.
        x3 = self.concat23(torch.cat([self.shallow_feat3(x), sam_feats], 1))
        x3 = self.stage3_orsnet(x3, enc2, dec2)
        outputs.append(self.tail(x3) + x)
        return outputs
