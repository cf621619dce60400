"""The degradations added for models that generalise (rainmix, blurmix, noisemix, jpeg, chains):
seeded, input untouched, range-checked, and each changes the image as its docstring says."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from mprnet_vs import degrade as dg
from mprnet_vs.errors import InputError

NEW_RECIPES = ["rainmix", "rainmix:blend=alpha,layers=3,drops=0.05,haze=0.2", "blurmix", "blurmix:kind=shake",
               "blurmix:kind=defocus", "noisemix", "noisemix:peak=20,channel_corr=0.5,grain=1", "jpeg",
               "noisemix+jpeg:quality=50", "blurmix+jpeg:chance=0.5", "veil", "veil:space=linear,tint=0.2"]


def photo(h: int = 72, w: int = 96) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([0.3 + 0.3 * xx / w, 0.3 + 0.3 * yy / h, 0.5 + 0.15 * np.sin(xx / 4) * np.cos(yy / 5)], -1)
    base[:, w // 2 :] += 0.1
    return base.astype(np.float32)


@pytest.mark.parametrize("recipe", NEW_RECIPES)
def test_new_recipes_are_seeded_and_leave_the_input_alone(recipe):
    img = photo()
    before = img.copy()
    a, b = dg.degrade(img, recipe, 11), dg.degrade(img, recipe, 11)
    others = [dg.degrade(img, recipe, s) for s in (12, 13, 14)]
    np.testing.assert_array_equal(img, before)
    np.testing.assert_array_equal(a, b)
    assert all(not np.array_equal(a, o) for o in others)
    assert a.shape == img.shape and a.dtype == np.float32 and 0.0 <= a.min() and a.max() <= 1.0
    assert dg.check_recipe(recipe) == recipe


def test_the_first_three_recipes_draw_as_before():
    """The model cards quote numbers of rain/blur/noise draws: the package split must not move them."""
    img = photo()
    rng = np.random.default_rng(5)
    np.testing.assert_array_equal(dg.degrade(img, "noise", 5), dg.add_noise(img, rng))
    np.testing.assert_array_equal(dg.degrade(img, "blur", 6), dg.motion_blur(img, np.random.default_rng(6)))


# ----------------------------------------------------------------------------- rainmix


@pytest.mark.parametrize("blend", ["screen", "add"])
def test_light_blends_only_brighten(blend):
    img = photo()
    out = dg.add_rain_mix(img, 3, blend=blend, layers=2, density=0.01, tint=0, drops=0, haze=0)
    assert (out >= img - 1e-6).all()
    assert out.mean() > img.mean() + 0.01


def test_alpha_over_can_darken_what_is_brighter_than_the_streak():
    scene = np.zeros((64, 64, 3), np.float32) + np.array([0.2, 0.9, 0.2], np.float32)  # green: the streaks' tint
    scene[:16] = 0.95  # a white band: brighter in red than the green-tinted streaks
    out = dg.add_rain_mix(scene, 1, blend="alpha", layers=1, density=0.02, opacity=0.9, tint=1.0, drops=0, haze=0)
    assert (out[:16, :, 0] < 0.95 - 0.05).any()  # a screen or additive blend never does this
    assert (out[16:, :, 0] > 0.2 + 0.05).any()


@pytest.mark.parametrize(("angle", "axis_across"), [(0, 1), (90, 0)])
def test_streaks_follow_the_angle(angle, axis_across):
    img = np.full((128, 128, 3), 0.2, np.float32)
    out = dg.add_rain_mix(img, 4, blend="add", layers=1, density=0.01, angle=angle, length=30, width=1, blur=0,
                          drops=0, haze=0)[..., 0]
    across = np.abs(np.diff(out, axis=axis_across)).mean()
    along = np.abs(np.diff(out, axis=1 - axis_across)).mean()
    assert across > 3 * along


def test_more_layers_and_density_add_more_rain_and_haze_lifts_the_darks():
    img = np.full((96, 96, 3), 0.1, np.float32)
    kw = dict(blend="add", angle=0, length=20, width=1, blur=0, opacity=0.5, drops=0, haze=0)
    one = dg.add_rain_mix(img, 2, layers=1, density=0.003, **kw).mean()
    three = dg.add_rain_mix(img, 2, layers=3, density=0.003, **kw).mean()
    dense = dg.add_rain_mix(img, 2, layers=1, density=0.012, **kw).mean()
    assert three > one + 0.005 and dense > 2 * (one - 0.1) + 0.1
    hazy = dg.add_rain_mix(img, 2, layers=1, density=0.0, **{**kw, "haze": 0.3})
    assert np.allclose(hazy, 0.1 * 0.7 + 0.3 * 1.0, atol=1e-5)  # veil towards 0.75 + 0.25 x white


def test_lens_drops_blur_what_they_cover():
    rng = np.random.default_rng(0)
    img = rng.random((96, 96, 3)).astype(np.float32)
    out = dg.add_rain_mix(img, 5, layers=1, density=0.0, drops=0.3, haze=0)
    changed = np.abs(out - img).max(-1) > 0.05
    assert 0.1 < changed.mean() < 0.6
    detail = lambda a: np.abs(np.diff(a, axis=1)).mean()  # noqa: E731
    assert detail(out) < 0.8 * detail(img)


# ----------------------------------------------------------------------------- blurmix


@pytest.mark.parametrize("radius", [1.0, 2.5, 4.0, 7.3])
def test_defocus_kernel_is_a_disc_summing_to_one(radius):
    k = dg.defocus_kernel(radius)
    half = k.shape[0] // 2
    assert k.shape == (2 * math.ceil(radius) + 1,) * 2
    assert abs(k.sum() - 1) < 1e-6 and (k >= 0).all()
    np.testing.assert_allclose(k, k.T, atol=1e-7)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-7)
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    r = np.hypot(xx, yy)
    inside, outside = k[r <= radius - 0.75], k[r >= radius + 0.75]
    assert np.ptp(inside) < 1e-6  # flat inside: a disc, not a Gaussian
    assert (outside == 0).all()
    assert abs(inside.mean() * math.pi * radius**2 - 1) < 0.2  # its height is 1 / (pi r^2)


def test_gaussian_kernel_has_the_asked_spread():
    k = dg.gaussian_kernel(2.0)
    half = k.shape[0] // 2
    xx = np.arange(-half, half + 1)
    assert abs(k.sum() - 1) < 1e-6
    assert abs(math.sqrt((k.sum(0) * xx**2).sum()) - 2.0) < 0.1


def test_shake_kernels_are_normalised_within_size_and_curved():
    spreads = []
    for seed in range(12):
        k = dg.shake_kernel(seed, max_size=15)
        assert abs(k.sum() - 1) < 1e-5 and (k >= 0).all() and k.shape[0] <= 15 and k.shape[0] % 2 == 1
        yy, xx = np.mgrid[: k.shape[0], : k.shape[1]]
        pts = np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float64)
        mean = (pts * k.ravel()[:, None]).sum(0)
        cov = ((pts - mean).T * k.ravel()) @ (pts - mean)
        spreads.append(np.linalg.eigvalsh(cov)[0])  # across the main direction: zero for a straight line
        assert not np.array_equal(k, dg.shake_kernel(seed + 100, max_size=15))
    assert sum(s > 0.5 for s in spreads) >= 6


def test_blurmix_uses_the_shared_convolution_and_drawn_kinds():
    img = photo()
    kernel = dg.defocus_kernel(3.0)
    np.testing.assert_array_equal(dg.degrade(img, "blurmix:kind=defocus,radius=3,noise=0", 0),
                                  dg.motion_blur(img, 0, kernel=kernel, noise=0))
    sizes = {dg.mixed_kernel(s, max_length=9).shape[0] for s in range(40)}
    assert max(sizes) <= 2 * 8 + 1 and len(sizes) > 3  # defocus discs may be wider than the 9 px cap
    assert max(dg.mixed_kernel(s, kind="shake", max_length=9).shape[0] for s in range(20)) <= 9


# ----------------------------------------------------------------------------- noise: max_sigma, skew


def _drawn_sigmas(recipe: str, seeds: int = 1500) -> np.ndarray:
    """The sigma each seed drew, read back from a mid-grey patch (no clipping below ~100)."""
    grey = np.full((24, 24, 3), 0.5, np.float32)
    return np.array([(dg.degrade(grey, recipe, s) - grey).std() * 255 for s in range(seeds)])


def test_noise_skew_draws_weak_noise_more_often_within_max_sigma():
    """skew k draws max_sigma * u^(1+k): for 55 and 0.5, 42 % under 15 and 41 % over 25 (the
    docstring's numbers); uniform 0-50 has 30 % / 50 %. Seeded; the default draws are unchanged."""
    skewed, uniform = _drawn_sigmas("noise:max_sigma=55,skew=0.5"), _drawn_sigmas("noise")
    assert abs((skewed < 15).mean() - 0.42) < 0.04 and abs((skewed > 25).mean() - 0.41) < 0.04
    assert abs((uniform < 15).mean() - 0.30) < 0.04 and abs((uniform > 25).mean() - 0.50) < 0.04
    assert skewed.max() <= 55 * 1.15 and skewed.max() > 50 and uniform.max() <= 50 * 1.15
    img = photo()
    np.testing.assert_array_equal(dg.degrade(img, "noise:skew=1", 4), dg.degrade(img, "noise:skew=1", 4))
    np.testing.assert_array_equal(dg.degrade(img, "noise:max_sigma=50,skew=0", 4), dg.degrade(img, "noise", 4))
    # a set sigma is not skewed; max_sigma 0 draws no noise at all
    np.testing.assert_array_equal(dg.degrade(img, "noise:sigma=20,skew=2", 4), dg.degrade(img, "noise:sigma=20", 4))
    assert np.array_equal(dg.degrade(img, "noise:max_sigma=0,skew=1", 4), np.clip(img, 0, 1))


# ----------------------------------------------------------------------------- noisemix


def test_noisemix_sigma_and_shot_noise_variance():
    grey = np.full((160, 160, 3), 0.5, np.float32)
    plain = dg.add_noise_mix(grey, 0, sigma=20, peak=0, channel_corr=0, grain=0) - grey
    assert abs(plain.std() * 255 - 20) < 0.4 and abs(plain.mean()) < 0.003
    for level in (0.2, 0.6):
        x = np.full((160, 160, 3), level, np.float32)
        n = dg.add_noise_mix(x, 1, sigma=5, peak=40, channel_corr=0, grain=0) - x
        expected = level / 40 + (5 / 255) ** 2  # Poisson-Gaussian: x / peak + sigma^2
        assert abs(n.var() / expected - 1) < 0.05


@pytest.mark.parametrize("corr", [0.0, 0.3, 0.6])
def test_noisemix_channel_correlation_is_as_asked(corr):
    grey = np.full((160, 160, 3), 0.5, np.float32)
    n = (dg.add_noise_mix(grey, 2, sigma=10, peak=0, channel_corr=corr, grain=0) - grey).reshape(-1, 3)
    c = np.corrcoef(n.T)
    assert all(abs(c[i, j] - corr) < 0.03 for i, j in ((0, 1), (0, 2), (1, 2)))


@pytest.mark.parametrize("grain", [0.0, 0.8, 1.5])
def test_noisemix_grain_gives_the_documented_neighbour_correlation(grain):
    grey = np.full((192, 192, 3), 0.5, np.float32)
    n = dg.add_noise_mix(grey, 3, sigma=10, peak=0, channel_corr=0, grain=grain)[..., 0] - 0.5
    lag1 = np.corrcoef(n[:, 1:].ravel(), n[:, :-1].ravel())[0, 1]
    expected = math.exp(-1 / (4 * grain**2)) if grain else 0.0
    assert abs(lag1 - expected) < 0.04
    assert abs(n.std() * 255 - 10) < 0.6  # the grain keeps the asked sigma


# ----------------------------------------------------------------------------- jpeg

_IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]).reshape(8, 8)  # JPEG Annex K


def _zigzag(block: np.ndarray) -> np.ndarray:
    order = sorted(((y, x) for y in range(8) for x in range(8)),
                   key=lambda p: (p[0] + p[1], p[1] if (p[0] + p[1]) % 2 == 0 else p[0]))
    return np.array([block[y, x] for y, x in order])


def _luma_table(data: bytes) -> np.ndarray:
    """The first quantisation table (id 0, luma) of a JPEG file, in zigzag order as stored."""
    at = data.index(b"\xff\xdb")
    assert data[at + 4] == 0  # 8-bit precision, table 0
    return np.frombuffer(data[at + 5 : at + 69], np.uint8).astype(int)


@pytest.mark.parametrize("quality", [20, 50, 75, 90])
def test_jpeg_is_a_jpeg_of_the_asked_quality(quality):
    img = photo()
    data = dg.jpeg_bytes(img, quality)
    assert data[:2] == b"\xff\xd8"
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality  # the IJG quality scaling
    expected = np.clip((_IJG_LUMA * scale + 50) // 100, 1, 255)
    np.testing.assert_array_equal(_luma_table(data), _zigzag(expected))
    out = dg.degrade(img, f"jpeg:quality={quality}", 0)
    decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(out, decoded.astype(np.float32) / 255)
    assert np.abs(out - img).mean() > 1e-3


def test_jpeg_blocks_show_at_low_quality_and_chance_zero_keeps_the_image():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.random((128, 128, 3)).astype(np.float32), (0, 0), 2.0)
    out = dg.degrade(img, "jpeg:quality=10", 0)
    steps = np.abs(np.diff(out, axis=1)).mean(axis=(0, 2))  # column-to-column change
    at_edges = steps[7::8].mean()
    inside = np.delete(steps, np.s_[7::8]).mean()
    assert at_edges > 1.5 * inside
    np.testing.assert_array_equal(dg.degrade(img, "jpeg:chance=0", 0), img)


# ----------------------------------------------------------------------------- chains and checks


def test_a_chain_applies_its_parts_in_turn_from_one_generator():
    img = photo()
    rng = np.random.default_rng(9)
    assert rng.random() < 1.0  # noisemix's chance is drawn first (it is 1 here: always noisy)
    by_hand = dg.jpeg_compress(dg.add_noise_mix(img, rng, sigma=15), rng, quality=60)
    np.testing.assert_array_equal(dg.degrade(img, "noisemix:sigma=15+jpeg:quality=60", 9), by_hand)
    assert [n for n, _ in dg.parse_chain("rainmix+blurmix+jpeg")] == ["rainmix", "blurmix", "jpeg"]
    assert dg.parse_chain("noise:sigma=+5") == [("noise", {"sigma": 5.0})]  # a signed number is no chain


def test_chance_leaves_that_share_of_images_clean():
    img = photo()
    kept = sum(np.array_equal(dg.degrade(img, "noisemix:sigma=10,chance=0.25", s), img) for s in range(200))
    assert 120 <= kept <= 180


@pytest.mark.parametrize(("recipe", "key"), [
    ("rainmix:blend=multiply", "blend"), ("rainmix:layers=2.5", "layers"), ("rainmix:layers=4", "layers"),
    ("rainmix:opacity=nan", "opacity"), ("rainmix:drops=0.9", "drops"), ("blurmix:kind=zoom", "kind"),
    ("blurmix:radius=20", "radius"), ("blurmix:max_length=30", "max_length"), ("noisemix:sigma=-1", "sigma"),
    ("noisemix:channel_corr=1.5", "channel_corr"), ("noisemix:grain=inf", "grain"), ("jpeg:quality=0", "quality"),
    ("jpeg:quality=101", "quality"), ("jpeg:chance=2", "chance"), ("noisemix:chance=-1", "chance"),
    ("noise:skew=5", "skew"), ("noise:max_sigma=-3", "max_sigma"), ("veil:strength=1", "strength"),
    ("veil:space=log", "space"), ("veil:chance=1.5", "chance"),
])
def test_new_recipe_values_out_of_range_are_named(recipe, key):
    with pytest.raises(InputError, match=rf"recipe '{recipe}': {key}\b"):
        dg.check_recipe(recipe)


def test_other_recipe_mistakes_are_input_errors():
    for bad in ("noisemix:peak=0.5", "rainmix:colour=red", "noise+", "jpeg+", "blurmix:kind=shake,length=x"):
        with pytest.raises(InputError):
            dg.check_recipe(bad)


def test_alternatives_apply_one_whole_chain_drawn_first_from_the_generator():
    img = photo()
    picks = set()
    for seed in range(8):  # seeds that draw each alternative
        rng = np.random.default_rng(seed)
        pick = int(rng.integers(2))
        picks.add(pick)
        if pick == 0:
            by_hand = dg.add_noise(img, rng, sigma=10.0)
        else:
            assert rng.random() < 1.0  # noisemix's chance, then its draws, then the JPEG
            by_hand = dg.jpeg_compress(dg.add_noise_mix(img, rng, sigma=5.0), rng, quality=50.0)
        np.testing.assert_array_equal(dg.degrade(img, "noise:sigma=10|noisemix:sigma=5+jpeg:quality=50", seed), by_hand)
    assert picks == {0, 1}
    assert [[n for n, _ in chain] for chain in dg.parse_alternatives("rain|rainmix+jpeg")] == [["rain"], ["rainmix", "jpeg"]]


def test_alternatives_are_each_drawn_about_as_often_and_a_plain_recipe_draws_no_choice():
    img = photo()
    light = [dg.degrade(img, "noise:sigma=2|noise:sigma=40", s) for s in range(200)]
    strong = sum(float(np.abs(out - img).mean()) > 0.05 for out in light)
    assert 70 <= strong <= 130  # each alternative about half the time
    # Without '|' the generator's stream is the old one: the shipped recipes' images never change.
    np.testing.assert_array_equal(dg.degrade(img, "noise:sigma=25", 3), dg.add_noise(img, np.random.default_rng(3), sigma=25.0))


def test_alternative_mistakes_are_input_errors_naming_the_recipe():
    for bad in ("rain|", "|noise", "rain||noise"):
        with pytest.raises(InputError, match="empty alternative"):
            dg.check_recipe(bad)
    with pytest.raises(InputError, match=r"recipe 'noise:sigma=300': sigma"):
        dg.check_recipe("rain|noise:sigma=300")  # every alternative is checked, not just the one drawn


def test_linear_light_rain_lifts_darks_more_than_srgb_rain():
    """The same streaks composited in linear light brighten a dark area several times more than
    a bright one; composited on the sRGB values the lift is far more even."""
    img = np.zeros((96, 96, 3), np.float32)
    img[:, :48], img[:, 48:] = 0.15, 0.75
    kw = dict(blend="add", layers=1, density=0.01, angle=0, length=20, width=1.5, blur=0, opacity=0.4, tint=0,
              drops=0, haze=0, colour="global")
    ratio = {}
    for space in ("srgb", "linear"):
        r = dg.add_rain_mix(img, 7, space=space, **kw) - img
        ratio[space] = float(r[:, :48].mean() / r[:, 48:].mean())
    assert ratio["linear"] > 2 * ratio["srgb"]


def test_local_colour_takes_the_light_around_each_streak():
    """With colour=local (and full tint) a streak over a red half is redder than one over a blue half."""
    img = np.zeros((96, 96, 3), np.float32)
    img[:, :48] = (0.6, 0.1, 0.1)
    img[:, 48:] = (0.1, 0.1, 0.6)
    streaks = dict(blend="add", layers=1, density=0.01, angle=0, length=20, width=1.5, blur=0, opacity=0.5, tint=1.0,
                   drops=0, haze=0, space="srgb")
    out = dg.add_rain_mix(img, 3, colour="local", **streaks) - img
    left, right = out[:, 8:40].reshape(-1, 3).sum(0), out[:, 56:88].reshape(-1, 3).sum(0)
    assert left[0] > 1.5 * left[2] and right[2] > 1.5 * right[0]
    same = dg.add_rain_mix(img, 3, colour="global", **streaks) - img
    g_left = same[:, 8:40].reshape(-1, 3).sum(0)
    assert abs(g_left[0] / g_left[2] - 1.0) < 0.2  # one colour for every streak: the scene's mean (red + blue)


def test_rainmix_space_and_colour_are_checked():
    for bad, word in (("rainmix:space=log", "space"), ("rainmix:colour=red", "colour")):
        with pytest.raises(InputError, match=word):
            dg.degrade(photo(), bad, 0)


def test_rainmix_colours_streaks_globally_unless_told():
    """``colour`` is not drawn by default (local colour made a model wipe texture); ``either`` draws it."""
    img = photo()
    for seed in range(3):
        assert np.array_equal(dg.degrade(img, "rainmix", seed), dg.degrade(img, "rainmix:colour=global", seed))
    local = [np.array_equal(dg.degrade(img, "rainmix:colour=either", s), dg.degrade(img, "rainmix:colour=local", s))
             for s in range(12)]
    assert any(local) and not all(local)  # some draws are the local colour's rain, others are not


# ----------------------------------------------------------------------------- veil


def test_veil_is_rainmix_haze_without_streaks_and_lifts_darks_more():
    """``veil`` lifts every pixel towards a light grey by ``strength`` (dark ones most) and is the
    very veil rainmix lays under its streaks when they are absent."""
    img = photo()
    out = dg.degrade(img, "veil:strength=0.2,space=srgb,tint=0", 3)
    np.testing.assert_allclose(out, img * 0.8 + 0.2, atol=1e-6)  # tint 0: towards white (0.75 + 0.25)
    linear = dg.degrade(img, "veil:strength=0.05,space=linear,tint=0", 3)
    dark, bright = img[..., 0] < 0.35, img[..., 0] > 0.55
    lift = linear[..., 0] - img[..., 0]
    assert lift[dark].mean() > 1.2 * lift[bright].mean() > 0  # in linear light a veil lifts darks more
    no_streaks = dict(blend="add", layers=1, density=0.0, drops=0, tint=0.3, space="linear")
    np.testing.assert_allclose(dg.add_rain_mix(img, 4, haze=0.15, **no_streaks),
                               dg.add_veil(img, 9, strength=0.15, space="linear", tint=0.3), atol=1e-6)


def test_veil_draws_strength_space_and_tint_per_image():
    img = photo()
    lifts = [float((dg.degrade(img, "veil", s) - img).mean()) for s in range(40)]
    assert 0 <= min(lifts) < 0.03 and max(lifts) > 0.08  # strength 0-0.3 drawn, not fixed
    def affine(out: np.ndarray) -> bool:  # a tint-0 sRGB veil moves every value the same share towards 1
        share = (out - img) / (1 - img)
        return float(share.max() - share.min()) < 1e-4
    srgb = [affine(dg.degrade(img, "veil:tint=0", s)) for s in range(20)]
    assert 3 <= sum(srgb) <= 17  # both spaces drawn: only sRGB draws are one affine map of the values
