"""The bad-input corpus through ``mprnet-vs restore``, out-of-memory recovery in a real video
run, and interruption by real signals.

Every input is generated here. Each corpus case states its outcome: a correct output, or one
line on stderr naming the culprit and the cause (exit 1 for a bad input file, 2 for a bad
setting). Whatever the outcome: no traceback, every input byte-identical afterwards, and no
partial or temporary file anywhere in the output folder. The truncated video is restored as
far as it decodes, with one warning saying after which frame it stopped, and exit 1.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from conftest import TINY, unwritable_folder, write_checkpoint
from mprnet_vs.cli import main
from mprnet_vs.engine.cache import get_model
from mprnet_vs.safe_output import TEMP_MARK
from test_cli import digest, wait_for
from test_video import _write_tone, decoded, frame_times, make_clip

ROOT = Path(__file__).resolve().parent.parent


# --- the corpus ---------------------------------------------------------------------------------


@dataclass
class Case:
    """One bad (or odd) input and what must come of it."""

    inputs: list[Path]  # every file the run may read (hashed before and after)
    output: Path | str  # a str keeps a trailing slash
    code: int
    args: list[str] = field(default_factory=list)
    given: list[str] | None = None  # the INPUT arguments; default: the first input
    line: str | None = None  # regex the one stderr line must match (error, or the truncation warning)
    names: str | None = None  # what that line must name; default: the first input's file name
    check: Callable[[Path], None] | None = None  # on the finished output
    weights: bool = True  # add --weights tiny (cases that test --weights themselves say False)


def _random_bytes(path: Path, size: int = 6000) -> Path:
    path.write_bytes(np.random.default_rng(len(path.name)).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def _picture(height: int, width: int, dtype: type = np.uint8, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(height * 31 + width)
    top = np.iinfo(dtype).max
    return rng.integers(0, top, (height, width, channels), dtype=dtype) if channels > 1 else rng.integers(0, top, (height, width), dtype=dtype)


def _png(path: Path, image: np.ndarray) -> Path:
    """A PNG file at ``path``, whatever its extension."""
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    path.write_bytes(encoded.tobytes())
    return path


def _video_check(frames: int, size: tuple[int, int], pix_fmt: str | None = None) -> Callable[[Path], None]:
    def check(out: Path) -> None:
        got = decoded(out)
        assert len(got) == frames
        assert (got[0].width, got[0].height) == size
        if pix_fmt:
            assert got[0].format.name == pix_fmt

    return check


def _timestamps_are(out: Path, seconds: list[float]) -> None:
    np.testing.assert_allclose(frame_times(out), seconds, atol=1e-6)


def _codec_is(out: Path, codec: str, frames: int) -> None:
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == codec
    assert len(decoded(out)) == frames


def _rotation_is(out: Path, degrees: int) -> None:
    frames = decoded(out)
    assert len(frames) == 2 and frames[0].rotation == degrees


def _photo_check(shape: tuple[int, ...], dtype: type) -> Callable[[Path], None]:
    def check(out: Path) -> None:
        image = cv2.imdecode(np.fromfile(out, np.uint8), cv2.IMREAD_UNCHANGED)  # imread crashes on non-UTF-8 names
        assert image is not None and image.shape == shape and image.dtype == dtype

    return check


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4" if path.suffix == ".mp4" else None) as out:
        stream = out.add_stream("aac", rate=48000)
        stream.layout = "mono"
        _write_tone(out, stream, seconds=0.2)
    return path


def _frameless(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height = 64, 48
        out.start_encoding()
    return path


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _cut(whole: Path, target: Path, fraction: float) -> Path:
    """``target`` holding the first ``fraction`` of ``whole``'s bytes (``whole`` is removed)."""
    data = whole.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    whole.unlink()
    return target


def _folder_of_clips(folder: Path) -> Path:
    folder.mkdir(parents=True)
    make_clip(folder / "a.mkv", codec="ffv1", frames=1)
    return folder


def _yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


class _RunsCode:
    """Unpickling this would run ``touch MARKER``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))



def _first_half(whole: Path, cut: Path) -> Path:
    """``cut`` holds the first half of ``whole``'s bytes (a download or copy that broke off)."""
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    whole.unlink()
    return cut


def _truncated_mkv(tmp: Path) -> Case:
    cut = _first_half(make_clip(tmp / "whole.mkv", codec="ffv1", frames=12), tmp / "in" / "cut off.mkv")

    def check(out: Path) -> None:
        assert 0 < len(decoded(out)) < 12

    return Case([cut], tmp / "out" / "cut.mkv", 1, line=r"warning: .*input ends early: .*after (\d+) frames", check=check)


def _truncated_faststart_mp4(tmp: Path) -> Case:
    """An MP4 with its index in front (as streamed files are): cut, its first frames still decode."""
    from test_video import pictures

    whole = tmp / "whole.mp4"
    with av.open(str(whole), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index, picture in enumerate(pictures(40, 64, 48)):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    cut = _first_half(whole, tmp / "in" / "stream.mp4")

    def check(out: Path) -> None:
        assert 0 < len(decoded(out)) < 40

    return Case([cut], tmp / "out" / "stream.mkv", 1, line=r"warning: .*input ends early: only (\d+) of the 40 frames", check=check)


def _non_utf8_names(tmp: Path) -> Case:
    """A folder whose file names are not valid UTF-8 (Latin-1 bytes, as old cameras and shares
    write them): restored under the same byte-for-byte names."""
    folder = tmp / "in" / "latin1"
    folder.mkdir()
    names = [os.fsdecode(b"caf\xe9 clip.mkv"), os.fsdecode(b"ph\xf6to.png")]
    make_clip(folder / names[0], codec="ffv1", frames=2)
    _png(folder / names[1], _picture(24, 32))

    def check(out: Path) -> None:
        assert sorted(p.name for p in out.iterdir()) == sorted(names)
        _video_check(2, (64, 48))(out / names[0])
        _photo_check((24, 32, 3), np.uint8)(out / names[1])

    return Case([folder], tmp / "out" / "restored", 0, given=[str(folder)], check=check)


def _code_running_checkpoint(tmp: Path) -> Case:
    """A real MPRNet checkpoint with one extra entry whose unpickling runs ``touch tmp/ran``."""
    state = torch.load(write_checkpoint(tmp / "ok.pth"), weights_only=True)
    state["hook"] = _RunsCode(tmp / "ran")
    evil = tmp / "in" / "evil.pth"
    torch.save(state, evil)
    photo = _png(tmp / "in" / "p.png", _picture(24, 32))
    return Case([photo, evil], tmp / "out" / "p.png", 2, args=["--weights", str(evil)], weights=False,
                line=r"evil\.pth: refused, loading it would execute code", names="evil.pth")


def _other_architecture(tmp: Path) -> Case:
    other = tmp / "in" / "resnet.pth"
    torch.save({"state_dict": torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Linear(8, 2)).state_dict()}, other)
    photo = _png(tmp / "in" / "p.png", _picture(24, 32))
    return Case([photo, other], tmp / "out" / "p.png", 2, args=["--weights", str(other)], weights=False,
                line=r"resnet\.pth: not an MPRNet checkpoint", names="resnet.pth")


def _bad_preset(text: str, pattern: str) -> Callable[[Path], Case]:
    def build(tmp: Path) -> Case:
        preset = _yaml(tmp / "in" / "my preset.yaml", text)
        photo = _png(tmp / "in" / "p.png", _picture(24, 32))
        return Case([photo, preset], tmp / "out" / "p.png", 2, args=["--preset", str(preset)], line=pattern, names="my preset.yaml")

    return build


def _setting(args: list[str], pattern: str, names: str) -> Callable[[Path], Case]:
    def build(tmp: Path) -> Case:
        clip = make_clip(tmp / "in" / "clip.mkv", codec="ffv1", frames=2)
        return Case([clip], tmp / "out" / "clip.mkv", 2, args=args, line=pattern, names=names)

    return build


def _simple(make: Callable[[Path], Path], out_name: str, code: int, line: str | None = None,
            check: Callable[[Path], None] | None = None, args: list[str] | None = None, names: str | None = None) -> Callable[[Path], Case]:
    def build(tmp: Path) -> Case:
        source = make(tmp / "in")
        return Case([source], tmp / "out" / out_name, code, args=args or [], line=line, check=check, names=names)

    return build


NO_CUDA = not torch.cuda.is_available()

CASES: dict[str, Callable[[Path], Case]] = {
    # --- damaged and odd video files
    **{
        f"random_bytes{ext}": _simple(lambda d, ext=ext: _random_bytes(d / f"noise{ext}"), "x.mkv", 1, r"noise\.\w+: not a readable video")
        for ext in (".mp4", ".mov", ".avi", ".webm", ".ts")
    },
    "truncated_mkv_mid_stream": _truncated_mkv,
    "truncated_faststart_mp4": _truncated_faststart_mp4,
    "truncated_mp4_index_at_end": _simple(lambda d: _cut(make_clip(d.parent / "whole.mp4", frames=8), d / "phone.mp4", 2 / 3),
                                          "x.mp4", 1, r"phone\.mp4: not a readable video"),
    "zero_video_frames": _simple(lambda d: _frameless(d / "empty.mkv"), "x.mkv", 1, r"empty\.mkv: no video data"),
    "audio_only_m4a": _simple(lambda d: _audio_only(d / "song.m4a"), "x.mp4", 1, r"song\.m4a: no video stream \(found audio\)"),
    "audio_only_with_video_extension": _simple(lambda d: _audio_only(d / "song.mp4"), "x.mp4", 1, r"song\.mp4: no video stream \(found audio\)"),
    "zero_byte_video": _simple(lambda d: _empty(d / "nothing.mkv"), "x.mkv", 1, r"nothing\.mkv: empty file"),
    "image_with_video_extension": _simple(lambda d: _png(d / "picture.mp4", _picture(24, 32)), "x.mkv", 0,
                                          check=_video_check(1, (32, 24))),
    "video_with_image_extension": _simple(lambda d: make_clip(d.parent / "c.mkv", codec="ffv1", frames=2).rename(d / "clip.png"),
                                          "x.png", 1, r"clip\.png: not a readable image"),
    "frames_1x1": _simple(lambda d: make_clip(d / "dot.mkv", codec="ffv1", pix_fmt="yuv444p", size=(1, 1), frames=2), "x.mkv", 0,
                          check=_video_check(2, (1, 1))),
    "frames_2x2": _simple(lambda d: make_clip(d / "tiny.mkv", codec="ffv1", pix_fmt="yuv420p", size=(2, 2), frames=2), "x.mp4", 0,
                          check=_video_check(2, (2, 2))),
    "frames_7x5": _simple(lambda d: make_clip(d / "odd.mkv", codec="ffv1", pix_fmt="yuv444p", size=(7, 5), frames=2), "x.mp4", 0,
                          check=_video_check(2, (7, 5), "yuv444p")),
    "odd_width_420": _simple(lambda d: make_clip(d / "odd420.mkv", codec="ffv1", pix_fmt="yuv420p", size=(33, 24), frames=2), "x.mp4", 0,
                             check=_video_check(2, (33, 24), "yuv444p")),  # x264 cannot store odd 4:2:0: 4:4:4, with a note
    "ten_bit": _simple(lambda d: make_clip(d / "ten.mkv", codec="ffv1", pix_fmt="yuv420p10le", frames=2), "x.mp4", 0,
                       check=_video_check(2, (64, 48), "yuv420p10le")),
    "twelve_bit": _simple(lambda d: make_clip(d / "twelve.mkv", codec="ffv1", pix_fmt="yuv420p12le", frames=2), "x.mkv", 0,
                          check=_video_check(2, (64, 48), "yuv420p12le"), args=["--codec", "ffv1"]),
    "twelve_bit_to_a_ten_bit_encoder": _simple(lambda d: make_clip(d / "twelve.mkv", codec="ffv1", pix_fmt="yuv420p12le", frames=2),
                                               "x.mp4", 0, check=_video_check(2, (64, 48), "yuv420p10le")),
    "mjpeg_default_pix_fmt": _simple(lambda d: make_clip(d / "clip.mkv", codec="ffv1", frames=2), "x.avi", 0,
                                     check=_video_check(2, (64, 48), "yuvj420p"), args=["--codec", "mjpeg"]),
    "mjpeg_yuv422p": _simple(lambda d: make_clip(d / "clip.mkv", codec="ffv1", frames=2), "x.mkv", 0,
                             check=_video_check(2, (64, 48), "yuvj422p"), args=["--codec", "mjpeg", "--pix-fmt", "yuv422p"]),
    "mpeg2_refuses_7_fps": _simple(lambda d: make_clip(d / "slow.mkv", codec="ffv1", frames=2, rate=7), "x.mpg", 1,
                                   r"slow\.mkv: encoder mpeg2video cannot write 64x48 video at 7 fps: .*MPEG-1/2 does not support 7/1 fps",
                                   args=["--codec", "mpeg2video"]),
    "variable_frame_rate": _simple(
        lambda d: make_clip(d / "vfr.mp4", frames=5, pts=[0, 40, 50, 120, 200], time_base=Fraction(1, 1000)), "x.mkv", 0,
        check=lambda out: _timestamps_are(out, [0, 0.04, 0.05, 0.12, 0.2])),
    "rotation_metadata": _simple(lambda d: make_clip(d / "phone.mp4", frames=2, rotation=90), "x.mp4", 0,
                                 check=lambda out: _rotation_is(out, 90)),
    "spaces_and_non_ascii_names": lambda tmp: Case(
        [make_clip(tmp / "in" / "été clip ü 1.mkv", codec="ffv1", frames=2)], tmp / "out" / "sortie é ü.mp4", 0,
        check=_video_check(2, (64, 48))),
    "non_utf8_file_names": lambda tmp: _non_utf8_names(tmp),
    # --- photos
    "rgba_png": _simple(lambda d: _png(d / "logo.png", _picture(24, 32, channels=4)), "x.png", 0,
                        check=_photo_check((24, 32, 4), np.uint8)),
    "sixteen_bit_png": _simple(lambda d: _png(d / "deep.png", _picture(24, 32, np.uint16)), "x.png", 0,
                               check=_photo_check((24, 32, 3), np.uint16)),
    "rgba_16_bit_png": _simple(lambda d: _png(d / "deep alpha.png", _picture(24, 32, np.uint16, channels=4)), "x.png", 0,
                               check=_photo_check((24, 32, 4), np.uint16)),
    "grayscale_png": _simple(lambda d: _png(d / "gray.png", _picture(24, 32, channels=1)), "x.png", 0,
                             check=_photo_check((24, 32), np.uint8)),
    "grayscale_16_bit_to_jpeg": _simple(lambda d: _png(d / "gray16.png", _picture(24, 32, np.uint16, channels=1)), "x.jpg", 0,
                                        check=_photo_check((24, 32), np.uint8)),  # gray stays gray, 8 bits for JPEG
    "photo_1x1": _simple(lambda d: _png(d / "dot.png", _picture(1, 1)), "x.png", 0, check=_photo_check((1, 1, 3), np.uint8)),
    "zero_byte_png": _simple(lambda d: _empty(d / "nothing.png"), "x.png", 1, r"nothing\.png: empty file"),
    "truncated_png": _simple(lambda d: _cut(_png(d.parent / "whole.png", _picture(40, 56)), d / "half.png", 1 / 2), "x.png", 1,
                             r"half\.png: not a readable image"),
    "random_bytes_jpg": _simple(lambda d: _random_bytes(d / "noise.jpg"), "x.jpg", 1, r"noise\.jpg: not a readable image"),
    # --- files and folders
    "nonexistent_input": lambda tmp: Case([], tmp / "out" / "x.mkv", 2, given=[str(tmp / "in" / "missing.mkv")],
                                          line=r"missing\.mkv: no such file or folder", names="missing.mkv"),
    "folder_as_input_without_media": lambda tmp: Case([_yaml(tmp / "in" / "notes.txt", "not media")], tmp / "out", 2,
                                                      given=[str(tmp / "in")], line=r"no photos or videos found in", names=str(tmp / "in")),
    "device_file_input": lambda tmp: Case([], tmp / "out" / "x.mkv", 2, given=["/dev/null"], line=r"/dev/null: not a regular file or folder",
                                          names="/dev/null"),
    "unwritable_output_folder": lambda tmp: Case(
        [make_clip(tmp / "in" / "clip.mkv", codec="ffv1", frames=2)], unwritable_folder(tmp) / "x.mkv", 1,
        line=r"clip\.mkv: .*(cannot write in|cannot create the output folder)"),
    "output_folder_is_a_file": lambda tmp: Case(
        [_folder_of_clips(tmp / "in" / "shots"), _yaml(tmp / "in" / "taken", "a file")], tmp / "in" / "taken", 2,
        given=[str(tmp / "in" / "shots")], line=r"taken: must be a folder", names="taken"),
    "unwritable_output_folder_photo": lambda tmp: Case(  # the folder is found out before the photo is read
        [_random_bytes(tmp / "in" / "noise.png")], unwritable_folder(tmp) / "x.png", 1, line=r"noise\.png: .*x\.png: cannot write in"),
    "output_below_a_file": lambda tmp: Case(
        [make_clip(tmp / "in" / "a.mkv", codec="ffv1", frames=1), _yaml(tmp / "in" / "taken", "a file")], tmp / "in" / "taken" / "x.mkv",
        1, line=r"a\.mkv: .*taken is a file"),
    "output_in_new_folders": lambda tmp: Case([make_clip(tmp / "in" / "a.mkv", codec="ffv1", frames=2)],
                                              tmp / "out" / "new" / "deeper" / "a.mkv", 0, check=_video_check(2, (64, 48))),
    "output_folder_with_trailing_slash": lambda tmp: Case(
        [_png(tmp / "in" / "p.png", _picture(24, 32))], f"{tmp / 'out' / 'new'}/", 0,
        check=lambda out: _photo_check((24, 32, 3), np.uint8)(Path(out) / "p.png")),
    "output_extension_unknown_to_ffmpeg": _simple(lambda d: make_clip(d / "clip.mkv", codec="ffv1", frames=1), "x.qqq", 2,
                                                  r"x\.qqq: FFmpeg knows no container for \.qqq", names="x.qqq"),
    "output_container_refuses_codec": _simple(lambda d: make_clip(d / "clip.mkv", codec="ffv1", frames=1), "x.webm", 2,
                                              r"x\.webm: webm files cannot hold libx264 video .*; use e\.g\. --codec libvpx-vp9 for webm",
                                              args=["--codec", "libx264"], names="x.webm"),
    "output_container_refuses_codec_at_header": _simple(lambda d: make_clip(d / "clip.mkv", codec="ffv1", frames=1), "x.y4m", 2,
                                                        r"x\.y4m: yuv4mpegpipe files cannot hold libx264 video .*; use e\.g\. --codec rawvideo",
                                                        args=["--codec", "libx264"], names="x.y4m"),
    # MPEG-TS takes VP9 (and FFV1, ProRes, ...) as private data its own demuxer does not read:
    # refused before any work, not found out after the whole restore
    "output_container_writes_what_ffmpeg_cannot_read": _simple(
        lambda d: make_clip(d / "clip.mkv", codec="ffv1", frames=1), "x.ts", 2,
        r"x\.ts: mpegts files cannot hold libvpx-vp9 video \(FFmpeg writes it there but reads no video back\); use e\.g\. --codec",
        args=["--codec", "libvpx-vp9"], names="x.ts"),
    "default_codec_follows_webm": _simple(lambda d: make_clip(d / "clip.mkv", codec="ffv1", frames=2), "x.webm", 0,
                                          check=lambda out: _codec_is(out, "vp9", 2)),
    "default_codec_follows_y4m": _simple(lambda d: make_clip(d / "clip.mkv", codec="ffv1", frames=2), "x.y4m", 0,
                                         check=lambda out: _codec_is(out, "rawvideo", 2)),
    "photo_output_extension_unknown": _simple(lambda d: _png(d / "p.png", _picture(24, 32)), "x.qqq", 2, r"x\.qqq: a photo must be written as",
                                              names="x.qqq"),
    # --- checkpoints and presets
    "checkpoint_of_another_architecture": _other_architecture,
    "checkpoint_that_would_run_code": _code_running_checkpoint,
    "weights_path_is_a_folder": lambda tmp: Case([_png(tmp / "in" / "p.png", _picture(24, 32))], tmp / "out" / "p.png", 2,
                                                 args=["--weights", str(tmp / "in")], weights=False, line=r"in: not a file", names=str(tmp / "in")),
    "truncated_checkpoint": lambda tmp: Case(
        [_png(tmp / "in" / "p.png", _picture(24, 32)), _cut(write_checkpoint(tmp / "w.pth", TINY), tmp / "in" / "cut.pth", 1 / 2)],
        tmp / "out" / "p.png", 2, args=["--weights", str(tmp / "in" / "cut.pth")], weights=False,
        line=r"cut\.pth: truncated or not a PyTorch checkpoint", names="cut.pth"),
    "preset_wrong_types": _bad_preset("profiles:\n  mine: {stages: two, tile: big}\n", r"profile 'mine': stages = 'two' is not allowed"),
    "preset_unknown_keys": _bad_preset("profiles:\n  mine: {stages: 2, speed: 11}\n", r"profile 'mine': unknown key 'speed'"),
    "preset_unknown_top_level_key": _bad_preset("profiles:\n  mine: {stages: 2}\nturbo: true\n", r"unknown key 'turbo'"),
    "preset_not_a_mapping": _bad_preset("- stages: 2\n", r"must be a mapping"),
    "preset_empty_file": _bad_preset("", r"must be a mapping"),
    "preset_yaml_syntax_error": _bad_preset("profiles: {mine: [\n", r"not valid YAML"),
    # --- settings
    "tile_negative": _setting(["--tile", "-8"], r"argument --tile: tile = -8 is not allowed; tile must be 0 \(whole frame\)", "--tile"),
    "tile_not_a_number": _setting(["--tile", "big"], r"argument --tile: tile=big: must be an integer or auto", "--tile"),
    "batch_huge": _setting(["--batch", "100000"], r"batch = 100000 is not allowed; batch must be an integer >= 1 and <= 256", "batch"),
    "batch_zero": _setting(["--batch", "0"], r"argument --batch: batch = 0 is not allowed; batch must be an integer >= 1 and <= 256", "--batch"),
    "overlap_negative": _setting(["--overlap", "-1"], r"argument --overlap: overlap = -1 is not allowed; overlap must be an integer number of pixels >= 0", "--overlap"),
    "stages_zero": _setting(["--stages", "0"], r"argument --stages: stages = 0 is not allowed; stages must be 1, 2 or 3", "--stages"),
    "stages_four": _setting(["--stages", "4"], r"argument --stages: stages = 4 is not allowed; stages must be 1, 2 or 3", "--stages"),
    "stages_not_a_number": _setting(["--stages", "x"], r"argument --stages: stages=x: must be an integer", "--stages"),
    "precision_fp8": _setting(["--precision", "fp8"], r"argument --precision: precision = 'fp8' is not allowed; precision must be auto, fp32, fp16, bf16", "--precision"),
    "device_tpu": _setting(["--device", "tpu"], r"device must be 'cpu', 'cuda', 'cuda:N' or an int, got 'tpu'", "tpu"),
    "device_cuda_missing": _setting(["--device", "cuda" if NO_CUDA else "cuda:99"], r"device 'cuda(:99)?' asked for, but", "cuda"),
    "crf_and_bitrate": _setting(["--crf", "18", "--encoder-opt", "b=1M"],
                                r"--crf 18 and --encoder-opt b=1M both set encoder libx264's rate control; give one", "--crf 18"),
    "pix_fmt_swscale_cannot_write": _setting(["--codec", "rawvideo", "--pix-fmt", "bayer_rggb8"],
                                             r"--pix-fmt bayer_rggb8: restored frames cannot be converted to it", "bayer_rggb8"),
    "gif_pal8": _simple(lambda d: make_clip(d / "clip.mkv", codec="ffv1", frames=2), "x.gif", 0,
                        check=_video_check(2, (64, 48)), args=["--codec", "gif", "--pix-fmt", "pal8"]),
    "codec_unknown": _setting(["--codec", "h266-dreams"], r"unknown video encoder 'h266-dreams'", "h266-dreams"),
}


def _files(paths: list[Path]) -> list[Path]:
    found = []
    for path in paths:
        if path.is_dir():
            found += [p for p in path.rglob("*") if p.is_file()]
        elif path.is_file():
            found.append(path)
    return found


def _stray(folder: Path) -> list[str]:
    """Temporary or hidden files left anywhere under ``folder``."""
    if not folder.is_dir() or folder == Path("/sys"):
        return []
    return [str(p) for p in folder.rglob("*") if TEMP_MARK in p.name or p.name.startswith(".")]


@pytest.mark.parametrize("name", list(CASES))
def test_corpus(name: str, tmp_path: Path, tiny_weights: Path, capfd) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    case = CASES[name](tmp_path)
    inputs = _files(case.inputs)
    before = {p: digest(p) for p in inputs}
    given = case.given if case.given is not None else [str(case.inputs[0])]
    argv = ["restore", *given, "-o", str(case.output), *case.args]
    if case.weights:
        argv += ["--weights", str(tiny_weights)]
    argv += [] if "--device" in case.args else ["--device", "cpu"]
    argv += ([] if "--tile" in case.args else ["--tile", "0"]) + ["--quiet"]
    capfd.readouterr()

    code = main(argv)
    captured = capfd.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]

    assert "Traceback" not in captured.err
    assert code == case.code, captured.err
    assert {p: digest(p) for p in before} == before, "an input was modified"
    assert not _stray(tmp_path / "out") and not _stray(tmp_path / "in"), "temporary files left behind"
    assert not (tmp_path / "ran").exists(), "the checkpoint's code ran"
    if case.line is None:
        assert not any("error" in line for line in lines), captured.err
    else:
        assert len(lines) == 1, f"expected one line on stderr, got:\n{captured.err}"
        assert re.search(case.line, lines[0]), lines[0]
        named = case.names or case.inputs[0].name
        assert named in lines[0], f"{named!r} not named in: {lines[0]}"
    target = Path(case.output)
    if case.code == 0 or (case.code == 1 and case.line and "warning:" in case.line):
        assert target.exists()
        if case.check:
            case.check(target)
        if case.line:  # the warning's frame count is the number of frames written
            reported = int(re.search(case.line, lines[0]).group(1))
            assert len(decoded(target)) == reported
    else:  # nothing at the output path (it may be a folder that existed, or an input)
        assert not target.exists() or target.is_dir() or target in case.inputs
        if target.is_dir() and target != Path("/sys"):
            assert not [p for p in target.rglob("*") if p.is_file() and p not in inputs]


# --- out of memory in a real run --------------------------------------------------------------


@pytest.fixture
def private_weights(tmp_path: Path, tiny_weights: Path) -> Path:
    """A checkpoint path no other test loads, so patching its cached model touches no one else."""
    return Path(shutil.copy(tiny_weights, tmp_path / "private.pth"))


def test_video_run_goes_on_after_out_of_memory(tmp_path: Path, private_weights: Path, capfd, monkeypatch) -> None:
    """A CUDA out-of-memory error on a whole 64 x 48 frame (injected: torch raises the same
    error type on the CPU) makes the engine retry that frame with 32 px tiles and keep them:
    every frame is written, each equal to a run asked for 32 px tiles, and one warning says so."""
    source = make_clip(tmp_path / "in.mkv", codec="ffv1", pix_fmt="bgr0", frames=5)
    common = ["--weights", str(private_weights), "--device", "cpu", "--codec", "ffv1", "--pix-fmt", "bgr0",
              "--overlap", "8", "--quiet"]
    assert main(["restore", str(source), "-o", str(tmp_path / "tiled.mkv"), "--tile", "32", *common]) == 0

    model = get_model(private_weights, torch.device("cpu"), torch.float32)  # the one the CLI will use
    forward = model.forward
    calls: list[tuple[int, int]] = []

    def small_gpu(x, stages=3):  # noqa: ANN001, ANN202
        calls.append(tuple(x.shape[-2:]))
        if x.shape[-1] * x.shape[-2] > 32 * 32:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.00 GiB (injected)")
        return forward(x, stages)

    monkeypatch.setattr(model, "forward", small_gpu)
    capfd.readouterr()
    code = main(["restore", str(source), "-o", str(tmp_path / "out.mkv"), "--tile", "0", *common])
    err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert code == 0
    assert len(err) == 1 and "warning: out of memory on cpu with 64 px tiles; continuing with 32 px tiles" in err[0], err
    assert calls[0] == (48, 64) and all(h * w <= 32 * 32 for h, w in calls[1:])
    ours, tiled = decoded(tmp_path / "out.mkv"), decoded(tmp_path / "tiled.mkv")
    assert len(ours) == len(tiled) == 5
    for a, b in zip(ours, tiled):
        assert np.array_equal(a.to_ndarray(format="rgb24"), b.to_ndarray(format="rgb24"))


# --- interruption: real signals to a real process -----------------------------------------------


def _start(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "mprnet_vs", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _writing(folder: Path, stem: str) -> bool:
    return folder.is_dir() and any(p.name.startswith(f".{stem}") and TEMP_MARK in p.name for p in folder.iterdir())


def test_sigterm_mid_video_then_rerun_finishes(tmp_path: Path, tiny_weights: Path) -> None:
    source = make_clip(tmp_path / "long clip.mkv", codec="ffv1", size=(128, 96), frames=100, audio=("flac",))
    before = digest(source)
    out = tmp_path / "out"
    args = ["restore", str(source), "-o", str(out / "long clip.mkv"), "--weights", str(tiny_weights), "--device", "cpu", "--tile", "0"]
    process = _start(args)
    wait_for(lambda: _writing(out, "long clip"), process, timeout=90)
    time.sleep(0.1)  # the video is being written: its temporary file exists
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "Traceback" not in err and "interrupted" in err
    assert list(out.iterdir()) == []  # no output and no temporary file
    assert digest(source) == before

    assert main(args + ["--quiet"]) == 0  # the rerun restores it completely
    assert len(decoded(out / "long clip.mkv")) == 100
    assert digest(source) == before and not _stray(out)


def test_two_ctrl_c_in_a_folder_run_then_rerun_redoes_nothing(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    """Ctrl-C pressed again and again (during the clean-up and while the process exits) still
    gives exit 130, no traceback and nothing partial; the rerun skips the finished file and
    restores the rest."""
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    _png(folder / "a_photo.png", _picture(24, 32))
    make_clip(folder / "sub" / "b_long.mkv", codec="ffv1", size=(128, 96), frames=100)
    before = {p: digest(p) for p in _files([folder])}
    out = tmp_path / "out"
    args = ["restore", str(folder), "-o", str(out), "--weights", str(tiny_weights), "--device", "cpu", "--tile", "0"]
    process = _start(args)
    wait_for(lambda: (out / "a_photo.png").exists() and _writing(out / "sub", "b_long"), process, timeout=90)
    time.sleep(0.1)  # the video is being written: its temporary file exists
    process.send_signal(signal.SIGINT)
    for delay in (0.05, 0.3):  # during the clean-up, then while the process exits
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["a_photo.png"]
    finished = (out / "a_photo.png").stat().st_mtime_ns

    assert main(args + ["--quiet"]) == 0
    assert (out / "a_photo.png").stat().st_mtime_ns == finished  # not redone
    assert len(decoded(out / "sub" / "b_long.mkv")) == 100
    assert {p: digest(p) for p in before} == before and not _stray(out)
