"""Growing a trained MPRNet into a larger config: same function at first, and every new weight trainable."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mprnet_vs.errors import InputError
from mprnet_vs.model import MPRNet, MPRNetConfig
from mprnet_vs.training.grow import grow_checkpoint, grow_model
from mprnet_vs.training.losses import MPRNetLoss
from mprnet_vs.weights import load_model

SMALL = MPRNetConfig(n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1)


def _trained_like(config: MPRNetConfig, seed: int = 1) -> MPRNet:
    """A small model whose weights are far from their initialisation (as a trained one's are)."""
    torch.manual_seed(seed)
    model = MPRNet.from_config(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return model


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("growth", [
    {"scale_unetfeats": 8}, {"scale_orsnetfeats": 12}, {"num_cab": 3}, {"n_feat": 12},
    {"n_feat": 12, "scale_unetfeats": 6, "scale_orsnetfeats": 8, "num_cab": 2},
])
def test_grown_model_computes_the_same_images(growth: dict, bias: bool) -> None:
    small = _trained_like(MPRNetConfig(**{**SMALL.as_dict(), "bias": bias}))
    grown = grow_model(small, MPRNetConfig(**{**small.config.as_dict(), **growth}))
    assert sum(p.numel() for p in grown.parameters()) > sum(p.numel() for p in small.parameters())
    x = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        for want, got in zip(small.forward_stages(x), grown.forward_stages(x)):
            assert torch.allclose(want, got, atol=1e-5), (want - got).abs().max()


def test_every_new_weight_learns() -> None:
    """Zero-initialised weights are not a dead end: after two Adam steps they have moved (all but
    the few feeding a ReLU that is off for this input) and the added CABs are no longer the identity."""
    small = _trained_like(SMALL)
    grown = grow_model(small, MPRNetConfig(n_feat=12, scale_unetfeats=6, scale_orsnetfeats=8, num_cab=2))
    before = {k: v.clone() for k, v in grown.state_dict().items()}
    zeros = sum(int((v == 0).sum()) for v in before.values())
    assert zeros > 1000
    optimizer = torch.optim.Adam(grown.parameters(), lr=1e-3)
    torch.manual_seed(0)
    clean = torch.rand(2, 3, 32, 32)
    for _ in range(2):  # a zero last conv gets its gradient at once, the conv before it one step later
        optimizer.zero_grad()
        MPRNetLoss()(grown.forward_stages(clean + 0.1 * torch.randn_like(clean)), clean).backward()
        optimizer.step()
    after = grown.state_dict()
    still_zero = sum(int(((before[k] == 0) & (after[k] == 0)).sum()) for k in before)
    assert still_zero < 0.02 * zeros
    for orb in (1, 2, 3):
        assert after[f"stage3_orsnet.orb{orb}.body.1.body.2.weight"].abs().sum() > 0


def test_growth_only_widens_and_deepens() -> None:
    small = _trained_like(SMALL)
    with pytest.raises(InputError, match="cannot grow n_feat from 8 to 4"):
        grow_model(small, MPRNetConfig(**{**SMALL.as_dict(), "n_feat": 4}))
    with pytest.raises(InputError, match="cannot change kernel_size"):
        grow_model(small, MPRNetConfig(**{**SMALL.as_dict(), "kernel_size": 5}))


def test_grown_checkpoint_loads_with_its_new_config(tmp_path: Path) -> None:
    source = tmp_path / "small.pth"
    small = _trained_like(SMALL)
    torch.save({"state_dict": small.state_dict(), "epoch": 3}, source)
    dest = grow_checkpoint(source, tmp_path / "grown" / "big.pth", scale_unetfeats=10, num_cab=2)
    grown = load_model(dest)
    assert grown.config == MPRNetConfig(**{**SMALL.as_dict(), "scale_unetfeats": 10, "num_cab": 2})
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(small(x), grown(x), atol=1e-5)
    with pytest.raises(InputError, match="cannot grow reduction"):
        grow_checkpoint(source, tmp_path / "x.pth", reduction=2)
    assert not (tmp_path / "x.pth").exists()
