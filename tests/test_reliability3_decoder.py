"""Issue 24: a video stream FFmpeg has no decoder for (an unknown fourcc in AVI or MOV, an
unknown codec id in Matroska) is one line naming the input and the reason, exit 1, nothing
written; a folder run goes on with the other files; vspipe's scripts say the same.

Each file is a real tiny video made with PyAV whose codec tag is then overwritten in place.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
# extension -> (encoder, pixel format, the codec tag in the file, an unknown tag of the same length)
UNKNOWN = {
    "avi": ("mpeg4", "yuv420p", b"FMP4", b"QQQQ"),
    "mkv": ("mpeg4", "yuv420p", b"V_MPEG4/ISO/ASP", b"V_ZZZZZ/ISO/ASP"),
    "mov": ("mjpeg", "yuvj420p", b"jpeg", b"qqqq"),
}
MESSAGE = "no decoder for the video codec of stream #0"


def _undecodable(path: Path) -> Path:
    codec, pix_fmt, tag, unknown = UNKNOWN[path.suffix[1:]]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 40, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    data = path.read_bytes()
    assert tag in data  # AVI holds the fourcc twice (stream header and format)
    path.write_bytes(data.replace(tag, unknown))
    with av.open(str(path)) as check:  # what the bug report saw: PyAV gives the stream no codec context
        assert check.streams.video[0].codec_context is None
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "mprnet_vs", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("extension", sorted(UNKNOWN))
def test_a_stream_without_a_decoder_is_one_line_naming_the_input(tmp_path: Path, tiny_weights: Path, extension: str) -> None:
    source = _undecodable(tmp_path / f"odd.{extension}")
    before = source.read_bytes()
    result = _cli("restore", str(source), "-o", str(tmp_path / "out.mkv"), "--weights", str(tiny_weights), "--device", "cpu")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(source) in lines[0] and MESSAGE in lines[0], result.stderr
    assert "Traceback" not in result.stderr and "AttributeError" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name] and source.read_bytes() == before


def test_a_folder_run_goes_on_past_a_stream_without_a_decoder(tmp_path: Path, tiny_weights: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _undecodable(folder / "a.mkv")
    with av.open(str(folder / "b.mkv"), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(3):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 60 * index, np.uint8), format="rgb24")))
        out.mux(stream.encode(None))
    result = _cli("restore", str(folder), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), "--device", "cpu")
    assert result.returncode == 1
    assert f"{folder / 'a.mkv'}: {MESSAGE}" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b.mkv"]
    with av.open(str(tmp_path / "out" / "b.mkv")) as done:
        assert sum(1 for _ in done.decode(video=0)) == 3


def test_vspipe_names_a_stream_without_a_decoder(tmp_path: Path) -> None:
    vspipe = Path(sys.executable).with_name("vspipe")
    if not vspipe.exists():
        pytest.skip("vspipe is not installed in this environment")
    source = _undecodable(tmp_path / "odd.mkv")
    script = ROOT / "mprnet_vs" / "vapoursynth" / "scripts" / "denoise.vpy"
    result = subprocess.run([str(vspipe), "-c", "y4m", "-a", f"src={source}", str(script), "-"], capture_output=True, timeout=300)
    assert result.returncode != 0 and result.stdout == b""
    assert f"src={source}: cannot be read: {MESSAGE}".encode() in result.stderr
