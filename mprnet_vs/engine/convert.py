"""Checking images and moving them between numpy (H x W x 3) and torch (B x 3 x H x W, [0, 1])."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..errors import InputError

INTEGER_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
FLOAT_TYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
TORCH_INTEGER = {np.dtype(np.uint8): torch.uint8, np.dtype(np.uint16): torch.uint16}


def check_image(image: object, name: str = "image") -> np.ndarray:
    """``image`` as an H x W x 3 array of a supported dtype; InputError naming what is wrong.
    NaN pixels are refused (there is nothing sensible to restore them to)."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"{name}: expected a numpy array (H x W x 3 RGB), got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"{name}: expected shape H x W x 3 (RGB), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"{name}: empty image of shape {image.shape}")
    if image.dtype not in INTEGER_MAX and image.dtype not in FLOAT_TYPES:
        raise InputError(f"{name}: dtype {image.dtype} not supported; use uint8, uint16 or float32 in [0, 1]")
    if image.dtype in FLOAT_TYPES and np.isnan(image).any():
        raise InputError(f"{name}: contains NaN pixels")
    return image


def check_images(images: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    """A list of same-shape, same-dtype images from a sequence or an N x H x W x 3 array."""
    if isinstance(images, np.ndarray):
        if images.ndim != 4:
            raise InputError(f"images: expected N x H x W x 3 array or a list of H x W x 3, got shape {images.shape}")
        items = list(images)
    else:
        items = list(images)
    checked = [check_image(img, f"images[{i}]") for i, img in enumerate(items)]
    for i, img in enumerate(checked[1:], start=1):
        if img.shape != checked[0].shape or img.dtype != checked[0].dtype:
            raise InputError(
                f"images[{i}]: {img.shape} {img.dtype} differs from images[0]: {checked[0].shape} {checked[0].dtype}; "
                "restore_batch needs same-size images of one dtype"
            )
    return checked


def to_tensor(images: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    """Stack H x W x 3 arrays into a B x 3 x H x W float32 tensor in [0, 1] on ``device``.
    Integers travel to the device as they are (uint8 = a quarter of float32's bytes) and are
    scaled there; the caller's arrays are never modified."""
    dtype = images[0].dtype
    host = [torch.from_numpy(np.ascontiguousarray(img)) for img in images]
    stacked = torch.stack(host) if len(host) > 1 else host[0][None]
    stacked = stacked.to(device)
    x = stacked.permute(0, 3, 1, 2)
    if dtype in INTEGER_MAX:
        return x.to(torch.float32).div_(INTEGER_MAX[dtype])
    return x.to(torch.float32).clamp(0.0, 1.0)  # out of place: x may be the caller's memory


def to_numpy(x: torch.Tensor, dtype: np.dtype) -> list[np.ndarray]:
    """B x 3 x H x W in [0, 1] -> B arrays H x W x 3 of ``dtype`` (integers rounded)."""
    x = x.permute(0, 2, 3, 1)
    if dtype in INTEGER_MAX:
        scaled = (x.to(torch.float32) * INTEGER_MAX[dtype]).round_().clamp_(0, INTEGER_MAX[dtype])
        array = scaled.to(TORCH_INTEGER[dtype]).contiguous().cpu().numpy()
    else:
        array = x.to(torch.float32).contiguous().cpu().numpy().astype(dtype, copy=False)
    return list(array)
