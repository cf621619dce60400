"""The geometric self-ensemble (``ensemble`` 1/2/4/8): the mean of the restorations of a frame's
mirror images, through the whole engine, every backend and every front end; and that it pays:
the shipped denoiser with ``ensemble=4`` is closer to the clean photo than without."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

import mprnet_vs
from mprnet_vs.cli import main
from mprnet_vs.degrade import add_noise
from mprnet_vs.engine import Restorer
from mprnet_vs.engine.ensemble import ENSEMBLE_SIZES, transform, untransform
from mprnet_vs.engine.options import ENSEMBLE
from mprnet_vs.errors import PresetError
from mprnet_vs.photo.restore import read_rgb
from mprnet_vs.training.metrics import psnr

ASSETS = Path(mprnet_vs.__file__).parent / "assets"


def frames(batch: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


def by_hand(restorer: Restorer, x: torch.Tensor, size: int) -> torch.Tensor:
    """The definition: restore each mirrored copy alone, mirror it back, average, clamp."""
    copies = [restorer.restore_tensor(x)]
    for copy in range(1, size):
        copies.append(untransform(restorer.restore_tensor(transform(x, copy).contiguous()), copy))
    return torch.stack(copies).mean(0).clamp(0, 1)


def test_sizes_agree_and_every_copy_is_undone():
    assert ENSEMBLE == ENSEMBLE_SIZES
    x = frames(2, 5, 7)
    seen = set()
    for copy in range(8):
        moved = transform(x, copy)
        assert moved.shape[-2:] == ((7, 5) if copy & 4 else (5, 7))
        torch.testing.assert_close(untransform(moved, copy), x, rtol=0, atol=0)
        seen.add(moved.numpy().tobytes())
    assert len(seen) == 8  # eight different images of a random frame


@pytest.mark.parametrize(("size", "height", "width", "tile"), [(2, 40, 56, 0), (4, 37, 53, 0), (8, 45, 70, 32)])
def test_ensemble_is_the_mean_of_the_mirrored_restorations(tiny_weights: Path, size, height, width, tile):
    """Odd sizes (padding) and tiles with overlaps: each copy goes through the whole engine."""
    plain = Restorer(weights=tiny_weights, device="cpu", tile=tile, overlap=8, batch=3)
    ensembled = Restorer(weights=tiny_weights, device="cpu", tile=tile, overlap=8, batch=3, ensemble=size)
    x = frames(2, height, width, seed=size)
    out = ensembled.restore_tensor(x)
    torch.testing.assert_close(out, by_hand(plain, x, size), rtol=0, atol=2e-6)
    assert (out - plain.restore_tensor(x)).abs().max() > 1e-4  # a random network is no mirror-symmetric one
    assert ensembled.ensemble == size and f"ensemble={size}" in repr(ensembled)


def test_ensemble_one_is_the_plain_engine_bit_for_bit(tiny_weights: Path):
    x = frames(1, 40, 48, seed=3)
    plain = Restorer(weights=tiny_weights, device="cpu").restore_tensor(x)
    assert torch.equal(Restorer(weights=tiny_weights, device="cpu", ensemble=1).restore_tensor(x), plain)


def test_onnxruntime_backend_runs_the_same_ensemble(tiny_weights: Path, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    x = frames(1, 37, 45, seed=4)
    ours = Restorer(weights=tiny_weights, device="cpu", ensemble=4).restore_tensor(x)
    ort = Restorer(weights=tiny_weights, device="cpu", ensemble=4, backend="onnxruntime").restore_tensor(x)
    torch.testing.assert_close(ort, ours, rtol=0, atol=1e-4)


def test_a_preset_file_sets_the_ensemble_and_an_argument_overrides_it(tiny_weights: Path, tmp_path: Path):
    preset = tmp_path / "mine.yaml"
    preset.write_text("task: denoise\ndefault: best\nprofiles:\n  best: {stages: 3, ensemble: 8}\n")
    assert Restorer(weights=tiny_weights, device="cpu", preset=str(preset)).ensemble == 8
    assert Restorer(weights=tiny_weights, device="cpu", preset=str(preset), ensemble=2).ensemble == 2
    preset.write_text("task: denoise\ndefault: best\nprofiles:\n  best: {ensemble: 3}\n")
    with pytest.raises(PresetError, match=r"mine.yaml.*ensemble = 3 is not allowed; ensemble must be 1 \(off\), 2, 4 or 8"):
        Restorer(weights=tiny_weights, device="cpu", preset=str(preset))


@pytest.mark.parametrize("bad", [3, 0, 16, True, "4"])
def test_bad_ensemble_values_are_refused_everywhere(tiny_weights: Path, bad, capsys):
    with pytest.raises(PresetError, match="ensemble must be 1 \\(off\\), 2, 4 or 8"):
        Restorer(weights=tiny_weights, device="cpu", ensemble=bad)
    rgb = vs.core.std.BlankClip(width=48, height=32, format=vs.RGBS, length=1)
    with pytest.raises(vs.Error, match=r"^mprnet_vs.denoise: .*ensemble must be 1 \(off\), 2, 4 or 8"):
        mprnet_vs.denoise(rgb, weights=str(tiny_weights), ensemble=bad)


def test_the_command_line_refuses_a_bad_ensemble_in_one_line(tmp_path: Path, capsys):
    photo = ASSETS / "coffee.jpg"
    code = main(["restore", str(photo), "-o", str(tmp_path / "out.png"), "--task", "denoise", "--ensemble", "3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "ensemble" in err[0] and "Traceback" not in err[0]
    assert list(tmp_path.iterdir()) == []


def test_the_filter_with_ensemble_equals_the_restorer(tiny_weights: Path):
    rng = np.random.default_rng(2)
    rgb = rng.random((40, 56, 3), dtype=np.float32)
    clip = vs.core.std.BlankClip(width=56, height=40, format=vs.RGBS, length=1)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for plane in range(3):
            np.asarray(out[plane])[:] = rgb[..., plane]
        return out

    clip = vs.core.std.ModifyFrame(clip, clip, fill)
    frame = mprnet_vs.denoise(clip, weights=str(tiny_weights), ensemble=4).get_frame(0)
    got = np.stack([np.asarray(frame[p]) for p in range(3)], -1)
    want = Restorer(weights=tiny_weights, device="cpu", ensemble=4).restore(rgb)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_the_shipped_denoiser_gains_from_the_ensemble():
    """A real photo with real noise: the mean of four mirrored restorations is closer to the clean
    crop than one restoration (the gain the model card measures over the held-out set)."""
    clean = np.ascontiguousarray(read_rgb(ASSETS / "rocket.jpg")[:160, :160]).astype(np.float32) / 255
    noisy = add_noise(clean, 0, sigma=25)
    single = Restorer("denoise", device="cpu").restore(noisy)
    four = Restorer("denoise", device="cpu", ensemble=4).restore(noisy)
    gain = psnr(four, clean) - psnr(single, clean)
    assert gain > 0.03, gain


def test_evaluate_scores_the_ensemble_it_reports(tiny_weights: Path, tmp_path: Path, capsys):
    """`mprnet-vs evaluate --ensemble 2` restores with two copies (its saved output is the
    Restorer's with ensemble=2 on its saved input) and says so in its report."""
    import json

    from mprnet_vs.training.data import write_rgb

    clean = tmp_path / "clean"
    clean.mkdir()
    write_rgb(clean / "a.png", (np.random.default_rng(5).random((40, 48, 3)) * 255).astype(np.uint8))
    saved = tmp_path / "saved"
    assert main(["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--clean", str(clean),
                 "--degrade", "noise:sigma=25", "--device", "cpu", "--ensemble", "2", "--save", str(saved), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ensemble"] == 2 and report["stages"] == 3
    degraded = read_rgb(saved / "a_degraded.png")
    got = read_rgb(saved / "a_restored.png").astype(int)
    want = Restorer(weights=tiny_weights, device="cpu", ensemble=2).restore(degraded).astype(int)
    one = Restorer(weights=tiny_weights, device="cpu").restore(degraded).astype(int)
    assert np.abs(got - want).max() <= 1 and np.abs(got - one).max() > 1
