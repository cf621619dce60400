"""The evaluation's independent renderer: seeded, shares no code with the training recipes, tells
the truth it used, and renders degradations that differ statistically from the recipes'."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mprnet_vs import degrade as dg
from mprnet_vs.errors import InputError
from mprnet_vs.evaluation import render as rd

RENDER_SOURCE = Path(rd.__file__)
SPECS = ["noise:sigma=25", "noise:sigma=15,chroma=0.3", "blur", "blur:length=15,path=line", "rain",
         "rain:amount=heavy,angle=20"]


def photo(h: int = 80, w: int = 96) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([0.3 + 0.4 * xx / w, 0.3 + 0.3 * yy / h, 0.5 + 0.2 * np.sin(xx / 3) * np.cos(yy / 4)], -1)


def test_the_renderer_imports_nothing_of_the_training_recipes():
    tree = ast.parse(RENDER_SOURCE.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported == {"__future__", "math", "dataclasses", "numpy", "..errors"}
    code = ("import sys, numpy as np; from mprnet_vs.evaluation.render import render; "
            "render(np.full((32, 32, 3), 0.5), 'rain', 0); render(np.full((32, 32, 3), 0.5), 'blur', 0); "
            "print(sorted(m for m in sys.modules if m.startswith('mprnet_vs')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "mprnet_vs.degrade" not in loaded and "mprnet_vs.evaluation.render" in loaded


@pytest.mark.parametrize("spec", SPECS)
def test_renders_are_seeded_and_leave_the_input_alone(spec):
    img = photo()
    before = img.copy()
    a, b, c = rd.render(img, spec, (0, 1)).image, rd.render(img, spec, (0, 1)).image, rd.render(img, spec, (0, 2)).image
    np.testing.assert_array_equal(img, before)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32 and a.shape == img.shape and 0 <= a.min() and a.max() <= 1
    assert np.abs(a - img).mean() > 2e-3
    u8 = rd.render((img * 255).round().astype(np.uint8), spec, 3).image  # 8-bit input: the same scale
    assert np.abs(u8 - rd.render(img, spec, 3).image).mean() < 0.01


def test_noise_is_white_rgb_of_the_true_sigma_unless_luma_heavy():
    grey = np.full((192, 192, 3), 0.5)
    out = rd.render(grey, "noise:sigma=20", 0)
    n = (out.image - 0.5).reshape(-1, 3)
    assert out.sigma == 20
    assert np.allclose(n.std(0) * 255, 20, atol=0.5)
    assert np.abs(np.corrcoef(n.T) - np.eye(3)).max() < 0.03
    luma = (rd.render(grey, "noise:sigma=20,chroma=0.2", 0).image - 0.5).reshape(-1, 3)
    assert abs(luma.std() * 255 - 20) < 0.6
    assert np.corrcoef(luma.T)[0, 1] > 0.6  # mostly shared by the channels: grey speckle


def test_blur_is_a_true_convolution_with_the_reported_kernel():
    dot = np.zeros((61, 61, 3))
    dot[30, 30] = 1.0
    out = rd.render(dot, "blur:length=13,path=curve,noise=0", 4)
    k = out.kernel
    assert k is not None and abs(k.sum() - 1) < 1e-9 and k.shape[0] % 2 == 1
    r = k.shape[0] // 2
    np.testing.assert_allclose(out.image[30 - r : 31 + r, 30 - r : 31 + r, 0], k, atol=1e-6)  # not flipped
    ys, xs = np.nonzero(k > k.max() * 0.05)
    assert 10 <= max(np.ptp(xs), np.ptp(ys)) + 1 <= 16  # about 13 px end to end
    assert out.sigma == 0


def test_rain_brightens_along_the_set_angle():
    dark = np.full((128, 128, 3), 0.15)
    out = rd.render(dark, "rain:amount=heavy,angle=0", 2).image[..., 0]
    assert out.mean() > 0.15 + 0.02
    assert np.abs(np.diff(out, axis=1)).mean() > 2 * np.abs(np.diff(out, axis=0)).mean()  # vertical streaks
    light = rd.render(dark, "rain:amount=light,angle=0", 2).image
    assert light.mean() < out.mean()


def test_rain_veil_defaults_by_amount_and_can_be_set_apart():
    """The veil is the same drops' haze: seeded with the same streaks, a render differs from the
    veil-free one by exactly the veil's linear-light lift where no drop fell."""
    img = np.full((96, 96, 3), 0.2)
    for amount, veil in (("light", 0.04), ("heavy", 0.12)):
        default = rd.render(img, f"rain:amount={amount},angle=5", 3)
        assert default.params["veil"] == veil
        none = rd.render(img, f"rain:amount={amount},angle=5,veil=0", 3)
        assert none.params["veil"] == 0.0
        set_ = rd.render(img, f"rain:amount={amount},angle=5,veil={veil}", 3)
        np.testing.assert_array_equal(set_.image, default.image)
        dry = np.abs(none.image - img).max(axis=2) < 1e-6  # pixels no drop reached
        lin = ((0.2 + 0.055) / 1.055) ** 2.4
        lifted = lin * (1 - veil) + veil * (0.7 + 0.3 * lin)
        expected = 1.055 * lifted ** (1 / 2.4) - 0.055
        assert dry.mean() > 0.05
        np.testing.assert_allclose(default.image[dry], expected, atol=1e-5)
    with pytest.raises(InputError, match="veil"):
        rd.parse_spec("rain:veil=0.7")


def _dark_to_bright_gain(out: np.ndarray, img: np.ndarray) -> float:
    r = out - img
    return float(r[:, :64].mean() / r[:, 64:].mean())


def test_rain_differs_statistically_from_the_srgb_recipes():
    """Composited in linear light, a streak lifts a dark background far more than a bright one
    (x6-8 between 0.2 and 0.7); the shipped ``rain`` recipe and rainmix's sRGB draws lift it x1-4.2.
    rainmix's linear-light draws (``space=linear``, half of them) share this physics with the
    renderer; what still sets the renderer apart there is its own generator (Philox), streaks
    traced by falling particles, each lit by the light around it, and a fixed veil."""
    img = np.zeros((128, 128, 3), np.float32)
    img[:, :64], img[:, 64:] = 0.2, 0.7
    ours = [_dark_to_bright_gain(rd.render(img, f"rain:amount={a}", (s, 0)).image, img)
            for a in ("light", "heavy") for s in range(3)]
    recipes = [_dark_to_bright_gain(dg.degrade(img, r, s), img) for r in ("rain", "rainmix:space=srgb") for s in range(20)]
    assert min(ours) > 1.2 * max(recipes)


def test_curved_blur_kernels_are_not_the_recipes_lines():
    for seed in range(4):
        k = rd.path_psf(rd.generator(seed), 13, "curve")
        best = max(float((k * (line := dg.line_kernel(13, a, size=k.shape[0]))).sum()
                         / np.sqrt((k * k).sum() * (line * line).sum())) for a in range(0, 180, 3))
        assert best < 0.7


@pytest.mark.parametrize(("spec", "word"), [
    ("snow", "unknown kind"), ("noise:sigma=200", "sigma"), ("noise:sigma=abc", "sigma"), ("blur:length=2", "length"),
    ("blur:path=zigzag", "path"), ("rain:amount=torrential", "amount"), ("rain:speed=3", "speed"),
    ("noise:sigma=5,sigma=6", "twice"),
])
def test_bad_specs_are_named(spec, word):
    with pytest.raises(InputError, match=word):
        rd.render(photo(), spec, 0)
