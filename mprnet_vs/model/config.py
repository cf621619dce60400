"""Recover an :class:`MPRNetConfig` from a state dict's tensor shapes.

Fine-tuned or smaller variants carry no config of their own; every width we need can be read
off a weight shape, so any MPRNet checkpoint loads without the user naming its config.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from .mprnet import MPRNetConfig

_CA_REDUCE = re.compile(r"\.CA\.conv_du\.0\.weight$")
_ORB1_BLOCK = re.compile(r"^stage3_orsnet\.orb1\.body\.(\d+)\.")


def _shape(state: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    if key not in state:
        raise KeyError(f"missing tensor {key!r}")
    return tuple(state[key].shape)


def _infer_reduction(state: Mapping[str, torch.Tensor]) -> int:
    """The one ``reduction`` for which every channel-attention bottleneck has the stored width."""
    pairs = [(shape[1], shape[0]) for key, t in state.items() if _CA_REDUCE.search(key) for shape in [tuple(t.shape)]]
    if not pairs:
        raise KeyError("no channel-attention weights (*.CA.conv_du.0.weight)")
    widest = max(channels for channels, _ in pairs)
    for reduction in range(1, widest + 1):
        if all(reduced > 0 and channels // reduction == reduced for channels, reduced in pairs):
            return reduction
    raise ValueError("channel-attention widths fit no single reduction factor")


def config_from_state_dict(state: Mapping[str, torch.Tensor]) -> MPRNetConfig:
    """Read the architecture off the weights. Raises ``KeyError``/``ValueError`` when the
    tensors are not an MPRNet's."""
    n_feat, in_c, kernel_size, _ = _shape(state, "shallow_feat1.0.weight")
    out_c = _shape(state, "tail.weight")[0]
    scale_unetfeats = _shape(state, "stage1_encoder.down12.down.1.weight")[0] - n_feat
    scale_orsnetfeats = _shape(state, "concat23.weight")[0] - n_feat
    blocks = {int(m.group(1)) for key in state for m in [_ORB1_BLOCK.match(key)] if m}
    if not blocks:
        raise KeyError("missing tensors of stage3_orsnet.orb1")
    num_cab = max(blocks)  # the CABs are body.0 .. body.{num_cab-1}; the last entry is a conv
    if scale_unetfeats < 0 or scale_orsnetfeats < 0:
        raise ValueError("feature widths shrink across U-Net levels or into ORSNet")
    return MPRNetConfig(
        in_c=in_c,
        out_c=out_c,
        n_feat=n_feat,
        scale_unetfeats=scale_unetfeats,
        scale_orsnetfeats=scale_orsnetfeats,
        num_cab=num_cab,
        kernel_size=kernel_size,
        reduction=_infer_reduction(state),
        bias="shallow_feat1.0.bias" in state,
    )
