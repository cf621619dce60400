"""The README's main job: degrade a pan over a shipped photo, restore it through the video
pipeline, write both clips and a side-by-side PNG, report PSNR."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from mprnet_vs.clips import DEFAULT_PHOTO, pan, read_rgb, read_rgb_frames
from mprnet_vs.cli import main
from mprnet_vs.demo import run_demo
from mprnet_vs.engine import Restorer
from mprnet_vs.training.metrics import psnr


def test_demo_writes_clips_png_and_true_psnr(tmp_path, tiny_weights):
    restorer = Restorer("derain", weights=tiny_weights, tile=0)
    result = run_demo(tmp_path / "out", restorer, frames=4, width=64, height=48)
    assert result.frames == 4
    degraded, restored = read_rgb_frames(result.degraded), read_rgb_frames(result.restored)
    assert len(degraded) == len(restored) == 4 and degraded[0].shape == (48, 64, 3)
    # The restored clip is the engine's output for the degraded clip (lossless both ways).
    for d, r in zip(degraded, restored):
        assert np.abs(restorer.restore(d).astype(int) - r.astype(int)).max() <= 1
    # PSNR figures are the real ones against the clean pan.
    clean = list(pan(read_rgb(DEFAULT_PHOTO), 64, 48, 4))
    assert result.psnr_degraded == pytest.approx(np.mean([psnr(d, c) for d, c in zip(degraded, clean)]), abs=1e-9)
    assert result.psnr_restored == pytest.approx(np.mean([psnr(r, c) for r, c in zip(restored, clean)]), abs=1e-9)
    assert result.psnr_degraded < 40  # the rain is really there
    side = cv2.imread(str(result.side_by_side))
    assert side.shape == (48, 192, 3)


def test_demo_command_prints_psnr(tmp_path, tiny_weights, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--weights", str(tiny_weights), "-o", str(out), "--frames", "3", "--size", "48x32"])
    assert code == 0
    text = capsys.readouterr().out
    assert "PSNR against the clean pan: degraded" in text and "-> restored" in text
    with av.open(str(out / "restored.mkv")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3


@pytest.mark.parametrize("words, message", [
    (["--size", "abc"], "argument --size: 'abc': expected WIDTHxHEIGHT"),  # before: a ValueError traceback
    (["--size", "0x0"], "argument --size: '0x0': width and height must be 16 to 16384 pixels"),  # an OpenCV traceback
    (["--frames", "-3"], "argument --frames: must be >= 1"),  # 'degraded.mkv: not found' after loading the model
    (["--seed", "-1"], "argument --seed: must be >= 0"),
])
def test_demo_settings_that_cannot_work_are_usage_errors(tmp_path, tiny_weights, capsys, words, message):
    out = tmp_path / "demo"
    assert main(["demo", "--weights", str(tiny_weights), "-o", str(out), *words]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()
