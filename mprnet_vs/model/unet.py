"""The encoder-decoder of stages 1 and 2, with cross-stage feature fusion (CSFF)."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import CAB, DownSample, UpSample, cab_stack

Features = list[torch.Tensor]  # one tensor per U-Net level, finest first


class Encoder(nn.Module):
    """Three levels of two CABs each, widening by ``scale_unetfeats`` channels per level.

    With ``csff`` the stage-2 encoder adds 1x1-projected encoder and decoder features of the
    previous stage at every level (paper Sec. 3.3, Fig. 2).
    """

    def __init__(
        self, n_feat: int, kernel_size: int, reduction: int, act: nn.Module, bias: bool, scale_unetfeats: int, csff: bool
    ) -> None:
        super().__init__()
        widths = [n_feat + level * scale_unetfeats for level in range(3)]
        self.encoder_level1 = nn.Sequential(*cab_stack(2, widths[0], kernel_size, reduction, bias, act))
        self.encoder_level2 = nn.Sequential(*cab_stack(2, widths[1], kernel_size, reduction, bias, act))
        self.encoder_level3 = nn.Sequential(*cab_stack(2, widths[2], kernel_size, reduction, bias, act))
        self.down12 = DownSample(widths[0], scale_unetfeats)
        self.down23 = DownSample(widths[1], scale_unetfeats)
        self.csff = csff
        if csff:
            for kind in ("enc", "dec"):
                for level, width in enumerate(widths, start=1):
                    setattr(self, f"csff_{kind}{level}", nn.Conv2d(width, width, 1, bias=bias))

    def _fuse(self, level: int, x: torch.Tensor, prev_enc: Features | None, prev_dec: Features | None) -> torch.Tensor:
        if prev_enc is None or prev_dec is None:
            return x
        enc_proj = getattr(self, f"csff_enc{level}")
        dec_proj = getattr(self, f"csff_dec{level}")
        return x + enc_proj(prev_enc[level - 1]) + dec_proj(prev_dec[level - 1])

    def forward(self, x: torch.Tensor, prev_enc: Features | None = None, prev_dec: Features | None = None) -> Features:
        enc1 = self._fuse(1, self.encoder_level1(x), prev_enc, prev_dec)
        enc2 = self._fuse(2, self.encoder_level2(self.down12(enc1)), prev_enc, prev_dec)
        enc3 = self._fuse(3, self.encoder_level3(self.down23(enc2)), prev_enc, prev_dec)
        return [enc1, enc2, enc3]


class Decoder(nn.Module):
    """Mirror of the encoder; skip connections pass through a CAB before being added."""

    def __init__(self, n_feat: int, kernel_size: int, reduction: int, act: nn.Module, bias: bool, scale_unetfeats: int) -> None:
        super().__init__()
        widths = [n_feat + level * scale_unetfeats for level in range(3)]
        self.decoder_level1 = nn.Sequential(*cab_stack(2, widths[0], kernel_size, reduction, bias, act))
        self.decoder_level2 = nn.Sequential(*cab_stack(2, widths[1], kernel_size, reduction, bias, act))
        self.decoder_level3 = nn.Sequential(*cab_stack(2, widths[2], kernel_size, reduction, bias, act))
        self.skip_attn1 = CAB(widths[0], kernel_size, reduction, bias, act)
        self.skip_attn2 = CAB(widths[1], kernel_size, reduction, bias, act)
        self.up21 = UpSample(widths[0], scale_unetfeats)
        self.up32 = UpSample(widths[1], scale_unetfeats)

    def forward(self, enc: Features) -> Features:
        enc1, enc2, enc3 = enc
        dec3 = self.decoder_level3(enc3)
        dec2 = self.decoder_level2(self.up32(dec3, self.skip_attn2(enc2)))
        dec1 = self.decoder_level1(self.up21(dec2, self.skip_attn1(enc1)))
        return [dec1, dec2, dec3]
