"""``jpeg``: the image saved as a baseline JPEG and decoded again, as most photos and frames are.

Usually the last part of a chained recipe (``noisemix+jpeg``): the noise or rain is compressed
with the picture, and blocking and ringing join it. The file is written by OpenCV's libjpeg with
the IJG quality scaling and 4:2:0 chroma subsampling; :func:`jpeg_bytes` gives the file itself.

Parameters (``None`` = drawn per image):
- ``quality``: IJG quality 30-95 (set: 1-100).
- ``chance``: probability the image is compressed at all (default 1), so that
  ``noisemix+jpeg:chance=0.3`` trains on a mix of compressed and uncompressed inputs.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError
from .classic import Seed, _pick, _rng, as_float, to_uint8

LIMITS = {"quality": (1.0, 100.0), "chance": (0.0, 1.0)}


def jpeg_bytes(img: np.ndarray, quality: int) -> bytes:
    """An RGB image (any dtype ``as_float`` takes) encoded as a JPEG file of IJG ``quality``."""
    bgr = cv2.cvtColor(to_uint8(as_float(img)), cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise InputError(f"JPEG encoding at quality {quality} failed")
    return data.tobytes()


def jpeg_compress(img: np.ndarray, rng: Seed = None, *, quality: float | None = None, chance: float = 1.0) -> np.ndarray:
    """The image through a JPEG file of ``quality`` (drawn 30-95), float32 HxWx3 in [0, 1]."""
    x = as_float(img)
    rng = _rng(rng)
    q = int(round(_pick(quality, 30.0, 95.0, rng)))
    if rng.random() >= chance:
        return x
    decoded = cv2.imdecode(np.frombuffer(jpeg_bytes(x, q), np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
