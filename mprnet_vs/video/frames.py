"""PyAV frames <-> planar 4:4:4 (or planar RGB / gray) arrays at the stream's bit depth: swscale
does only what needs no matrix (chroma resampling and packing); :mod:`.conversion` does the rest."""

from __future__ import annotations

import av
import numpy as np
from av.video.reformatter import ColorRange, Interpolation, VideoReformatter

from .colour import RANGE_FULL, ColourTags, Interpretation, PixelLayout
from .palette import adaptive_palette

# Chroma resampling: of swscale's smooth filters, Lanczos up then down comes back closest
# (1-2 levels at 8 bit on noisy chroma; point sampling is exact but hands the model blocks).
RESAMPLE = Interpolation.LANCZOS | Interpolation.ACCURATE_RND


def _plane_view(plane: object, dtype: np.dtype) -> np.ndarray:
    """The visible part of one frame plane as a (possibly strided) numpy view."""
    rows = np.frombuffer(plane, dtype=dtype).reshape(plane.height, -1)
    return rows[:, : plane.width]


class FrameReader:
    """Decoded VideoFrame -> C x H x W array in the stream's planar layout (no matrix yet).
    One per thread: it owns its swscale context (a new one per frame costs memory). Frames
    whose size changes mid-stream are scaled to ``size`` (the first frame's), as FFmpeg does,
    and counted in ``resized``."""

    def __init__(self, pixels: PixelLayout, interpretation: Interpretation, size: tuple[int, int] | None = None) -> None:
        self.pixels = pixels
        self.interpretation = interpretation
        self.size = size
        self.resized = 0
        self._reformatter = VideoReformatter()
        self._range = ColorRange.JPEG if interpretation.range == RANGE_FULL else ColorRange.MPEG

    def planes(self, frame: av.VideoFrame) -> np.ndarray:
        width, height = self.size or (frame.width, frame.height)
        if (frame.width, frame.height) != (width, height):
            self.resized += 1
        if frame.format.name != self.pixels.planar or (frame.width, frame.height) != (width, height):
            frame = self._reformatter.reformat(
                frame,
                width=width,
                height=height,
                format=self.pixels.planar,
                src_color_range=self._range,
                dst_color_range=self._range,
                interpolation=RESAMPLE,
            )
        out = np.empty((self.pixels.channels, frame.height, frame.width), dtype=self.pixels.dtype)
        for index, plane in enumerate(frame.planes[: self.pixels.channels]):
            out[index] = _plane_view(plane, self.pixels.dtype)
        return out


class FrameWriter:
    """C x H x W planar samples -> VideoFrame in the encoder's pixel format, tagged."""

    def __init__(self, planar: PixelLayout, pix_fmt: str, interpretation: Interpretation, tags: ColourTags) -> None:
        self.planar = planar
        self.pix_fmt = pix_fmt
        self.tags = tags
        self._reformatter = VideoReformatter()
        self._range = ColorRange.JPEG if interpretation.range == RANGE_FULL else ColorRange.MPEG

    def frame(self, planes: np.ndarray) -> av.VideoFrame:
        channels, height, width = planes.shape
        frame = av.VideoFrame(width, height, self.planar.planar)
        for index, plane in enumerate(frame.planes[:channels]):
            _plane_view(plane, self.planar.dtype)[...] = planes[index]
        if self.pix_fmt == "pal8":  # swscale cannot make a palette
            rgb = frame.reformat(format="rgb24").to_ndarray() if self.planar.family == "rgb" else np.repeat(planes[0][..., None], 3, -1)
            indices, colours = adaptive_palette(rgb)
            palette = np.zeros((256, 4), np.uint8)
            palette[:, 0] = 255
            palette[: len(colours), 1:] = colours
            frame = av.VideoFrame.from_ndarray((indices, palette), format="pal8")
        elif self.pix_fmt != self.planar.planar:
            frame = self._reformatter.reformat(
                frame,
                format=self.pix_fmt,
                src_color_range=self._range,
                dst_color_range=self._range,
                interpolation=RESAMPLE,
            )
        self.tags.apply(frame)
        return frame
