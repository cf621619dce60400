"""Training pairs: paired folders (degraded/clean with matching names) or clean photos degraded on
the fly. Batches are drawn from a generator seeded by (seed, iteration), so a resumed run sees the
same batches it would have seen without stopping, and worker processes (``numbered_batches``) make
exactly the batches the training process would have made itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..degrade import degrade
from ..errors import InputError
from ..photo import PHOTO_SUFFIXES, read_rgb

MARGIN = 16  # degrade a larger crop and cut the middle out, so blur and rain see real surroundings


def write_rgb(path: str | Path, img: np.ndarray) -> None:
    """Write HxWx3 RGB uint8 to ``path`` (format from the suffix)."""
    ok, buf = cv2.imencode(Path(path).suffix or ".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"{path}: could not encode image")
    buf.tofile(str(path))


def list_images(folder: str | Path) -> list[Path]:
    """The images of a folder by extension; hidden files (macOS's ``._NAME.png`` companions,
    partial outputs) are skipped, as ``mprnet-vs restore`` skips them."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of images")
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in PHOTO_SUFFIXES and not p.name.startswith(".") and p.is_file())
    if not files:
        raise InputError(f"{folder}: holds no images ({', '.join(PHOTO_SUFFIXES)})")
    return files


def augment(images: list[np.ndarray], mode: int) -> list[np.ndarray]:
    """One of the 8 flips/rotations (mode 0-7), the same for every image of a pair."""
    out = []
    for img in images:
        if mode & 4:
            img = img[:, ::-1]
        out.append(np.ascontiguousarray(np.rot90(img, mode & 3)))
    return out


def _to_float(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) / 255.0


def _quantize(img: np.ndarray) -> np.ndarray:
    """Round to 8 bits, as every degraded frame a user has is."""
    return np.round(np.clip(img, 0, 1) * 255.0).astype(np.float32) / 255.0


@dataclass
class PairSource:
    """Random (degraded, clean) patch pairs; ``recipe`` set = degrade clean images on the fly.

    ``scene`` (with ``recipe`` only) is a recipe applied to each clean crop *before* it becomes
    the target: a look that belongs to the picture and that the model must keep, such as
    ``veil:chance=0.3`` (hazy scenes). A derainer that sees rain's veil taken away but a hazy
    scene without rain kept learns that rain, not low contrast, is the cue to lift a veil."""

    clean: list[np.ndarray]
    degraded: list[np.ndarray] | None = None
    recipe: str | None = None
    scene: str | None = None

    def __post_init__(self) -> None:
        if (self.degraded is None) == (self.recipe is None):
            raise InputError("training data needs either degraded images or a degradation recipe")
        if self.scene and not self.recipe:
            raise InputError("a scene recipe needs a degradation recipe (paired folders fix their targets)")
        weights = np.array([im.shape[0] * im.shape[1] for im in self.clean], np.float64)
        self.weights = weights / weights.sum()

    @classmethod
    def from_clean_folder(cls, folder: str | Path, recipe: str, scales: tuple[float, ...] = (1.0,),
                          scene: str | None = None) -> PairSource:
        images = []
        for path in list_images(folder):
            img = _to_float(read_rgb(path))
            for s in scales:
                images.append(img if s == 1.0 else cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA))
        return cls(clean=images, recipe=recipe, scene=scene)

    @classmethod
    def from_pairs(cls, degraded_dir: str | Path, clean_dir: str | Path) -> PairSource:
        clean_files = {p.name: p for p in list_images(clean_dir)}
        degraded_files = list_images(degraded_dir)
        missing = [p.name for p in degraded_files if p.name not in clean_files]
        if missing:
            raise InputError(f"{clean_dir}: no clean image named like {', '.join(missing[:3])} from {degraded_dir}")
        clean, degraded = [], []
        for p in degraded_files:
            d, c = read_rgb(p), read_rgb(clean_files[p.name])
            if d.shape != c.shape:
                raise InputError(f"{p.name}: degraded {d.shape[:2]} and clean {c.shape[:2]} sizes differ")
            clean.append(_to_float(c))
            degraded.append(_to_float(d))
        return cls(clean=clean, degraded=degraded)

    @property
    def margin(self) -> int:
        """Context cut away around each crop: only degradations made here need it."""
        return MARGIN if self.recipe else 0

    def crop_size(self, patch: int) -> int:
        return patch + 2 * self.margin

    def fitting(self, patch: int) -> PairSource:
        """Only the images a ``patch`` crop fits in, so a downscaled copy of a small photo is left
        out of large-patch training instead of failing it."""
        size = self.crop_size(patch)
        keep = [i for i, im in enumerate(self.clean) if min(im.shape[:2]) >= size]
        if not keep:
            raise InputError(f"no training image is large enough for a {size}px crop (patch {patch})")
        return PairSource(clean=[self.clean[i] for i in keep], recipe=self.recipe, scene=self.scene,
                          degraded=None if self.degraded is None else [self.degraded[i] for i in keep])

    def sample(self, rng: np.random.Generator, patch: int) -> tuple[np.ndarray, np.ndarray]:
        index = int(rng.choice(len(self.clean), p=self.weights))
        clean = self.clean[index]
        size, margin = self.crop_size(patch), self.margin
        h, w = clean.shape[:2]
        if h < size or w < size:
            raise InputError(f"training image {index} is {w}x{h}, smaller than the {size}px crop")
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        target = clean[y : y + size, x : x + size]
        if self.scene:  # drawn before the degradation, from the same generator
            target = _quantize(degrade(target, self.scene, rng))
        if self.recipe:
            bad = _quantize(degrade(target, self.recipe, rng))
        else:
            assert self.degraded is not None
            bad = self.degraded[index][y : y + size, x : x + size]
        cut = slice(margin, margin + patch)
        return tuple(augment([bad[cut, cut], target[cut, cut]], int(rng.integers(0, 8))))  # type: ignore[return-value]

    def batch(self, seed: int, iteration: int, size: int, patch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch number ``iteration``: the same whatever happened before (resumable)."""
        rng = np.random.default_rng([seed, iteration])
        pairs = [self.sample(rng, patch) for _ in range(size)]
        bad = torch.from_numpy(np.stack([p[0] for p in pairs])).permute(0, 3, 1, 2).contiguous()
        good = torch.from_numpy(np.stack([p[1] for p in pairs])).permute(0, 3, 1, 2).contiguous()
        return bad, good


class _NumberedBatches(torch.utils.data.Dataset):
    """Item i is batch number ``first + i`` of a run: a DataLoader over it gives the same batches
    with any number of workers."""

    def __init__(self, source: PairSource, seed: int, first: int, stop: int, size: int, patch: int) -> None:
        self.source, self.seed, self.first, self.stop, self.size, self.patch = source, seed, first, stop, size, patch

    def __len__(self) -> int:
        return max(self.stop - self.first, 0)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.source.batch(self.seed, self.first + i, self.size, self.patch)


def _single_threaded_worker(_worker_id: int) -> None:
    """Each worker makes one batch at a time: many workers, not many threads per worker."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def numbered_batches(source: PairSource, seed: int, first: int, stop: int, size: int, patch: int,
                     workers: int = 0, pin_memory: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches ``first`` .. ``stop - 1`` in order. ``workers`` > 0 degrades them ahead in that many
    processes (a GPU outruns one CPU core making blur kernels); the batches are the same either way."""
    loader = torch.utils.data.DataLoader(
        _NumberedBatches(source, seed, first, stop, size, patch), batch_size=None, shuffle=False,
        num_workers=workers, pin_memory=pin_memory, worker_init_fn=_single_threaded_worker if workers else None,
        prefetch_factor=4 if workers else None,
        # fresh interpreters: a forked child can inherit a lock held by one of the parent's thread
        # pools (OpenCV's, OpenMP's) and wait on it for ever (seen: both workers stuck at once)
        multiprocessing_context="spawn" if workers else None)
    return iter(loader)
