"""``noisemix``: camera-like noise: any strength, signal-dependent, a little coloured, a little grainy.

The ``noise`` recipe adds white Gaussian (or exact Poisson-Gaussian) noise, independent in every
pixel and channel. A camera's noise after demosaicing and processing is neither: it grows with
the signal (shot noise), its channels are correlated, and neighbouring pixels share some of it.
This recipe models the noise as heteroscedastic Gaussian, the usual approximation of
Poisson-Gaussian noise, with standard deviation ``sqrt(x / peak + (sigma / 255)^2)`` at a pixel of
value x, drawn from a unit field that is correlated across channels (``channel_corr``) and across
neighbours (``grain``: white noise filtered by a Gaussian of that sigma and rescaled to unit
variance, so the lag-1 correlation is ``exp(-1 / (4 grain^2))``).

Parameters (``None`` = drawn per image):
- ``sigma``: signal-independent part in 8-bit units, 0-55 (set: 0-255).
- ``peak``: photon count at white for the shot noise, log-uniform 4-400, or off (0 = no shot
  noise) in half the draws; set 0 or 1-1e6.
- ``channel_corr``: correlation between the channels' noise, 0-0.6 (0 in half the draws).
- ``grain``: spatial correlation sigma in px, 0.3-1.2 (0 in half the draws; set 0-3).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import InputError
from .classic import Seed, _pick, _rng, as_float

LIMITS = {"sigma": (0.0, 255.0), "peak": (0.0, 1e6), "channel_corr": (0.0, 1.0), "grain": (0.0, 3.0)}


def unit_noise_field(shape: tuple[int, int], rng: np.random.Generator, channel_corr: float, grain: float) -> np.ndarray:
    """HxWx3 float32 noise of unit variance per pixel, channels correlated by ``channel_corr`` and
    neighbours by a Gaussian of sigma ``grain`` px (0 = independent)."""
    h, w = shape
    white = rng.standard_normal((h, w, 4)).astype(np.float32)  # three own planes and one shared
    if grain > 0:
        radius = int(math.ceil(4 * grain))
        for c in range(4):
            white[..., c] = cv2.GaussianBlur(white[..., c], (2 * radius + 1, 2 * radius + 1), grain,
                                            borderType=cv2.BORDER_REFLECT)
        g = cv2.getGaussianKernel(2 * radius + 1, grain).astype(np.float64)
        white /= math.sqrt(float((g @ g.T).ravel() @ (g @ g.T).ravel()))  # back to unit variance
    own, shared = white[..., :3], white[..., 3:]
    return (math.sqrt(1.0 - channel_corr) * own + math.sqrt(channel_corr) * shared).astype(np.float32)


def add_noise_mix(
    img: np.ndarray,
    rng: Seed = None,
    *,
    sigma: float | None = None,
    peak: float | None = None,
    channel_corr: float | None = None,
    grain: float | None = None,
) -> np.ndarray:
    """The image with camera-like noise (see the module docstring), clipped to [0, 1]."""
    x = as_float(img)
    rng = _rng(rng)
    s = _pick(sigma, 0.0, 55.0, rng) / 255.0
    if peak is None:
        peak = 0.0 if rng.random() < 0.5 else float(math.exp(rng.uniform(math.log(4.0), math.log(400.0))))
    elif 0 < peak < 1:
        raise InputError(f"noisemix: peak={peak:g} is not allowed; peak must be 0 (no shot noise) or 1-1e6 photons at white")
    corr = (0.0 if rng.random() < 0.5 else float(rng.uniform(0.0, 0.6))) if channel_corr is None else float(channel_corr)
    grain = (0.0 if rng.random() < 0.5 else float(rng.uniform(0.3, 1.2))) if grain is None else float(grain)
    variance = s * s + (x / peak if peak > 0 else 0.0)
    out = x + np.sqrt(variance) * unit_noise_field(x.shape[:2], rng, corr, grain)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
