"""PSNR and SSIM as restoration papers report them: on 8-bit images, over RGB or on the luma (Y)
channel of ITU-R BT.601 YCbCr (MATLAB's rgb2ycbcr; the paper's choice for deraining)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import InputError


def finite_or_none(value: object) -> object:
    """``value`` (nested dicts and lists) with every infinite or NaN float made None: JSON has no
    infinity, and the PSNR of identical images is one."""
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma of an HxWx3 RGB uint8 image, as float64 in 8-bit units (16-235)."""
    rgb = img.astype(np.float64) / 255.0
    return 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        raise InputError(f"image sizes differ: {a.shape} vs {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise InputError("PSNR/SSIM are computed on 8-bit images")
    return a, b


def psnr(a: np.ndarray, b: np.ndarray, y_channel: bool = False) -> float:
    """10 log10(255^2 / MSE) over every pixel (and channel); inf for identical images."""
    a, b = _pair(a, b)
    x, y = (to_y(a), to_y(b)) if y_channel else (a.astype(np.float64), b.astype(np.float64))
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _ssim_plane(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. 2004: 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, valid region only."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = cv2.getGaussianKernel(11, 1.5)
    window = g @ g.T

    def filt(img: np.ndarray) -> np.ndarray:
        return cv2.filter2D(img, -1, window)[5:-5, 5:-5]

    mu_x, mu_y = filt(x), filt(y)
    var_x = filt(x * x) - mu_x**2
    var_y = filt(y * y) - mu_y**2
    cov = filt(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean())


def ssim(a: np.ndarray, b: np.ndarray, y_channel: bool = False) -> float:
    """Mean SSIM; over RGB it is the mean of the three channels' SSIM."""
    a, b = _pair(a, b)
    if min(a.shape[:2]) < 11:
        raise InputError(f"SSIM needs images of at least 11x11 pixels, got {a.shape[1]}x{a.shape[0]}")
    if y_channel:
        return _ssim_plane(to_y(a), to_y(b))
    return float(np.mean([_ssim_plane(a[..., c].astype(np.float64), b[..., c].astype(np.float64)) for c in range(3)]))
