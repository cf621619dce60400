"""A second renderer of rain, blur and noise, written apart from the training recipes.

Models trained on :mod:`mprnet_vs.degrade` can learn that code's quirks (one streak drawing, one
blend, one kernel rasteriser) instead of the degradation; scoring them on the same code hides it.
This module shares no code with :mod:`mprnet_vs.degrade` (it imports only numpy and the project's
error type; ``tests/test_independent_render.py`` checks it) and uses other algorithms throughout:

- rain: falling particles, each integrated over the exposure (a motion-blurred drop: sub-pixel
  samples along its path splatted bilinearly, then a Gaussian footprint per depth band applied
  in the frequency domain), composited over the scene in *linear light* (sRGB decoded, alpha-over
  towards the light the drops refract, sRGB encoded again), with a veil of distant rain.
- blur: a point-spread function sampled densely along a straight path or a smooth curve made of
  low-frequency sinusoids (a hand's tremor), walked at uneven speed, each sample a small Gaussian;
  applied as a true convolution (kernel flipped, unlike a correlation) by FFT on a symmetrically
  padded image; then light white noise.
- noise: drawn in YCbCr (BT.601) with the covariance that makes the RGB noise white of the given
  sigma (``chroma`` < 1 makes it luma-heavy, as camera noise is after processing), from a Philox
  generator through a Box-Muller transform.

Specs are ``kind:key=value,...`` strings:

    noise:sigma=25            white RGB noise, sigma in 8-bit units (0-100); chroma=0.3 luma-heavy
    blur                      a 9-15 px path (curve or line, drawn), noise sigma 1
    blur:length=15,path=line,noise=2
    rain                      light or heavy (drawn); rain:amount=heavy,angle=-20
    rain:amount=light,veil=0  the veil of distant rain (linear light; 0.04 light, 0.12 heavy) set
                              apart: 0 scores a derainer on rain alone, with no veil to lift

Every spec is seeded: image i of an evaluation uses seed (seed, i). :func:`render` returns the
degraded image with the truth a non-blind method needs (the kernel, the noise sigma).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

KINDS = ("rain", "blur", "noise")
# key -> (lowest, highest) for numbers, or a tuple of words
_KEYS: dict[str, dict[str, tuple]] = {
    "noise": {"sigma": (0.0, 100.0), "chroma": (0.0, 1.0)},
    "blur": {"length": (3.0, 41.0), "noise": (0.0, 20.0), "path": ("curve", "line"), "angle": (-180.0, 180.0)},
    "rain": {"amount": ("light", "heavy"), "angle": (-45.0, 45.0), "veil": (0.0, 0.5)},
}


@dataclass
class Rendered:
    """A degraded image (float32 HxWx3 in [0, 1]) and what made it."""

    image: np.ndarray
    kernel: np.ndarray | None = None     # the PSF, applied as a convolution (blur)
    sigma: float | None = None           # the white noise's sigma in 8-bit units (blur, noise)
    params: dict[str, object] = field(default_factory=dict)


def parse_spec(spec: str) -> tuple[str, dict[str, object]]:
    """``"blur:length=9,path=line"`` -> ``("blur", {"length": 9.0, "path": "line"})``, checked."""
    head, _, tail = spec.strip().partition(":")
    kind = head.strip()
    if kind not in _KEYS:
        raise InputError(f"render spec {spec!r}: unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    values: dict[str, object] = {}
    for item in (t.strip() for t in tail.split(",") if t.strip()):
        key, sep, raw = (s.strip() for s in item.partition("="))
        allowed = _KEYS[kind].get(key)
        if not sep or allowed is None:
            raise InputError(f"render spec {spec!r}: {item!r} is not one of {', '.join(k + '=' for k in _KEYS[kind])}")
        if key in values:
            raise InputError(f"render spec {spec!r}: {key} is given twice")
        if isinstance(allowed[0], str):
            if raw not in allowed:
                raise InputError(f"render spec {spec!r}: {key}={raw!r}; choose one of {', '.join(allowed)}")
            values[key] = raw
            continue
        try:
            number = float(raw)
        except ValueError:
            number = math.nan
        if not allowed[0] <= number <= allowed[1]:
            raise InputError(f"render spec {spec!r}: {key}={raw!r}; {key} must be a number from {allowed[0]:g} to {allowed[1]:g}")
        values[key] = number
    return kind, values


def generator(seed: int | tuple[int, ...] | list[int]) -> np.random.Generator:
    """Philox, not the PCG64 of numpy's default_rng that the training recipes use."""
    return np.random.Generator(np.random.Philox(np.random.SeedSequence(seed)))


def _as_unit(img: np.ndarray) -> np.ndarray:
    if img.ndim != 3 or img.shape[2] != 3:
        raise InputError(f"the renderer takes HxWx3 RGB images, not shape {img.shape}")
    if img.dtype.kind == "u":
        return img.astype(np.float64) / float(np.iinfo(img.dtype).max)
    return np.clip(img.astype(np.float64), 0.0, 1.0)


def _gauss_pairs(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` standard normal numbers by Box-Muller from uniform draws."""
    half = (count + 1) // 2
    u1, u2 = 1.0 - rng.random(half), rng.random(half)
    radius = np.sqrt(-2.0 * np.log(u1))
    return np.concatenate([radius * np.cos(2 * np.pi * u2), radius * np.sin(2 * np.pi * u2)])[:count]


# ----------------------------------------------------------------------------- noise

_RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def _noise(x: np.ndarray, rng: np.random.Generator, sigma: float, chroma: float) -> np.ndarray:
    s = sigma / 255.0
    cov = _RGB_TO_YCBCR @ _RGB_TO_YCBCR.T  # YCbCr covariance of white unit RGB noise
    scale = np.diag([1.0, chroma, chroma])
    cov = scale @ cov @ scale
    ycc = _gauss_pairs(rng, x.size).reshape(-1, 3) @ np.linalg.cholesky(cov).T
    rgb = ycc @ np.linalg.inv(_RGB_TO_YCBCR).T
    rgb *= s / math.sqrt(float(np.mean(np.diag(np.linalg.inv(_RGB_TO_YCBCR) @ cov @ np.linalg.inv(_RGB_TO_YCBCR).T))) + 1e-20)
    return x + rgb.reshape(x.shape)


# ----------------------------------------------------------------------------- blur


def _fft_convolve(x: np.ndarray, psf: np.ndarray) -> np.ndarray:
    """True 2-D convolution of every channel with ``psf`` (odd square), symmetric borders."""
    r = psf.shape[0] // 2
    padded = np.pad(x, ((r, r), (r, r), (0, 0)), mode="symmetric")
    h, w = padded.shape[:2]
    otf = np.zeros((h, w))
    otf[: psf.shape[0], : psf.shape[1]] = psf
    otf = np.fft.rfft2(np.roll(otf, (-r, -r), axis=(0, 1)))
    out = np.fft.irfft2(np.fft.rfft2(padded, axes=(0, 1)) * otf[..., None], s=(h, w), axes=(0, 1))
    return out[r : h - r, r : w - r]


def path_psf(rng: np.random.Generator, length: float, path: str, angle: float | None = None) -> np.ndarray:
    """A PSF whose end-to-end extent is ``length`` px: a straight path or a smooth tremor curve,
    sampled at 400 instants of an exposure walked at uneven speed; each sample a Gaussian of
    sigma 0.45 px. Odd square, sums to 1."""
    t = np.linspace(0.0, 1.0, 400)
    if path == "line":
        theta = math.radians(rng.uniform(0, 180) if angle is None else angle)
        progress = t + 0.15 * np.sin(2 * np.pi * (t + rng.random())) / (2 * np.pi)  # speed varies
        pts = np.stack([np.cos(theta) * progress, -np.sin(theta) * progress], 1)
    else:
        pts = np.zeros((t.size, 2))
        for axis in range(2):
            for harmonic in (1, 2, 3):
                pts[:, axis] += rng.normal() / harmonic * np.sin(np.pi * harmonic * t + rng.uniform(0, 2 * np.pi))
    pts -= (pts.max(0) + pts.min(0)) / 2
    extent = float(np.linalg.norm(pts.max(0) - pts.min(0))) + 1e-12
    pts *= (length - 1.0) / extent
    half = int(math.ceil(np.abs(pts).max() + 2))
    grid = np.arange(-half, half + 1, dtype=np.float64)
    gx = np.exp(-((grid[None, :] - pts[:, :1]) ** 2) / (2 * 0.45**2))  # (samples, size)
    gy = np.exp(-((grid[None, :] - pts[:, 1:]) ** 2) / (2 * 0.45**2))
    psf = gy.T @ gx  # sum over samples of separable Gaussians: rows y, columns x
    return psf / psf.sum()


def _blur(x: np.ndarray, rng: np.random.Generator, values: dict[str, object]) -> Rendered:
    length = float(values.get("length", rng.uniform(9.0, 15.0)))
    path = str(values.get("path", "curve" if rng.random() < 0.5 else "line"))
    psf = path_psf(rng, length, path, values.get("angle"))  # type: ignore[arg-type]
    noise = float(values.get("noise", 1.0))
    out = _fft_convolve(x, psf) + noise / 255.0 * _gauss_pairs(rng, x.size).reshape(x.shape)
    return Rendered(out, kernel=psf, sigma=noise, params={"length": length, "path": path, "noise": noise})


# ----------------------------------------------------------------------------- rain


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def _gaussian_fft(plane: np.ndarray, sigma: float) -> np.ndarray:
    h, w = plane.shape
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    return np.fft.irfft2(np.fft.rfft2(plane) * np.exp(-2 * (np.pi * sigma) ** 2 * (fx**2 + fy**2)), s=(h, w))


def _rain(x: np.ndarray, rng: np.random.Generator, values: dict[str, object]) -> Rendered:
    h, w = x.shape[:2]
    amount = str(values.get("amount", "light" if rng.random() < 0.5 else "heavy"))
    wind = math.radians(float(values.get("angle", rng.uniform(-25, 25))))
    heavy = amount == "heavy"
    layer = np.zeros((h, w))
    for band, depth in enumerate((0.2, 0.55, 0.9)):  # far to near: nearer drops are larger, faster
        count = rng.poisson((0.004 if heavy else 0.0012) * h * w / (1 + 2 * band))
        speed = (12 + 45 * depth) * (1.25 if heavy else 1.0)
        sub = np.zeros((h, w))
        starts = rng.random((count, 2)) * [w + 2 * speed, h + 2 * speed] - speed
        steps = max(int(speed * 2), 2)
        for frac in np.linspace(0.0, 1.0, steps):  # the drop's position through the exposure
            jitter = np.deg2rad(rng.normal(0, 2.0, count))
            px = starts[:, 0] + np.sin(wind + jitter) * speed * frac
            py = starts[:, 1] + np.cos(wind + jitter) * speed * frac
            ix, iy = np.floor(px).astype(int), np.floor(py).astype(int)
            fx, fy = px - ix, py - iy
            for dx, dy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
                xx, yy = ix + dx, iy + dy
                keep = (xx >= 0) & (xx < w) & (yy >= 0) & (yy < h)
                np.add.at(sub, (yy[keep], xx[keep]), wt[keep])
        footprint = 0.5 + 1.3 * depth
        sub = _gaussian_fft(sub, footprint) * (2 * math.pi * footprint**2) * (1.2 + 1.5 * depth) / steps * 2.0
        layer += sub * (0.35 + 0.5 * depth)
    alpha = np.clip(layer, 0.0, 0.9 if heavy else 0.7)[..., None]
    lin = _srgb_to_linear(x)
    surround = np.stack([_gaussian_fft(lin[..., c], 12.0) for c in range(3)], -1)
    light = np.clip(0.55 + 0.6 * surround, 0.0, 1.0)  # drops refract the light around them
    veil = float(values.get("veil", 0.12 if heavy else 0.04))
    lin = lin * (1 - veil) + veil * (0.7 + 0.3 * lin.mean(axis=(0, 1)))
    out = _linear_to_srgb(lin * (1 - alpha) + light * alpha)
    return Rendered(out, params={"amount": amount, "angle": math.degrees(wind), "veil": veil})


def render(img: np.ndarray, spec: str, seed: int | tuple[int, ...] | list[int]) -> Rendered:
    """The clean image degraded by ``spec`` (see the module docstring), seeded by ``seed``."""
    kind, values = parse_spec(spec)
    x = _as_unit(img)
    rng = generator(seed)
    if kind == "noise":
        sigma = float(values.get("sigma", 25.0))
        out = Rendered(_noise(x, rng, sigma, float(values.get("chroma", 1.0))), sigma=sigma, params={"sigma": sigma})
    elif kind == "blur":
        out = _blur(x, rng, values)
    else:
        out = _rain(x, rng, values)
    out.image = np.clip(out.image, 0.0, 1.0).astype(np.float32)
    return out
