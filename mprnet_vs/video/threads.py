"""The three threads of a video restore: decode (with the copied streams' packets riding along
in order), restore in batches on the engine's device, and encode/mux; bounded channels between
them keep memory flat on long videos, and the first error stops all three."""

from __future__ import annotations


import queue
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import av.error
import numpy as np
import torch

from .conversion import ColourMatrix
from .frames import FrameReader, FrameWriter
from ..engine.protocol import Engine
from ..errors import MprnetError
from .streams import AudioRetimer
from .encoder import RateGrid, VideoOptions
from .frame_times import Timing
from .timing import StartShift, Written, stream_start

if TYPE_CHECKING:
    from .pipeline import _Conversion

Progress = Callable[[int, int | None], None]


class Stopped(Exception):
    """Raised in a worker when the pipeline is being torn down."""


class Channel:
    """A bounded queue whose put/get give up when the pipeline stops."""

    def __init__(self, size: int, stop: threading.Event) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, size))
        self._stop = stop

    def put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue
        raise Stopped

    def get(self) -> Any:
        while not self._stop.is_set():
            try:
                return self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
        raise Stopped


class Pipeline:
    """One video: the reader, the device work, the writer and the threads joining them."""

    def __init__(self, source: Path, restorer: Engine, options: VideoOptions, progress: Progress | None) -> None:
        self.source = source
        self.restorer = restorer
        self.options = options
        self.progress = progress
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        batch = max(1, restorer.batch)
        # Enough decoded frames to fill the next batch while one is on the device, and a few
        # restored batches for the encoder; packets of copied streams ride along as items.
        self.decoded = Channel(options.queue_frames or 2 * batch + 4, self.stop)
        self.restored = Channel(4, self.stop)
        self.written = Written()
        self.sources: dict[int, av.stream.Stream] = {}  # input streams being copied, by index
        self.shift = StartShift()  # added to every stream's timestamps

    # worker plumbing
    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        def run() -> None:
            try:
                target()
            except Stopped:
                pass
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                self.errors.append(exc)
                self.stop.set()

        thread = threading.Thread(target=run, name=f"mprnet-vs {name}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def _raise_worker_error(self) -> None:
        if self.errors:
            raise self.errors[0]

    def run(self, to_rgb: ColourMatrix, from_rgb: ColourMatrix, total: int | None) -> None:
        """Restore in this thread until the end, then wait for the writer; a worker's error
        is raised here."""
        try:
            self.restore_loop(to_rgb, from_rgb, total)
            for thread in self.threads:
                while thread.is_alive() and not self.errors:
                    thread.join(timeout=0.1)
        except Stopped:
            pass
        self._raise_worker_error()
        if self.stop.is_set():
            raise MprnetError(f"{self.source}: restoring stopped unexpectedly")

    def shutdown(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    # the three stages
    def decode_worker(self, items: Iterator[tuple[str, Any]], reader: FrameReader, timing: Timing, grid: RateGrid | None) -> None:
        shift = self.shift.ticks(timing.time_base)
        for kind, value in items:
            if kind == "frame":
                pts, duration = timing.next(value)
                pts += shift
                if grid is not None:
                    pts, duration = grid.place(pts), 1
                self.decoded.put(("frame", reader.planes(value), pts, duration))
            else:
                self.decoded.put(("packet", value))
        self.decoded.put(("end",))

    def encode_worker(self, output: av.container.OutputContainer, video_out: av.video.stream.VideoStream, writer: FrameWriter, streams: dict[int, av.stream.Stream], time_base: Fraction) -> None:
        retimers = {index: AudioRetimer(stream, self.shift.ticks(stream.time_base))
                    for index, stream in self.sources.items() if stream.type == "audio"}
        while True:
            item = self.restored.get()
            if item[0] == "frames":
                _, planes, stamps = item
                for index, (pts, duration) in enumerate(stamps):
                    frame = writer.frame(planes[index])
                    frame.pts = pts
                    frame.time_base = time_base
                    if duration:
                        frame.duration = duration
                    output.mux(video_out.encode(frame))
                    self.written.add(pts)
            elif item[0] == "packet":
                packet = item[1]
                index = packet.stream.index
                shift = self.shift.ticks(packet.time_base)
                if shift:
                    packet.pts = None if packet.pts is None else packet.pts + shift
                    packet.dts = None if packet.dts is None else packet.dts + shift
                if index in retimers:
                    retimers[index](packet)
                if self.shift.audio_from is not None and index in retimers and self._left_out(packet, index):
                    continue
                packet.stream = streams[index]
                output.mux(packet)
                self.written.packets[index] += 1
            else:
                output.mux(video_out.encode(None))
                return

    def _left_out(self, packet: av.Packet, index: int) -> bool:
        """Whether a copied audio packet plays before StartShift.audio_from and is left out;
        where the kept ones start is noted in ``written`` (see timing.audio_start_notes)."""
        if packet.pts is None or not packet.time_base:
            return False
        start = packet.pts * Fraction(packet.time_base)
        duration = (packet.duration or 0) * Fraction(packet.time_base)
        if index not in self.written.audio_first and self.shift.drops(start, duration, stream_start(self.sources[index])):
            self.written.audio_dropped[index] = start + duration
            return True
        self.written.audio_first.setdefault(index, start)
        return False

    def restore_loop(self, to_rgb: ColourMatrix, from_rgb: ColourMatrix, total: int | None) -> None:
        batch_size = max(1, int(getattr(self.restorer, "batch", 1)))
        device = self.restorer.device
        frames: list[np.ndarray] = []
        stamps: list[tuple[int, int]] = []
        held: list[Any] = []  # packets that arrived while a batch was filling
        done = 0

        def flush() -> None:
            nonlocal done
            if frames:
                host = torch.from_numpy(np.stack(frames))
                if device.type == "cuda":
                    host = host.pin_memory()
                with torch.inference_mode():
                    rgb = to_rgb.to_rgb(host.to(device, non_blocking=True))
                    restored = self.restorer.restore_tensor(rgb)
                    planes = from_rgb.from_rgb(restored).cpu().numpy()
                self.restored.put(("frames", planes, list(stamps)))
                done += len(frames)
                frames.clear()
                stamps.clear()
                if self.progress is not None:
                    self.progress(done, total)
            for packet in held:
                self.restored.put(("packet", packet))
            held.clear()

        while True:
            item = self.decoded.get()
            if item[0] == "frame":
                frames.append(item[1])
                stamps.append((item[2], item[3]))
                if len(frames) >= batch_size:
                    flush()
            elif item[0] == "packet":
                if frames:
                    held.append(item[1])
                else:
                    self.restored.put(("packet", item[1]))
            else:
                flush()
                self.restored.put(("end",))
                return

    def start(self, items: Iterator[tuple[str, Any]], conversion: _Conversion, timing: Timing, grid: RateGrid | None,
              output: av.container.OutputContainer, video_out: av.video.stream.VideoStream, streams: dict[int, av.stream.Stream]) -> None:
        out_time_base = Fraction(video_out.codec_context.time_base)
        self._spawn("decode", lambda: self.decode_worker(items, conversion.reader, timing, grid))
        self._spawn("encode", lambda: self.encode_worker(output, video_out, conversion.writer, streams, out_time_base))
