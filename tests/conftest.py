"""Shared fixtures: deterministic checkpoints written the way users have them (published layout)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

# vs-mlrt's ov plugin carries its own OpenVINO runtime: once the VapourSynth core has loaded it,
# the openvino package refuses to import (version mismatch). Importing it first, as a user's
# script would have to, lets the backend tests and the vs-mlrt tests run in one process.
try:
    import openvino  # noqa: F401
except ImportError:
    pass

from mprnet_vs.model import MPRNet, MPRNetConfig
from weight_rule import state_dict_for

DATA = Path(__file__).parent / "data"
TINY = MPRNetConfig(n_feat=16, scale_unetfeats=8, scale_orsnetfeats=8, num_cab=2)


def golden(name: str) -> dict:
    z = np.load(DATA / f"golden_{name}.npz")
    return {
        "config": MPRNetConfig(**json.loads(str(z["config"]))),
        "weight_seed": int(z["weight_seed"]),
        "input": z["input"],
        "stages": [z["stage1"], z["stage2"], z["stage3"]],
    }


def deterministic_model(config: MPRNetConfig = TINY, seed: int = 7) -> MPRNet:
    model = MPRNet.from_config(config)
    model.load_state_dict(state_dict_for(model, seed))
    return model.eval()


def write_checkpoint(path: Path, config: MPRNetConfig = TINY, seed: int = 7) -> Path:
    """A checkpoint in the published layout ({"state_dict", "epoch", "optimizer"})."""
    model = deterministic_model(config, seed)
    torch.save({"state_dict": model.state_dict(), "epoch": 1, "optimizer": {}}, path)
    return path


def unwritable_folder(tmp: Path) -> Path:
    """A folder no file can be created in: read-only by mode, or, for root (whom modes do not
    stop), sysfs, where no regular file can ever be created."""
    if os.geteuid() != 0:
        folder = tmp / "locked"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    return Path("/sys")


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """Path of a tiny deterministic MPRNet checkpoint (fast on a CPU)."""
    return write_checkpoint(tmp_path_factory.mktemp("weights") / "tiny.pth")


@pytest.fixture(scope="session")
def tiny_model() -> MPRNet:
    return deterministic_model()


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Test inputs are tiny: one torch thread avoids thread hand-off costs that dominate them
    (and keeps a shared 2-core machine responsive)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
