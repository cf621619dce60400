"""What a user would run instead of our models, given every advantage: the true noise and kernel.

- ``bm3d``: BM3D (Dabov et al. 2007) from the ``bm3d`` package on PyPI (the authors' reference
  binaries; ``pip install 'mprnet-vs[compare]'``), colour version (opponent colour space), its
  default "np" profile, told the true noise sigma.
- ``wiener``: a Wiener deconvolution with the true kernel and noise sigma: in the frequency domain,
  ``X = conj(H) Y / (|H|^2 + lam |L|^2)`` with L the Laplacian (a 1/f^2 image spectrum), ``lam``
  set by the discrepancy principle (the restored image, blurred again, differs from the input by
  the noise's own energy), on a symmetrically padded image so borders do not ring.

Both take and return float32 HxWx3 in [0, 1]; :func:`baseline_restorer` adapts them to the
``restore(image)`` shape :func:`mprnet_vs.training.evaluate.evaluate` calls, keeping the image's dtype.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..degrade import as_float, to_dtype
from ..errors import UsageError

BASELINES = {"bm3d": "denoise", "wiener": "deblur"}  # name -> the task it is compared on


def bm3d_denoise(img: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D with the true ``sigma`` (8-bit units)."""
    try:
        import bm3d
    except ImportError:
        raise UsageError("the bm3d baseline needs the bm3d package: pip install 'mprnet-vs[compare]'") from None
    out = bm3d.bm3d_rgb(img.astype(np.float64), sigma / 255.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _otf(psf: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The transfer function of ``psf`` (centre at the array's middle) on an image of ``shape``."""
    full = np.zeros(shape)
    full[: psf.shape[0], : psf.shape[1]] = psf
    full = np.roll(full, (-(psf.shape[0] // 2), -(psf.shape[1] // 2)), axis=(0, 1))
    return np.fft.rfft2(full)


def wiener_deconvolve(img: np.ndarray, kernel: np.ndarray, sigma: float) -> np.ndarray:
    """Deconvolve ``img`` (blurred by the convolution ``kernel``, noise ``sigma`` in 8-bit units)."""
    pad = 2 * max(kernel.shape)
    y = np.pad(img.astype(np.float64), ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    shape = y.shape[:2]
    h = _otf(kernel, shape)
    lap = _otf(np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], np.float64), shape)
    spectrum = np.fft.rfft2(y, axes=(0, 1))
    target = max(sigma / 255.0, 0.25 / 255.0) ** 2  # the noise energy per pixel (at least 8-bit rounding's)
    inner = (slice(pad, shape[0] - pad), slice(pad, shape[1] - pad))

    def solve(lam: float) -> tuple[np.ndarray, float]:
        x = np.fft.irfft2(spectrum * (np.conj(h) / (np.abs(h) ** 2 + lam * np.abs(lap) ** 2))[..., None], s=shape, axes=(0, 1))
        again = np.fft.irfft2(np.fft.rfft2(x, axes=(0, 1)) * h[..., None], s=shape, axes=(0, 1))
        return x, float(np.mean((again - y)[inner] ** 2))

    low, high = -8.0, 1.0  # log10(lam): the residual grows with lam; bisect to meet the noise energy
    for _ in range(18):
        mid = (low + high) / 2
        if solve(10**mid)[1] > target:
            high = mid
        else:
            low = mid
    x = solve(10**low)[0]
    return np.clip(x[inner], 0.0, 1.0).astype(np.float32)


def baseline_restorer(name: str, kernel: np.ndarray | None, sigma: float | None) -> Callable[[np.ndarray], np.ndarray]:
    """``restore(image)`` for baseline ``name`` with the truth of one image; dtype in = dtype out."""
    if name not in BASELINES:
        raise UsageError(f"unknown baseline {name!r}: choose one of {', '.join(BASELINES)}")

    def restore(img: np.ndarray) -> np.ndarray:
        x = as_float(img)
        if name == "bm3d":
            out = bm3d_denoise(x, float(sigma or 0.0))
        else:
            if kernel is None:
                raise UsageError("the wiener baseline needs a blur render (it is given the true kernel)")
            out = wiener_deconvolve(x, kernel, float(sigma or 0.0))
        return to_dtype(out, img.dtype)

    return restore
