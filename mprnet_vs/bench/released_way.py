"""MPRNet run the way the released code runs it: each quarter and half through the shared
sub-networks one after another, batch 1. Same weights, same arithmetic per patch as
:meth:`MPRNet.forward_stages`; it exists only so the benchmark can compare the two schedules."""

from __future__ import annotations

import torch

from ..model import MPRNet
from ..model.unet import Features


def _side_by_side(left: Features, right: Features, dim: int) -> Features:
    return [torch.cat(pair, dim) for pair in zip(left, right)]


@torch.inference_mode()
def forward_released_way(model: MPRNet, x: torch.Tensor, stages: int = 3) -> torch.Tensor:
    """The image of stage ``stages`` for each image of ``x``, computed patch by patch."""
    model.check_input(x)
    return torch.cat([_one_image(model, x[i : i + 1], stages) for i in range(x.shape[0])])


def _one_image(model: MPRNet, x: torch.Tensor, stages: int) -> torch.Tensor:
    h, w = x.shape[2] // 2, x.shape[3] // 2
    halves = [x[:, :, :h], x[:, :, h:]]
    quarters = [[half[..., :w], half[..., w:]] for half in halves]

    enc1, dec1, sam_feats, images = [], [], [], []
    for half, (left, right) in zip(halves, quarters):
        enc_left = model.stage1_encoder(model.shallow_feat1(left))
        enc_right = model.stage1_encoder(model.shallow_feat1(right))
        enc = _side_by_side(enc_left, enc_right, 3)
        dec = model.stage1_decoder(enc)
        feats, image = model.sam12(dec[0], half)
        enc1.append(enc)
        dec1.append(dec)
        sam_feats.append(feats)
        images.append(image)
    if stages == 1:
        return torch.cat(images, 2)

    enc2_halves = []
    for half, feats, enc, dec in zip(halves, sam_feats, enc1, dec1):
        x2 = model.concat12(torch.cat([model.shallow_feat2(half), feats], 1))
        enc2_halves.append(model.stage2_encoder(x2, enc, dec))
    enc2 = _side_by_side(enc2_halves[0], enc2_halves[1], 2)
    dec2 = model.stage2_decoder(enc2)
    feats, stage2_img = model.sam23(dec2[0], x)
    if stages == 2:
        return stage2_img

    x3 = model.concat23(torch.cat([model.shallow_feat3(x), feats], 1))
    return model.tail(model.stage3_orsnet(x3, enc2, dec2)) + x
