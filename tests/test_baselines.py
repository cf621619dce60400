"""The classical baselines of the standing comparison (BM3D given the true sigma, Wiener given the
true kernel) and `mprnet-vs evaluate --render independent --baseline`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mprnet_vs.cli import main
from mprnet_vs.degrade import to_uint8
from mprnet_vs.evaluation.baselines import baseline_restorer, bm3d_denoise, wiener_deconvolve
from mprnet_vs.evaluation.render import render
from mprnet_vs.training.data import write_rgb
from mprnet_vs.training.metrics import psnr


def textured(h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(seed)
    blobs = sum(np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)) * v
                for cx, cy, r, v in rng.uniform([0, 0, 3, -0.3], [w, h, 10, 0.3], (12, 4)))
    img = 0.5 + blobs[..., None] * np.array([1.0, 0.7, 0.4]) + 0.1 * np.sign(np.sin(xx / 5))[..., None]
    return np.clip(img, 0.05, 0.95).astype(np.float32)


def test_bm3d_with_the_true_sigma_removes_noise():
    clean = textured()
    noisy = render(clean, "noise:sigma=25", 1)
    out = bm3d_denoise(noisy.image, noisy.sigma)
    assert out.dtype == np.float32 and out.shape == clean.shape
    assert psnr(out, clean) > psnr(noisy.image, clean) + 5


def test_wiener_with_the_true_kernel_sharpens():
    clean = textured(96, 96, 2)
    blurred = render(clean, "blur:length=11,noise=1", 3)
    out = wiener_deconvolve(blurred.image, blurred.kernel, blurred.sigma)
    assert psnr(out, clean) > psnr(blurred.image, clean) + 2
    wrong = wiener_deconvolve(blurred.image, np.rot90(blurred.kernel).copy(), blurred.sigma)
    assert psnr(out, clean) > psnr(wrong, clean) + 1  # the true kernel, not any kernel, is what helps


def test_baseline_restorer_keeps_the_dtype():
    clean = textured()
    noisy = render(clean, "noise:sigma=15", 0)
    restore = baseline_restorer("bm3d", None, noisy.sigma)
    out8 = restore(to_uint8(noisy.image))
    assert out8.dtype == np.uint8 and psnr(out8, to_uint8(clean)) > psnr(to_uint8(noisy.image), to_uint8(clean)) + 3


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clean")
    for i in range(2):
        write_rgb(folder / f"p{i}.png", to_uint8(textured(48, 64, i)))
    return folder


def test_evaluate_scores_model_and_baseline_on_the_same_images(photos, tiny_weights, capsys):
    argv = ["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--clean", str(photos),
            "--render", "independent", "--degrade", "noise:sigma=25", "--baseline", "bm3d", "--device", "cpu", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["render"] == "independent" and report["baseline"]["name"] == "bm3d"
    model, base = report["images"], report["baseline"]["images"]
    assert [r["name"] for r in model] == [r["name"] for r in base] == ["p0.png", "p1.png"]
    for m, b in zip(model, base):
        assert m["input"] == b["input"]  # the same degraded images
        assert b["output"]["psnr"] > b["input"]["psnr"] + 3
    assert report["seconds_per_megapixel"] > 0 and report["baseline"]["seconds_per_megapixel"] > 0
    for run in (report, report["baseline"]):  # CPU time counts every thread: it is never zero for real work
        assert run["cpu_seconds_per_megapixel"] > 0
    assert main(argv[:-1]) == 0
    text = capsys.readouterr().out
    assert "bm3d (true sigma)" in text and "s/MP" in text and "CPU s/MP" in text


@pytest.mark.parametrize(("extra", "message"), [
    (["--degrade", "noise:sigma=25", "--baseline", "bm3d"], "--baseline needs --render independent"),
    (["--render", "independent", "--degrade", "blur:length=9"], "renders blur"),
    (["--render", "independent", "--degrade", "noise:sigma=25", "--baseline", "wiener"], "compared on deblur"),
    (["--render", "independent", "--degrade", "noise:sigma=500"], "sigma must be a number"),
])
def test_evaluate_refuses_mismatched_comparisons_in_one_line(photos, tiny_weights, capsys, extra, message):
    argv = ["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--clean", str(photos), "--device", "cpu", *extra]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cpu_time_counts_the_work_of_every_thread():
    """CPU time is the process's, every thread's: a restorer whose work runs on a helper thread
    while the calling thread only waits is charged that thread's CPU time; one that sleeps,
    almost nothing (``time.thread_time`` in the caller would charge both nothing)."""
    import hashlib
    import threading
    import time

    from mprnet_vs.evaluation.compare import timed

    helper_cpu = [0.0]

    def work() -> None:
        start = time.thread_time()
        block = bytes(1 << 20)
        for _ in range(300):
            hashlib.sha256(block).digest()
        helper_cpu[0] = time.thread_time() - start

    def on_helper(img: np.ndarray) -> np.ndarray:
        helper = threading.Thread(target=work)
        helper.start()
        helper.join()  # the calling thread waits without using the CPU
        return img

    def asleep(img: np.ndarray) -> np.ndarray:
        time.sleep(0.3)
        return img

    img = np.full((100, 100, 3), 0.5, np.float32)
    pairs = [(("a.png", img, img), None)]
    worked, slept = timed("helper", lambda _t: on_helper, pairs), timed("asleep", lambda _t: asleep, pairs)
    assert helper_cpu[0] > 0.05
    assert worked.cpu_seconds >= 0.9 * helper_cpu[0]
    assert slept.seconds >= 0.29 and slept.cpu_seconds < 0.1
    assert abs(worked.cpu_seconds_per_megapixel - worked.cpu_seconds / 0.01) < 1e-9
