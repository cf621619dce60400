"""PSNR and SSIM as restoration papers report them: in 8-bit units (peak 255), over RGB or on the
luma (Y) channel of ITU-R BT.601 YCbCr (MATLAB's rgb2ycbcr; the paper's choice for deraining).
16-bit and float images are scored at their own precision (a 16-bit sample 257 is 1.0), never
rounded to 8 bits first, so a 16-bit pair scores what it holds."""

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


def in_8bit_units(img: np.ndarray) -> np.ndarray:
    """uint8, uint16 or float (0-1) samples as float64 on the 0-255 scale, nothing rounded."""
    if img.dtype == np.uint8:
        return img.astype(np.float64)
    if img.dtype == np.uint16:
        return img.astype(np.float64) * (255.0 / 65535.0)
    if np.issubdtype(img.dtype, np.floating):
        return img.astype(np.float64) * 255.0
    raise InputError(f"PSNR/SSIM take uint8, uint16 or float images, not {img.dtype}")


def to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma of an HxWx3 RGB image, as float64 in 8-bit units (16-235)."""
    rgb = in_8bit_units(img) / 255.0
    return 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]


def _check_sizes(a: np.ndarray, b: np.ndarray) -> None:
    """Same-size images; their depths may differ (an 8-bit result against a 16-bit reference)."""
    if a.shape != b.shape:
        raise InputError(f"image sizes differ: {a.shape} vs {b.shape}")


def psnr(a: np.ndarray, b: np.ndarray, y_channel: bool = False) -> float:
    """10 log10(255^2 / MSE) over every pixel (and channel); inf for identical images."""
    _check_sizes(a, b)
    x, y = (to_y(a), to_y(b)) if y_channel else (in_8bit_units(a), in_8bit_units(b))
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
    _check_sizes(a, b)
    if min(a.shape[:2]) < 11:
        raise InputError(f"SSIM needs images of at least 11x11 pixels, got {a.shape[1]}x{a.shape[0]}")
    if y_channel:
        return _ssim_plane(to_y(a), to_y(b))
    x, y = in_8bit_units(a), in_8bit_units(b)
    return float(np.mean([_ssim_plane(x[..., c], y[..., c]) for c in range(3)]))
