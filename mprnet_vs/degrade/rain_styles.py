"""``rainmix``: rain rendered many ways, so a derainer learns rain rather than one drawing of it.

The shipped derain model learnt the ``rain`` recipe (one streak look, screen-blended) and gains
+8 dB on it but under +1.2 dB on rain drawn another way. This recipe varies everything a real
photo of rain varies: how streaks combine with the scene (additive light, screen, or alpha-over
an opaque colour, which can darken bright areas), their width, length, blur, opacity and colour
(white, or tinted by the scene they refract), several layers of different density and depth at
once, drops on the lens (soft refracting blobs) and the haze veil of distant rain.

Parameters (``None`` = drawn per image from the range given):
- ``blend``: ``screen`` | ``add`` | ``alpha`` (drawn evenly).
- ``layers``: 1-3 streak layers (drawn 1-3); each nearer layer is sparser, longer, wider, blurrier.
- ``density``: streaks per pixel of the first layer, 0.0005-0.012.
- ``angle``: degrees from vertical, -35..35; each layer turns by up to +-4 more.
- ``length``: mean streak length in px, 5-60 (each streak varies +-30 %).
- ``width``: streak width in px, 0.5-4 (sub-pixel widths drawn at twice the size).
- ``blur``: Gaussian sigma in px, 0-2.
- ``opacity``: 0.2-0.9, the strength of the brightest streaks.
- ``tint``: 0-0.6, how far the streak colour moves from white towards the scene's mean colour.
- ``drops``: fraction of the frame covered by lens drops, 0-0.1 (0 in half the draws).
- ``haze``: veil strength 0-0.3 (0 in half the draws), towards a light grey of the scene's tint.
- ``space``: ``srgb`` | ``linear`` (drawn evenly): where streaks and haze are composited. Light
  adds in linear light, so real rain and physically based renderers lift dark areas far more
  than bright ones; editors and most synthetic rain sets composite the sRGB values.
- ``colour``: ``global`` (the default) | ``local`` | ``either`` (drawn evenly): the streaks' colour
  comes from the whole scene's mean, or from the scene blurred around each streak (a drop refracts
  the light about it). Not drawn by default: faint thin streaks in the colour of what is around
  them look like texture, and a model trained with ``local`` in half its patches (2026-12-07,
  beside other changes) wiped fine bright texture off clean photos.

Before 2026-12-07 rainmix composited on the sRGB values only: ``space=srgb`` reproduces those images.

``veil`` is rainmix's haze alone (no streaks), the same formula: ``strength`` 0-0.3, ``space`` and
``tint`` drawn as in rainmix. As a degradation it is a veil to lift; as a training ``scene`` (see
:class:`mprnet_vs.training.data.PairSource`) it is haze that belongs to the picture and must be kept,
so that a derainer learns to lift a veil only where rain lies over it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .classic import Seed, _pick, _rng, as_float

BLENDS = ("screen", "add", "alpha")
LIMITS = {"layers": (1.0, 3.0), "density": (0.0, 0.1), "angle": (-90.0, 90.0), "length": (1.0, 150.0),
          "width": (0.5, 10.0), "blur": (0.0, 10.0), "opacity": (0.0, 1.0), "tint": (0.0, 1.0),
          "drops": (0.0, 0.5), "haze": (0.0, 0.9)}
VEIL_LIMITS = {"strength": (0.0, 0.9), "tint": (0.0, 1.0)}
SPACES = ("srgb", "linear")
COLOURS = ("global", "local")
CHOICES = {"blend": BLENDS, "space": SPACES, "colour": (*COLOURS, "either")}
VEIL_CHOICES = {"space": SPACES}
INTEGERS = ("layers",)


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] to linear light (IEC 61966-2-1)."""
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(v: np.ndarray) -> np.ndarray:
    """Linear light to sRGB-encoded values, clipped to [0, 1]."""
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055).astype(np.float32)


def _pick_word(value: str | None, words: tuple[str, ...], rng: np.random.Generator) -> str:
    """``value`` if given, else one of ``words`` drawn evenly (one draw from ``rng``)."""
    return value or words[int(rng.integers(0, len(words)))]


def _to_space(x: np.ndarray, space: str) -> np.ndarray:
    """The values to composite on: linear light, or the sRGB values as they are."""
    return srgb_to_linear(x) if space == "linear" else x


def _from_space(x: np.ndarray, space: str) -> np.ndarray:
    """Back from :func:`_to_space` (linear light is encoded again, and clipped by the encoding)."""
    return linear_to_srgb(x) if space == "linear" else x


def streak_mask(height: int, width: int, rng: Seed = None, *, density: float, angle: float, length: float,
                width_px: float, blur: float) -> np.ndarray:
    """HxW float32 in [0, 1]: anti-aliased streaks, each its own segment of random length and
    strength (unlike ``rain_layer``, which smears every seed by one kernel)."""
    rng = _rng(rng)
    scale = 2  # draw at twice the size so widths under 2 px come out fractional
    canvas = np.zeros((height * scale, width * scale), np.float32)
    count = rng.poisson(density * height * width)
    pad = length  # streaks may start outside the frame and run into it
    ys = rng.uniform(-pad, height + pad, count)
    xs = rng.uniform(-pad, width + pad, count)
    lengths = length * rng.uniform(0.7, 1.3, count)
    strengths = rng.uniform(0.4, 1.0, count)
    theta = math.radians(angle)
    dx, dy = math.sin(theta), math.cos(theta)  # angle from vertical, positive leans right going down
    thickness = max(1, int(round(width_px * scale)))
    shift = 3
    for y, x, n, s in zip(ys, xs, lengths, strengths):
        p1 = (int((x - dx * n / 2) * scale * (1 << shift)), int((y - dy * n / 2) * scale * (1 << shift)))
        p2 = (int((x + dx * n / 2) * scale * (1 << shift)), int((y + dy * n / 2) * scale * (1 << shift)))
        cv2.line(canvas, p1, p2, float(s), thickness=thickness, lineType=cv2.LINE_AA, shift=shift)
    mask = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
    if blur > 0.05:
        mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=blur)
    return np.clip(mask, 0.0, 1.0)


def _blend(x: np.ndarray, alpha: np.ndarray, colour: np.ndarray, mode: str) -> np.ndarray:
    """``colour`` is RGB (3,) or a per-pixel HxWx3 colour."""
    a = alpha[..., None]
    if mode == "screen":
        return 1.0 - (1.0 - x) * (1.0 - a * colour)
    if mode == "add":
        return x + a * colour
    return x * (1.0 - a) + a * colour  # alpha-over: an opaque streak hides what is behind it


def _tone(scene: np.ndarray, tint: float) -> np.ndarray:
    """White moved ``tint`` of the way towards the scene's mean colour (its brightest channel at 1)."""
    return ((1.0 - tint) * np.ones(3) + tint * scene / max(float(scene.max()), 1e-3)).astype(np.float32)


def _veil(x: np.ndarray, strength: float, tone: np.ndarray) -> np.ndarray:
    """Haze of distant rain or mist: a veil towards a light grey of ``tone``, strongest where the
    scene is dark (``x`` in whatever space the caller composites in)."""
    return x * (1.0 - strength) + strength * (0.75 + 0.25 * tone)


def add_veil(img: np.ndarray, rng: Seed = None, *, strength: float | None = None, space: str | None = None,
             tint: float | None = None) -> np.ndarray:
    """The image under a haze veil (rainmix's haze without streaks): ``strength`` 0-0.3, ``space``
    ``srgb`` | ``linear`` and ``tint`` 0-0.6 drawn when None."""
    x = as_float(img)
    rng = _rng(rng)
    strength = _pick(strength, 0.0, 0.3, rng)
    space = _pick_word(space, SPACES, rng)
    tint = _pick(tint, 0.0, 0.6, rng)
    out = _to_space(x, space)
    out = _from_space(_veil(out, strength, _tone(out.reshape(-1, 3).mean(0), tint)), space)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _lens_drops(x: np.ndarray, rng: np.random.Generator, cover: float) -> np.ndarray:
    """Soft discs through which the scene is seen blurred, a little brighter: drops on the lens."""
    h, w = x.shape[:2]
    alpha = np.zeros((h, w), np.float32)
    area = 0.0
    while area < cover * h * w:
        r = float(rng.uniform(2.0, max(3.0, min(h, w) / 12)))
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(round(r)), int(round(r * rng.uniform(0.7, 1.0))))
        cv2.ellipse(alpha, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
        area += math.pi * axes[0] * axes[1]
    alpha = cv2.GaussianBlur(alpha, (0, 0), sigmaX=1.0)
    seen = cv2.GaussianBlur(x, (0, 0), sigmaX=float(rng.uniform(2.0, 5.0))) * 1.08 + 0.03
    return x * (1.0 - alpha[..., None]) + np.clip(seen, 0, 1) * alpha[..., None]


def add_rain_mix(
    img: np.ndarray,
    rng: Seed = None,
    *,
    blend: str | None = None,
    layers: float | None = None,
    density: float | None = None,
    angle: float | None = None,
    length: float | None = None,
    width: float | None = None,
    blur: float | None = None,
    opacity: float | None = None,
    tint: float | None = None,
    drops: float | None = None,
    haze: float | None = None,
    space: str | None = None,
    colour: str | None = None,
) -> np.ndarray:
    """The image with rain rendered in a drawn style (see the module docstring for the ranges)."""
    x = as_float(img)
    rng = _rng(rng)
    h, w = x.shape[:2]
    mode = _pick_word(blend, BLENDS, rng)
    count = int(layers) if layers is not None else int(rng.integers(1, 4))
    density = _pick(density, 0.0005, 0.012, rng)
    angle = _pick(angle, -35.0, 35.0, rng)
    length = _pick(length, 5.0, 60.0, rng)
    width = _pick(width, 0.5, 4.0, rng)
    blur = _pick(blur, 0.0, 2.0, rng)
    opacity = _pick(opacity, 0.2, 0.9, rng)
    tint = _pick(tint, 0.0, 0.6, rng)
    drops = (0.0 if rng.random() < 0.5 else float(rng.uniform(0.0, 0.1))) if drops is None else float(drops)
    haze = (0.0 if rng.random() < 0.5 else float(rng.uniform(0.0, 0.3))) if haze is None else float(haze)
    space = _pick_word(space, SPACES, rng)
    source = _pick_word(None, COLOURS, rng) if colour == "either" else colour or "global"
    out = _to_space(x, space)
    scene = out.reshape(-1, 3).mean(0)
    tone = _tone(scene, tint)
    if source == "local":  # each streak takes the light about it: the scene blurred, scaled so its brightest is 1
        around = cv2.GaussianBlur(out, (0, 0), sigmaX=max(4.0, min(h, w) / 24))
        around = around / max(float(around.max()), 1e-3)
        streak_colour = (1.0 - tint) + tint * around
    else:
        streak_colour = tone
    if haze > 0:  # distant rain
        out = _veil(out, haze, tone)
    for depth in range(count):  # far layers first: nearer streaks are sparser, longer, wider, blurrier
        near = 1.0 + 0.6 * depth
        mask = streak_mask(h, w, rng, density=density / near**2, angle=angle + float(rng.uniform(-4, 4)) * (depth > 0),
                           length=length * near, width_px=min(width * near, 10.0), blur=blur * near)
        out = _blend(out, mask * opacity / math.sqrt(near), streak_colour, mode)
    out = _from_space(out, space)
    if drops > 0:
        out = _lens_drops(np.clip(out, 0, 1).astype(np.float32), rng, drops)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
