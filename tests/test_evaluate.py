"""Evaluation: PSNR/SSIM against hand computations, and the evaluate command end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from mprnet_vs.cli import main
from mprnet_vs.degrade import degrade, to_uint8
from mprnet_vs.errors import InputError
from mprnet_vs.training.data import read_rgb, write_rgb
from mprnet_vs.training.metrics import psnr, ssim, to_y


def hand_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255**2 / mse)


def test_psnr_of_a_known_error():
    a = np.zeros((16, 16, 3), np.uint8)
    b = a + 5
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 25))
    assert psnr(a, a) == math.inf
    b[0, 0, 0] = 255  # one outlier: mse = (25 * (768 - 1) + 255^2) / 768
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / ((25 * 767 + 255**2) / 768)))


def test_y_channel_is_bt601_luma():
    white, black = np.full((4, 4, 3), 255, np.uint8), np.zeros((4, 4, 3), np.uint8)
    assert to_y(white)[0, 0] == pytest.approx(235.0, abs=0.01)
    assert to_y(black)[0, 0] == pytest.approx(16.0)
    green = black.copy()
    green[..., 1] = 255
    # only luma counts: a pure green error is 128.553 in Y
    assert psnr(black, green, y_channel=True) == pytest.approx(10 * math.log10(255**2 / 128.553**2))


def test_ssim_of_flat_images_matches_the_formula():
    c1 = (0.01 * 255) ** 2
    a, b = np.full((32, 32, 3), 100, np.uint8), np.full((32, 32, 3), 120, np.uint8)
    # flat: variances and covariance vanish, SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1)
    assert ssim(a, b) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1), rel=1e-6)
    rng = np.random.default_rng(0)
    img = (rng.random((40, 40, 3)) * 255).astype(np.uint8)
    assert ssim(img, img) == pytest.approx(1.0)
    noisy = np.clip(img + rng.normal(0, 40, img.shape), 0, 255).astype(np.uint8)
    assert 0 < ssim(img, noisy) < 0.9
    with pytest.raises(InputError):
        psnr(img, img[:20])


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clean")
    yy, xx = np.mgrid[0:48, 0:64].astype(np.float32)
    for i in range(2):
        img = np.stack([xx / 64, yy / 48, 0.5 + 0.3 * np.sin((xx + 7 * i) / 6)], -1)
        write_rgb(folder / f"c{i}.png", to_uint8(img))
    return folder


def test_evaluate_command_numbers_match_a_hand_computation(clean_dir, tmp_path, tiny_weights, capsys):
    saved = tmp_path / "saved"
    code = main(["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--clean", str(clean_dir),
                 "--degrade", "noise:sigma=25", "--seed", "3", "--device", "cpu", "--save", str(saved), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in report["images"]] == ["c0.png", "c1.png"]
    for row in report["images"]:
        stem = Path(row["name"]).stem
        clean = read_rgb(clean_dir / row["name"])
        bad, restored = read_rgb(saved / f"{stem}_degraded.png"), read_rgb(saved / f"{stem}_restored.png")
        assert row["input"]["psnr"] == pytest.approx(hand_psnr(bad, clean), abs=1e-9)
        assert row["output"]["psnr"] == pytest.approx(hand_psnr(restored, clean), abs=1e-9)
        assert row["input"]["psnr"] == pytest.approx(20.6, abs=1.0)  # sigma 25 on an unclipped image
    mean = report["mean"]["output"]["psnr"]
    assert mean == pytest.approx(np.mean([r["output"]["psnr"] for r in report["images"]]))
    # the degraded image is the recipe applied with the documented per-image seed
    expected = to_uint8(degrade(read_rgb(clean_dir / "c1.png"), "noise:sigma=25", np.random.default_rng([3, 1])))
    np.testing.assert_array_equal(read_rgb(saved / "c1_degraded.png"), expected)


def test_evaluate_pairs_and_table(clean_dir, tmp_path, tiny_weights, capsys):
    pairs = tmp_path / "pairs"
    (pairs / "degraded").mkdir(parents=True)
    (pairs / "clean").mkdir()
    for p in clean_dir.iterdir():
        img = read_rgb(p)
        write_rgb(pairs / "clean" / p.name, img)
        write_rgb(pairs / "degraded" / p.name, to_uint8(degrade(img, "blur", 0)))
    assert main(["evaluate", "--task", "deblur", "--weights", str(tiny_weights), "--pairs", str(pairs), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "PSNR RGB" in out and "PSNR Y" in out and "mean" in out and "c0.png" in out


def test_an_unknown_recipe_is_named(clean_dir, tiny_weights, capsys):
    assert main(["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--clean", str(clean_dir),
                 "--degrade", "snow"]) == 1
    assert "snow" in capsys.readouterr().err


def test_a_bad_recipe_value_is_one_line_not_a_traceback(clean_dir, tiny_weights, capsys):
    for recipe in ("noise:sigma=-5", "rain:length=-5", "blur:max_length=inf"):
        assert main(["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--clean", str(clean_dir),
                     "--degrade", recipe, "--device", "cpu"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"mprnet-vs: error: recipe '{recipe}': ") and err.count("\n") == 1


def _strict_json(text: str) -> dict:
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_of_an_identical_pair_is_valid_json(clean_dir, tmp_path, tiny_weights, capsys):
    """Identical images have an infinite PSNR, which Python's json wrote as `Infinity`: not JSON
    (jq and other parsers refuse it). It is null now."""
    pairs = tmp_path / "pairs"
    for sub in ("degraded", "clean"):
        (pairs / sub).mkdir(parents=True)
        write_rgb(pairs / sub / "c0.png", read_rgb(clean_dir / "c0.png"))
    assert main(["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--pairs", str(pairs),
                 "--device", "cpu", "--json"]) == 0
    report = _strict_json(capsys.readouterr().out)
    assert report["images"][0]["input"] == {"psnr": None, "ssim": pytest.approx(1.0), "psnr_y": None, "ssim_y": pytest.approx(1.0)}
    assert report["mean"]["input"]["psnr"] is None and math.isfinite(report["mean"]["output"]["psnr"])


def test_save_into_an_input_folder_is_refused(clean_dir, tmp_path, tiny_weights, capsys):
    """--save in the --clean folder wrote NAME_degraded.png and NAME_restored.png among the clean
    images: the input folder changed, and the next run scored them as clean images."""
    clean = tmp_path / "clean"
    clean.mkdir()
    for p in clean_dir.iterdir():
        (clean / p.name).write_bytes(p.read_bytes())
    before = sorted(p.name for p in clean.iterdir())
    assert main(["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--clean", str(clean),
                 "--degrade", "noise:sigma=25", "--device", "cpu", "--save", str(clean)]) == 2
    assert "--save is the input folder" in capsys.readouterr().err
    assert sorted(p.name for p in clean.iterdir()) == before


def test_a_negative_seed_is_a_usage_error_and_a_tiny_image_is_named(tmp_path, tiny_weights, capsys):
    assert main(["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--clean", str(tmp_path),
                 "--degrade", "noise", "--seed", "-1"]) == 2  # before: a numpy traceback
    assert "--seed: must be >= 0" in capsys.readouterr().err
    pairs = tmp_path / "pairs"
    for sub in ("degraded", "clean"):
        (pairs / sub).mkdir(parents=True)
        write_rgb(pairs / sub / "small.png", np.full((8, 8, 3), 100, np.uint8))
    assert main(["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--pairs", str(pairs), "--device", "cpu"]) == 1
    assert capsys.readouterr().err == "mprnet-vs: error: small.png: SSIM needs images of at least 11x11 pixels, got 8x8\n"


def test_unpaired_clean_images_are_named_and_saved_names_never_collide(clean_dir, tmp_path, tiny_weights, capsys):
    """The mean covers the degraded images only, so the clean ones left out are listed; a.png and a.jpg
    each keep their saved images."""
    pairs = tmp_path / "pairs"
    for sub in ("degraded", "clean"):
        (pairs / sub).mkdir(parents=True)
    img = read_rgb(clean_dir / "c0.png")
    for name in ("a.png", "a.bmp"):
        write_rgb(pairs / "clean" / name, img)
        write_rgb(pairs / "degraded" / name, to_uint8(degrade(img, "noise:sigma=20", 0)))
    write_rgb(pairs / "clean" / "lonely.png", img)
    save = tmp_path / "saved"
    assert main(["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--pairs", str(pairs),
                 "--save", str(save), "--device", "cpu", "--json"]) == 0
    out, err = capsys.readouterr()
    assert [row["name"] for row in json.loads(out)["images"]] == ["a.bmp", "a.png"]
    assert "1 clean image(s)" in err and "lonely.png" in err and "not scored" in err
    assert sorted(p.name for p in save.iterdir()) == ["a_degraded.png", "a_png_degraded.png", "a_png_restored.png", "a_restored.png"]


@pytest.mark.parametrize("words, message", [
    (["--clean", "{clean}"], "--clean needs --degrade RECIPE"),
    (["--pairs", "{clean}", "--degrade", "noise"], "--degrade applies to --clean only"),
])
def test_options_that_do_not_go_together_are_usage_errors(clean_dir, tiny_weights, capsys, words, message):
    words = [w.format(clean=clean_dir) for w in words]
    assert main(["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--device", "cpu", *words]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def _write_16bit(path: Path, rgb: np.ndarray) -> None:
    assert rgb.dtype == np.uint16
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))


def test_16_bit_pairs_are_scored_at_16_bits(tmp_path, tiny_weights, capsys):
    """A 16-bit pair was read as 8-bit: a difference of 100 in 65535 rounded away and scored as
    identical (PSNR inf). Now it is 100/257 of an 8-bit step, scored as such."""
    pairs = tmp_path / "pairs"
    for sub in ("degraded", "clean"):
        (pairs / sub).mkdir(parents=True)
    yy, xx = np.mgrid[0:32, 0:40]
    clean = (257 * np.stack([4 + 5 * xx, 60 + 3 * yy, np.full_like(xx, 150)], -1)).astype(np.uint16)  # 8-bit levels
    degraded = clean.copy()
    degraded[::2] += 100  # every other row
    _write_16bit(pairs / "clean" / "p.png", clean)
    _write_16bit(pairs / "degraded" / "p.png", degraded)
    assert np.array_equal(np.round(clean / 257), np.round(degraded / 257))  # 8 bits cannot tell them apart
    assert main(["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--pairs", str(pairs),
                 "--device", "cpu", "--json"]) == 0
    row = _strict_json(capsys.readouterr().out)["images"][0]
    mse = 0.5 * (100 * 255 / 65535) ** 2
    assert row["input"]["psnr"] == pytest.approx(10 * math.log10(255**2 / mse))
    assert math.isfinite(row["output"]["psnr"])


def test_a_16_bit_clean_image_is_degraded_and_saved_at_16_bits(tmp_path, tiny_weights, capsys):
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    rng = np.random.default_rng(5)
    clean = (rng.random((24, 32, 3)) * 65535).astype(np.uint16)
    _write_16bit(clean_dir / "p.png", clean)
    saved = tmp_path / "saved"
    assert main(["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--clean", str(clean_dir),
                 "--degrade", "noise:sigma=10", "--device", "cpu", "--save", str(saved), "--json"]) == 0
    row = _strict_json(capsys.readouterr().out)["images"][0]
    bad = cv2.imread(str(saved / "p_degraded.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    restored = cv2.imread(str(saved / "p_restored.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert bad.dtype == restored.dtype == np.uint16
    expected = np.clip(np.round(degrade(clean, "noise:sigma=10", np.random.default_rng([0, 0])) * 65535), 0, 65535)
    np.testing.assert_array_equal(bad, expected)
    diff = (bad.astype(np.float64) - clean) * 255 / 65535
    assert row["input"]["psnr"] == pytest.approx(10 * math.log10(255**2 / np.mean(diff**2)))
    diff = (restored.astype(np.float64) - clean) * 255 / 65535
    assert row["output"]["psnr"] == pytest.approx(10 * math.log10(255**2 / np.mean(diff**2)))


def test_a_gray_image_paired_with_a_colour_one_is_noted(clean_dir, tmp_path, tiny_weights, capsys):
    pairs = tmp_path / "pairs"
    for sub in ("degraded", "clean"):
        (pairs / sub).mkdir(parents=True)
    colour = read_rgb(clean_dir / "c0.png")
    gray = cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(pairs / "clean" / "g.png"), gray)
    write_rgb(pairs / "degraded" / "g.png", to_uint8(degrade(colour, "noise:sigma=20", 0)))
    for sub in ("degraded", "clean"):  # a gray pair is fine
        cv2.imwrite(str(pairs / sub / "h.png"), gray)
    assert main(["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--pairs", str(pairs), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert err.count("note:") == 1, err
    assert "g.png: the degraded image is colour and the clean one gray" in err
