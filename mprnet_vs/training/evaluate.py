"""Score a model on held-out images: PSNR/SSIM of the degraded input and of the restoration
against the clean image, per image and on average, over RGB and on the Y channel."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..degrade import check_recipe, degrade, to_dtype
from ..errors import InputError
from ..photo import read_rgb_photo
from .data import list_images
from .metrics import finite_or_none, psnr, ssim

Pair = tuple[str, np.ndarray, np.ndarray]  # name, degraded, clean (RGB, each at its file's depth)
METRICS = ("psnr", "ssim", "psnr_y", "ssim_y")


@dataclass
class Score:
    name: str
    input: dict[str, float]   # degraded vs clean
    output: dict[str, float]  # restored vs clean

    def gain(self, metric: str) -> float:
        return self.output[metric] - self.input[metric]


def measure(img: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    return {"psnr": psnr(img, clean), "ssim": ssim(img, clean),
            "psnr_y": psnr(img, clean, True), "ssim_y": ssim(img, clean, True)}


def pairs_from_folders(degraded_dir: str | Path, clean_dir: str | Path,
                       note: Callable[[str], None] | None = None) -> Iterator[Pair]:
    """Degraded images and the clean images of the same file name. ``note`` hears what the
    scores leave out or compare oddly: clean images with no degraded one (the mean covers the
    degraded images only), and a gray image paired with a colour one."""
    clean = {p.name: p for p in list_images(clean_dir)}
    degraded = list_images(degraded_dir)
    for path in degraded:  # every name checked before the first (slow) restoration
        if path.name not in clean:
            raise InputError(f"{path}: no clean image named {path.name} in {clean_dir}")
    alone = sorted(set(clean) - {p.name for p in degraded})
    if alone and note is not None:
        shown = ", ".join(alone[:5]) + (f" and {len(alone) - 5} more" if len(alone) > 5 else "")
        note(f"{len(alone)} clean image(s) in {clean_dir} have no degraded image of the same name and are not scored: {shown}")
    for path in degraded:
        (bad, bad_gray), (good, good_gray) = read_rgb_photo(path), read_rgb_photo(clean[path.name])
        if bad.shape != good.shape:
            raise InputError(f"{path.name}: degraded {bad.shape[1]}x{bad.shape[0]} and clean {good.shape[1]}x{good.shape[0]} differ in size")
        if bad_gray != good_gray and note is not None:
            kinds = ("gray", "colour") if bad_gray else ("colour", "gray")
            note(f"{path.name}: the degraded image is {kinds[0]} and the clean one {kinds[1]}; "
                 "scores compare a colour picture with a gray one")
        yield path.name, bad, good


def pairs_from_recipe(clean_dir: str | Path, recipe: str, seed: int = 0) -> Iterator[Pair]:
    """Clean images degraded by ``recipe`` and stored at the clean image's depth (8-bit stays
    8-bit, 16-bit stays 16-bit); image i uses seed (seed, i), so results repeat."""
    check_recipe(recipe)
    for index, path in enumerate(list_images(clean_dir)):
        good = read_rgb_photo(path)[0]
        yield path.name, to_dtype(degrade(good, recipe, np.random.default_rng([seed, index])), good.dtype), good


def evaluate(restore: Callable[[np.ndarray], np.ndarray], pairs: Iterable[Pair],
             on_image: Callable[[str, np.ndarray, np.ndarray], None] | None = None) -> list[Score]:
    """Restore every degraded image with ``restore`` (same dtype out as in) and score both."""
    scores = []
    for name, bad, good in pairs:
        restored = restore(bad)
        if on_image is not None:
            on_image(name, bad, restored)
        try:
            scores.append(Score(name, measure(bad, good), measure(restored, good)))
        except InputError as exc:  # e.g. too small for SSIM's window: say which image
            raise InputError(f"{name}: {exc}") from None
    if not scores:
        raise InputError("no images to evaluate")
    return scores


def mean_score(scores: list[Score]) -> Score:
    def avg(values: list[float]) -> float:
        return float(np.mean(values)) if all(math.isfinite(v) for v in values) else math.inf

    return Score("mean", {m: avg([s.input[m] for s in scores]) for m in METRICS},
                 {m: avg([s.output[m] for s in scores]) for m in METRICS})


def to_json(scores: list[Score]) -> dict:
    """The scores as plain JSON values (an infinite PSNR, of identical images, is null)."""
    return {"images": [finite_or_none(asdict(s)) for s in scores], "mean": finite_or_none(asdict(mean_score(scores)))}


def table(scores: list[Score]) -> str:
    """A fixed-width table: input -> output (gain) for PSNR and SSIM, RGB and Y."""
    rows = [*scores, mean_score(scores)]
    width = max(len(s.name) for s in rows)
    head = f"{'image':<{width}}  {'PSNR RGB (dB)':>22}  {'SSIM RGB':>15}  {'PSNR Y (dB)':>22}  {'SSIM Y':>15}"
    lines = [head, "-" * len(head)]
    for s in rows:
        if s is rows[-1]:
            lines.append("-" * len(head))
        cells = []
        for m in METRICS:
            if m.startswith("psnr"):
                cells.append(f"{s.input[m]:6.2f} -> {s.output[m]:6.2f} ({s.gain(m):+5.2f})")
            else:
                cells.append(f"{s.input[m]:.4f} -> {s.output[m]:.4f}")
        lines.append(f"{s.name:<{width}}  {cells[0]:>22}  {cells[1]:>15}  {cells[2]:>22}  {cells[3]:>15}")
    return "\n".join(lines)
