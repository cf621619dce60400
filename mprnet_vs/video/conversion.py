"""Exact YUV <-> RGB conversion with H.273 coefficients and ranges at any bit depth, in torch on
the restoring device (swscale scales high-bit-depth RGB as if white were 255 << 8, and older PyAV
ignored a frame's tags and used BT.601: so the matrix is applied here, not by swscale)."""

from __future__ import annotations

import numpy as np
import torch

from .colour import LUMA_WEIGHTS, MATRIX_BT709, MATRIX_RGB, MATRIX_YCGCO, RANGE_FULL, Interpretation, PixelLayout


def _normalisation(pixels: PixelLayout, rng: int, matrix: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-plane (offset, scale) so that (sample - offset) / scale is 0..1 (luma, RGB) or
    -0.5..0.5 (chroma), following H.273 at any bit depth."""
    n = pixels.depth
    top = float((1 << n) - 1)
    if pixels.family == "rgb" or rng == RANGE_FULL:
        luma = (0.0, top)
        chroma = (float(1 << (n - 1)), top)
    else:
        unit = float(1 << (n - 8))
        luma = (16.0 * unit, 219.0 * unit)
        chroma = (128.0 * unit, 224.0 * unit)
    if pixels.family == "yuv" and matrix != MATRIX_RGB:
        planes = [luma, chroma, chroma]
    else:
        planes = [luma] * pixels.channels
    return np.array([p[0] for p in planes]), np.array([p[1] for p in planes])


def _to_rgb_matrix(pixels: PixelLayout, matrix: int) -> np.ndarray:
    """3 x C matrix taking normalised planes to R, G, B."""
    if pixels.family == "gray":
        return np.ones((3, 1))
    if pixels.family == "rgb" or matrix == MATRIX_RGB:
        # planar RGB (and YUV tagged GBR) stores G, B, R
        return np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    if matrix == MATRIX_YCGCO:
        return np.array([[1.0, -1.0, 1.0], [1.0, 1.0, 0.0], [1.0, -1.0, -1.0]])
    kr, kb = LUMA_WEIGHTS[matrix]
    kg = 1.0 - kr - kb
    return np.array(
        [
            [1.0, 0.0, 2.0 * (1.0 - kr)],
            [1.0, -2.0 * kb * (1.0 - kb) / kg, -2.0 * kr * (1.0 - kr) / kg],
            [1.0, 2.0 * (1.0 - kb), 0.0],
        ]
    )


def _from_rgb_matrix(pixels: PixelLayout, matrix: int) -> np.ndarray:
    """C x 3 matrix taking R, G, B to normalised planes."""
    if pixels.family == "gray":
        kr, kb = LUMA_WEIGHTS[MATRIX_BT709]
        return np.array([[kr, 1.0 - kr - kb, kb]])
    return np.linalg.inv(_to_rgb_matrix(pixels, matrix))


class ColourMatrix:
    """Samples of one planar layout <-> RGB in [0, 1], as torch ops on any device."""

    def __init__(self, pixels: PixelLayout, interpretation: Interpretation) -> None:
        self.pixels = pixels
        self.interpretation = interpretation
        offset, scale = _normalisation(pixels, interpretation.range, interpretation.matrix)
        self._offset = offset
        self._scale = scale
        self._to_rgb = _to_rgb_matrix(pixels, interpretation.matrix)
        self._from_rgb = _from_rgb_matrix(pixels, interpretation.matrix)
        self._top = float((1 << pixels.depth) - 1)
        self._cache: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    def _on(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        if device not in self._cache:
            as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
            self._cache[device] = (
                as_tensor(self._offset).view(1, -1, 1, 1),
                as_tensor(self._scale).view(1, -1, 1, 1),
                as_tensor(self._to_rgb),
                as_tensor(self._from_rgb),
            )
        return self._cache[device]

    def to_rgb(self, planes: torch.Tensor) -> torch.Tensor:
        """N x C x H x W integer samples -> N x 3 x H x W float32 RGB clamped to [0, 1]."""
        offset, scale, to_rgb, _ = self._on(planes.device)
        normalised = (planes.to(torch.float32) - offset) / scale
        return torch.einsum("rc,nchw->nrhw", to_rgb, normalised).clamp_(0.0, 1.0)

    def from_rgb(self, rgb: torch.Tensor) -> torch.Tensor:
        """N x 3 x H x W RGB in [0, 1] -> N x C x H x W integer samples (rounded, clamped)."""
        offset, scale, _, from_rgb = self._on(rgb.device)
        planes = torch.einsum("cr,nrhw->nchw", from_rgb, rgb.to(torch.float32)) * scale + offset
        planes = planes.round_().clamp_(0.0, self._top)
        return planes.to(torch.uint8 if self.pixels.depth == 8 else torch.uint16)
