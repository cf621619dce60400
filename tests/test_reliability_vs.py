"""Bad and odd input through the VapourSynth filters and the vspipe scripts.

Whatever the clip, option or file: a correct clip, or a ``vs.Error`` naming the filter and the
cause -- never another exception type and never a crash of the host. Under vspipe a bad source
makes vspipe exit non-zero with the reason on stderr and nothing on stdout, and leaves the
source (and its folder) untouched. Frames requested from 8 threads in any order are identical
to a single-threaded run; an out-of-memory error during a frame is retried with smaller tiles.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

import mprnet_vs
from conftest import write_checkpoint
from mprnet_vs.engine.cache import get_model
from mprnet_vs.vapoursynth.script import script_main
from test_reliability_cli import _RunsCode, _audio_only, _cut, _empty, _frameless, _random_bytes
from test_video import make_clip

core = vs.core
ROOT = Path(__file__).resolve().parent.parent
VSPIPE = Path(sys.executable).with_name("vspipe")


@pytest.fixture
def threads():
    before = core.num_threads
    yield
    core.num_threads = before


def random_clip(fmt: int, width: int, height: int, length: int = 3, seed: int = 0) -> vs.VideoNode:
    """A clip of ``fmt`` filled with random samples over the format's whole range, with a
    user property per frame (to check properties survive)."""
    blank = core.std.BlankClip(format=fmt, width=width, height=height, length=length)
    info = blank.format

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        rng = np.random.default_rng(seed + n)
        for plane in range(info.num_planes):
            samples = np.asarray(out[plane])
            if info.sample_type == vs.INTEGER:
                samples[...] = rng.integers(0, 1 << info.bits_per_sample, samples.shape)
            else:
                low = -0.5 if info.color_family == vs.YUV and plane > 0 else 0.0
                samples[...] = low + rng.random(samples.shape)
        out.props["Frame"] = n
        return out

    return core.std.ModifyFrame(blank, blank, fill)


def planes(frame: vs.VideoFrame) -> list[np.ndarray]:
    return [np.array(frame[p], copy=True) for p in range(frame.format.num_planes)]


def props(frame: vs.VideoFrame) -> dict:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in frame.props.items()}


# --- odd clips: restored, same format, size, length and properties --------------------------------


@pytest.mark.parametrize(
    ("fmt", "width", "height"),
    [
        (vs.RGBS, 1, 1),
        (vs.RGBS, 2, 2),
        (vs.YUV420P8, 2, 2),
        (vs.YUV444P8, 7, 5),
        (vs.YUV422P10, 6, 5),  # odd height, subsampled width
        (vs.YUV420P10, 34, 24),
        (vs.YUV420P12, 34, 24),
        (vs.YUV444P16, 9, 7),
        (vs.RGB30, 7, 5),
        (vs.RGB48, 5, 3),
        (vs.YUV444PH, 8, 8),
        (vs.YUV410P8, 8, 8),
        (vs.RGBH, 3, 3),
    ],
)
def test_odd_clips_are_restored_in_their_own_format(tiny_weights, fmt, width, height):
    clip = random_clip(fmt, width, height)
    out = mprnet_vs.derain(clip, weights=tiny_weights, stages=1, device="cpu", matrix="709")
    assert (out.format.id, out.width, out.height, out.num_frames) == (fmt, width, height, 3)
    changed = False
    for n in range(3):
        got, src = out.get_frame(n), clip.get_frame(n)
        assert props(got) == props(src)
        for g, s in zip(planes(got), planes(src)):
            assert g.shape == s.shape and g.dtype == s.dtype
            if g.dtype.kind == "f":
                assert np.isfinite(g).all()
            changed |= not np.array_equal(g, s)
    assert changed, "the model did not run"


@pytest.mark.parametrize("expression", ["0 0 /", "1 0 /", "-1 0 /"], ids=["nan", "inf", "-inf"])
def test_nan_and_infinite_samples_give_finite_frames(tiny_weights, expression):
    bad = core.std.Expr(random_clip(vs.RGBS, 16, 16), [expression, "x", "x"])  # one plane broken
    assert not np.isfinite(planes(bad.get_frame(0))[0]).all()
    out = mprnet_vs.denoise(bad, weights=tiny_weights, stages=1, device="cpu")
    for n in range(out.num_frames):
        for plane in planes(out.get_frame(n)):
            assert np.isfinite(plane).all() and plane.min() >= 0.0 and plane.max() <= 1.0


def test_variable_frame_rate_clip_keeps_each_frames_duration(tiny_weights):
    a = core.std.AssumeFPS(random_clip(vs.YUV420P8, 32, 24, length=2), fpsnum=24)
    b = core.std.AssumeFPS(random_clip(vs.YUV420P8, 32, 24, length=2, seed=5), fpsnum=60)
    vfr = a + b
    assert vfr.fps == 0  # VapourSynth's mark of a variable frame rate
    out = mprnet_vs.deblur(vfr, weights=tiny_weights, stages=1, batch=3, device="cpu", matrix="709")
    assert out.fps == 0 and out.num_frames == 4
    durations = [(props(out.get_frame(n))["_DurationNum"], props(out.get_frame(n))["_DurationDen"]) for n in range(4)]
    assert durations == [(props(vfr.get_frame(n))["_DurationNum"], props(vfr.get_frame(n))["_DurationDen"]) for n in range(4)]
    assert durations[0] != durations[-1]


def test_batch_longer_than_the_clip_equals_batch_1(tiny_weights):
    clip = random_clip(vs.RGBS, 24, 16, length=3)
    long_batch = mprnet_vs.derain(clip, weights=tiny_weights, stages=1, batch=200, device="cpu")
    one = mprnet_vs.derain(clip, weights=tiny_weights, stages=1, batch=1, device="cpu")
    assert long_batch.num_frames == 3
    for n in range(3):
        for a, b in zip(planes(long_batch.get_frame(n)), planes(one.get_frame(n))):
            np.testing.assert_allclose(a, b, atol=1e-5)


def test_huge_tile_and_overlap_mean_whole_frame(tiny_weights):
    clip = random_clip(vs.RGBS, 24, 16, length=2)
    huge = mprnet_vs.derain(clip, weights=tiny_weights, stages=1, tile=10**12, overlap=10**9, device="cpu")
    whole = mprnet_vs.derain(clip, weights=tiny_weights, stages=1, tile=0, device="cpu")
    for n in range(2):
        for a, b in zip(planes(huge.get_frame(n)), planes(whole.get_frame(n))):
            assert np.array_equal(a, b)


# --- refused: vs.Error naming the filter ------------------------------------------------------------


def _bad_files(tmp: Path, tiny: Path) -> dict[str, tuple[dict, str]]:
    """option overrides -> a fragment the vs.Error must contain."""
    other = tmp / "resnet.pth"
    torch.save({"state_dict": torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3)).state_dict()}, other)
    state = torch.load(tiny, weights_only=True)
    state["hook"] = _RunsCode(tmp / "ran")
    torch.save(state, tmp / "evil.pth")
    _cut(write_checkpoint(tmp / "whole.pth"), tmp / "cut.pth", 1 / 2)
    texts = {
        "types.yaml": "profiles:\n  mine: {stages: two}\n",
        "keys.yaml": "profiles:\n  mine: {stages: 2, speed: 11}\n",
        "list.yaml": "- 1\n- 2\n",
        "empty.yaml": "",
        "syntax.yaml": "profiles: {mine: [\n",
    }
    for name, text in texts.items():
        (tmp / name).write_text(text, encoding="utf-8")
    return {
        "weights_other_architecture": ({"weights": other}, "resnet.pth: not an MPRNet checkpoint"),
        "weights_that_would_run_code": ({"weights": tmp / "evil.pth"}, "evil.pth: refused, loading it would execute code"),
        "weights_truncated": ({"weights": tmp / "cut.pth"}, "cut.pth: truncated or not a PyTorch checkpoint"),
        "weights_folder": ({"weights": tmp}, "not a file"),
        "weights_empty_path": ({"weights": ""}, "weights: empty value"),
        "preset_wrong_types": ({"preset": str(tmp / "types.yaml")}, "stages = 'two' is not allowed"),
        "preset_unknown_keys": ({"preset": str(tmp / "keys.yaml")}, "unknown key 'speed'"),
        "preset_not_a_mapping": ({"preset": str(tmp / "list.yaml")}, "list.yaml: must be a mapping"),
        "preset_empty": ({"preset": str(tmp / "empty.yaml")}, "empty.yaml: must be a mapping"),
        "preset_yaml_syntax": ({"preset": str(tmp / "syntax.yaml")}, "syntax.yaml: not valid YAML"),
        "batch_huge": ({"batch": 10**9}, "batch = 1000000000 is not allowed"),
        "num_streams_huge": ({"num_streams": 10**9}, "num_streams must be an int from 1 to"),
        "stages_zero": ({"stages": 0}, "stages = 0"),
        "stages_bool": ({"stages": True}, "stages = True"),
        "stages_float": ({"stages": 2.5}, "stages = 2.5"),
        "tile_text": ({"tile": "big"}, "tile = 'big'"),
        "overlap_negative": ({"overlap": -1}, "overlap = -1"),
        "device_cuda_missing": ({"device": "cuda" if not torch.cuda.is_available() else "cuda:99"}, "asked for, but"),
        "device_negative": ({"device": -1}, "device index must be >= 0"),
        "compile_not_bool": ({"compile": "yes"}, "compile must be True or False"),
    }


BAD_OPTION_NAMES = [
    "weights_other_architecture", "weights_that_would_run_code", "weights_truncated", "weights_folder", "weights_empty_path",
    "preset_wrong_types", "preset_unknown_keys", "preset_not_a_mapping", "preset_empty", "preset_yaml_syntax",
    "batch_huge", "num_streams_huge", "stages_zero", "stages_bool", "stages_float", "tile_text", "overlap_negative",
    "device_cuda_missing", "device_negative", "compile_not_bool",
]


@pytest.mark.parametrize("case", BAD_OPTION_NAMES)
def test_bad_files_and_options_raise_vs_error(tmp_path, tiny_weights, case):
    options, fragment = _bad_files(tmp_path, tiny_weights)[case]
    clip = random_clip(vs.YUV420P8, 16, 16, length=2)
    hashes = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(vs.Error, match=r"^mprnet_vs\.deblur: ") as caught:
        mprnet_vs.deblur(clip, **{"weights": tiny_weights, "device": "cpu", **options})
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "ran").exists(), "the checkpoint's code ran"
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in hashes} == hashes


@pytest.mark.parametrize(
    ("tags", "matrix", "fragment"),
    [
        ({}, "2020cl", "matrix 10 is derived from the clip's _Transfer and _Primaries"),
        ({}, "chromancl", "matrix 12 is derived"),
        ({}, "chromacl", "matrix 13 is derived"),
        ({}, "ictcp", "matrix 14 is derived"),
        ({"_Matrix": 14, "_Transfer": 1, "_Primaries": 1}, None, "matrix 14 is derived"),
        ({"_Matrix": 99}, None, "the first frame has _Matrix = 99, which is not a matrix code resize knows"),
        ({"_Matrix": 11}, None, "the first frame has _Matrix = 11, which is not a matrix code resize knows"),
        ({"_Range": 2}, "709", "the first frame has _Range = 2, which is not 0 (limited) or 1 (full)"),
        ({"_Range": "full"}, "709", "the first frame has _Range = 'full', which is not 0 (limited) or 1 (full)"),
        ({"_ChromaLocation": 6}, "709", "the first frame has _ChromaLocation = 6, which is not a chroma location"),
        ({"_ChromaLocation": "left"}, "709", "the first frame has _ChromaLocation = 'left', which is not a chroma"),
    ],
    ids=["2020cl", "chromancl", "chromacl", "ictcp", "tag_14_bt709_transfer", "tag_99", "tag_11", "range_2",
         "range_text", "chroma_location_6", "chroma_location_text"],
)
def test_colour_problems_are_refused_when_the_filter_is_called(tiny_weights, tags, matrix, fragment):
    """Tags or matrices resize cannot use failed only on the first frame fetched, with resize's
    words (or a plain ValueError for a text _Range): now a vs.Error naming the filter, at once."""
    clip = core.std.SetFrameProps(random_clip(vs.YUV420P8, 16, 16, length=2), **tags)
    with pytest.raises(vs.Error, match=r"^mprnet_vs\.derain: ") as caught:
        mprnet_vs.derain(clip, weights=tiny_weights, device="cpu", matrix=matrix)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_derived_matrix_with_fitting_transfer_and_primaries_works(tiny_weights):
    """The call-time check refuses only what resize refuses: ICtCp with PQ and BT.2020 works."""
    clip = core.std.SetFrameProps(random_clip(vs.YUV420P10, 16, 16, length=2), _Transfer=16, _Primaries=9)
    out = mprnet_vs.derain(clip, weights=tiny_weights, stages=1, device="cpu", matrix="ictcp")
    assert [props(out.get_frame(n)) for n in range(2)] == [props(clip.get_frame(n)) for n in range(2)]


def test_audio_node_is_refused(tiny_weights):
    with pytest.raises(vs.Error, match=r"^mprnet_vs\.denoise: clip must be a video clip .*AudioNode"):
        mprnet_vs.denoise(core.std.BlankAudio(), weights=tiny_weights)


@pytest.mark.parametrize(
    ("scope", "fragment"),
    [
        ({"src": "{tmp}"}, "is a folder, not a video file"),
        ({"src": "   "}, "-a src=PATH"),
        ({"src": "{tmp}/missing clip.mkv"}, "no such file"),
        ({"src": "{video}", "overlap": "lots"}, "-a overlap=lots: must be an integer"),
        ({"src": "{video}", "weights": "{tmp}"}, "not a file"),
    ],
)
def test_script_main_refuses_bad_sources_and_options(tmp_path, tiny_weights, scope, fragment):
    video = make_clip(tmp_path / "clip.mkv", codec="ffv1", frames=2)
    scope = {k: v.format(tmp=tmp_path, video=video) for k, v in scope.items()}
    scope.setdefault("weights", str(tiny_weights))
    with pytest.raises(vs.Error, match=r"^mprnet_vs\.derain script: |^mprnet_vs\.derain: ") as caught:
        script_main("derain", scope)
    assert fragment in str(caught.value)


# --- out of memory during a frame ---------------------------------------------------------------


@pytest.fixture
def private_weights(tmp_path: Path, tiny_weights: Path) -> Path:
    return Path(shutil.copy(tiny_weights, tmp_path / "private.pth"))


def test_out_of_memory_during_a_frame_retries_with_smaller_tiles(private_weights, monkeypatch):
    clip = random_clip(vs.RGBS, 64, 48, length=3)
    tiled = mprnet_vs.derain(clip, weights=private_weights, stages=2, tile=32, overlap=8, device="cpu")
    expected = [planes(tiled.get_frame(n)) for n in range(3)]

    model = get_model(private_weights, torch.device("cpu"), torch.float32)  # the filter's model
    forward = model.forward

    def small_gpu(x, stages=3):  # noqa: ANN001, ANN202 - what a GPU raises for frames over 32 x 32
        if x.shape[-1] * x.shape[-2] > 32 * 32:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.00 GiB (injected)")
        return forward(x, stages)

    monkeypatch.setattr(model, "forward", small_gpu)
    out = mprnet_vs.derain(clip, weights=private_weights, stages=2, tile=0, overlap=8, device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [planes(out.get_frame(n)) for n in range(3)]
    assert any("out of memory" in str(w.message) and "32 px tiles" in str(w.message) for w in caught)
    for n in range(3):
        for a, b in zip(got[n], expected[n]):
            assert np.array_equal(a, b), f"frame {n}"


def test_out_of_memory_at_the_smallest_tile_is_a_frame_error_not_a_crash(private_weights, monkeypatch):
    model = get_model(private_weights, torch.device("cpu"), torch.float32)

    def no_memory(x, stages=3):  # noqa: ANN001, ANN202
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    monkeypatch.setattr(model, "forward", no_memory)
    out = mprnet_vs.derain(random_clip(vs.RGBS, 64, 48, length=2), weights=private_weights, device="cpu")
    with pytest.raises(vs.Error, match=r"mprnet_vs\.derain: frame 1: .*out of memory on cpu even with 32 px tiles"):
        out.get_frame(1)


# --- concurrency ----------------------------------------------------------------------------------


def test_eight_threads_out_of_order_equal_single_threaded(tiny_weights, threads):
    """A YUV clip (conversion in and out), tiled, in batches of 2: frames asked for from 8
    VapourSynth threads and a pool of Python threads, shuffled and repeated, are bit-identical
    to one thread asking in order."""
    clip = random_clip(vs.YUV420P10, 48, 32, length=7)
    options = dict(weights=tiny_weights, stages=2, batch=2, tile=32, overlap=8, device="cpu", matrix="709")
    core.num_threads = 1
    single = mprnet_vs.denoise(clip, **options)
    reference = [planes(single.get_frame(n)) for n in range(7)]

    core.num_threads = 8
    order = list(range(7)) * 2
    random.Random(11).shuffle(order)
    asynchronous = mprnet_vs.denoise(clip, **options)
    futures = [(n, asynchronous.get_frame_async(n)) for n in order]
    for n, future in futures:
        for a, b in zip(planes(future.result()), reference[n]):
            assert np.array_equal(a, b), f"async frame {n}"

    pooled = mprnet_vs.denoise(clip, **options)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda n: (n, planes(pooled.get_frame(n))), order))
    for n, got in results:
        for a, b in zip(got, reference[n]):
            assert np.array_equal(a, b), f"thread pool frame {n}"


@pytest.mark.skipif(os.cpu_count() == 1, reason="needs two CPU threads to differ from one")
def test_frames_do_not_depend_on_which_worker_thread_computes_them(tiny_weights, threads):
    """torch keeps a thread count per thread: VapourSynth workers that first ran the model
    under ``torch.set_num_threads(1)`` would keep summing on one thread after the script set
    two. Frames must still equal the engine run in the main thread with the current count."""
    core.num_threads = 4
    clip = random_clip(vs.RGBS, 48, 32, length=6)
    torch.set_num_threads(1)
    warm = mprnet_vs.derain(clip, weights=tiny_weights, stages=3, device="cpu")
    for future in [warm.get_frame_async(n) for n in range(6)]:
        future.result()  # every worker has now run torch with one thread
    torch.set_num_threads(2)
    try:
        restorer = mprnet_vs.Restorer("derain", weights=tiny_weights, stages=3, device="cpu")
        out = mprnet_vs.derain(clip, weights=tiny_weights, stages=3, device="cpu")
        got = {n: planes(f.result()) for n, f in [(n, out.get_frame_async(n)) for n in range(6)]}
        for n in range(6):
            x = torch.from_numpy(np.stack(planes(clip.get_frame(n))))[None]
            expected = restorer.restore_tensor(x.clamp(0, 1))[0].numpy()
            assert np.array_equal(np.stack(got[n]), expected), f"frame {n}"
    finally:
        torch.set_num_threads(1)


# --- vspipe ---------------------------------------------------------------------------------------

needs_vspipe = pytest.mark.skipif(not VSPIPE.exists(), reason=f"vspipe not found next to {sys.executable}")


def vspipe(*args: str, cwd: Path = ROOT, script: str | Path = "derain.vpy", requests: int | None = None) -> subprocess.CompletedProcess:
    command = [str(VSPIPE), "-c", "y4m"] + (["-r", str(requests)] if requests else [])
    for arg in args:
        command += ["-a", arg]
    command += [str(ROOT / "mprnet_vs" / "vapoursynth" / "scripts" / script), "-"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PWD=str(cwd))  # PWD as a shell would set it
    return subprocess.run(command, capture_output=True, timeout=180, cwd=cwd, env=env)


def _truncated(folder: Path) -> Path:
    return _cut(make_clip(folder / "whole.mkv", codec="ffv1", frames=12), folder / "cut.mkv", 1 / 2)


@needs_vspipe
@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: _random_bytes(d / "noise.mkv"), b"noise.mkv: cannot be read: not a readable video"),
        (_truncated, b"cut.mkv: truncated or damaged: decoding stops at frame"),
        (lambda d: _audio_only(d / "song.m4a"), b"song.m4a: cannot be read: no video stream (found audio)"),
        (lambda d: _frameless(d / "empty.mkv"), b"empty.mkv: cannot be read: no video data"),
        (lambda d: _empty(d / "nothing.mp4"), b"nothing.mp4: cannot be read: empty file"),
    ],
    ids=["random_bytes", "truncated", "audio_only", "zero_frames", "zero_bytes"],
)
def test_vspipe_bad_source_fails_with_nothing_on_stdout(tmp_path, tiny_weights, make, fragment):
    source = make(tmp_path)
    listing = sorted(p.name for p in tmp_path.iterdir())
    before = source.read_bytes()
    result = vspipe(f"src={source}", f"weights={tiny_weights}", "device=cpu")
    assert result.returncode != 0
    assert result.stdout == b""
    assert b"mprnet_vs.derain script: src=" in result.stderr and fragment in result.stderr, result.stderr.decode(errors="replace")
    assert source.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == listing


@needs_vspipe
def test_vspipe_relative_paths_and_request_order_give_identical_bytes(tmp_path, tiny_weights):
    """vspipe evaluates the script in its own folder: relative ``src`` and ``weights`` still
    mean the caller's folder. One request at a time and 8 at once give the same bytes."""
    name = "été clip ü.mkv"
    make_clip(tmp_path / name, codec="ffv1", frames=6)
    shutil.copy(tiny_weights, tmp_path / "w.pth")
    relative = vspipe(f"src={name}", "weights=w.pth", "device=cpu", "batch=2", "tile=32", "overlap=8", cwd=tmp_path, requests=1)
    assert relative.returncode == 0, relative.stderr.decode(errors="replace")
    absolute = vspipe(f"src={tmp_path / name}", f"weights={tmp_path / 'w.pth'}", "device=cpu", "batch=2", "tile=32", "overlap=8",
                      requests=8)
    assert absolute.returncode == 0, absolute.stderr.decode(errors="replace")
    assert relative.stdout.count(b"FRAME") == 6
    assert relative.stdout == absolute.stdout
    assert f"src={name} is {tmp_path / name}".encode() in relative.stderr  # where a relative path led is logged


@needs_vspipe
def test_vspipe_refuses_a_relative_src_that_names_two_files(tmp_path, tiny_weights):
    """A program starting vspipe with another cwd leaves $PWD stale: a relative ``src`` that
    exists under $PWD and in the script's folder as different videos is refused, not guessed."""
    scripts, caller = tmp_path / "scripts", tmp_path / "caller"
    scripts.mkdir(), caller.mkdir()
    script = Path(shutil.copy(ROOT / "mprnet_vs" / "vapoursynth" / "scripts" / "derain.vpy", scripts))
    make_clip(scripts / "clip.mkv", codec="ffv1", frames=2)
    make_clip(caller / "clip.mkv", codec="ffv1", frames=3)
    result = vspipe("src=clip.mkv", f"weights={tiny_weights}", "device=cpu", cwd=caller, script=script)
    assert result.returncode != 0
    assert result.stdout == b""
    assert b"src=clip.mkv: ambiguous relative path" in result.stderr, result.stderr.decode(errors="replace")


@needs_vspipe
def test_vspipe_says_when_the_source_filter_crops_an_odd_size(tmp_path, tiny_weights):
    """bestsource cannot deliver a 4:2:0 video of odd size whole: the output is one column and
    one row smaller, and stderr says so rather than leaving it to be found later."""
    source = make_clip(tmp_path / "odd.mkv", codec="ffv1", size=(37, 23), frames=2)
    result = vspipe(f"src={source}", f"weights={tiny_weights}", "device=cpu")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b" W36 H22 " in result.stdout.split(b"\n", 1)[0]
    assert b"the video is 37x23 but the source filter delivers 36x22" in result.stderr, result.stderr.decode(errors="replace")
    even = vspipe(f"src={make_clip(tmp_path / 'even.mkv', codec='ffv1', size=(36, 22), frames=2)}",
                  f"weights={tiny_weights}", "device=cpu")
    assert even.returncode == 0 and b"source filter delivers" not in even.stderr
