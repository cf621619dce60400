"""Our ONNX files in vs-mlrt's real plugins (vapoursynth-mlrt-ort, -ov from PyPI) under real
VapourSynth: the same frames as ``mprnet_vs.derain`` once clamped (the network is unclamped)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

import mprnet_vs
from conftest import write_checkpoint
from mprnet_vs.export import export_onnx

core = vs.core
WIDTH, HEIGHT, LENGTH = 64, 48, 3

if not (hasattr(core, "ort") and hasattr(core, "ov")):
    pytest.skip("vs-mlrt plugins not installed: pip install mprnet-vs[vsmlrt]", allow_module_level=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("vsmlrt")
    weights = write_checkpoint(folder / "tiny.pth", seed=5)
    return {
        "weights": weights,
        "fp32": export_onnx(folder / "tiny.onnx", weights=weights, batch=1).path,
        "fp16-io": export_onnx(folder / "tiny-h.onnx", weights=weights, batch=1, fp16=True, fp16_io=True).path,
    }


def clip_of(format_id: int) -> vs.VideoNode:
    """A clip whose frames are random pictures (different every frame)."""
    blank = core.std.BlankClip(width=WIDTH, height=HEIGHT, format=format_id, length=LENGTH)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        rng = np.random.default_rng(n)
        for plane in range(3):
            np.asarray(out[plane])[...] = rng.random((HEIGHT, WIDTH))
        return out

    return core.std.ModifyFrame(blank, blank, fill)


def planes(clip: vs.VideoNode) -> np.ndarray:
    return np.stack([np.stack([np.asarray(f[p], dtype=np.float32) for p in range(3)]) for f in clip.frames()])


def clamp(clip: vs.VideoNode) -> vs.VideoNode:
    return core.std.Expr(clip, "x 0 max 1 min")


def test_ort_plugin_equals_our_filter(files):
    clip = clip_of(vs.RGBS)
    ours = planes(mprnet_vs.derain(clip, weights=files["weights"], tile=0, device="cpu"))
    theirs = planes(clamp(core.ort.Model(clip, network_path=str(files["fp32"]), provider="CPU")))
    assert theirs.shape == ours.shape == (LENGTH, 3, HEIGHT, WIDTH)
    assert np.abs(theirs - ours).max() <= 1e-4
    assert np.abs(ours - planes(clip)).max() > 0.01  # the network did change the frames


def test_ov_plugin_equals_our_filter(files):
    clip = clip_of(vs.RGBS)
    ours = planes(mprnet_vs.derain(clip, weights=files["weights"], tile=0, device="cpu"))
    network = core.ov.Model(clip, network_path=str(files["fp32"]), device="CPU",
                            config=lambda: dict(INFERENCE_PRECISION_HINT="f32"))
    assert np.abs(planes(clamp(network)) - ours).max() <= 1e-4


def test_ort_plugin_tiles_and_runs_fp16_files(files):
    clip = clip_of(vs.RGBS)
    ours = planes(mprnet_vs.derain(clip, weights=files["weights"], tile=0, device="cpu"))
    tiled = planes(clamp(core.ort.Model(clip, network_path=str(files["fp32"]), tilesize=[32, 24], overlap=[8, 8])))
    # Each tile pools its own statistics, so tiles differ from the whole frame, but far less
    # than the unrestored input does.
    assert tiled.shape == ours.shape and np.abs(tiled - ours).mean() < 0.5 * np.abs(planes(clip) - ours).mean()
    half = core.resize.Point(clip, format=vs.RGBH)
    out = clamp(core.ort.Model(half, network_path=str(files["fp16-io"]), provider="CPU"))
    assert out.format.id == vs.RGBH and np.abs(planes(out) - ours).max() <= 2e-2  # fp16 input and arithmetic
