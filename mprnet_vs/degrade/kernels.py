"""``blurmix``: blur from hand-shake trajectories, defocus and Gaussian lenses as well as lines.

The ``blur`` recipe's two kernels (straight lines and a momentum random walk) are what the shipped
deblur model knows. Real photos are blurred by a hand that jerks and slows during the exposure
(so the trail is uneven in brightness), by a lens out of focus (a disc) and by soft optics (a
Gaussian); this recipe draws among them and adds light noise, and its result goes through the
same convolution as ``blur`` (:func:`mprnet_vs.degrade.classic.motion_blur`).

Parameters (``None`` = drawn per image):
- ``kind``: ``linear`` (30 %), ``shake`` (40 %), ``defocus`` (20 %) or ``gaussian`` (10 %).
- ``length``: line length or shake extent in px, 3-``max_length`` (lines) / 7-``max_length`` (shake).
- ``angle``: direction of a line in degrees, 0-180.
- ``radius``: defocus disc radius in px, 1-8 (set: 0.5-12).
- ``spread``: Gaussian sigma in px, 0.5-3 (set: 0.3-8).
- ``noise``: Gaussian noise sigma after blurring, 0-3 (8-bit units).
- ``max_length``: cap of the drawn line and shake sizes, 3-25 (default 25).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import InputError
from .classic import MAX_KERNEL, Seed, _pick, _rng, line_kernel, motion_blur

KINDS = ("linear", "shake", "defocus", "gaussian")
_KIND_ODDS = (0.3, 0.4, 0.2, 0.1)
LIMITS = {"length": (1.0, 101.0), "angle": (-360.0, 360.0), "radius": (0.5, 12.0), "spread": (0.3, 8.0),
          "noise": (0.0, 255.0), "max_length": (3.0, float(MAX_KERNEL))}
CHOICES = {"kind": KINDS}
_SUPERSAMPLE = 8


def defocus_kernel(radius: float) -> np.ndarray:
    """A normalised disc of ``radius`` px (a lens out of focus), anti-aliased at its rim by
    averaging 8 x 8 sub-pixel samples; the kernel is (2 ceil(radius) + 1) px wide."""
    half = int(math.ceil(radius))
    size = 2 * half + 1
    steps = (np.arange(size * _SUPERSAMPLE) + 0.5) / _SUPERSAMPLE - size / 2.0
    yy, xx = np.meshgrid(steps, steps, indexing="ij")
    inside = (xx**2 + yy**2 <= radius**2).astype(np.float32)
    kernel = inside.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(1, 3))
    return (kernel / kernel.sum()).astype(np.float32)


def gaussian_kernel(spread: float) -> np.ndarray:
    """A normalised isotropic Gaussian of sigma ``spread`` px, cut at 3 sigma."""
    g = cv2.getGaussianKernel(2 * int(math.ceil(3 * spread)) + 1, spread).astype(np.float32)
    kernel = g @ g.T
    return kernel / kernel.sum()


def shake_kernel(rng: Seed = None, size: int | None = None, max_size: int = MAX_KERNEL) -> np.ndarray:
    """A hand-shake kernel: a path whose acceleration is mostly small jitter with rare jerks
    (after Boracchi and Foi, TIP 2012), walked at uneven speed so the trail's brightness varies,
    drawn at 8x and shrunk by area averaging; ``size`` px square (odd; drawn 7-``max_size``)."""
    rng = _rng(rng)
    size = (size or int(rng.integers(min(7, max_size), max_size + 1))) | 1
    steps = 200
    velocity = rng.normal(size=2) * 0.5
    position = np.zeros(2)
    points = []
    for _ in range(steps):
        jerk = rng.normal(size=2) * (3.0 if rng.random() < 0.05 else 0.3)
        velocity = 0.92 * velocity + 0.08 * jerk - 0.004 * position
        position = position + velocity
        points.append(position.copy())
    path = np.array(points)
    path -= (path.max(0) + path.min(0)) / 2.0
    extent = float(np.abs(path).max()) + 1e-8
    path *= (size - 1) / 2.0 * rng.uniform(0.7, 1.0) / extent
    dwell = np.linalg.norm(np.diff(path, axis=0, prepend=path[:1]), axis=1)
    weight = 1.0 / (dwell + 0.05)  # the hand slows at the turns: more light lands there
    big = np.zeros((size * _SUPERSAMPLE, size * _SUPERSAMPLE), np.float32)
    pix = (path + (size - 1) / 2.0 + 0.5) * _SUPERSAMPLE
    for (x, y), wgt in zip(pix, weight / weight.sum()):
        cv2.circle(big, (int(x * 16), int(y * 16)), _SUPERSAMPLE // 2 * 16, float(wgt), -1, cv2.LINE_AA, shift=4)
    kernel = big.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE).sum(axis=(1, 3))
    return (kernel / kernel.sum()).astype(np.float32)


def mixed_kernel(
    rng: Seed = None,
    *,
    kind: str | None = None,
    length: float | None = None,
    angle: float | None = None,
    radius: float | None = None,
    spread: float | None = None,
    max_length: float = MAX_KERNEL,
) -> np.ndarray:
    """A blur kernel of a drawn kind (see the module docstring), normalised to sum 1."""
    rng = _rng(rng)
    top = int(max_length)
    if not 3 <= top <= MAX_KERNEL:
        raise InputError(f"blurmix max_length={max_length:g}: must be 3-{MAX_KERNEL} px")
    kind = kind or KINDS[int(rng.choice(len(KINDS), p=_KIND_ODDS))]
    if kind == "linear":
        return line_kernel(_pick(length, 3.0, float(top), rng), _pick(angle, 0.0, 180.0, rng))
    if kind == "shake":
        return shake_kernel(rng, size=None if length is None else int(length), max_size=top)
    if kind == "defocus":
        return defocus_kernel(_pick(radius, 1.0, 8.0, rng))
    return gaussian_kernel(_pick(spread, 0.5, 3.0, rng))


def blur_mix(img: np.ndarray, rng: Seed = None, *, noise: float | None = None, **kernel_params: object) -> np.ndarray:
    """The image blurred by :func:`mixed_kernel` plus Gaussian noise of sigma ``noise`` (0-3 drawn)."""
    rng = _rng(rng)
    kernel = mixed_kernel(rng, **kernel_params)  # type: ignore[arg-type]
    return motion_blur(img, rng, kernel=kernel, noise=_pick(noise, 0.0, 3.0, rng))
