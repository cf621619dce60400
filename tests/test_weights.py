"""Checkpoint loading: every layout users have, and every way a file can be wrong."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

import mprnet_vs
from conftest import TINY, deterministic_model, write_checkpoint
from mprnet_vs import WeightsError, load_model, weights
from mprnet_vs.model import MPRNet, MPRNetConfig


def _same_output(model: MPRNet, reference: MPRNet) -> None:
    x = torch.rand(1, 3, 16, 24)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)


def test_published_layout(tmp_path):
    path = write_checkpoint(tmp_path / "model_deraining.pth", seed=3)
    model = load_model(path)
    assert not model.training
    assert model.config == TINY
    _same_output(model, deterministic_model(seed=3))


def test_bare_state_dict_and_str_path(tmp_path):
    path = tmp_path / "bare.pth"
    torch.save(deterministic_model(seed=4).state_dict(), path)
    _same_output(load_model(str(path)), deterministic_model(seed=4))


def test_dataparallel_prefix(tmp_path):
    state = {f"module.{k}": v for k, v in deterministic_model(seed=5).state_dict().items()}
    path = tmp_path / "dp.pth"
    torch.save({"state_dict": state, "epoch": 3000, "optimizer": {"state": {}, "param_groups": []}}, path)
    _same_output(load_model(path), deterministic_model(seed=5))


def test_in_memory_mapping():
    state = deterministic_model(seed=6).state_dict()
    _same_output(load_model({"state_dict": state}), deterministic_model(seed=6))
    _same_output(load_model(state), deterministic_model(seed=6))


def test_device_and_dtype(tmp_path):
    model = load_model(write_checkpoint(tmp_path / "w.pth"), device="cpu", dtype=torch.bfloat16)
    assert next(model.parameters()).dtype == torch.bfloat16


def test_other_config_is_inferred(tmp_path):
    config = MPRNetConfig(n_feat=20, scale_unetfeats=10, scale_orsnetfeats=6, num_cab=3, reduction=5, bias=True)
    path = write_checkpoint(tmp_path / "custom.pth", config=config, seed=9)
    assert load_model(path).config == config


class _RunsCode:
    marker: Path

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_running_pickle_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    payload = _RunsCode()
    payload.marker = marker
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": deterministic_model().state_dict(), "extra": payload}, path)
    with pytest.raises(WeightsError, match=r"evil\.pth: refused, loading it would execute code \(.*GLOBAL"):
        load_model(path)
    assert not marker.exists()


def test_plain_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned2"
    payload = _RunsCode()
    payload.marker = marker
    path = tmp_path / "evil2.pth"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(WeightsError, match="evil2.pth"):
        load_model(path)
    assert not marker.exists()


def test_truncated_file(tmp_path):
    whole = write_checkpoint(tmp_path / "whole.pth").read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(WeightsError, match="cut.pth"):
        load_model(path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all\n", b"this is not a checkpoint", os.urandom(4096)])
def test_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "junk.pth"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match="junk.pth"):
        load_model(path)


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="nope.pth.*no such"):
        load_model(tmp_path / "nope.pth")


def test_other_architecture(tmp_path):
    path = tmp_path / "resnetish.pth"
    torch.save({"state_dict": torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Linear(8, 2)).state_dict()}, path)
    with pytest.raises(WeightsError, match="resnetish.pth.*not an MPRNet"):
        load_model(path)


def test_mprnet_with_a_tensor_missing(tmp_path):
    state = deterministic_model().state_dict()
    del state["stage2_encoder.csff_enc1.weight"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match="partial.pth.*missing: stage2_encoder.csff_enc1.weight"):
        load_model(path)


def test_non_tensor_entries(tmp_path):
    path = tmp_path / "dict.pth"
    torch.save({"state_dict": {"a": 1}}, path)
    with pytest.raises(WeightsError, match="dict.pth.*not a named tensor"):
        load_model(path)


def test_loading_never_modifies_the_file(tmp_path):
    path = write_checkpoint(tmp_path / "w.pth")
    before = path.read_bytes()
    load_model(path)
    assert path.read_bytes() == before


def test_published_checkpoints_found_by_task(tmp_path, monkeypatch):
    monkeypatch.setenv("MPRNET_VS_WEIGHTS", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.find_published("deblur") is None
    with pytest.raises(WeightsError) as err:
        weights.published_path("deblur")
    message = str(err.value)
    assert "model_deblurring.pth" in message and str(tmp_path / "env") in message
    assert str(tmp_path / "xdg" / "mprnet-vs") in message and "github.com/swz30/MPRNet" in message

    (tmp_path / "xdg" / "mprnet-vs").mkdir(parents=True)
    cached = write_checkpoint(tmp_path / "xdg" / "mprnet-vs" / "model_deblurring.pth")
    assert weights.find_published("deblur") == cached
    (tmp_path / "env").mkdir()
    preferred = write_checkpoint(tmp_path / "env" / "model_deblurring.pth")
    assert weights.published_path("deblur") == preferred


def test_default_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert weights.cache_dir() == tmp_path / ".cache" / "mprnet-vs"


def test_unknown_task():
    with pytest.raises(WeightsError, match="unknown task 'dehaze'"):
        weights.find_published("dehaze")


def test_package_exports():
    for name in ("load_model", "WeightsError", "PresetError", "MprnetError", "__version__"):
        assert hasattr(mprnet_vs, name)
