"""filters/*.vpy under the real vspipe, on files written by PyAV; the y4m on vspipe's stdout is
read back by a small reader of our own (independent of VapourSynth) and by PyAV for the source."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
VSPIPE = Path(sys.executable).with_name("vspipe")
WIDTH, HEIGHT, LENGTH = 64, 48, 5

pytestmark = pytest.mark.skipif(not VSPIPE.exists(), reason=f"vspipe not found next to {sys.executable}")


def source_frame(index: int) -> np.ndarray:
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    img = np.stack([x / WIDTH, y / HEIGHT, 0.5 + 0.4 * np.cos((x - y) / 7.0)], axis=-1)
    img[8:24, 4 + 5 * index : 20 + 5 * index] = (0.1, 0.8, 0.3)
    img += np.random.default_rng(100 + index).normal(0.0, 0.05, img.shape).astype(np.float32)
    return (np.clip(img, 0.0, 1.0) * 255).round().astype(np.uint8)


def write_video(path: Path, codec: str, pix_fmt: str) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, pix_fmt
        if codec == "libx264":
            stream.options = {"crf": "0", "preset": "ultrafast"}
        for i in range(LENGTH):
            frame = av.VideoFrame.from_ndarray(source_frame(i), format="rgb24").reformat(format=pix_fmt)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decoded_luma(path: Path) -> list[np.ndarray]:
    """The source's Y planes as PyAV decodes them (for yuv420p sources)."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="yuv420p")[:HEIGHT] for f in container.decode(video=0)]


def read_y4m(data: bytes) -> tuple[dict[str, str], list[bytes]]:
    """Parse a whole YUV4MPEG2 stream: header fields and the raw frame payloads. Any byte that
    is not part of the stream (e.g. text printed to stdout) makes it fail."""
    header_end = data.index(b"\n")
    tokens = data[:header_end].decode("ascii").split(" ")
    assert tokens[0] == "YUV4MPEG2", tokens[0]
    fields = {t[0]: t[1:] for t in tokens[1:]}
    width, height = int(fields["W"]), int(fields["H"])
    chroma = fields.get("C", "420jpeg")
    depth = 16 if "p16" in chroma else 10 if "p10" in chroma else 8
    sample = 2 if depth > 8 else 1
    if chroma.startswith("444"):
        frame_size = 3 * width * height * sample
    elif chroma.startswith("422"):
        frame_size = 2 * width * height * sample
    else:
        frame_size = (width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)) * sample
    frames, pos = [], header_end + 1
    while pos < len(data):
        line_end = data.index(b"\n", pos)
        assert data[pos:line_end].startswith(b"FRAME"), data[pos : pos + 20]
        pos = line_end + 1
        frames.append(data[pos : pos + frame_size])
        assert len(frames[-1]) == frame_size, "truncated frame"
        pos += frame_size
    return fields, frames


def vspipe(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    command = [str(VSPIPE), "-c", "y4m"]
    for arg in args:
        command += ["-a", arg]
    command += [str(ROOT / "mprnet_vs" / "vapoursynth" / "scripts" / script), "-"]
    return subprocess.run(command, capture_output=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def yuv_file(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("vspipe") / "rain.mkv", "libx264", "yuv420p")


@pytest.mark.parametrize(
    ("script", "options"),
    [
        ("derain.vpy", ["stages=2"]),
        ("deblur.vpy", ["preset=fast", "tile=0"]),
        ("denoise.vpy", ["preset=balanced", "stages=1", "tile=32", "overlap=8"]),
    ],
)
def test_vpy_scripts_restore_a_real_file(yuv_file, tiny_weights, script, options):
    result = vspipe(script, f"src={yuv_file}", f"weights={tiny_weights}", *options)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    fields, frames = read_y4m(result.stdout)
    assert (int(fields["W"]), int(fields["H"])) == (WIDTH, HEIGHT)
    assert fields["C"].startswith("420") and fields["F"] == "25:1"
    assert len(frames) == LENGTH
    source = decoded_luma(yuv_file)
    assert len(source) == LENGTH
    for n, payload in enumerate(frames):
        luma = np.frombuffer(payload[: WIDTH * HEIGHT], dtype=np.uint8).reshape(HEIGHT, WIDTH)
        assert np.abs(luma.astype(np.int32) - source[n].astype(np.int32)).mean() > 0.5, f"frame {n} unchanged"
    assert b"mprnet_vs" in result.stderr  # the matrix guess is logged there, not on stdout


def test_rgb_source_comes_out_as_yuv444(tmp_path, tiny_weights):
    path = write_video(tmp_path / "rgb.mkv", "ffv1", "gbrp10le")
    result = vspipe("derain.vpy", f"src={path}", f"weights={tiny_weights}", "stages=1")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    fields, frames = read_y4m(result.stdout)
    assert fields["C"].startswith("444p10") and len(frames) == LENGTH
    assert (int(fields["W"]), int(fields["H"])) == (WIDTH, HEIGHT)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], b"-a src=PATH"),
        (["stages=9"], b"mprnet_vs.derain: "),
        (["matrix=ictcp"], b"mprnet_vs.derain: cannot convert the clip to RGB and back with matrix 14"),
        (["tile=--5"], b"mprnet_vs.derain script: -a tile=--5: must be an integer or auto"),
    ],
)
def test_script_errors_are_reported_on_stderr(yuv_file, tiny_weights, args, message):
    if args and not args[0].startswith("src="):
        args = [f"src={yuv_file}", *args]
    if not any(a.startswith("weights=") for a in args):
        args = [*args, f"weights={tiny_weights}"]
    result = vspipe("derain.vpy", *args)
    assert result.returncode != 0
    assert result.stdout == b""
    assert message in result.stderr, result.stderr.decode(errors="replace")


def test_misspelt_option_is_warned_about_on_stderr(yuv_file, tiny_weights):
    """vspipe takes any ``-a`` key, so ``tiel=512`` used to run with the preset's tile without a
    word: it still runs (the key may be meant for another script), with a warning on stderr."""
    result = vspipe("derain.vpy", f"src={yuv_file}", f"weights={tiny_weights}", "stages=1", "tiel=512")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert len(read_y4m(result.stdout)[1]) == LENGTH
    assert b"mprnet_vs.derain script: ignoring -a tiel=...: not an option of this script; did you mean tile?" in result.stderr
    assert b"ignoring -a src" not in result.stderr and b"ignoring -a weights" not in result.stderr
