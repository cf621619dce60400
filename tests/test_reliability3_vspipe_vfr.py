"""Issue 24: the .vpy scripts took a complete variable-frame-rate Matroska file (a header with a
duration but no frame count) for a truncated one, because its duration at the nominal rate
promises more frames than it has; the CLI restored it fine. A cut one must still be refused."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "mprnet_vs" / "vapoursynth" / "scripts" / "denoise.vpy"
VSPIPE = Path(sys.executable).with_name("vspipe")
pytestmark = pytest.mark.skipif(not VSPIPE.exists(), reason="vspipe is not installed in this environment")


def _variable_rate_mkv(path: Path, frames: int = 20) -> Path:
    """Frames lasting 40 ms, every third one 100 ms (a nominal 25 fps stream that is not)."""
    tick = Fraction(1, 1000)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = tick
        pts = 0
        for index in range(frames):
            image = np.random.default_rng(index).integers(0, 256, (48, 64, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, tick
            pts += 100 if index % 3 == 0 else 40
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _vspipe(src: Path, weights: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(VSPIPE), "-c", "y4m", "-a", f"src={src}", "-a", f"weights={weights}", str(SCRIPT), "-"],
                          capture_output=True, timeout=300)


def test_a_complete_variable_rate_mkv_plays_every_frame(tmp_path: Path, tiny_weights: Path) -> None:
    source = _variable_rate_mkv(tmp_path / "vfr.mkv")
    result = _vspipe(source, tiny_weights)
    assert result.returncode == 0, result.stderr.decode()[-400:]
    assert result.stdout.count(b"FRAME") == 20


def test_a_cut_variable_rate_mkv_is_still_refused(tmp_path: Path, tiny_weights: Path) -> None:
    whole = _variable_rate_mkv(tmp_path / "vfr.mkv").read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole[: len(whole) * 6 // 10])
    result = _vspipe(cut, tiny_weights)
    assert result.returncode != 0 and result.stdout == b""
    assert b"truncated or damaged" in result.stderr
