"""Growing a trained MPRNet into a larger config that computes the same function (Net2Net-style).

Training a larger network from scratch throws away what a small one learnt (for deblurring, a
curriculum of short blurs first); grown, the larger one starts where the small one stands and
only the new capacity has to learn. Every tensor keeps the old channels first: new output
channels start at the larger model's random initialisation, their inputs into old channels start
at zero, so the old channels never see them until training moves those weights. New CABs in the
ORBs start with a zero last convolution, i.e. as the identity (a CAB is residual).

Widths grow along ``n_feat``, ``scale_unetfeats`` and ``scale_orsnetfeats``; depth along
``num_cab``. The two concatenating convolutions (``concat12``, ``concat23``) take
``[shallow features, SAM features]``, so there the second half of the old columns moves to the
second half of the new ones.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ..errors import InputError
from ..model import MPRNet, MPRNetConfig
from ..weights import load_model
from .trainer import save_checkpoint

GROWABLE = ("n_feat", "scale_unetfeats", "scale_orsnetfeats", "num_cab")
_CONCATS = ("concat12.weight", "concat23.weight")
_ORB_PART = re.compile(r"(stage3_orsnet\.orb\d\.body\.)(\d+)(\..*)")


def _check_growth(old: MPRNetConfig, new: MPRNetConfig) -> None:
    for name, value in old.as_dict().items():
        target = getattr(new, name)
        if name in GROWABLE and target < value:
            raise InputError(f"cannot grow {name} from {value} to {target}: only larger values")
        if name not in GROWABLE and target != value:
            raise InputError(f"cannot change {name} ({value} -> {target}): only {', '.join(GROWABLE)} can grow")


def _new_key(key: str, old: MPRNetConfig, new: MPRNetConfig) -> str:
    """Where an old parameter lives in the grown model: an ORB's trailing conv moves behind the
    added CABs."""
    match = _ORB_PART.fullmatch(key)
    if match and int(match.group(2)) == old.num_cab:
        return f"{match.group(1)}{new.num_cab}{match.group(3)}"
    return key


def _embed(old: torch.Tensor, new: torch.Tensor, key: str, n_old: int, n_new: int) -> torch.Tensor:
    """``new`` with ``old`` in its leading corner; every input column that is new is zero."""
    out = new.clone()
    if old.ndim != 4:
        out[: old.shape[0]] = old
        return out
    rows = old.shape[0]
    if key in _CONCATS:  # inputs are [shallow | SAM features], n_feat each
        kept = torch.cat([torch.arange(n_old), torch.arange(n_new, n_new + n_old)])
    else:
        kept = torch.arange(old.shape[1])
    zero = torch.ones(out.shape[1], dtype=torch.bool)
    zero[kept] = False
    out[:, zero] = 0
    out[:rows, kept] = old
    return out


def grow_model(model: MPRNet, config: MPRNetConfig, seed: int = 0) -> MPRNet:
    """A model of ``config`` (no smaller than ``model``'s in any width) computing ``model``'s
    function; the new weights are drawn with ``seed``."""
    old_config = model.config
    _check_growth(old_config, config)
    torch.manual_seed(seed)
    grown = MPRNet.from_config(config)
    state = {key: value.clone() for key, value in grown.state_dict().items()}
    for key, value in model.state_dict().items():
        target = _new_key(key, old_config, config)
        state[target] = _embed(value.float(), state[target], key, old_config.n_feat, config.n_feat)
    for key in state:  # added CABs start as the identity
        match = re.fullmatch(r"stage3_orsnet\.orb\d\.body\.(\d+)\.body\.2\.(weight|bias)", key)
        if match and old_config.num_cab <= int(match.group(1)) < config.num_cab:
            state[key].zero_()
    # One PReLU is shared by every block and appears under many keys; the last key loaded wins,
    # so every one of them must carry the trained slope.
    slope = model.shallow_feat1[1].body[1].weight.detach().float()
    shared = grown.shallow_feat1[1].body[1].weight
    for key, parameter in grown.named_parameters(remove_duplicate=False):
        if parameter is shared:
            state[key] = slope.clone()
    grown.load_state_dict(state)
    return grown


def grow_checkpoint(source: str | Path, dest: str | Path, seed: int = 0, **widths: int) -> Path:
    """Grow the checkpoint ``source`` by ``widths`` (e.g. ``scale_unetfeats=40``) into ``dest``,
    in the published layout, ready for a training config's ``init``."""
    unknown = set(widths) - set(GROWABLE)
    if unknown:
        raise InputError(f"cannot grow {', '.join(sorted(unknown))}: only {', '.join(GROWABLE)}")
    model = load_model(source)
    config = MPRNetConfig(**{**model.config.as_dict(), **widths})
    grown = grow_model(model, config, seed)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(dest, {"state_dict": grown.state_dict(), "epoch": 0, "optimizer": {}})
    return dest
