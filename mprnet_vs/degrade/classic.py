"""The first degradations (the shipped models' recipes): rain streaks, motion blur and noise,
and the image helpers every recipe shares.

Every function takes an RGB image as float32 HxWx3 in [0, 1] (uint8/uint16 are converted) and a
seed or ``numpy.random.Generator``; the same seed gives the same result. Parameters left as
``None`` are drawn at random from the documented ranges (see :mod:`mprnet_vs.degrade`), so one
recipe covers a family of degradations rather than a single look. Their draws are frozen: the
shipped models' cards quote numbers that depend on them, so new looks go in new recipes
(:mod:`.rain_styles`, :mod:`.kernels`, :mod:`.noise_models`, :mod:`.jpeg`).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from ..errors import InputError

Seed = int | np.random.Generator | None
MAX_KERNEL = 25
MAX_SET_LENGTH = 101  # a blur length set by a recipe may exceed the drawn range


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def as_float(img: np.ndarray) -> np.ndarray:
    """HxWx3 float32 in [0, 1] from uint8, uint16 or float input (a copy; the input is untouched)."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise InputError(f"expected an HxWx3 RGB image, got shape {img.shape}")
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    if np.issubdtype(img.dtype, np.floating):
        return np.clip(img.astype(np.float32), 0.0, 1.0)
    raise InputError(f"unsupported image dtype {img.dtype}")


def _pick(value: float | None, low: float, high: float, rng: np.random.Generator) -> float:
    return float(rng.uniform(low, high)) if value is None else float(value)


# ----------------------------------------------------------------------------- rain


def rain_layer(
    height: int,
    width: int,
    rng: Seed = None,
    *,
    density: float | None = None,
    angle: float | None = None,
    length: float | None = None,
    width_px: float | None = None,
    brightness: float | None = None,
    blur: float | None = None,
) -> np.ndarray:
    """An HxW float32 streak layer in [0, 1]: random seeds smeared along one direction."""
    rng = _rng(rng)
    density = _pick(density, 0.001, 0.01, rng)
    angle = _pick(angle, -30.0, 30.0, rng)
    length = _pick(length, 8.0, 40.0, rng)
    width_px = _pick(width_px, 1.0, 3.0, rng)
    brightness = _pick(brightness, 0.3, 0.8, rng)
    blur = _pick(blur, 0.0, 1.5, rng)
    seeds = (rng.random((height, width)) < density).astype(np.float32)
    seeds *= rng.uniform(0.5, 1.0, (height, width)).astype(np.float32)  # drops differ in strength
    if width_px > 1.0:
        seeds = cv2.GaussianBlur(seeds, (0, 0), sigmaX=(width_px - 1.0) * 0.5 + 0.3)
        seeds *= (width_px - 1.0) * 0.5 + 1.0
    kernel = line_kernel(length, angle + 90.0, size=int(math.ceil(length)) | 1)
    streaks = convolve(seeds, kernel * length)
    if blur > 0.05:
        streaks = cv2.GaussianBlur(streaks, (0, 0), sigmaX=blur)
    return np.clip(streaks * brightness, 0.0, 1.0)


def add_rain(img: np.ndarray, rng: Seed = None, **params: Any) -> np.ndarray:
    """The image with rain streaks screened over it (see :func:`rain_layer` for parameters)."""
    x = as_float(img)
    rng = _rng(rng)
    layer = rain_layer(x.shape[0], x.shape[1], rng, **params)[..., None]
    return (1.0 - (1.0 - x) * (1.0 - layer)).astype(np.float32)


# ----------------------------------------------------------------------------- blur


def line_kernel(length: float, angle: float, size: int | None = None) -> np.ndarray:
    """A normalised anti-aliased line of ``length`` px at ``angle`` degrees (0 = horizontal)."""
    length = max(float(length), 1.0)
    size = size or (int(math.ceil(length)) | 1)
    scale = 8  # draw large, then shrink: sub-pixel accurate ends
    big = np.zeros((size * scale, size * scale), np.float32)
    centre = (size * scale - 1) / 2.0
    dx = math.cos(math.radians(angle)) * (length - 1) * scale / 2.0
    dy = -math.sin(math.radians(angle)) * (length - 1) * scale / 2.0
    shift = 4
    p1 = (int(round((centre - dx) * (1 << shift))), int(round((centre - dy) * (1 << shift))))
    p2 = (int(round((centre + dx) * (1 << shift))), int(round((centre + dy) * (1 << shift))))
    cv2.line(big, p1, p2, 1.0, thickness=scale - 2, lineType=cv2.LINE_AA, shift=shift)
    kernel = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
    return (kernel / kernel.sum()).astype(np.float32)


def trajectory_kernel(rng: Seed = None, size: int | None = None, steps: int = 64, max_size: int = MAX_KERNEL) -> np.ndarray:
    """A normalised camera-shake kernel: a random walk with momentum, fitted into ``size`` px
    (drawn from 7-``max_size`` when not given)."""
    rng = _rng(rng)
    size = size or int(rng.integers(min(7, max_size), max_size + 1)) | 1
    velocity = rng.normal(size=2)
    velocity /= np.linalg.norm(velocity) + 1e-8
    points = [np.zeros(2)]
    for _ in range(steps - 1):
        velocity = 0.85 * velocity + 0.35 * rng.normal(size=2) - 0.02 * points[-1]
        points.append(points[-1] + velocity)
    path = np.array(points)
    path -= path.mean(0)
    extent = np.abs(path).max() + 1e-8
    path *= (size - 1) / 2.0 * rng.uniform(0.6, 1.0) / extent
    path += (size - 1) / 2.0
    kernel = np.zeros((size, size), np.float32)
    for x, y in path:  # bilinear splat of each sample
        x0, y0 = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - x0, y - y0
        for xx, yy, w in ((x0, y0, (1 - fx) * (1 - fy)), (x0 + 1, y0, fx * (1 - fy)), (x0, y0 + 1, (1 - fx) * fy), (x0 + 1, y0 + 1, fx * fy)):
            if 0 <= xx < size and 0 <= yy < size:
                kernel[yy, xx] += w
    return kernel / kernel.sum()


def blur_kernel(
    rng: Seed = None,
    *,
    kind: str | None = None,
    length: float | None = None,
    angle: float | None = None,
    max_length: float = MAX_KERNEL,
) -> np.ndarray:
    """A random motion-blur kernel: ``linear`` or ``trajectory`` (drawn 50/50 when ``kind`` is None).

    ``max_length`` caps the drawn lengths (3-``max_length`` px), e.g. to train on short blurs first.
    """
    rng = _rng(rng)
    top = int(max_length)
    if not 3 <= top <= MAX_KERNEL:
        raise InputError(f"blur max_length={max_length:g}: must be 3-{MAX_KERNEL} px")
    kind = kind or ("linear" if rng.random() < 0.5 else "trajectory")
    if kind == "linear":
        length = _pick(length, 3.0, float(top), rng)
        return line_kernel(length, _pick(angle, 0.0, 180.0, rng))
    if kind == "trajectory":
        size = None if length is None else int(length) | 1
        return trajectory_kernel(rng, size=size, max_size=top)
    raise InputError(f"unknown blur kind {kind!r}: choose linear or trajectory")


def convolve(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``img`` convolved with ``kernel`` (centre at ``(size - 1) // 2`` as scipy's ``mode="same"``,
    reflected borders): what a
    blur kernel means and what ``degrade`` reports, so a Wiener oracle or a user's deconvolution
    given the reported kernel undoes it. cv2.filter2D alone correlates, which turns an asymmetric
    kernel (a hand-shake trail) by 180 degrees; flipping it and mirroring its anchor makes the
    correlation a convolution, for even sizes too."""
    height, width = kernel.shape
    flipped = np.ascontiguousarray(kernel[::-1, ::-1])
    anchor = (width // 2, height // 2)  # the flipped kernel's cell over the original's (size - 1) // 2
    return cv2.filter2D(img, -1, flipped, anchor=anchor, borderType=cv2.BORDER_REFLECT)


def motion_blur(
    img: np.ndarray,
    rng: Seed = None,
    *,
    kind: str | None = None,
    length: float | None = None,
    angle: float | None = None,
    noise: float | None = None,
    kernel: np.ndarray | None = None,
    max_length: float = MAX_KERNEL,
) -> np.ndarray:
    """The image convolved with a motion kernel, plus light Gaussian noise (sigma in 8-bit units)."""
    x = as_float(img)
    rng = _rng(rng)
    k = blur_kernel(rng, kind=kind, length=length, angle=angle, max_length=max_length) if kernel is None else kernel
    out = convolve(x, k)
    sigma = _pick(noise, 0.0, 2.0, rng) / 255.0
    if sigma > 0:
        out = out + rng.normal(0.0, sigma, out.shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------- noise


def add_noise(
    img: np.ndarray,
    rng: Seed = None,
    *,
    kind: str = "gaussian",
    sigma: float | None = None,
    peak: float | None = None,
    max_sigma: float = 50.0,
    skew: float = 0.0,
) -> np.ndarray:
    """Gaussian (sigma in 8-bit units, drawn from 0-50) or Poisson-Gaussian noise, clipped.

    A drawn Gaussian sigma is ``max_sigma * u ** (1 + skew)`` for ``u`` uniform in [0, 1): skew 0
    (the default) is uniform from 0 to ``max_sigma``; a larger skew spends more of the draws on
    weak noise, where a denoiser has the least room over BM3D, while still covering strong noise
    (skew 0.5 with max_sigma 55: 42 % of draws under 15, 41 % over 25). The default draws are the
    shipped recipe's, unchanged."""
    x = as_float(img)
    rng = _rng(rng)
    if kind == "gaussian":
        s = (float(sigma) if sigma is not None else max_sigma * float(rng.uniform(0.0, 1.0)) ** (1.0 + skew)) / 255.0
        out = x + rng.normal(0.0, s, x.shape).astype(np.float32)
    elif kind == "poisson":
        p = _pick(peak, 10.0, 100.0, rng)
        s = _pick(sigma, 0.0, 10.0, rng) / 255.0
        out = rng.poisson(x * p).astype(np.float32) / p + rng.normal(0.0, s, x.shape).astype(np.float32)
    else:
        raise InputError(f"unknown noise kind {kind!r}: choose gaussian or poisson")
    return np.clip(out, 0.0, 1.0).astype(np.float32)



def to_dtype(img: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """A float image in [0, 1] stored as ``dtype``: uint8 and uint16 rounded to their steps (a
    degraded 16-bit photo stays 16-bit), float32 clipped."""
    dtype = np.dtype(dtype)
    if dtype in (np.uint8, np.uint16):
        top = float(np.iinfo(dtype).max)
        return np.clip(np.round(img * top), 0, top).astype(dtype)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def to_uint8(img: np.ndarray) -> np.ndarray:
    return to_dtype(img, np.uint8)
