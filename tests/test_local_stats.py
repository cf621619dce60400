"""Local statistics in the channel attention (TLC): what they compute, where they come from
(the checkpoint, or the engine's ``local_stats``), and that off is the released model exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import TINY, deterministic_model, write_checkpoint
from mprnet_vs.cli import main
from mprnet_vs.engine import Restorer
from mprnet_vs.errors import InputError, PresetError, WeightsError
from mprnet_vs.model import use_local_statistics
from mprnet_vs.model.blocks import ChannelAttention, local_mean
from mprnet_vs.training.trainer import Trainer, export_model, load_config
from mprnet_vs.weights import LOCAL_STATS_KEY, load_model


TINY_YAML = Path(__file__).resolve().parent.parent / "presets" / "train" / "tiny.yaml"


def _windows(model) -> set:
    return {m.window for m in model.modules() if isinstance(m, ChannelAttention)}


def test_local_mean_is_the_mean_of_each_pixels_window_and_the_nearest_whole_one_at_borders():
    x = torch.randn(2, 3, 21, 34, dtype=torch.float64)
    rows, cols = 5, 8
    got = local_mean(x, (rows, cols))
    assert got.shape == x.shape
    for y, xx in [(10, 17), (2, 3), (0, 0), (20, 33), (2, 30)]:
        top = min(max(y - (rows - 1) // 2, 0), x.shape[2] - rows)  # centred, shifted inside the picture
        left = min(max(xx - (cols - 1) // 2, 0), x.shape[3] - cols)
        want = x[:, :, top : top + rows, left : left + cols].mean((2, 3))
        torch.testing.assert_close(got[:, :, y, xx], want)
    # a window larger than the input is the global mean
    torch.testing.assert_close(local_mean(x, (99, 99)), x.mean((2, 3), keepdim=True).expand_as(x))
    # the same as average pooling where the window fits
    torch.testing.assert_close(got[:, :, 2 : 2 + 17, 3 : 3 + 27],
                               F.avg_pool2d(x, (rows, cols), stride=1))


def test_windows_are_one_and_a_half_times_what_each_block_saw_in_training():
    model = use_local_statistics(deterministic_model(TINY, 3), 32)
    # stage 1 quarters of a 32 crop: 16, 8, 4 px at the three U-Net levels; stage 2 halves 16 x 32
    # (and 8 x 16, 4 x 8); stage 3 the whole 32 x 32 crop -- times 1.5
    assert _windows(model) == {(24, 24), (12, 12), (6, 6), (24, 48), (12, 24), (6, 12), (48, 48)}
    assert model.local_stats_patch == 32
    assert _windows(use_local_statistics(model, None)) == {None} and model.local_stats_patch is None
    with pytest.raises(ValueError, match="multiple of 8"):
        use_local_statistics(model, 20)


def test_off_or_on_a_crop_no_larger_than_training_it_is_the_released_model_exactly(tiny_model):
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        released = tiny_model(x)
        local = use_local_statistics(deterministic_model(TINY, 7), 32)(x)
    assert torch.equal(released, local)


def test_with_local_statistics_far_away_content_no_longer_changes_a_region(tiny_model):
    """Global pooling lets every pixel of the frame move every gate; local windows keep the
    restoration of a region to its surroundings (here: the first 48 columns of a 640-wide frame
    while the last 96 change)."""
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.random((1, 3, 48, 640), dtype=np.float32))
    b = a.clone()
    b[..., -96:] = torch.from_numpy(rng.random((1, 3, 48, 96), dtype=np.float32))
    local = use_local_statistics(deterministic_model(TINY, 7), 16)
    with torch.no_grad():
        assert not torch.equal(tiny_model(a)[..., :48], tiny_model(b)[..., :48])
        assert torch.equal(local(a)[..., :48], local(b)[..., :48])


def test_a_checkpoint_records_its_setting_and_the_engine_follows_or_overrides_it(tmp_path):
    plain = write_checkpoint(tmp_path / "plain.pth")
    marked = export_model(plain, tmp_path / "marked.pth", half=False, local_stats=16)
    assert torch.load(marked, weights_only=True)[LOCAL_STATS_KEY] == 16
    assert load_model(marked).local_stats_patch == 16 and load_model(plain).local_stats_patch is None

    frame = (np.random.default_rng(1).random((48, 200, 3)) * 255).astype(np.uint8)
    out = {name: Restorer("deblur", weights=path, device="cpu", tile=0).restore(frame)
           for name, path in (("plain", plain), ("marked", marked))}
    assert not np.array_equal(out["plain"], out["marked"])
    # the engine's setting wins over the checkpoint's; each setting is its own cached model
    off = Restorer("deblur", weights=marked, device="cpu", tile=0, local_stats=0)
    on = Restorer("deblur", weights=plain, device="cpu", tile=0, local_stats=16)
    assert np.array_equal(off.restore(frame), out["plain"]) and np.array_equal(on.restore(frame), out["marked"])
    assert "local_stats=16" in repr(on) and "local_stats=0" in repr(off)
    assert Restorer("deblur", weights=marked, device="cpu", tile=0).model.local_stats_patch == 16


@pytest.mark.parametrize("value", [7, -8, True, "16"])
def test_a_bad_setting_is_named(value, tmp_path, tiny_weights):
    with pytest.raises(PresetError, match="local_stats"):
        Restorer("deblur", weights=tiny_weights, device="cpu", local_stats=value)
    raw = torch.load(tiny_weights, weights_only=True)
    raw[LOCAL_STATS_KEY] = value
    torch.save(raw, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match=rf"bad.pth: '{LOCAL_STATS_KEY}' must be"):
        load_model(tmp_path / "bad.pth")
    with pytest.raises(InputError, match="local_stats must be"):  # refused before any file or folder is made
        export_model(tiny_weights, tmp_path / "out" / "marked.pth", local_stats=value)
    assert not (tmp_path / "out").exists()


def test_command_line_option(tmp_path, tiny_weights, capsys):
    clean = tmp_path / "clean"
    clean.mkdir()
    from mprnet_vs.training.data import write_rgb

    write_rgb(clean / "a.png", (np.random.default_rng(2).random((48, 160, 3)) * 255).astype(np.uint8))
    base = ["evaluate", "--task", "deblur", "--weights", str(tiny_weights), "--clean", str(clean),
            "--degrade", "blur", "--device", "cpu", "--json"]
    assert main(base) == 0
    off = capsys.readouterr().out
    assert main(base + ["--local-stats", "16"]) == 0
    on = capsys.readouterr().out
    assert off != on  # the restored image, so its scores, changed
    assert main(base + ["--local-stats", "-8"]) == 2
    assert "--local-stats: local_stats must be a multiple of 8 from 16 to 1024" in capsys.readouterr().err


def test_training_from_a_marked_checkpoint_uses_global_pooling(tmp_path):
    """Training crops are what the windows are sized for: training keeps the released pooling."""
    from mprnet_vs.training.data import write_rgb

    photos = tmp_path / "photos"
    photos.mkdir()
    write_rgb(photos / "a.png", (np.random.default_rng(3).random((80, 96, 3)) * 255).astype(np.uint8))
    marked = export_model(write_checkpoint(tmp_path / "plain.pth"), tmp_path / "marked.pth", half=False, local_stats=16)
    config = load_config(TINY_YAML, clean=photos, output=tmp_path / "run", init=marked)
    trainer = Trainer(config, log=open("/dev/null", "w"))
    assert trainer.model.local_stats_patch is None and _windows(trainer.model) == {None}
