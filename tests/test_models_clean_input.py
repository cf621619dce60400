"""No harm on clean input (issue 25): a clean photo through each shipped model, quality preset,
must come back within 38 dB PSNR of itself. The held-out photos (never trained on) are used; what
each model does to a clean frame is written in its card in docs/models.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from mprnet_vs import Restorer
from mprnet_vs.photo import read_rgb_photo
from mprnet_vs.training.metrics import psnr
from mprnet_vs.weights import SHIPPED_DIR

HELD_OUT = Path(__file__).resolve().parents[1] / "mprnet_vs" / "assets"
FLOOR_DB = 38.0


@pytest.mark.parametrize("name", ["coffee.jpg", "rocket.jpg"])
@pytest.mark.parametrize("task", ["denoise", "derain", "deblur"])
def test_a_clean_photo_comes_back_from_each_shipped_model_within_38_db(task: str, name: str) -> None:
    restorer = Restorer(task, weights=SHIPPED_DIR / f"{task}.pth", preset="quality", device="cpu")
    clean = read_rgb_photo(HELD_OUT / name)[0]
    restored = restorer.restore(clean)
    assert restored.shape == clean.shape and restored.dtype == clean.dtype
    assert psnr(restored, clean) >= FLOOR_DB, f"{task} on a clean {name}: {psnr(restored, clean):.2f} dB"
