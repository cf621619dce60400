"""Running the engine over a VapourSynth clip N frames per forward pass.

Batching inside VapourSynth's frame-request model: output frame ``n`` belongs to batch
``b = n // N``. For every ``k < N`` an aligned clip is built whose frame ``n`` is source frame
``b * N + k``, so one ModifyFrame over the N aligned clips hands the callback of any frame all
N source frames of its batch without calling ``get_frame`` inside a callback. The first
callback of a batch computes it and keeps the N output frames until all of them were handed
out; the others take theirs from that store. Frames asked for out of order or from several
threads therefore get the same frames as a sequential run, and a frame asked for again after
its batch was dropped is simply recomputed. The clip is padded to a multiple of N by
repeating its last frame (one input shape for every forward) and trimmed back afterwards.

On CUDA with ``num_streams=K > 1`` there are K ModifyFrame instances, each with its own CUDA
stream; a FrameEval sends batch ``b`` to instance ``b % K``, so K batches can be in flight
while VapourSynth's threads wait on the GIL-free GPU work.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
import vapoursynth as vs

from ..engine.protocol import Engine

class _Batch:
    """The output frames of one batch, computed once, kept until every frame was handed out."""

    __slots__ = ("lock", "frames", "served")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames: list[vs.VideoFrame] | None = None
        self.served: set[int] = set()


class _StreamSlot:
    """One lane of work: a CUDA stream (None on the CPU), its lock and reusable host buffers."""

    def __init__(self, device: torch.device) -> None:
        self.lock = threading.Lock()
        self.device = device
        self.stream = torch.cuda.Stream(device=device) if device.type == "cuda" else None
        self._buffers: dict[str, torch.Tensor] = {}

    def host_buffer(self, key: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """A host tensor of ``shape``; pinned on CUDA (asynchronous copies), reused between
        batches (only used under ``self.lock``)."""
        if self.stream is None:
            return torch.empty(shape, dtype=dtype)  # the CPU gains nothing from reuse here
        buf = self._buffers.get(key)
        if buf is None or tuple(buf.shape) != shape or buf.dtype != dtype:
            buf = torch.empty(shape, dtype=dtype, pin_memory=True)
            self._buffers[key] = buf
        return buf


class BatchRunner:
    """Runs the engine over a clip N frames per forward (see the module docstring)."""

    def __init__(self, restorer: Engine, *, batch_size: int, num_streams: int, name: str) -> None:
        self.restorer = restorer
        self.batch_size = batch_size
        self.name = name
        self.slots = [_StreamSlot(restorer.device) for _ in range(num_streams)]
        self._lock = threading.Lock()
        self._batches: OrderedDict[int, _Batch] = OrderedDict()
        self._core = vs.core.core  # the core whose threads ask for frames
        self._length = 0
        self.forwards = 0  # number of batches computed (tests check batches are not recomputed)

    def max_batches(self) -> int:
        """Unfinished batches kept: as many as the core's threads can have in flight, plus slack;
        older ones (frames never asked for, e.g. after a Trim) are dropped and would just be
        recomputed. Read when frames are asked for, as a script may raise ``core.num_threads``
        after creating the filter."""
        threads = max(1, self._core.num_threads)
        return max(2, -(-threads // self.batch_size) + len(self.slots) + 1)

    def apply(self, rgb: vs.VideoNode) -> vs.VideoNode:
        """The restored clip, same format (RGBS or RGBH), length and frame properties."""
        core = vs.core
        n_frames = rgb.num_frames
        self._length = n_frames
        size = self.batch_size
        padded = rgb
        if n_frames % size:
            padded = rgb + rgb[-1] * (size - n_frames % size)
        if size == 1:
            aligned = [padded]
        else:
            aligned = [
                core.std.Interleave(
                    [core.std.SelectEvery(padded, cycle=size, offsets=[k], modify_duration=False)] * size,
                    modify_duration=False,
                )
                for k in range(size)
            ]
        nodes = [
            core.std.ModifyFrame(padded, aligned, self._selector_for(slot))
            for slot in self.slots
        ]
        if len(nodes) == 1:
            out = nodes[0]
        else:
            out = core.std.FrameEval(padded, lambda n: nodes[(n // size) % len(nodes)], clip_src=aligned)
        return out if out.num_frames == n_frames else out[:n_frames]

    def _selector_for(self, slot: _StreamSlot):  # noqa: ANN202 - a VapourSynth callback
        def selector(n: int, f: vs.VideoFrame | Sequence[vs.VideoFrame]) -> vs.VideoFrame:
            frames = [f] if isinstance(f, vs.VideoFrame) else list(f)
            try:
                return self.frame(n, frames, slot)
            except vs.Error:
                raise
            except Exception as exc:  # reported by VapourSynth as this frame's error
                raise vs.Error(f"{self.name}: frame {n}: {type(exc).__name__}: {exc}") from exc

        return selector

    def frame(self, n: int, frames: list[vs.VideoFrame], slot: _StreamSlot) -> vs.VideoFrame:
        """Output frame ``n``, given the N input frames of its batch."""
        index = n // self.batch_size
        limit = self.max_batches()
        with self._lock:
            batch = self._batches.get(index)
            if batch is None:
                batch = self._batches[index] = _Batch()
            self._batches.move_to_end(index)
            while len(self._batches) > limit:
                self._batches.popitem(last=False)
        with batch.lock:
            if batch.frames is None:
                batch.frames = self.run(frames, slot)
            out = batch.frames[n - index * self.batch_size]
            batch.served.add(n)
            first = index * self.batch_size
            done = len(batch.served) >= min(self.batch_size, self._length - first)
        if done:
            with self._lock:
                if self._batches.get(index) is batch:
                    del self._batches[index]
        return out

    def run(self, frames: list[vs.VideoFrame], slot: _StreamSlot) -> list[vs.VideoFrame]:
        """One forward for the batch: stack the planes into one host tensor, one copy to the
        device and one back, then write the planes into copies of the input frames."""
        first = frames[0]
        height, width = first.height, first.width
        dtype = torch.float16 if first.format.id == vs.RGBH else torch.float32
        shape = (len(frames), 3, height, width)
        with slot.lock:
            host_in = slot.host_buffer("in", shape, dtype)
            stacked = host_in.numpy()
            for i, frame in enumerate(frames):
                for plane in range(3):
                    stacked[i, plane] = np.asarray(frame[plane])
            if slot.stream is None:
                # NaN samples (e.g. from a division by zero upstream) have nothing to restore
                # to; they become 0 instead of spreading through the network.
                restored = self.restorer.restore_tensor(host_in.nan_to_num_(0.0).clamp_(0.0, 1.0))
                result = restored.numpy()
            else:
                host_out = slot.host_buffer("out", shape, dtype)
                with torch.cuda.stream(slot.stream):
                    x = host_in.to(slot.device, non_blocking=True).nan_to_num_(0.0).clamp_(0.0, 1.0)
                    host_out.copy_(self.restorer.restore_tensor(x), non_blocking=True)
                slot.stream.synchronize()
                result = host_out.numpy()
            outputs = []
            for i, frame in enumerate(frames):
                out = frame.copy()
                for plane in range(3):
                    np.copyto(np.asarray(out[plane]), result[i, plane])
                outputs.append(out)
        with self._lock:
            self.forwards += 1
        return outputs
