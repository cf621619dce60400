"""Training: the released loss, the schedule, the data pipeline, one step, checkpoints and resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mprnet_vs.cli import main
from mprnet_vs.engine import Restorer
from mprnet_vs.errors import InputError, PresetError, WeightsError
from mprnet_vs.model import MPRNetConfig
from mprnet_vs.training.data import PairSource, augment, numbered_batches, write_rgb
from mprnet_vs.training.losses import EdgeLoss, MPRNetLoss, charbonnier
from mprnet_vs.training.trainer import Trainer, average_checkpoints, export_model, learning_rate, load_config
from mprnet_vs.weights import load_model

from conftest import TINY, write_checkpoint

TINY_YAML = Path(__file__).resolve().parent.parent / "presets" / "train" / "tiny.yaml"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """A few small textured RGB images to train on."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:80, 0:96].astype(np.float32)
    for i in range(3):
        img = np.stack([np.sin(xx / (3 + i)) * 0.3 + 0.5, yy / 80, np.cos((xx + yy) / (4 + i)) * 0.3 + 0.5], -1)
        img += rng.normal(0, 0.03, img.shape)
        write_rgb(folder / f"p{i}.png", np.clip(img * 255, 0, 255).astype(np.uint8))
    return folder


def tiny_config(photos: Path, output: Path, **overrides):
    return load_config(TINY_YAML, clean=photos, output=output, **overrides)


def test_charbonnier_matches_hand_computation():
    x, y = torch.tensor([0.0, 0.5, 1.0]), torch.tensor([0.1, 0.5, 0.7])
    expected = np.mean(np.sqrt(np.array([0.1, 0.0, 0.3]) ** 2 + 1e-6))
    assert abs(float(charbonnier(x, y)) - expected) < 1e-6


def test_edge_loss_sees_detail_not_flat_offsets():
    edge = EdgeLoss()
    flat = torch.full((1, 3, 32, 32), 0.3)
    # away from the border (where zero insertion meets replicate padding, as in the released code)
    # a flat image has no band-pass detail
    assert float(edge.laplacian(flat)[..., 4:-4, 4:-4].abs().max()) < 1e-6
    textured = flat.clone()
    textured[..., ::2, :] += 0.2
    assert float(edge(flat, textured)) > 0.05
    assert float(edge(flat, flat + 0.2)) < 0.3 * float(edge(flat, textured))


def test_loss_sums_all_stages():
    target = torch.rand(1, 3, 16, 16)
    outs = [target + 0.1, target + 0.2, target]
    loss = MPRNetLoss()
    one = [float(loss([o], target)) for o in outs]
    assert abs(float(loss(outs, target)) - sum(one)) < 1e-5


def test_schedule_warms_up_then_decays_to_min(photos, tmp_path):
    c = tiny_config(photos, tmp_path, iterations=100, warmup=10, lr=2e-4, min_lr=1e-6)
    lrs = [learning_rate(c, i) for i in range(100)]
    assert lrs[0] == pytest.approx(2e-5) and lrs[9] == pytest.approx(2e-4)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
    assert learning_rate(c, 100) == pytest.approx(1e-6)


def test_eight_augmentations_are_distinct_and_shared_by_the_pair():
    img = np.arange(2 * 2 * 1, dtype=np.float32).reshape(2, 2, 1) + np.zeros((2, 2, 3), np.float32)
    outs = [augment([img, img + 10], m) for m in range(8)]
    assert len({o[0].tobytes() for o in outs}) == 8
    for a, b in outs:
        np.testing.assert_array_equal(a + 10, b)


def test_batches_are_reproducible_and_degraded(photos):
    source = PairSource.from_clean_folder(photos, "noise:sigma=25")
    bad, good = source.batch(seed=1, iteration=5, size=2, patch=32)
    bad2, good2 = source.batch(seed=1, iteration=5, size=2, patch=32)
    assert bad.shape == good.shape == (2, 3, 32, 32)
    assert torch.equal(bad, bad2) and torch.equal(good, good2)
    assert abs(float((bad - good).std()) * 255 - 25) < 4
    assert not torch.equal(source.batch(1, 6, 2, 32)[1], good)


def test_a_scene_recipe_changes_the_targets_and_the_inputs_start_from_them(photos):
    """``scene`` looks belong to the picture: the target carries them and the degraded input is
    made from that target, so the model learns to keep them."""
    plain = PairSource.from_clean_folder(photos, "noise:sigma=10")
    hazy = PairSource.from_clean_folder(photos, "noise:sigma=10", scene="veil:strength=0.3,space=srgb,tint=0")
    bad, good = hazy.batch(seed=2, iteration=0, size=4, patch=32)
    bad0, good0 = plain.batch(seed=2, iteration=0, size=4, patch=32)
    assert float(good.min()) >= 0.3 - 1 / 255 and float(good0.min()) < 0.2  # every target lifted by the veil
    residual = bad - good  # the noise laid over the hazy target (over the clean crop it would be off by the lift)
    assert abs(float(residual.std()) * 255 - 10) < 3 and abs(float(residual.mean())) < 0.01
    assert torch.equal(good, hazy.batch(seed=2, iteration=0, size=4, patch=32)[1])  # seeded
    some = PairSource.from_clean_folder(photos, "noise:sigma=10", scene="veil:strength=0.3,space=srgb,tint=0,chance=0.5")
    lifted = [float(t.min()) >= 0.3 - 1 / 255 for i in range(10) for t in some.batch(3, i, 4, 32)[1]]
    unlifted = [float(t.min()) >= 0.3 - 1 / 255 for i in range(10) for t in plain.batch(3, i, 4, 32)[1]]
    assert 10 <= sum(lifted) <= 30 and sum(unlifted) == 0  # chance: about half the scenes are hazy
    assert some.fitting(32).scene == some.scene  # the crop-size filter keeps the scene recipe
    with pytest.raises(InputError, match="scene recipe needs a degradation recipe"):
        PairSource(clean=plain.clean, degraded=plain.clean, scene="veil")


def test_worker_processes_make_the_same_batches(photos):
    """Batch i depends on (seed, i) alone, so degrading ahead in processes changes nothing."""
    source = PairSource.from_clean_folder(photos, "blur:max_length=9")
    alone = list(numbered_batches(source, 3, 5, 9, 2, 32))
    helped = list(numbered_batches(source, 3, 5, 9, 2, 32, workers=2))
    assert len(alone) == len(helped) == 4
    for (bad, good), (bad2, good2) in zip(alone, helped):
        assert torch.equal(bad, bad2) and torch.equal(good, good2)
    assert torch.equal(alone[0][0], source.batch(3, 5, 2, 32)[0])


def test_images_too_small_for_the_crop_are_left_out(photos):
    source = PairSource.from_clean_folder(photos, "noise:sigma=25", scales=(1.0, 0.5))  # 96x80 and 48x40
    kept = source.fitting(32)  # a 64px crop (32 + two 16px margins): only the full-size copies
    assert len(source.clean) == 6 and len(kept.clean) == 3
    assert all(im.shape[:2] == (80, 96) for im in kept.clean)
    assert kept.batch(0, 0, 2, 32)[0].shape == (2, 3, 32, 32)
    with pytest.raises(InputError, match="no training image is large enough for a 112px crop"):
        source.fitting(80)


def test_paired_folders(photos, tmp_path):
    degraded = tmp_path / "degraded"
    degraded.mkdir()
    for p in photos.iterdir():
        write_rgb(degraded / p.name, np.zeros((80, 96, 3), np.uint8))
    bad, good = PairSource.from_pairs(degraded, photos).batch(0, 0, 2, 32)
    assert float(bad.abs().max()) == 0 and float(good.mean()) > 0.1


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_one_step_lowers_the_loss(photos, tmp_path, precision):
    config = tiny_config(photos, tmp_path, lr=5e-4, warmup=1, precision=precision)
    trainer = Trainer(config, log=open("/dev/null", "w"))
    c = trainer.config
    degraded, clean = trainer.data.batch(c.seed, 0, c.batch, c.patch)
    with torch.no_grad():
        before = float(trainer.loss_fn(trainer.model.forward_stages(degraded, 3), clean))
    trainer.step()
    with torch.no_grad():
        after = float(trainer.loss_fn(trainer.model.forward_stages(degraded, 3), clean))
    assert after < before


def test_checkpoint_loads_everywhere_and_resume_matches_straight_run(photos, tmp_path):
    quiet = open("/dev/null", "w")
    straight = Trainer(tiny_config(photos, tmp_path / "a", iterations=3), log=quiet).run()
    Trainer(tiny_config(photos, tmp_path / "b", iterations=2), log=quiet).run()
    resumed = Trainer(tiny_config(photos, tmp_path / "b", iterations=3), log=quiet)
    assert resumed.iteration == 2
    resumed.run()
    raw = torch.load(straight, weights_only=True)
    assert set(raw) >= {"state_dict", "epoch", "optimizer"} and raw["epoch"] == 3
    a, b = load_model(straight), load_model(tmp_path / "b" / "last.pth")
    for key, value in a.state_dict().items():
        torch.testing.assert_close(value, b.state_dict()[key], rtol=1e-5, atol=1e-6)

    img = (np.random.default_rng(0).random((40, 56, 3)) * 255).astype(np.uint8)
    want = Restorer("denoise", weights=straight, device="cpu").restore(img)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    x = torch.nn.functional.pad(x, (0, 0, 0, 0), mode="reflect")
    with torch.no_grad():
        direct = a(x, stages=3).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert np.abs(want.astype(np.float32) / 255 - direct).max() <= 1 / 255 + 1e-4

    vs = pytest.importorskip("vapoursynth")
    from mprnet_vs.vapoursynth import denoise

    clip = vs.core.std.BlankClip(width=56, height=40, format=vs.RGBS, length=1)
    frame = vs.core.std.ModifyFrame(clip, clip, lambda n, f: _fill(f.copy(), img))
    got = denoise(frame, weights=straight, device="cpu").get_frame(0)
    got = np.stack([np.asarray(got[p]) for p in range(3)], -1)
    expected = Restorer("denoise", weights=straight, device="cpu").restore(img.astype(np.float32) / 255)
    np.testing.assert_allclose(got, expected, atol=1e-4)

    shipped = export_model(straight, tmp_path / "small.pth")
    assert shipped.stat().st_size < 0.6 * straight.stat().st_size
    small = load_model(shipped)
    with torch.no_grad():
        assert (small(x, stages=3) - a(x, stages=3)).abs().max() < 5e-3


def _fill(frame, img: np.ndarray):
    for p in range(3):
        np.copyto(np.asarray(frame[p]), img[..., p].astype(np.float32) / 255)
    return frame


def test_fine_tuning_starts_from_the_given_checkpoint(photos, tmp_path, tiny_weights):
    trainer = Trainer(tiny_config(photos, tmp_path, init=tiny_weights), log=open("/dev/null", "w"))
    assert trainer.model.config != tiny_config(photos, tmp_path).model_config()  # tiny.yaml's own widths differ
    start = load_model(tiny_weights)
    for key, value in start.state_dict().items():
        torch.testing.assert_close(trainer.model.state_dict()[key], value)


def test_config_errors_are_clear(tmp_path, photos):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: denoise\noutput: x\ndata: {clean: y, pach: 64}\n")
    with pytest.raises(PresetError, match="pach"):
        load_config(bad)
    bad.write_text("task: paint\noutput: x\ndata: {clean: y}\n")
    with pytest.raises(PresetError, match="task"):
        load_config(bad)
    with pytest.raises(PresetError, match="no such"):
        load_config(tmp_path / "missing.yaml")
    bad.write_text("task: denoise\noutput: x\ndata: {clean: y}\ntrain: {lr: 3e-3, iterations: ten}\n")
    with pytest.raises(PresetError, match="iterations"):
        load_config(bad)
    bad.write_text("task: denoise\noutput: x\ndata: {clean: y}\ntrain: {lr: 3e-3}\n")
    assert load_config(bad).lr == 3e-3  # YAML 1.1 reads 3e-3 as a string
    bad.write_text("task: denoise\noutput: x\ndata: {clean: y}\ntrain: {precision: fp8}\n")
    with pytest.raises(PresetError, match="precision must be one of fp32, bf16, got 'fp8'"):
        load_config(bad)
    with pytest.raises(PresetError, match=r"tiny.yaml: device must be .*got 'tpu'"):
        load_config(TINY_YAML, device="tpu")
    bad.write_text("task: derain\noutput: x\ndata: {clean: y, scene: \"veil:strength=2\"}\n")
    with pytest.raises(InputError, match=r"recipe 'veil:strength=2': strength=.* from 0 to 0.9"):
        load_config(bad)
    bad.write_text("task: derain\noutput: x\ndata: {clean: y, degraded: z, scene: veil}\n")
    with pytest.raises(PresetError, match="data.scene needs clean images degraded by a recipe"):
        load_config(bad)
    bad.write_text("task: derain\noutput: x\ndata: {clean: y, scene: \"veil:chance=0.3\"}\n")
    assert load_config(bad).scene == "veil:chance=0.3"
    if not torch.cuda.is_available():
        with pytest.raises(PresetError, match="tiny.yaml: device 'cuda' asked for, but no CUDA GPU"):
            load_config(TINY_YAML, device="cuda")


def test_bf16_training_writes_fp32_checkpoints_that_load(photos, tmp_path):
    path = Trainer(tiny_config(photos, tmp_path, iterations=2, precision="bf16"), log=open("/dev/null", "w")).run()
    raw = torch.load(path, weights_only=True)
    assert all(v.dtype == torch.float32 and v.is_contiguous() and v.device.type == "cpu"
               for v in raw["state_dict"].values() if v.is_floating_point())
    assert load_model(path).config.n_feat == 8


def test_train_command(photos, tmp_path, capsys):
    code = main(["train", "--config", str(TINY_YAML), "--data", str(photos), "--output", str(tmp_path / "run"),
                 "--iterations", "2", "--export", str(tmp_path / "m.pth"), "--precision", "bf16",
                 "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0 and "loss" in out and "lr" in out
    assert load_model(tmp_path / "m.pth").config.n_feat == 8
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 1


# The command line with PyAV and VapourSynth made unimportable, as on a training machine without them.
WITHOUT_VIDEO_LIBS = ("import sys; sys.modules.update(av=None, vapoursynth=None); "
                      "from mprnet_vs.cli import main; sys.exit(main(sys.argv[1:]))")


def test_train_and_evaluate_need_neither_pyav_nor_vapoursynth(photos, tmp_path):
    run = lambda *args: subprocess.run([sys.executable, "-c", WITHOUT_VIDEO_LIBS, *args],
                                       capture_output=True, text=True, timeout=300)
    trained = run("train", "--config", str(TINY_YAML), "--data", str(photos), "--output", str(tmp_path / "run"),
                  "--iterations", "2", "--export", str(tmp_path / "m.pth"), "--device", "cpu")
    assert trained.returncode == 0, trained.stderr
    scored = run("evaluate", "--task", "denoise", "--weights", str(tmp_path / "m.pth"), "--clean", str(photos),
                 "--degrade", "noise:sigma=25", "--device", "cpu", "--json")
    assert scored.returncode == 0, scored.stderr
    assert len(json.loads(scored.stdout)["images"]) == 3
    refused = run("restore", "--task", "denoise", str(photos / "p0.png"), "-o", str(tmp_path / "out.png"))
    assert refused.returncode == 1 and not (tmp_path / "out.png").exists()
    assert refused.stderr == "mprnet-vs: error: 'restore' needs the Python package 'av', which is not installed\n"


def test_training_in_time_slices_resumes_where_it_stopped(photos, tmp_path, capsys):
    """--max-minutes 0 stops after one step with a resumable checkpoint and exports nothing yet;
    worker processes give the same weights as training without them."""
    run = ["train", "--config", str(TINY_YAML), "--data", str(photos), "--output", str(tmp_path / "run"),
           "--iterations", "3", "--device", "cpu", "--export", str(tmp_path / "m.pth")]
    assert main(run + ["--max-minutes", "0"]) == 0
    out = capsys.readouterr().out
    assert "stopped after 0.0 min at iteration 1/3" in out and "not exported" in out
    assert not (tmp_path / "m.pth").exists()
    assert torch.load(tmp_path / "run" / "last.pth", weights_only=True)["iteration"] == 1
    assert main(run + ["--workers", "2"]) == 0
    assert "resuming" in capsys.readouterr().out and (tmp_path / "m.pth").is_file()
    straight = Trainer(tiny_config(photos, tmp_path / "straight", iterations=3), log=open("/dev/null", "w")).run()
    a, b = load_model(straight).state_dict(), load_model(tmp_path / "run" / "last.pth").state_dict()
    for key, value in a.items():
        torch.testing.assert_close(value, b[key], rtol=1e-5, atol=1e-6)
    assert main(run + ["--max-minutes", "-1"]) == 2  # usage errors, as argparse's own
    assert main(run + ["--workers", "-1"]) == 2
    for bad in (["--lr", "0"], ["--lr", "nan"], ["--iterations", "0"], ["--max-minutes", "inf"]):
        assert main(run + bad) == 2, bad


def test_a_damaged_last_checkpoint_is_named_not_resumed(photos, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pth").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(WeightsError, match=r"last.pth: truncated or not a PyTorch checkpoint"):
        Trainer(tiny_config(photos, run), log=open("/dev/null", "w"))
    assert (run / "last.pth").read_bytes() == b"PK\x03\x04 cut short"  # left for the user to look at


@pytest.mark.parametrize("config", sorted(TINY_YAML.parent.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_training_config_is_valid(config, photos, tmp_path):
    loaded = load_config(config, clean=photos, output=tmp_path)
    assert loaded.task in ("derain", "deblur", "denoise") and loaded.recipe
    if loaded.init is None:
        loaded.model_config()  # the model section names real MPRNet settings


def test_averaged_checkpoint_is_the_elementwise_mean(tmp_path):
    """The shipped deblur model is the mean of two runs' weights: the average must load anywhere
    and hold the mean of every tensor (to fp16 precision)."""
    a = write_checkpoint(tmp_path / "a.pth", seed=1)
    b = write_checkpoint(tmp_path / "b.pth", seed=2)
    mean = load_model(average_checkpoints([a, b], tmp_path / "mean.pth"))
    sa, sb = load_model(a).state_dict(), load_model(b).state_dict()
    for key, value in mean.state_dict().items():
        torch.testing.assert_close(value, (sa[key] + sb[key]) / 2, atol=2e-3, rtol=1e-3)
    assert not torch.equal(sa["shallow_feat1.0.weight"], sb["shallow_feat1.0.weight"])
    raw = torch.load(tmp_path / "mean.pth", weights_only=True)
    assert raw["optimizer"] == {} and raw["state_dict"]["shallow_feat1.0.weight"].dtype == torch.float16


def test_averaging_refuses_checkpoints_of_different_configs(tmp_path):
    a = write_checkpoint(tmp_path / "a.pth")
    other = MPRNetConfig(n_feat=TINY.n_feat + 2, scale_unetfeats=TINY.scale_unetfeats,
                         scale_orsnetfeats=TINY.scale_orsnetfeats, num_cab=TINY.num_cab)
    b = write_checkpoint(tmp_path / "b.pth", config=other)
    with pytest.raises(InputError, match="b.pth: its MPRNet config"):
        average_checkpoints([a, b], tmp_path / "mean.pth")
    assert not (tmp_path / "mean.pth").exists()
    with pytest.raises(InputError, match="no checkpoints"):
        average_checkpoints([], tmp_path / "mean.pth")


TINY_TEXT = TINY_YAML.read_text()


@pytest.mark.parametrize("change, replacement, key", [
    ("iterations: 4", "iterations: 0", "iterations"), ("iterations: 4", "iterations: -3", "iterations"),  # before: 'done', untrained
    ("batch: 2", "batch: 0", "batch"), ("log_every: 1", "log_every: 0", "log_every"), ("threads: 1", "threads: -2", "threads"),
    ("seed: 0", "seed: -1", "seed"), ("warmup: 1", "warmup: 1\n  lr: .nan", "lr"), ("warmup: 1", "warmup: 1\n  lr: -1", "lr"),
    ("iterations: 4", "iterations: 1.0e+400", "iterations"), ("iterations: 4", "iterations: true", "iterations"),
    ("batch: 2", "batch: 2\n  scales: [abc]", "scales"), ("batch: 2", "batch: 2\n  scales: 0.5", "scales"),
    ("batch: 2", "batch: 2\n  scales: [-1]", "scales"), ('recipe: "noise:sigma=25"', "recipe: 5", "recipe"),
    ('recipe: "noise:sigma=25"', 'recipe: "noise:sigma=25"\n  scene: [veil]', "scene"),
    ("n_feat: 8", "n_feat: -8", "n_feat"), ("n_feat: 8", "n_feat: 8.0", "n_feat"), ("num_cab: 1", "num_cab: 1, bias: 3", "bias"),
    ("num_cab: 1", "num_cab: 1, in_c: 1", "in_c"), ("num_cab: 1", "num_cab: 1, kernel_size: 2", "kernel_size"),
    ("num_cab: 1", "num_cab: 1, reduction: 100", "reduction"),
])
def test_bad_config_values_are_one_line_before_any_work(photos, tmp_path, capsys, change, replacement, key):
    """Each of these was a traceback (ZeroDivisionError, numpy, OpenCV, torch) or, for
    iterations <= 0, a finished run of untrained weights."""
    config = tmp_path / "bad.yaml"
    assert change in TINY_TEXT
    config.write_text(TINY_TEXT.replace(change, replacement))
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--data", str(photos), "--output", str(run), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"mprnet-vs: error: {config}: ") and f"{key} must be" in err and err.count("\n") == 1, err
    assert not run.exists()


def test_export_to_a_folder_the_runs_checkpoint_or_the_init_file_is_refused_before_training(photos, tmp_path, tiny_weights, capsys):
    """Before: a folder failed after training, as 'FOLDER.tmp: is a directory', leaving FOLDER.tmp;
    the run's last.pth or the --init file was overwritten by the fp16 copy."""
    folder, run = tmp_path / "exports", tmp_path / "run"
    folder.mkdir()
    init = tmp_path / "init.pth"
    init.write_bytes(tiny_weights.read_bytes())
    command = ["train", "--config", str(TINY_YAML), "--data", str(photos), "--output", str(run), "--device", "cpu",
               "--iterations", "1"]
    assert main(command + ["--export", str(folder)]) == 2
    assert "--export names a folder" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == [folder, init] and not any(folder.iterdir())
    assert main(command + ["--export", str(run / "last.pth")]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err and not run.exists()
    assert main(command + ["--init", str(init), "--export", str(init)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err and init.read_bytes() == tiny_weights.read_bytes()
    assert main(command + ["--export", str(init / "inside" / "x.pth")]) == 1  # below a file
    assert f"{init} is a file, not a folder" in capsys.readouterr().err and not run.exists()


def test_an_interrupted_checkpoint_save_leaves_the_previous_one_and_no_partial_file(photos, tmp_path, monkeypatch):
    """Ctrl-C while last.pth is written: the previous last.pth stays whole and loadable, and no
    partial file is left in the run folder (before: last.pth.tmp)."""
    trainer = Trainer(tiny_config(photos, tmp_path / "run"), log=open("/dev/null", "w"))
    trainer.step()
    saved = trainer.save().read_bytes()

    def interrupted(payload, path):
        Path(path).write_bytes(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    trainer.step()
    with pytest.raises(KeyboardInterrupt):
        trainer.save()
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["last.pth"]
    assert (tmp_path / "run" / "last.pth").read_bytes() == saved
    monkeypatch.undo()
    assert load_model(tmp_path / "run" / "last.pth").config.n_feat == 8


def test_a_run_folder_that_is_a_file_is_named(photos, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    assert main(["train", "--config", str(TINY_YAML), "--data", str(photos), "--output", str(taken), "--device", "cpu"]) == 1
    assert capsys.readouterr().err == f"mprnet-vs: error: {taken}: the run folder is a file, not a folder\n"
    assert taken.read_text() == "not a folder"


def test_hidden_files_in_a_data_folder_are_skipped(photos, tmp_path, capsys):
    """A folder copied from a Mac holds a '._NAME.png' companion of each photo (not an image):
    training failed on it, while restore skips hidden files."""
    data = tmp_path / "data"
    data.mkdir()
    for p in photos.iterdir():
        (data / p.name).write_bytes(p.read_bytes())
        (data / f"._{p.name}").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    assert main(["train", "--config", str(TINY_YAML), "--data", str(data), "--output", str(tmp_path / "run"),
                 "--iterations", "1", "--device", "cpu"]) == 0
    assert "done" in capsys.readouterr().out


def test_ctrl_c_during_a_step_finishes_that_step_and_saves_a_resumable_checkpoint(photos, tmp_path):
    """Before: Ctrl-C lost every step since the last periodic save (all of them in the first
    checkpoint_minutes), and one arriving inside Adam's update could have left it half applied."""
    import signal

    trainer = Trainer(tiny_config(photos, tmp_path / "run", iterations=5), log=open("/dev/null", "w"))
    update = trainer.optimizer.step

    def ctrl_c_inside_the_second_update(*args, **kwargs):
        if trainer.iteration == 1:
            signal.raise_signal(signal.SIGINT)  # arrives after backward, before the weights move
        return update(*args, **kwargs)

    trainer.optimizer.step = ctrl_c_inside_the_second_update
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    saved = torch.load(tmp_path / "run" / "last.pth", weights_only=True)
    assert saved["iteration"] == 2  # the interrupted step completed, then the run stopped
    straight = Trainer(tiny_config(photos, tmp_path / "straight", iterations=2), log=open("/dev/null", "w")).run()
    a, b = load_model(straight).state_dict(), load_model(tmp_path / "run" / "last.pth").state_dict()
    for key, value in a.items():
        torch.testing.assert_close(value, b[key], rtol=1e-5, atol=1e-6)
    resumed = Trainer(tiny_config(photos, tmp_path / "run", iterations=5), log=open("/dev/null", "w"))
    assert resumed.iteration == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler came back
