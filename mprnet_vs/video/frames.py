"""PyAV frames <-> planar 4:4:4 (or planar RGB / gray) arrays at the stream's bit depth: swscale
does only what needs no matrix (chroma resampling and packing); :mod:`.conversion` does the rest."""

from __future__ import annotations

from fractions import Fraction

import av
import av.filter
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


class AspectStamp:
    """Gives frames a sample aspect ratio, through FFmpeg's setsar filter (PyAV 19 cannot set a
    frame's): a codec that codes it in every frame, such as FFV1 (version 3 slice headers),
    takes it from the frame, not from the codec context, and Matroska's muxer writes a display
    size only from a stream field PyAV cannot set -- so this is how an FFV1 .mkv keeps it."""

    def __init__(self, sar: Fraction) -> None:
        self.sar = sar
        self._graph: av.filter.Graph | None = None

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        if self._graph is None:  # built for the first frame: every later one has its size and format
            graph = av.filter.Graph()
            source = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format.name, time_base=Fraction(1, 1000))
            stamp = graph.add("setsar", f"{self.sar.numerator}/{self.sar.denominator}")
            sink = graph.add("buffersink")
            source.link_to(stamp)
            stamp.link_to(sink)
            graph.configure()
            self._graph = graph
        self._graph.push(frame)
        return self._graph.pull()


class FrameWriter:
    """C x H x W planar samples -> VideoFrame in the encoder's pixel format, tagged (and with
    ``sar``, the source's non-square sample aspect ratio, on every frame)."""

    def __init__(self, planar: PixelLayout, pix_fmt: str, interpretation: Interpretation, tags: ColourTags,
                 sar: Fraction | None = None) -> None:
        self.planar = planar
        self.pix_fmt = pix_fmt
        self.tags = tags
        self._reformatter = VideoReformatter()
        self._range = ColorRange.JPEG if interpretation.range == RANGE_FULL else ColorRange.MPEG
        self._stamp = AspectStamp(sar) if sar else None

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
        if self._stamp is not None:
            frame = self._stamp(frame)
        self.tags.apply(frame)
        return frame
