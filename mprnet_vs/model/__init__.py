"""The MPRNet architecture, named as in the paper (CAB, SAM, ORSNet, CSFF)."""

from .blocks import CAB, SAM
from .config import config_from_state_dict
from .local_stats import use_local_statistics
from .mprnet import SIZE_MULTIPLE, STAGE_CHOICES, MPRNet, MPRNetConfig
from .orsnet import ORB, ORSNet
from .unet import Decoder, Encoder

__all__ = [
    "CAB",
    "SAM",
    "ORB",
    "ORSNet",
    "Encoder",
    "Decoder",
    "MPRNet",
    "MPRNetConfig",
    "SIZE_MULTIPLE",
    "STAGE_CHOICES",
    "config_from_state_dict",
    "use_local_statistics",
]
