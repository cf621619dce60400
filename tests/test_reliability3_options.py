"""Reliability, third pass (issue 24, part B): option bounds, empty strings, clear errors for
undecodable video and interlaced 4:2:0 clips, the dropped alpha note under vspipe, and blur
kernels applied as true convolutions.

Every input is made here with PyAV (64x48, a few frames); the command runs for real, in this
process through ``mprnet_vs.cli.main`` (the real parser) or as its own process, and vspipe is
the real one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import vapoursynth as vs

import mprnet_vs
from mprnet_vs.cli import COMMANDS, build_parser, main
from mprnet_vs.degrade import motion_blur
from mprnet_vs.engine import Restorer
from mprnet_vs.errors import MprnetError
from test_vspipe import VSPIPE, read_y4m, vspipe

ROOT = Path(__file__).resolve().parent.parent


def clip(path: Path, codec: str = "libx264", pix_fmt: str = "yuv420p", frames: int = 4) -> Path:
    """A 64x48 video of noise at 25 fps."""
    rng = np.random.default_rng(5)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (48, 64, 4), dtype=np.uint8), format="rgba")
            frame.pts = index
            out.mux(stream.encode(frame.reformat(format=pix_fmt)))
        out.mux(stream.encode(None))
    return path


def cli(*args: object, capsys) -> tuple[int, list[str]]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err.splitlines()


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return clip(tmp_path_factory.mktemp("src") / "in.mp4")


# ----------------------------------------------------------------------------- bounds


@pytest.mark.parametrize(("args", "says"), [
    (["--local-stats", "9600"], "--local-stats: local_stats must be a multiple of 8 from 16 to 1024"),
    (["--batch", "100000"], "batch must be an integer >= 1 and <= 256"),
    (["--ray-workers", "99999"], "--ray-workers: must be >= 1 and <= 4096"),
    (["--ray-cpus", "5000"], "--ray-cpus: must be >= 1 and <= 1024"),
    (["--ray-gpus", "100"], "--ray-gpus: must be > 0 and <= 8"),
    (["--segment-seconds", "1e9"], "--segment-seconds: must be >= 0 and <= 86400"),
])
def test_absurd_restore_values_are_usage_errors_before_any_work(video: Path, tmp_path: Path, tiny_weights: Path,
                                                                 args: list[str], says: str, capsys) -> None:
    code, err = cli("restore", video, "-o", tmp_path / "out.mp4", "--weights", tiny_weights, *args, capsys=capsys)
    assert code == 2 and len(err) == 1 and says in err[0], err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("command", "says"), [
    (["bench", "--reps", "100000"], "--reps: must be >= 1 and <= 10000"),
    (["bench", "--warmup", "100000"], "--warmup: must be >= 0 and <= 10000"),
    (["bench", "--threads", "5000"], "--threads: must be >= 1 and <= 1024"),
    (["bench", "--batch", "1", "9999"], "--batch: must be >= 1 and <= 256"),
    (["bench", "--resolution", "99999x10"], "width and height must be 8 to 16384 pixels"),
    (["bench", "--video-frames", "10000000"], "--video-frames: must be >= 1 and <= 10000"),
    (["train", "--config", "x.yaml", "--iterations", "1000000000"], "--iterations: must be >= 1 and <= 100000000"),
    (["train", "--config", "x.yaml", "--threads", "5000"], "--threads: must be >= 0 and <= 1024"),
    (["train", "--config", "x.yaml", "--workers", "5000"], "--workers: must be >= 0 and <= 256"),
    (["train", "--config", "x.yaml", "--lr", "50"], "--lr: must be > 0 and <= 1"),
    (["export", "-o", "x.onnx", "--batch", "9999"], "--batch: must be >= 1 and <= 256"),
    (["export", "-o", "x.onnx", "--static", "99999x64"], "width and height must be 1 to 16384 pixels"),
    (["export", "-o", "x.onnx", "--local-stats", "9600"], "from 16 to 1024"),
    (["export", "-o", "x.onnx", "--opset", "99"], "--opset"),
    (["evaluate", "--task", "deblur", "--seed", "99999999999"], "--seed: must be >= 0 and <= 4294967295"),
    (["evaluate", "--task", "deblur", "--local-stats", "9600"], "from 16 to 1024"),
    (["demo", "--frames", "1000000"], "--frames: must be >= 1 and <= 10000"),
    (["demo", "--size", "99999x99999"], "width and height must be 16 to 16384 pixels"),
])
def test_absurd_values_of_every_command_are_usage_errors(command: list[str], says: str, capsys) -> None:
    code, err = cli(*command, capsys=capsys)
    assert code == 2 and len(err) == 1 and says in err[0], err


def test_bounds_are_in_the_help_text(capsys) -> None:
    assert main(["restore", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for bound in ("from 16 to 1024", "1 to 256", "x264/x265 0-51", "1 to 4096", "at most 86400"):
        assert bound in text, bound
    doc = " ".join(mprnet_vs.derain.__doc__.split())
    assert "from 16 to 1024" in doc and "1 to 256" in doc


@pytest.mark.parametrize(("suffix", "codec", "crf", "says"), [
    (".mp4", "libx264", "99", "encoder libx264 takes crf 0 to 51"),
    (".mkv", "libx265", "52", "encoder libx265 takes crf 0 to 51"),
    (".webm", "libvpx-vp9", "64", "encoder libvpx-vp9 takes crf 0 to 63"),
    (".mkv", "ffv1", "20", "encoder ffv1 has no crf setting"),
])
def test_crf_outside_the_encoders_range_is_refused(video: Path, tmp_path: Path, tiny_weights: Path, suffix: str,
                                                   codec: str, crf: str, says: str, capsys) -> None:
    code, err = cli("restore", video, "-o", tmp_path / f"out{suffix}", "--weights", tiny_weights,
                    "--codec", codec, "--crf", crf, capsys=capsys)
    assert code == 2 and len(err) == 1 and says in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_crf_at_the_top_of_the_range_still_works(video: Path, tmp_path: Path, tiny_weights: Path, capsys) -> None:
    code, err = cli("restore", video, "-o", tmp_path / "out.mp4", "--weights", tiny_weights, "--crf", "51",
                    "--quiet", capsys=capsys)
    assert code == 0, err
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert sum(1 for _ in out.decode(video=0)) == 4


def test_local_stats_bound_in_the_filter_and_the_restorer(tiny_weights: Path) -> None:
    rgb = vs.core.std.BlankClip(width=48, height=32, format=vs.RGBS, length=1)
    for value, says in ((10**9, "local_stats must be a multiple of 8 from 16 to 1024"), (1e9, "local_stats must be a whole")):
        with pytest.raises(vs.Error, match=f"^mprnet_vs.derain: {says}"):
            mprnet_vs.derain(rgb, weights=str(tiny_weights), local_stats=value)
    with pytest.raises(MprnetError, match="local_stats must be a multiple of 8 from 16 to 1024"):
        Restorer(weights=tiny_weights, device="cpu", local_stats=9600)


def test_training_config_bounds(tmp_path: Path) -> None:
    from mprnet_vs.training.trainer import load_config

    for key, value in (("patch", 2048), ("batch", 1000), ("iterations", 10**9)):
        config = tmp_path / f"{key}.yaml"
        config.write_text(f"task: deblur\noutput: {tmp_path / 'run'}\ndata: {{clean: {tmp_path}}}\ntrain: {{{key}: {value}}}\n")
        with pytest.raises(MprnetError, match=f"{key} must be"):
            load_config(config)


# ----------------------------------------------------------------------------- empty strings


def _valued_options(command: str) -> list[argparse.Action]:
    parser = build_parser([command])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return [a for a in sub._actions if a.option_strings and a.nargs != 0 and "--help" not in a.option_strings]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_of_every_command_refuses_an_empty_value(command: str, capsys) -> None:
    for action in _valued_options(command):
        for blank in ("", "  "):
            code, err = cli(command, action.option_strings[-1], blank, capsys=capsys)
            assert code == 2 and len(err) == 1, (action.option_strings, err)
            assert f"argument {'/'.join(action.option_strings)}: empty value" in err[0], err


def test_empty_input_and_codec_as_a_real_process(video: Path, tmp_path: Path) -> None:
    for args, says in ((["--codec", ""], "argument --codec: empty value ''"),
                       (["--pix-fmt", " "], "argument --pix-fmt: empty value ' '")):
        result = subprocess.run([sys.executable, "-m", "mprnet_vs", "restore", str(video), "-o", str(tmp_path / "o.mp4"),
                                 "--task", "deblur", *args], capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and says in result.stderr, result.stderr
    result = subprocess.run([sys.executable, "-m", "mprnet_vs", "restore", "", "-o", str(tmp_path / "o.mp4")],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 2 and "argument INPUT: empty value" in result.stderr, result.stderr


@pytest.mark.parametrize("name", ["codec", "pix_fmt"])
def test_empty_codec_or_pixel_format_from_python(tmp_path: Path, name: str) -> None:
    from mprnet_vs.errors import UsageError
    from mprnet_vs.video import VideoOptions, check_settings

    with pytest.raises(UsageError, match=f"^{name}: empty value"):
        check_settings(VideoOptions(**{name: " "}), [tmp_path / "out.mp4"])


def test_unknown_codec_is_a_usage_error(video: Path, tmp_path: Path, tiny_weights: Path, capsys) -> None:
    code, err = cli("restore", video, "-o", tmp_path / "out.mp4", "--weights", tiny_weights, "--codec", "nosuch", capsys=capsys)
    assert code == 2 and err == ["mprnet-vs: error: unknown video encoder 'nosuch' (see `ffmpeg -encoders` for names)"]


@pytest.mark.parametrize("name", ["weights", "preset", "device", "backend", "precision", "tile"])
def test_empty_strings_in_the_filter_and_the_restorer(tiny_weights: Path, name: str) -> None:
    rgb = vs.core.std.BlankClip(width=48, height=32, format=vs.RGBS, length=1)
    options = {"weights": str(tiny_weights), name: " "}
    with pytest.raises(vs.Error, match=f"^mprnet_vs.deblur: {name}: empty value"):
        mprnet_vs.deblur(rgb, **options)
    with pytest.raises(MprnetError, match=f"^{name}: empty value"):
        Restorer(**{"weights": tiny_weights, name: ""})


# ----------------------------------------------------------------------------- no decoder


def _undecodable(tmp: Path) -> dict[str, Path]:
    """Real files whose video codec id / fourcc is patched to one FFmpeg knows no decoder for."""
    made = {}
    for suffix, codec, tag, other in ((".mkv", "libx264", b"V_MPEG4/ISO/AVC", b"V_ZZZZZ/ISO/AVC"),
                                      (".avi", "mpeg4", b"FMP4", b"ZZZZ"), (".mp4", "libx264", b"avc1", b"zzzz"),
                                      (".mov", "libx264", b"avc1", b"zzzz")):
        source = clip(tmp / f"good{suffix}", codec=codec)
        data = source.read_bytes()
        assert tag in data
        made[suffix] = tmp / f"nodecoder{suffix}"
        made[suffix].write_bytes(data.replace(tag, other))
        source.unlink()
    return made


def test_video_without_a_decoder_is_one_line_naming_input_and_codec(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    (tmp_path / "in").mkdir()
    inputs = _undecodable(tmp_path / "in")
    for path in inputs.values():
        before = path.read_bytes()
        code, err = cli("restore", path, "-o", tmp_path / f"out{path.suffix}", "--weights", tiny_weights, capsys=capsys)
        assert code == 1 and err == [f"mprnet-vs: error: {path}: no decoder for the video codec of stream #0 (a codec id "
                                     "or fourcc this FFmpeg does not know, or one it was built without)"], err
        assert path.read_bytes() == before and not (tmp_path / f"out{path.suffix}").exists()


def test_folder_goes_on_after_a_video_without_a_decoder(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _undecodable(folder)
    clip(folder / "fine.mp4")
    code, err = cli("restore", folder, "-o", tmp_path / "out", "--weights", tiny_weights, "--quiet", capsys=capsys)
    assert code == 1
    assert sum("no decoder for the video codec" in line for line in err) >= 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fine.mp4"]


@pytest.mark.skipif(not VSPIPE.exists(), reason="vspipe not found")
def test_vspipe_names_an_undecodable_source(tmp_path: Path, tiny_weights: Path) -> None:
    path = _undecodable(tmp_path)[".mkv"]
    result = vspipe("deblur.vpy", f"src={path}", f"weights={tiny_weights}")
    assert result.returncode != 0 and result.stdout == b""
    assert b"no decoder for the video codec" in result.stderr, result.stderr[-400:]


# ----------------------------------------------------------------------------- formats


def test_field_based_420_height_not_divisible_by_4_says_why(tiny_weights: Path) -> None:
    yuv = vs.core.std.BlankClip(width=48, height=30, format=vs.YUV420P8, length=1)
    for field_based in (1, 2):
        tagged = vs.core.std.SetFrameProps(yuv, _FieldBased=field_based, _Matrix=1)
        with pytest.raises(vs.Error, match=r"^mprnet_vs.derain: a field-based \(interlaced.*height divisible by 4.*height 30"):
            mprnet_vs.derain(tagged, weights=str(tiny_weights))
    progressive = vs.core.std.SetFrameProps(yuv, _FieldBased=0, _Matrix=1)
    assert mprnet_vs.derain(progressive, weights=str(tiny_weights)).get_frame(0).height == 30
    fields_ok = vs.core.std.SetFrameProps(vs.core.std.BlankClip(width=48, height=32, format=vs.YUV420P8, length=1),
                                          _FieldBased=2, _Matrix=1)
    assert mprnet_vs.derain(fields_ok, weights=str(tiny_weights)).get_frame(0).height == 32


@pytest.mark.skipif(not VSPIPE.exists(), reason="vspipe not found")
def test_vspipe_notes_the_dropped_alpha_on_stderr_only(tmp_path: Path, tiny_weights: Path) -> None:
    path = clip(tmp_path / "alpha.mkv", codec="ffv1", pix_fmt="yuva420p", frames=3)
    result = vspipe("deblur.vpy", f"src={path}", f"weights={tiny_weights}")
    assert result.returncode == 0, result.stderr[-400:]
    assert b"the source's alpha plane is dropped" in result.stderr
    _fields, frames = read_y4m(result.stdout)  # nothing but video on stdout
    assert len(frames) == 3
    plain = vspipe("deblur.vpy", f"src={clip(tmp_path / 'plain.mkv', codec='ffv1', frames=3)}", f"weights={tiny_weights}")
    assert plain.returncode == 0 and b"alpha" not in plain.stderr


# ----------------------------------------------------------------------------- degrade kernels


def _off_centre() -> np.ndarray:
    kernel = np.zeros((5, 5), np.float32)
    kernel[0, 4] = 1.0  # two rows up, two columns right of the centre
    return kernel


def test_an_off_centre_tap_shifts_as_a_convolution() -> None:
    img = np.random.default_rng(1).random((32, 40, 3)).astype(np.float32)
    out = motion_blur(img, 0, kernel=_off_centre(), noise=0.0)
    # convolution: out[y, x] = sum k[i, j] img[y - (i - 2), x - (j - 2)] = img[y + 2, x - 2]
    np.testing.assert_allclose(out[4:-4, 4:-4], img[6:-2, 2:-6], atol=1e-6)


def test_an_asymmetric_kernel_matches_scipy_convolve2d() -> None:
    signal = pytest.importorskip("scipy.signal")
    img = np.random.default_rng(2).random((30, 36)).astype(np.float32)
    for shape in ((5, 5), (4, 6), (3, 4)):
        kernel = np.zeros(shape, np.float32)
        kernel[0, 1], kernel[-1, -1], kernel[shape[0] // 2, 0] = 0.5, 0.3, 0.2  # an L-ish, asymmetric shape
        expected = signal.convolve2d(img, kernel, mode="same")
        blurred = motion_blur(np.repeat(img[..., None], 3, axis=2), 0, kernel=kernel, noise=0.0)[..., 0]
        np.testing.assert_allclose(blurred[4:-4, 4:-4], expected[4:-4, 4:-4], atol=1e-5)


def test_reported_trajectory_kernel_predicts_the_blur() -> None:
    from mprnet_vs.degrade import blur_kernel

    kernel = blur_kernel(np.random.default_rng(9), kind="trajectory", length=15)
    assert not np.allclose(kernel, kernel[::-1, ::-1])  # really asymmetric
    img = np.random.default_rng(3).random((48, 48)).astype(np.float32)
    out = motion_blur(np.repeat(img[..., None], 3, axis=2), 0, kernel=kernel, noise=0.0)[..., 1]
    half_h, half_w = (kernel.shape[0] - 1) // 2, (kernel.shape[1] - 1) // 2
    padded = np.pad(img, ((kernel.shape[0] - 1 - half_h, half_h), (kernel.shape[1] - 1 - half_w, half_w)),
                    mode="symmetric")  # cv2.BORDER_REFLECT
    predicted = np.zeros_like(img)
    for i in range(kernel.shape[0]):  # out[y, x] = sum k[i, j] img[y - i + half_h, x - j + half_w]
        for j in range(kernel.shape[1]):
            shift_y, shift_x = kernel.shape[0] - 1 - i, kernel.shape[1] - 1 - j
            predicted += kernel[i, j] * padded[shift_y : shift_y + 48, shift_x : shift_x + 48]
    np.testing.assert_allclose(out, np.clip(predicted, 0, 1), atol=1e-5)


@pytest.mark.parametrize(("suffix", "muxer"), [(".m3u8", "hls"), (".mpd", "dash")])
def test_a_playlist_output_is_refused_and_checking_it_leaves_nothing_behind(video: Path, tmp_path: Path, tiny_weights: Path,
                                                                            monkeypatch, suffix: str, muxer: str) -> None:
    """HLS and DASH muxers write segment files of their own, named from the file they are
    given: the settings check tried them in memory, which left "<none>", "<none>0.ts" in the
    folder the command ran in (HLS) or killed the process with a floating-point exception
    (DASH); a real run left segments named after the hidden part file. Refused, exit 2."""
    from mprnet_vs.errors import UsageError
    from mprnet_vs.video import VideoOptions, check_settings

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(UsageError, match=f"out\\{suffix}: {muxer} outputs are written as several files"):
        check_settings(VideoOptions(), [tmp_path / f"out{suffix}"])
    assert sorted(p.name for p in work.iterdir()) == []
    result = subprocess.run([sys.executable, "-m", "mprnet_vs", "restore", str(video), "-o", str(tmp_path / "out" / f"x{suffix}"),
                             "--weights", str(tiny_weights), "--device", "cpu"], capture_output=True, text=True, timeout=120, cwd=work,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"x{suffix}: {muxer} outputs are written as several files" in result.stderr, result.stderr
    assert not (tmp_path / "out").exists() and sorted(p.name for p in work.iterdir()) == []
