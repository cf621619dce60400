"""The VapourSynth filters on real clips: video files written by PyAV and read by bestsource.

Every expected result is computed independently here: the engine (`Restorer.restore`) on the
same RGB frames, or VapourSynth's resizer around it for YUV clips.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import vapoursynth as vs

import mprnet_vs
from mprnet_vs.engine import Restorer, loaded_model_count
from mprnet_vs.engine.cache import get_model
from mprnet_vs.vapoursynth.batching import BatchRunner
from mprnet_vs.vapoursynth.script import script_main, script_options
from mprnet_vs.untagged import guess_matrix
from mprnet_vs.vapoursynth.source import caller_path

core = vs.core
WIDTH, HEIGHT, LENGTH = 96, 64, 7


def synthetic_rgb(index: int) -> np.ndarray:
    """A frame with gradients, a moving square and noise, so restoration visibly changes it."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    img = np.stack([x / WIDTH, y / HEIGHT, 0.5 + 0.4 * np.sin((x + y) / 9.0)], axis=-1)
    img[10:30, 8 + 6 * index : 28 + 6 * index] = (0.9, 0.2, 0.1)
    img += np.random.default_rng(index).normal(0.0, 0.06, img.shape).astype(np.float32)
    return (np.clip(img, 0.0, 1.0) * 255).round().astype(np.uint8)


def write_video(path: Path, pix_fmt: str, frames: int = LENGTH) -> Path:
    """A lossless FFV1 file made by PyAV (lossless, so its decoded frames are known)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, pix_fmt
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(synthetic_rgb(i), format="rgb24").reformat(format=pix_fmt)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("vs_clips")
    return {
        "yuv420p": write_video(folder / "clip8.mkv", "yuv420p"),
        "yuv420p10le": write_video(folder / "clip10.mkv", "yuv420p10le"),
    }


@pytest.fixture(scope="module")
def yuv8(videos) -> vs.VideoNode:
    clip = core.bs.VideoSource(str(videos["yuv420p"]))
    assert clip.format.id == vs.YUV420P8 and clip.num_frames == LENGTH
    return clip


@pytest.fixture(scope="module")
def yuv10(videos) -> vs.VideoNode:
    clip = core.bs.VideoSource(str(videos["yuv420p10le"]))
    assert clip.format.id == vs.YUV420P10 and clip.num_frames == LENGTH
    return clip


@pytest.fixture(scope="module")
def rgbs(yuv8) -> vs.VideoNode:
    """A real decoded clip as RGBS, tagged with a user property per frame."""
    rgb = core.resize.Bicubic(yuv8, format=vs.RGBS, matrix_in_s="170m")
    return core.std.ModifyFrame(rgb, rgb, _tag_frame)


def _tag_frame(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
    out = f.copy()
    out.props["SourceFrame"] = n
    out.props["Note"] = f"frame-{n}"
    return out


@pytest.fixture
def threads() -> Iterator[None]:
    """Restore the core's thread count after a test changes it."""
    before = core.num_threads
    yield
    core.num_threads = before


def rgb_array(frame: vs.VideoFrame) -> np.ndarray:
    return np.stack([np.asarray(frame[p]) for p in range(3)], axis=-1)


def planes(frame: vs.VideoFrame) -> list[np.ndarray]:
    return [np.array(frame[p], copy=True) for p in range(frame.format.num_planes)]


def all_frames(clip: vs.VideoNode) -> list[vs.VideoFrame]:
    return [clip.get_frame(n) for n in range(clip.num_frames)]


def frame_props(frame: vs.VideoFrame) -> dict:
    return {k: (v if not isinstance(v, bytes) else v.decode()) for k, v in frame.props.items()}


def engine_expected(clip: vs.VideoNode, weights: Path, **options) -> list[np.ndarray]:
    restorer = Restorer("derain", weights=weights, device="cpu", **options)
    return [restorer.restore(rgb_array(f).astype(np.float32)) for f in all_frames(clip)]


# --- RGB processed directly ----------------------------------------------------------------------


@pytest.mark.parametrize("stages", [1, 2, 3])
def test_rgbs_equals_engine(rgbs, tiny_weights, stages):
    out = mprnet_vs.derain(rgbs, weights=tiny_weights, stages=stages, device="cpu")
    assert (out.format.id, out.width, out.height, out.num_frames) == (vs.RGBS, WIDTH, HEIGHT, LENGTH)
    assert out.fps == rgbs.fps
    expected = engine_expected(rgbs, tiny_weights, stages=stages)
    for n, frame in enumerate(all_frames(out)):
        got = rgb_array(frame)
        np.testing.assert_allclose(got, expected[n], atol=1e-4, err_msg=f"frame {n}")
        assert got.min() >= 0.0 and got.max() <= 1.0
        assert np.abs(got - rgb_array(rgbs.get_frame(n))).mean() > 1e-3  # it did restore something


def test_local_stats_reaches_the_engine_and_a_bad_value_names_the_filter(rgbs, tiny_weights):
    local = mprnet_vs.deblur(rgbs, weights=tiny_weights, local_stats=16, device="cpu")
    released = mprnet_vs.deblur(rgbs, weights=tiny_weights, local_stats=0, device="cpu")
    expected = engine_expected(rgbs, tiny_weights, local_stats=16)
    for n in range(LENGTH):
        got = rgb_array(local.get_frame(n))
        np.testing.assert_allclose(got, expected[n], atol=1e-4, err_msg=f"frame {n}")
        assert np.abs(got - rgb_array(released.get_frame(n))).max() > 1e-3  # 24 px windows in a 96 px frame
    with pytest.raises(vs.Error, match=r"deblur: local_stats must be a multiple of 8"):
        mprnet_vs.deblur(rgbs, weights=tiny_weights, local_stats=12, device="cpu")


@pytest.mark.parametrize("preset", ["fast", "balanced", "quality"])
def test_rgbs_preset_equals_engine(rgbs, tiny_weights, preset):
    out = mprnet_vs.deblur(rgbs, weights=tiny_weights, preset=preset, device="cpu")
    restorer = Restorer("deblur", weights=tiny_weights, preset=preset, device="cpu")
    for n, frame in enumerate(all_frames(out)):
        expected = restorer.restore(rgb_array(rgbs.get_frame(n)).astype(np.float32))
        np.testing.assert_allclose(rgb_array(frame), expected, atol=1e-4, err_msg=f"{preset} frame {n}")


def test_rgbh_processed_directly(rgbs, tiny_weights):
    half = core.resize.Point(rgbs, format=vs.RGBH)
    out = mprnet_vs.derain(half, weights=tiny_weights, stages=2, device="cpu")
    assert out.format.id == vs.RGBH and out.num_frames == LENGTH
    restorer = Restorer("derain", weights=tiny_weights, stages=2, device="cpu")
    for n, frame in enumerate(all_frames(out)):
        got = rgb_array(frame)
        assert got.dtype == np.float16
        expected = restorer.restore(rgb_array(half.get_frame(n)).astype(np.float32))
        np.testing.assert_allclose(got.astype(np.float32), expected, atol=1e-3, err_msg=f"frame {n}")
        assert frame_props(frame) == frame_props(half.get_frame(n))


def test_out_of_range_rgbs_is_clamped_before_the_model(rgbs, tiny_weights):
    stretched = core.std.Expr(rgbs, "x 1.6 * 0.3 -")  # values well outside [0, 1]
    out = mprnet_vs.derain(stretched, weights=tiny_weights, stages=1, device="cpu")
    clamped = core.std.Expr(stretched, "x 0 max 1 min")
    expected = engine_expected(clamped, tiny_weights, stages=1)
    for n, frame in enumerate(all_frames(out)):
        np.testing.assert_allclose(rgb_array(frame), expected[n], atol=1e-4)


# --- YUV converted in and out --------------------------------------------------------------------


@pytest.mark.parametrize("which", ["yuv8", "yuv10"])
def test_yuv_in_and_out(request, tiny_weights, which):
    clip = request.getfixturevalue(which)
    out = mprnet_vs.denoise(clip, weights=tiny_weights, stages=2, device="cpu")
    assert (out.format.id, out.width, out.height, out.num_frames, out.fps) == (
        clip.format.id, clip.width, clip.height, clip.num_frames, clip.fps,
    )
    # Independent pipeline: BT.601 (the guess for SD), limited range, clamp, engine, back.
    rgb = core.std.Expr(core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s="170m", range_in_s="limited"),
                        "x 0 max 1 min")
    restorer = Restorer("denoise", weights=tiny_weights, stages=2, device="cpu")
    restored = [restorer.restore(rgb_array(f).astype(np.float32)) for f in all_frames(rgb)]
    rgb_out = core.std.ModifyFrame(rgb, rgb, lambda n, f: _write_rgb(f, restored[n]))
    expected = core.resize.Bicubic(rgb_out, format=clip.format.id, matrix_s="170m", range_s="limited")
    peak = (1 << clip.format.bits_per_sample) - 1
    for n in range(LENGTH):
        got, want, src = out.get_frame(n), expected.get_frame(n), clip.get_frame(n)
        for p, (g, w, s) in enumerate(zip(planes(got), planes(want), planes(src))):
            assert g.shape == s.shape and g.dtype == s.dtype
            assert np.abs(g.astype(np.int32) - w.astype(np.int32)).max() <= 1, f"frame {n} plane {p}"
        changed = np.abs(planes(got)[0].astype(np.int32) - planes(src)[0].astype(np.int32)).mean()
        assert changed > peak * 0.002, "the filter left the luma unchanged"
        assert frame_props(got) == frame_props(src)


def _write_rgb(frame: vs.VideoFrame, image: np.ndarray) -> vs.VideoFrame:
    out = frame.copy()
    for p in range(3):
        np.copyto(np.asarray(out[p]), image[..., p])
    return out


@pytest.mark.parametrize("fmt", [vs.RGB24, vs.RGB48, vs.YUV444P16, vs.YUV422P10, vs.YUV444PS])
def test_other_formats_come_back_in_their_own_format(yuv8, tiny_weights, fmt):
    to_yuv = {"matrix_s": "170m"} if vs.core.get_video_format(fmt).color_family == vs.YUV else {}
    clip = core.resize.Bicubic(yuv8[:3], format=fmt, matrix_in_s="170m", **to_yuv)
    out = mprnet_vs.derain(clip, weights=tiny_weights, stages=1, device="cpu")
    assert (out.format.id, out.width, out.height, out.num_frames) == (fmt, WIDTH, HEIGHT, 3)
    for n in range(3):
        got, src = out.get_frame(n), clip.get_frame(n)
        assert frame_props(got) == frame_props(src)
        diff = np.abs(planes(got)[0].astype(np.float64) - planes(src)[0].astype(np.float64)).mean()
        assert diff > 0


def test_limited_range_rgb_stays_limited(yuv8, tiny_weights):
    clip = core.std.SetFrameProps(core.resize.Bicubic(yuv8[:2], format=vs.RGB24, matrix_in_s="170m"), _Range=0)
    out = mprnet_vs.derain(clip, weights=tiny_weights, stages=1, device="cpu")
    for n in range(2):
        values = np.concatenate([p.ravel() for p in planes(out.get_frame(n))])
        assert values.min() >= 16 and values.max() <= 235
        assert frame_props(out.get_frame(n))["_Range"] == 0


def test_guessed_matrix_is_logged_and_matrix_overrides(yuv8, tiny_weights):
    assert guess_matrix(1920, 1080)[0] == 1 and guess_matrix(1280, 720)[0] == 1 and guess_matrix(720, 480)[0] == 6
    messages: list[str] = []
    handle = core.add_log_handler(lambda level, msg: messages.append(msg))
    try:
        guessed = mprnet_vs.derain(yuv8[:2], weights=tiny_weights, stages=1, device="cpu")
        assert any("mprnet_vs.derain" in m and "guessing BT.601" in m for m in messages), messages
        messages.clear()
        chosen = mprnet_vs.derain(yuv8[:2], weights=tiny_weights, stages=1, device="cpu", matrix="709")
        assert not any("guessing" in m for m in messages), messages
    finally:
        core.remove_log_handler(handle)
    a, b = planes(guessed.get_frame(0))[1], planes(chosen.get_frame(0))[1]
    assert not np.array_equal(a, b)  # the matrix really was used


def test_tagged_matrix_and_range_are_used(yuv8, tiny_weights):
    tagged = core.std.SetFrameProps(yuv8[:2], _Matrix=1, _Range=1)  # BT.709, full range
    out = mprnet_vs.derain(tagged, weights=tiny_weights, stages=1, device="cpu")
    explicit = mprnet_vs.derain(
        core.std.SetFrameProps(yuv8[:2], _Range=1), weights=tiny_weights, stages=1, device="cpu", matrix=1
    )
    assert np.array_equal(planes(out.get_frame(1))[2], planes(explicit.get_frame(1))[2])
    props = frame_props(out.get_frame(0))
    assert props["_Matrix"] == 1 and props["_Range"] == 1



def flat_yuv(**tags: int) -> vs.VideoNode:
    """A flat YUV 4:4:4 colour (so any matrix or range mix-up shows in every sample)."""
    clip = core.std.BlankClip(format=vs.YUV444P8, width=32, height=24, length=1, color=[120, 90, 170], keep=True)
    return core.std.SetFrameProps(clip, **tags)


def test_matrix_argument_overrides_a_wrong_tag(tiny_weights):
    """resize prefers a frame's _Matrix to its matrix_in argument: the tag must not win over
    ``matrix=``, the README's remedy for a wrong tag."""
    options = dict(weights=tiny_weights, stages=1, device="cpu")
    wrong = mprnet_vs.derain(flat_yuv(_Matrix=1), matrix="170m", **options)
    right = mprnet_vs.derain(flat_yuv(_Matrix=6), **options)
    for p, (a, b) in enumerate(zip(planes(wrong.get_frame(0)), planes(right.get_frame(0)))):
        assert np.array_equal(a, b), f"plane {p}"
    assert frame_props(wrong.get_frame(0))["_Matrix"] == 1  # the tag itself is kept


@pytest.mark.parametrize(
    ("first", "second"),
    [({"_Matrix": 6}, {"_Matrix": 1}), ({"_Range": 0}, {"_Range": 1}),
     ({"_ChromaLocation": 0}, {"_ChromaLocation": 2}), ({"_Range": 0}, {"_Range": 5, "_ChromaLocation": -1})],
    ids=["matrix", "range", "chroma_location", "bad_tags_on_a_later_frame"],
)
def test_every_frame_is_converted_with_the_first_frames_tags(yuv8, tiny_weights, first, second):
    """Frames tagged unlike the first one are converted into RGB and back with the same
    colours (the way back always used the first frame's): the same picture in gives the same
    picture out, each frame keeps its own tags, and a later frame's tags are not read at all."""
    picture = yuv8[0]
    clip = core.std.SetFrameProps(picture, **first) + core.std.SetFrameProps(picture, **second)
    out = mprnet_vs.derain(clip, weights=tiny_weights, stages=1, device="cpu")
    a, b = out.get_frame(0), out.get_frame(1)
    for p, (x, y) in enumerate(zip(planes(a), planes(b))):
        assert np.array_equal(x, y), f"plane {p}: frame 1 drifted in colour"
    assert frame_props(b) == frame_props(clip.get_frame(1))


@pytest.mark.parametrize(
    ("fmt", "tag"), [(vs.YUV420P8, 0), (vs.YUV420P8, 3), (vs.RGB24, 1), (vs.RGB48, 6)],
    ids=["yuv_tagged_rgb", "yuv_tagged_reserved", "rgb24_tagged_709", "rgb48_tagged_170m"],
)
def test_matrix_tags_that_do_not_fit_the_clip_are_not_fatal(tiny_weights, fmt, tag):
    """_Matrix=0 on YUV (e.g. after ShufflePlanes from RGB) is treated as untagged, and a YUV
    matrix on integer RGB is ignored; resize used to fail on them at frame time."""
    blank = core.std.BlankClip(format=fmt, width=32, height=24, length=2, color=[60, 100, 200], keep=True)
    options = dict(weights=tiny_weights, stages=1, device="cpu")
    tagged = mprnet_vs.derain(core.std.SetFrameProps(blank, _Matrix=tag), **options)
    untagged = mprnet_vs.derain(blank, **options)
    for n in range(2):
        for x, y in zip(planes(tagged.get_frame(n)), planes(untagged.get_frame(n))):
            assert np.array_equal(x, y), f"frame {n}"
        assert frame_props(tagged.get_frame(n))["_Matrix"] == tag


# --- frame properties, batching, threads ----------------------------------------------------------


def test_every_frame_property_is_kept(rgbs, yuv8, tiny_weights):
    tagged_yuv = core.std.ModifyFrame(yuv8, yuv8, _tag_frame)
    for clip in (rgbs, tagged_yuv):
        out = mprnet_vs.derain(clip, weights=tiny_weights, stages=1, batch=3, device="cpu")
        for n in range(LENGTH):
            props = frame_props(out.get_frame(n))
            assert props == frame_props(clip.get_frame(n))
            assert props["SourceFrame"] == n and props["Note"] == f"frame-{n}"


class ForwardCounter:
    """Counts forward passes (and their batch sizes) of the shared cached model."""

    def __init__(self, weights: Path) -> None:
        self.model = get_model(Path(weights), torch.device("cpu"), torch.float32)
        self.sizes: list[int] = []

    def __enter__(self) -> ForwardCounter:
        self._hook = self.model.register_forward_hook(lambda m, args, out: self.sizes.append(args[0].shape[0]))
        return self

    def __exit__(self, *exc) -> None:
        self._hook.remove()


def test_batch3_equals_batch1_and_computes_each_batch_once(rgbs, tiny_weights):
    one = mprnet_vs.derain(rgbs, weights=tiny_weights, stages=2, batch=1, device="cpu")
    three = mprnet_vs.derain(rgbs, weights=tiny_weights, stages=2, batch=3, device="cpu")
    assert three.num_frames == LENGTH
    with ForwardCounter(tiny_weights) as counter:
        batched = all_frames(three)
    assert counter.sizes == [3, 3, 3]  # 7 frames: two full batches and the padded last one
    for n, frame in enumerate(all_frames(one)):
        np.testing.assert_allclose(rgb_array(batched[n]), rgb_array(frame), atol=1e-5, err_msg=f"frame {n}")
        assert frame_props(batched[n]) == frame_props(frame)


def test_threads_added_after_the_filter_was_made_do_not_recompute_batches(rgbs, tiny_weights, threads):
    """How many unfinished batches are kept follows core.num_threads when frames are asked for:
    read only when the filter was made (1 thread), stride order dropped and recomputed every
    batch once 8 threads were set."""
    clip = rgbs + rgbs[0]  # 8 frames: 4 batches of 2
    core.num_threads = 1
    out = mprnet_vs.derain(clip, weights=tiny_weights, stages=1, batch=2, device="cpu")
    core.num_threads = 8
    with ForwardCounter(tiny_weights) as counter:
        for n in [0, 2, 4, 6, 1, 3, 5, 7]:  # e.g. clip[::2] + clip[1::2]
            out.get_frame(n)
    assert counter.sizes == [2, 2, 2, 2]


def test_out_of_order_and_threaded_requests_equal_sequential(rgbs, tiny_weights, threads):
    core.num_threads = 4
    options = dict(weights=tiny_weights, stages=2, batch=3, device="cpu")
    reference = [rgb_array(f).copy() for f in all_frames(mprnet_vs.derain(rgbs, **options))]

    order = list(range(LENGTH))
    random.Random(3).shuffle(order)
    shuffled = mprnet_vs.derain(rgbs, **options)
    for n in order:
        assert np.array_equal(rgb_array(shuffled.get_frame(n)), reference[n]), f"out of order, frame {n}"
    backwards = mprnet_vs.derain(rgbs, **options)
    for n in reversed(range(LENGTH)):
        assert np.array_equal(rgb_array(backwards.get_frame(n)), reference[n]), f"backwards, frame {n}"

    core.num_threads = 8
    asynchronous = mprnet_vs.derain(rgbs, **options)
    futures = {n: asynchronous.get_frame_async(n) for n in order + order[:3]}  # some asked twice
    for n, future in futures.items():
        assert np.array_equal(rgb_array(future.result()), reference[n]), f"async, frame {n}"

    pooled = mprnet_vs.derain(rgbs, **options)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda n: (n, rgb_array(pooled.get_frame(n)).copy()), order * 2))
    for n, image in results:
        assert np.array_equal(image, reference[n]), f"thread pool, frame {n}"


def test_several_lanes_route_batches_and_stay_exact(rgbs, tiny_weights, threads):
    """The multi-stream layout (K ModifyFrame lanes behind a FrameEval, used on CUDA), run on
    the CPU lanes: threaded, out-of-order requests still give the single-lane frames."""
    core.num_threads = 8
    restorer = Restorer("derain", weights=tiny_weights, stages=1, device="cpu")
    reference = [rgb_array(f).copy() for f in all_frames(mprnet_vs.derain(rgbs, weights=tiny_weights, stages=1,
                                                                           device="cpu"))]
    runner = BatchRunner(restorer, batch_size=2, num_streams=3, name="mprnet_vs.derain")
    out = runner.apply(rgbs)
    assert out.num_frames == LENGTH and out.format.id == vs.RGBS
    order = list(range(LENGTH))
    random.Random(5).shuffle(order)
    futures = {n: out.get_frame_async(n) for n in order}
    for n, future in futures.items():
        frame = future.result()
        np.testing.assert_allclose(rgb_array(frame), reference[n], atol=1e-5, err_msg=f"frame {n}")
        assert frame_props(frame) == frame_props(rgbs.get_frame(n))
    assert runner.forwards == 4  # ceil(7 / 2) batches, none computed twice


def test_num_streams_ignored_on_cpu(rgbs, tiny_weights):
    a = mprnet_vs.derain(rgbs[:3], weights=tiny_weights, stages=1, device="cpu", num_streams=3)
    b = mprnet_vs.derain(rgbs[:3], weights=tiny_weights, stages=1, device="cpu")
    for n in range(3):
        assert np.array_equal(rgb_array(a.get_frame(n)), rgb_array(b.get_frame(n)))


def test_two_filters_on_one_checkpoint_share_one_model(rgbs, tiny_weights, tmp_path):
    own = shutil.copy(tiny_weights, tmp_path / "shared.pth")  # a path no other test has loaded
    before = loaded_model_count()
    first = mprnet_vs.derain(rgbs, weights=own, stages=1, device="cpu")
    second = mprnet_vs.denoise(rgbs, weights=own, stages=3, device="cpu")
    assert loaded_model_count() == before + 1
    first.get_frame(0), second.get_frame(0)
    assert loaded_model_count() == before + 1


def test_nothing_written_to_stdout(rgbs, yuv8, tiny_weights, capfd, caplog):
    capfd.readouterr()
    out = mprnet_vs.derain(yuv8, weights=tiny_weights, stages=1, batch=2, device="cpu")
    all_frames(out)
    all_frames(mprnet_vs.deblur(rgbs, weights=tiny_weights, stages=1, device="cpu"))
    captured = capfd.readouterr()
    assert captured.out == ""
    assert any("guessing" in r.getMessage() for r in caplog.records)  # logged, not printed


# --- errors ----------------------------------------------------------------------------------------


def test_gray_and_variable_clips_are_refused(yuv8, tiny_weights):
    gray = core.std.ShufflePlanes(yuv8, 0, vs.GRAY)
    with pytest.raises(vs.Error, match=r"^mprnet_vs\.derain: GRAY clips are not supported"):
        mprnet_vs.derain(gray, weights=tiny_weights)
    rgb = core.resize.Bicubic(yuv8, format=vs.RGBS, matrix_in_s="170m")
    varformat = core.std.Splice([yuv8, rgb], mismatch=True)
    with pytest.raises(vs.Error, match=r"^mprnet_vs\.deblur: variable-format"):
        mprnet_vs.deblur(varformat, weights=tiny_weights)
    varsize = core.std.Splice([rgb, core.resize.Point(rgb, WIDTH // 2, HEIGHT // 2)], mismatch=True)
    with pytest.raises(vs.Error, match=r"^mprnet_vs\.denoise: variable-size"):
        mprnet_vs.denoise(varsize, weights=tiny_weights)
    with pytest.raises(vs.Error, match=r"^mprnet_vs\.derain: clip must be a video clip"):
        mprnet_vs.derain("not a clip")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(weights="/nonexistent/model.pth"), "no such checkpoint"),
        (dict(preset="ultra"), "ultra"),
        (dict(preset="/nonexistent/preset.yaml"), "preset.yaml"),
        (dict(stages=4), "stages"),
        (dict(stages="two"), "stages"),
        (dict(tile=-8), "tile"),
        (dict(batch=0), "batch"),
        (dict(precision="fp8"), "precision"),
        (dict(device="tpu"), "tpu"),
        (dict(num_streams=0), "num_streams"),
        (dict(matrix="nonsense"), "matrix"),
    ],
)
def test_bad_options_raise_vs_error_naming_the_filter(rgbs, tiny_weights, options, message):
    options = {"weights": tiny_weights, **options}
    with pytest.raises(vs.Error, match=r"^mprnet_vs\.deblur: ") as caught:
        mprnet_vs.deblur(rgbs, **options)
    assert message in str(caught.value)


def test_not_a_checkpoint_raises_vs_error(rgbs, tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(vs.Error, match=r"^mprnet_vs\.derain: "):
        mprnet_vs.derain(rgbs, weights=junk)
    assert junk.read_bytes() == b"this is not a checkpoint"


# --- the code behind filters/*.vpy (run under vspipe in test_vspipe.py) ---------------------------


def test_script_options_parse_vspipe_arguments():
    scope = {"src": "x.mkv", "stages": "2", "tile": "auto", "batch": "4", "device": "0", "preset": "fast",
             "weights": b"/w/m.pth", "unrelated": "1", "local_stats": "0"}
    assert script_options(scope, "s") == {"stages": 2, "tile": "auto", "batch": 4, "device": 0, "preset": "fast",
                                          "weights": "/w/m.pth", "local_stats": 0}
    with pytest.raises(vs.Error, match="-a stages=two: must be an integer"):
        script_options({"stages": "two"}, "s")
    # An empty value (an unset shell variable) is refused, as on the command line, not the default.
    for key in ("overlap", "weights", "device", "preset"):
        with pytest.raises(vs.Error, match=f"^s: -a {key}= is empty"):
            script_options({key: " "}, "s")


def test_script_options_take_signed_ascii_integers_only():
    """``str.isdigit`` took "²" and "--5" reached int(): a bare ValueError instead of a vs.Error
    naming the option; "+2" was refused."""
    assert script_options({"stages": "+2", "tile": "AUTO", "overlap": "-0", "device": "cuda:1"}, "s") == {
        "stages": 2, "tile": "AUTO", "overlap": 0, "device": "cuda:1"}
    for key, value, message in [("tile", "--5", "must be an integer or auto"), ("stages", "²", "must be an integer"),
                                ("batch", "٣", "must be an integer"), ("num_streams", "2.0", "must be an integer")]:
        with pytest.raises(vs.Error, match=f"^s: -a {key}={value}: {message}$"):
            script_options({key: value}, "s")


def _log_messages(action) -> list[str]:
    """What VapourSynth's log received while ``action()`` ran."""
    messages: list[str] = []
    handle = core.add_log_handler(lambda level, msg: messages.append(msg))
    try:
        action()
    finally:
        core.remove_log_handler(handle)
    return messages


def test_unknown_script_keys_are_warned_about(tmp_path):
    """vspipe accepts any ``-a`` key: a misspelt one (tiel=512) must not be ignored silently,
    while the names a script binds itself are not vspipe arguments."""
    script = tmp_path / "mine.vpy"
    script.write_text('import mprnet_vs.vapoursynth.script\nlabel = "mine"\nfor word in ("a",):\n    pass\n', encoding="utf-8")
    scope = {"__file__": str(script), "__name__": "__vapoursynth__", "src": "x.mkv", "tiel": "512",
             "label": "mine", "word": "a", "mprnet_vs": mprnet_vs, "stages": "2", "colour": b"red"}
    messages = _log_messages(lambda: script_options(scope, "s"))
    assert [m for m in messages if "ignoring" in m] == [
        "s: ignoring -a tiel=...: not an option of this script; did you mean tile? "
        "options: src, weights, preset, stages, tile, overlap, batch, precision, ensemble, device, compile, local_stats, backend, num_streams, matrix",
        "s: ignoring -a colour=...: not an option of this script; "
        "options: src, weights, preset, stages, tile, overlap, batch, precision, ensemble, device, compile, local_stats, backend, num_streams, matrix",
    ]
    shipped = {"__file__": str(Path(__file__).resolve().parent.parent / "mprnet_vs" / "vapoursynth" / "scripts" / "derain.vpy"), "tile": "64"}
    assert not [m for m in _log_messages(lambda: script_options(shipped, "s")) if "ignoring" in m]


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({}, "-a src=PATH"),
        ({"src": "/nonexistent/video.mkv"}, "no such file"),
        ({"stages": "2"}, "cannot be read"),  # src is a file, but not a video
    ],
)
def test_script_main_reports_bad_arguments(tmp_path, scope, message):
    if "stages" in scope:
        not_video = tmp_path / "notes.txt"
        not_video.write_text("not a video")
        scope = {**scope, "src": str(not_video)}
    with pytest.raises(vs.Error, match=r"^mprnet_vs\.denoise script: .*" + message):
        script_main("denoise", scope)


def test_script_main_bad_weights(videos):
    with pytest.raises(vs.Error, match=r"^mprnet_vs\.deblur: .*no such checkpoint"):
        script_main("deblur", {"src": str(videos["yuv420p"]), "weights": "/nonexistent/model.pth"})


def test_relative_script_path_naming_two_files_is_refused(tmp_path, monkeypatch):
    """Under vspipe a relative path is looked up in $PWD, then in the script's folder (the
    working directory). $PWD can be stale (vspipe started by a program with another cwd), so a
    name that exists in both as different files must not silently pick one."""
    caller, scripts = tmp_path / "caller", tmp_path / "scripts"
    caller.mkdir(), scripts.mkdir()
    (caller / "clip.mkv").write_bytes(b"caller's")
    (scripts / "clip.mkv").write_bytes(b"another")
    (caller / "only_caller.mkv").write_bytes(b"x")
    (scripts / "only_script.mkv").write_bytes(b"x")
    (scripts / "linked.mkv").write_bytes(b"x")
    (caller / "linked.mkv").symlink_to(scripts / "linked.mkv")
    monkeypatch.chdir(scripts)
    monkeypatch.setenv("PWD", str(caller))
    with pytest.raises(vs.Error, match=r"^s: src=clip\.mkv: ambiguous relative path, both .*caller/clip\.mkv \(\$PWD\) "
                                       r"and .*scripts/clip\.mkv \(the script's folder\) exist; give an absolute path$"):
        caller_path("clip.mkv", "s", "src")
    assert caller_path("only_caller.mkv", "s", "src") == str(caller / "only_caller.mkv")
    assert caller_path("only_script.mkv", "s", "src") == "only_script.mkv"
    assert caller_path("linked.mkv", "s", "src") == str(caller / "linked.mkv")  # one file, two names
    assert caller_path(str(scripts / "clip.mkv"), "s", "src") == str(scripts / "clip.mkv")
    monkeypatch.setenv("PWD", str(scripts))  # started in the script's folder: one candidate
    assert caller_path("clip.mkv", "s", "src") == str(scripts / "clip.mkv")
