"""Generated clips: a slow pan over a photo, written losslessly with PyAV.

Used by the demo and the benchmark, so both work offline with nothing but the package.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from .photo import read_rgb

ASSETS = Path(__file__).resolve().parent / "assets"
DEFAULT_PHOTO = ASSETS / "coffee.jpg"


def pan(photo: np.ndarray, width: int, height: int, count: int) -> Iterator[np.ndarray]:
    """``count`` ``width`` x ``height`` windows sliding diagonally across ``photo`` (scaled up
    first when it is smaller than a window with room to move)."""
    scale = max(1.0, 1.25 * width / photo.shape[1], 1.25 * height / photo.shape[0])
    if scale > 1.0:
        photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    room_x, room_y = photo.shape[1] - width, photo.shape[0] - height
    for i in range(count):
        t = i / max(1, count - 1)
        x, y = round(t * room_x), round(t * room_y * 0.5)
        yield np.ascontiguousarray(photo[y : y + height, x : x + width])


def write_lossless(path: Path, frames: Iterable[np.ndarray], fps: int = 24) -> int:
    """Write 8-bit RGB frames as FFV1 (``bgr0``, lossless, no colour matrix involved); returns
    the frame count."""
    count = 0
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=Fraction(fps))
        stream.pix_fmt = "bgr0"
        for rgb in frames:
            if count == 0:
                stream.height, stream.width = rgb.shape[:2]
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="bgr0")
            frame.pts = count
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
            count += 1
        container.mux(stream.encode(None))
    return count


def read_rgb_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a clip as 8-bit RGB (for RGB-coded clips such as write_lossless's)."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def make_test_clip(path: Path, *, width: int, height: int, frames: int, photo: Path = DEFAULT_PHOTO) -> int:
    """A lossless pan over a shipped photo, for benchmarks and smoke runs."""
    return write_lossless(path, pan(read_rgb(photo), width, height, frames))
