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


# Measured 2026-12-02 on the shipped models (issue 25 stays open until they pass): derain 36.35 dB
# and deblur 34.21 dB on coffee.jpg (both pass on rocket.jpg, denoise passes on both). strict:
# a retrained model that passes turns these into failures, so the marks are removed then.
_SHORT = pytest.mark.xfail(strict=True, reason="shipped model below 38 dB on this clean photo (issue 25)")
CASES = [
    pytest.param(task, name, marks=_SHORT if (task, name) in {("derain", "coffee.jpg"), ("deblur", "coffee.jpg")} else ())
    for task in ("denoise", "derain", "deblur") for name in ("coffee.jpg", "rocket.jpg")
]


@pytest.mark.parametrize("task, name", CASES)
def test_a_clean_photo_comes_back_from_each_shipped_model_within_38_db(task: str, name: str) -> None:
    restorer = Restorer(task, weights=SHIPPED_DIR / f"{task}.pth", preset="quality", device="cpu")
    clean = read_rgb_photo(HELD_OUT / name)[0]
    restored = restorer.restore(clean)
    assert restored.shape == clean.shape and restored.dtype == clean.dtype
    assert psnr(restored, clean) >= FLOOR_DB, f"{task} on a clean {name}: {psnr(restored, clean):.2f} dB"
