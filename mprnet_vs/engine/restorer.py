"""The Restorer: one MPRNet resident on a device, restoring images of any size.

Every front end (VapourSynth, video, photo, CLI) goes through this class, so padding to
multiples of 8, tiling with blended overlaps, batching, precision and out-of-memory recovery
live here only.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .. import presets
from ..errors import InputError, MprnetError, first_line
from ..model import MPRNet
from ..tasks import check_task
from ..weights import check_local_stats, resolve_weights
from . import autotile, convert
from .backends import Backend, ModelSource, check_backend, make_backend
from .backends.torch_eager import OOM_ERRORS
from .devices import DeviceSpec, resolve_device
from .ensemble import ensemble_mean
from .options import check_bool, check_text, describe
from .padding import crop, pad_to_multiple
from .precision import NAMES, fallback_dtype, initial_dtype
from .tiling import MIN_SPLIT, Tile, plan, round_tile


class Restorer:
    """Restore images with MPRNet: one model resident on a device, any image size.

    ``task`` (derain / deblur / denoise) picks the default checkpoint and preset file;
    ``weights`` may also be an in-memory :class:`MPRNet`. Explicit options override the preset.
    The ONNX backends run a model exported from the checkpoint on first use and cached
    (:mod:`mprnet_vs.engine.backends.onnx_cache`); ``backend="auto"`` picks as
    :func:`mprnet_vs.engine.backends.auto_backend` documents.

    Options (:mod:`mprnet_vs.engine.options`, the one description every front end shares):
    """

    def __init__(
        self,
        task: str | None = None,
        *,
        weights: str | os.PathLike | MPRNet | None = None,
        preset: str | os.PathLike | None = None,
        stages: int | None = None,
        tile: int | str | None = None,
        overlap: int | None = None,
        batch: int | None = None,
        precision: str | None = None,
        ensemble: int | None = None,
        device: DeviceSpec = None,
        compile: bool = False,
        local_stats: int | None = None,
        backend: str = "torch",
    ) -> None:
        for name, value in (("weights", weights), ("preset", preset), ("device", device), ("precision", precision),
                            ("tile", tile), ("task", task)):
            check_text(value, name)  # "" is a mistake (an unset variable), not "the default"
        backend = check_backend(backend)  # refuses a blank name itself
        self.task = check_task(task) if task is not None else None
        self.local_stats = check_local_stats(local_stats)
        settings = presets.resolve(self.task, preset).override(
            stages=stages, tile=tile, overlap=overlap, batch=batch, precision=precision, ensemble=ensemble
        )
        self.settings = settings
        self.stages: int = settings.stages
        self.tile: int | str = settings.tile
        self.overlap: int = settings.overlap
        self.batch: int = settings.batch
        self.precision: str = settings.precision
        self.ensemble: int = settings.ensemble
        self.device: torch.device = resolve_device(device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # video frames repeat one size: tune once

        self._warned: set[str] = set()
        if isinstance(weights, MPRNet):
            self.checkpoint: Path | None = None
            source = ModelSource(None, weights, self.local_stats)
        else:
            self.checkpoint = resolve_weights(self.task, weights)
            source = ModelSource(self.checkpoint, None, self.local_stats)
        self.compile = check_bool(compile, "argument")
        self.backend: Backend = make_backend(
            backend, source, self.device, initial_dtype(self.precision, self.device), self._warn_once,
            compile=self.compile, stages=self.stages,
        )

        # torch keeps a CPU thread count per thread: one that first ran torch code while the
        # count was different (e.g. a VapourSynth worker) keeps that count, and a different
        # count sums in a different order. Every call runs with the count in effect now, so
        # a frame is bit-identical whichever thread asks for it.
        self._cpu_threads = torch.get_num_threads()
        self._lock = threading.Lock()
        self._tile_limit: int | None = None  # set after an out-of-memory error
        self._batch_limit: int | None = None
        self._auto_tiles: dict[tuple[int, int, int], int] = {}
        self._bytes_per_pixel: dict[tuple[int, torch.dtype], float] = {}

    # --- public API -----------------------------------------------------------------------

    @property
    def model(self) -> MPRNet:
        """The torch network the backend runs (or, for the ONNX backends, was exported from)."""
        return self.backend.model

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the network computes in now (precision "auto" may widen it after an overflow)."""
        return self.backend.dtype

    def __repr__(self) -> str:
        source = self.checkpoint or "in-memory model"
        return (
            f"Restorer(task={self.task!r}, weights={str(source)!r}, stages={self.stages}, tile={self.tile!r}, "
            f"overlap={self.overlap}, batch={self.batch}, precision={self.precision!r} ({NAMES[self.dtype]}), "
            f"ensemble={self.ensemble}, "
            f"device={str(self.device)!r}, local_stats={self.model.local_stats_patch or 0}, "
            f"backend={self.backend.describe()!r})"
        )

    @property
    def tile_limit(self) -> int | None:
        """The largest tile side allowed after a CUDA out-of-memory error, else None."""
        return self._tile_limit

    def restore(self, image: np.ndarray) -> np.ndarray:
        """One H x W x 3 RGB image (uint8, uint16, or float in [0, 1]) -> the restored image,
        same shape and dtype, clamped to the valid range. The input is never modified."""
        image = convert.check_image(image)
        return convert.to_numpy(self.restore_tensor(convert.to_tensor([image], self.device)), image.dtype)[0]

    def restore_batch(self, images: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Same-size images (a list, or an N x H x W x 3 array) -> restored images, ``batch`` per
        forward pass."""
        checked = convert.check_images(images)
        restored: list[np.ndarray] = []
        for start in range(0, len(checked), self.batch):
            group = checked[start : start + self.batch]
            out = self.restore_tensor(convert.to_tensor(group, self.device))
            restored.extend(convert.to_numpy(out, group[0].dtype))
        return restored

    def restore_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """B x 3 x H x W float tensor in [0, 1] on ``self.device`` -> restored, same shape, dtype
        and device, clamped to [0, 1]. Pads, tiles and batches internally (at most ``batch``
        images or tiles per forward), once per ``ensemble`` copy. Safe to call from several threads."""
        self._check_tensor(x)
        if self.device.type == "cpu" and torch.get_num_threads() != self._cpu_threads:
            torch.set_num_threads(self._cpu_threads)
        with torch.inference_mode():
            restored = ensemble_mean(x, self.ensemble, self._restore)
        # Outside inference mode, so callers get an ordinary tensor they may modify in place.
        with torch.no_grad():
            return restored.clamp(0.0, 1.0).to(x.dtype)

    # --- checks ---------------------------------------------------------------------------

    def _check_tensor(self, x: object) -> None:
        if not isinstance(x, torch.Tensor):
            raise InputError(f"restore_tensor: expected a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 4 or x.shape[1] != 3:
            raise InputError(f"restore_tensor: expected shape B x 3 x H x W, got {tuple(x.shape)}")
        if 0 in x.shape:
            raise InputError(f"restore_tensor: empty tensor of shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise InputError(f"restore_tensor: expected a float tensor in [0, 1], got {x.dtype}")
        if x.device != self.device:
            raise InputError(f"restore_tensor: tensor is on {x.device}, this Restorer runs on {self.device}")

    # --- restoring ------------------------------------------------------------------------

    def _restore(self, x: torch.Tensor) -> torch.Tensor:
        """float32 B x 3 x H x W, unclamped; retries on out-of-memory and on reduced-precision
        overflow."""
        height, width = x.shape[-2:]
        padded = pad_to_multiple(x)
        shrunk_from: int | None = None
        while True:
            with self._lock:  # one backend per attempt, should another thread be switching precision
                backend = self.backend
            dtype = backend.dtype
            tile, batch = self._tiling(padded.shape[-2], padded.shape[-1], padded.shape[0])
            failure = None
            try:
                out = self._run(padded, backend, tile, batch)
            except OOM_ERRORS as exc:
                failure = first_line(exc)  # leave the except block so its frames can be freed
            if failure is not None:
                side = tile if tile > 0 else max(padded.shape[-2:])
                shrunk_from = shrunk_from or side
                self._shrink_after_oom(side, batch, failure)
                continue
            if dtype != torch.float32 and not bool(torch.isfinite(out).all()):
                self._leave_dtype(dtype)
                continue
            if shrunk_from is not None:
                self._warn_once(
                    "oom",
                    f"out of memory on {self.device} with {shrunk_from} px tiles; continuing with "
                    f"{self._tile_limit} px tiles (batch {self._batch_limit or self.batch}) from now on",
                )
            return crop(out, height, width)

    def _tiling(self, height: int, width: int, images: int) -> tuple[int, int]:
        """(tile side, 0 = whole frame; images or tiles per forward) for a padded frame size."""
        batch = min(self.batch, self._batch_limit or self.batch)
        tile = self.tile
        if tile == "auto":
            key = (height, width, min(batch, images))
            if key not in self._auto_tiles:
                self._auto_tiles[key] = autotile.choose_tile(
                    height, width, key[2], self._activation_bytes(), self.device, tiles_per_forward=batch
                )
            tile = self._auto_tiles[key]
        assert isinstance(tile, int)
        if self._tile_limit is not None and (tile == 0 or tile > self._tile_limit):
            tile = self._tile_limit
        if tile > 0:
            tile = max(tile, self.backend.min_side)  # a backend exact only from some size on
        if tile > 0 and round_tile(tile) >= max(height, width):
            tile = 0
        return tile, batch

    def _activation_bytes(self) -> float:
        key = (self.stages, self.dtype)
        if key not in self._bytes_per_pixel:
            self._bytes_per_pixel[key] = self.backend.bytes_per_pixel(self.stages)
        return self._bytes_per_pixel[key]

    def _run(self, padded: torch.Tensor, backend: Backend, tile: int, batch: int) -> torch.Tensor:
        n, channels, height, width = padded.shape
        tiles = plan(height, width, tile, self.overlap, self.device)
        if len(tiles) == 1:  # whole frame: no blending, exactly the network's output
            if n <= batch:
                return backend.forward(padded, self.stages)
            out = torch.empty(n, channels, height, width, dtype=torch.float32, device=self.device)
            for start in range(0, n, batch):
                out[start : start + batch] = backend.forward(padded[start : start + batch], self.stages)
            return out
        out = torch.zeros(n, channels, height, width, dtype=torch.float32, device=self.device)
        coverage = torch.zeros(height, width, dtype=torch.float32, device=self.device)
        for t in tiles:
            coverage[t.y : t.y + t.height, t.x : t.x + t.width] += t.weight
        jobs: list[tuple[int, Tile]] = [(i, t) for i in range(n) for t in tiles]
        for start in range(0, len(jobs), batch):
            group = jobs[start : start + batch]
            inputs = torch.stack([padded[i, :, t.y : t.y + t.height, t.x : t.x + t.width] for i, t in group])
            restored = backend.forward(inputs, self.stages)
            for (i, t), tile_out in zip(group, restored):
                out[i, :, t.y : t.y + t.height, t.x : t.x + t.width].addcmul_(tile_out, t.weight)
        return out.div_(coverage)

    # --- recovering -----------------------------------------------------------------------

    def _shrink_after_oom(self, side: int, batch: int, failure: str) -> None:
        """Halve the tile (or, at the smallest tile, the batch) for this and later frames."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        with self._lock:
            if side > MIN_SPLIT:
                smaller = max(MIN_SPLIT, round_tile(side // 2))
                if self._tile_limit is None or smaller < self._tile_limit:
                    self._tile_limit = smaller
            elif batch > 1:
                self._batch_limit = max(1, batch // 2)
            else:
                raise MprnetError(f"out of memory on {self.device} even with {side} px tiles and batch 1 ({failure})")

    def _leave_dtype(self, dtype: torch.dtype) -> None:
        """An output overflowed in ``dtype``: "auto" moves on to a wider type, explicit fails."""
        if self.precision != "auto":
            raise MprnetError(
                f"the model's output overflowed in {NAMES[dtype]} on {self.device}; use precision='auto' or 'fp32'"
            )
        with self._lock:
            if self.dtype != dtype:
                return  # another thread already moved on
            wider = fallback_dtype(dtype, self.device)
            while wider is not None and not self.backend.supports(wider):  # e.g. no bf16 in ONNX
                wider = fallback_dtype(wider, self.device)
            assert wider is not None
            self._warn_once(
                "precision", f"{NAMES[dtype]} overflowed on {self.device}; precision 'auto' continues in {NAMES[wider]}"
            )
            self.backend = self.backend.widened(wider)

    def _warn_once(self, topic: str, message: str) -> None:
        if topic not in self._warned:
            self._warned.add(topic)
            warnings.warn(f"mprnet_vs: {message}", RuntimeWarning, stacklevel=4)


Restorer.__doc__ = f"{Restorer.__doc__}\n{describe(indent='    ')}\n"
