"""The synthetic degradations: seeded, input untouched, and each changes the image as documented."""

from __future__ import annotations

import numpy as np
import pytest

from mprnet_vs import degrade as dg
from mprnet_vs.errors import InputError

RECIPES = ["rain", "blur", "noise", "noise:kind=poisson", "blur:kind=trajectory", "rain:density=0.005,angle=20"]


def photo(h: int = 64, w: int = 80, seed: int = 0) -> np.ndarray:
    """A smooth image with an edge, mid-range values (no clipping under moderate noise)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([0.3 + 0.3 * xx / w, 0.3 + 0.3 * yy / h, 0.5 + 0.1 * np.sin(xx / 5)], -1)
    base[:, w // 2 :] += 0.1
    return base.astype(np.float32)


@pytest.mark.parametrize("recipe", RECIPES)
def test_seeded_and_input_untouched(recipe):
    img = photo()
    before = img.copy()
    a, b, c = dg.degrade(img, recipe, 1), dg.degrade(img, recipe, 1), dg.degrade(img, recipe, 2)
    np.testing.assert_array_equal(img, before)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == img.shape and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.abs(a - img).mean() > 1e-3


def test_gaussian_noise_has_the_requested_sigma():
    img = np.full((128, 128, 3), 0.5, np.float32)
    out = dg.degrade(img, "noise:sigma=25", 0)
    assert abs((out - img).std() * 255 - 25) < 0.5
    assert abs((out - img).mean()) < 0.005
    np.testing.assert_array_equal(dg.degrade(img, "noise:sigma=0", 0), img)


def test_poisson_noise_grows_with_brightness():
    dark, bright = np.full((96, 96, 3), 0.1, np.float32), np.full((96, 96, 3), 0.5, np.float32)
    nd = dg.add_noise(dark, 0, kind="poisson", peak=30, sigma=0) - dark
    nb = dg.add_noise(bright, 0, kind="poisson", peak=30, sigma=0) - bright
    # Poisson: variance = x / peak
    assert abs(nd.var() - 0.1 / 30) < 0.1 * 0.1 / 30
    assert abs(nb.var() - 0.5 / 30) < 0.1 * 0.5 / 30


def test_rain_only_lightens_and_follows_the_angle():
    img = photo()
    out = dg.add_rain(img, 3, density=0.01, angle=0, length=30, width_px=1, brightness=0.8, blur=0)
    assert (out >= img - 1e-6).all()  # screen blend: streaks add light, never darken
    layer = dg.rain_layer(128, 128, 3, density=0.01, angle=0, length=30, width_px=1, brightness=0.8, blur=0)
    across = np.abs(np.diff(layer, axis=1)).mean()  # vertical streaks: change across columns
    along = np.abs(np.diff(layer, axis=0)).mean()
    assert across > 3 * along
    tilted = dg.rain_layer(128, 128, 3, density=0.01, angle=90, length=30, width_px=1, brightness=0.8, blur=0)
    assert np.abs(np.diff(tilted, axis=0)).mean() > 3 * np.abs(np.diff(tilted, axis=1)).mean()


def test_rain_density_and_brightness_scale_the_streaks():
    light = dg.rain_layer(96, 96, 5, density=0.002, angle=0, length=20, width_px=1, brightness=0.5, blur=0)
    heavy = dg.rain_layer(96, 96, 5, density=0.01, angle=0, length=20, width_px=1, brightness=0.5, blur=0)
    assert heavy.mean() > 3 * light.mean()
    dim = dg.rain_layer(96, 96, 5, density=0.005, angle=0, length=20, width_px=1, brightness=0.3, blur=0)
    bright = dg.rain_layer(96, 96, 5, density=0.005, angle=0, length=20, width_px=1, brightness=0.6, blur=0)
    assert bright.max() > dim.max()


@pytest.mark.parametrize("seed", range(5))
def test_blur_kernels_are_normalised_and_at_most_25px(seed):
    for kind in ("linear", "trajectory"):
        k = dg.blur_kernel(seed, kind=kind)
        assert abs(k.sum() - 1) < 1e-5 and (k >= 0).all()
        assert max(k.shape) <= dg.MAX_KERNEL


def test_max_length_caps_the_drawn_kernels_and_leaves_the_default_draws_alone():
    for seed in range(40):
        assert dg.blur_kernel(seed, max_length=9).shape[0] <= 9
        np.testing.assert_array_equal(dg.blur_kernel(seed), dg.blur_kernel(seed, max_length=dg.MAX_KERNEL))
    sizes = {dg.blur_kernel(seed, kind="trajectory", max_length=11).shape[0] for seed in range(40)}
    assert sizes == {7, 9, 11}
    short = dg.degrade(photo(), "blur:max_length=5,noise=0", 3)
    long = dg.degrade(photo(), "blur:kind=linear,length=25,noise=0", 3)
    assert np.abs(short - photo()).mean() < np.abs(long - photo()).mean()
    for bad in ("blur:max_length=2", "blur:max_length=40"):
        with pytest.raises(InputError, match="max_length"):
            dg.degrade(photo(), bad, 0)


def test_linear_kernel_is_a_line_of_the_given_length_and_angle():
    k = dg.line_kernel(15, 0)
    cols = np.nonzero(k.sum(0) > 1e-3)[0]
    rows = np.nonzero(k.sum(1) > 1e-3)[0]
    assert 14 <= cols.max() - cols.min() + 1 <= 16
    assert rows.max() - rows.min() + 1 <= 3
    assert np.allclose(dg.line_kernel(15, 90), k.T, atol=0.02)


def test_motion_blur_smooths_along_the_motion_and_keeps_brightness():
    rng = np.random.default_rng(0)
    img = rng.random((64, 64, 3)).astype(np.float32)
    out = dg.motion_blur(img, 0, kind="linear", length=15, angle=0, noise=0)
    assert abs(out.mean() - img.mean()) < 0.01
    assert np.abs(np.diff(out, axis=1)).mean() < 0.2 * np.abs(np.diff(img, axis=1)).mean()
    rows = np.repeat(img[:, :1], 64, axis=1)  # varies only down the image: horizontal motion keeps it
    np.testing.assert_allclose(dg.motion_blur(rows, 0, kind="linear", length=15, angle=0, noise=0), rows, atol=1e-5)
    delta = np.zeros((3, 3), np.float32)
    delta[1, 1] = 1
    np.testing.assert_allclose(dg.motion_blur(img, 0, kernel=delta, noise=0), img, atol=1e-6)


def test_uint8_input_and_recipe_errors():
    img8 = (photo() * 255).astype(np.uint8)
    assert dg.degrade(img8, "noise:sigma=10", 0).dtype == np.float32
    for bad in ("snow", "noise:sigma", "noise:kind=pink", "blur:kind=zigzag", "rain:colour=2"):
        with pytest.raises(InputError):
            dg.degrade(img8, bad, 0)
    with pytest.raises(InputError):
        dg.degrade(np.zeros((8, 8), np.float32), "noise", 0)


@pytest.mark.parametrize("recipe, key", [
    ("noise:sigma=nan", "sigma"), ("noise:sigma=inf", "sigma"), ("noise:sigma=-5", "sigma"),
    ("noise:kind=poisson,peak=0", "peak"), ("blur:max_length=nan", "max_length"), ("blur:length=-4", "length"),
    ("rain:length=-5", "length"), ("rain:angle=nan", "angle"), ("rain:density=abc", "density"),
    ("rain:width=0", "width"), ("noise:sigma=", "sigma"), ("noise:sigma=25,sigma=3", "sigma"),
])
def test_out_of_range_non_numeric_and_repeated_recipe_values_are_named(recipe, key):
    """Before: NaN/inf sigma gave NaN images silently, negative lengths and sigmas a numpy or
    OpenCV traceback."""
    with pytest.raises(InputError, match=rf"recipe '{recipe}': {key}\b"):
        dg.check_recipe(recipe)
    assert dg.check_recipe("rain:width=3,length=26") == "rain:width=3,length=26"  # in range: accepted


def test_a_set_blur_length_may_exceed_the_drawn_range():
    """Stress tests with longer blurs than training draws stay possible (the linear kernel grows to fit)."""
    long = dg.degrade(photo(), "blur:kind=linear,length=41,angle=0,noise=0", 3)
    medium = dg.degrade(photo(), "blur:kind=linear,length=25,angle=0,noise=0", 3)
    assert np.abs(np.diff(long, axis=1)).mean() < np.abs(np.diff(medium, axis=1)).mean()
    with pytest.raises(InputError, match="length"):
        dg.check_recipe("blur:length=500")
