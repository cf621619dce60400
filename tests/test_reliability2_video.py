"""Reliability, second pass (issue 24), on restore_video: silent frame loss in damaged and cut
files, outputs whose timestamps must decode to what was reported, stream start offsets.

Every hostile file is made here with PyAV (64x48, a few frames) and then cut, zeroed or
overwritten with noise at a fixed place.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from mprnet_vs.engine import Restorer
from mprnet_vs.video import restore_video
from test_video import decoded, frame_times, leftovers


@pytest.fixture(scope="module")
def restorer(tiny_weights: Path) -> Restorer:
    return Restorer(weights=tiny_weights, device="cpu", tile=0)


def clip(path: Path, *, codec: str = "libx264", frames: int = 30, start: float = 0.0, audio: str | None = None,
         container_options: dict[str, str] | None = None, pix_fmt: str = "yuv420p", tick: Fraction | None = None) -> Path:
    """A 64x48 video of noise at 25 fps, stamped in ``tick`` (default 1/90000 s) from ``start``
    seconds, with an optional mono audio stream of codec ``audio`` starting at the same time."""
    rng = np.random.default_rng(len(path.name))
    with av.open(str(path), "w", options=container_options or {}) as out:
        video = out.add_stream(codec, rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, pix_fmt
        if tick is None:
            tick = Fraction(1, 25) if codec == "mpeg4" else Fraction(1, 90000)  # MPEG-4 part 2 takes no finer base
        video.codec_context.time_base = tick
        sound = None
        if audio:
            sound = out.add_stream(audio, rate=48000)
            sound.layout = "mono"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), format="rgb24")
            frame.pts, frame.time_base = round((start + Fraction(index, 25)) / tick), tick
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            fmt = sound.codec_context.format.name
            size = sound.codec_context.frame_size or 1024
            for first in range(0, frames * 48000 // 25, size):
                chunk = np.zeros((1, size), np.int16 if fmt.startswith("s16") else np.float32)
                samples = av.AudioFrame.from_ndarray(chunk, format=fmt, layout="mono")
                samples.sample_rate, samples.pts, samples.time_base = 48000, round(start * 48000) + first, Fraction(1, 48000)
                out.mux(sound.encode(samples))
            out.mux(sound.encode(None))
    return path


def _damaged(path: Path, source: Path, start: float, length: int, noise: bool = False) -> Path:
    data = bytearray(source.read_bytes())
    at = int(len(data) * start)
    data[at : at + length] = np.random.default_rng(3).integers(0, 256, length, dtype=np.uint8).tobytes() if noise else bytes(length)
    path.write_bytes(bytes(data))
    return path


def _cut(path: Path, source: Path, keep: float) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _cut_in_last_frame(path: Path, source: Path) -> Path:
    """``source`` cut where its last video packet starts: one frame lost, what follows it gone."""
    with av.open(str(source)) as container:
        last = max((p.pos, p.size) for p in container.demux(video=0) if p.size)
    path.write_bytes(source.read_bytes()[: last[0]])
    return path


def _lossy_inputs(tmp: Path) -> dict[str, Path]:
    whole_mp4 = clip(tmp / "with_audio.mp4", audio="aac", container_options={"movflags": "faststart"})
    ts = clip(tmp / "whole.ts")
    avi = clip(tmp / "whole.avi", codec="mpeg4")
    y4m = clip(tmp / "whole.y4m", codec="rawvideo", frames=10)
    mkv = clip(tmp / "whole.mkv", codec="ffv1", audio="flac")
    return {
        "mp4_with_audio_cut_tail": _cut_in_last_frame(tmp / "cut tail.mp4", whole_mp4),
        "ts_zeroed_run": _damaged(tmp / "zeroed.ts", ts, 0.3, len(ts.read_bytes()) // 6),
        "avi_damaged_middle": _damaged(tmp / "damaged.avi", avi, 0.5, 400),
        "y4m_cut_inside_a_frame": _cut(tmp / "cut.y4m", y4m, 0.95),
        "mkv_with_audio_zeroed_middle": _damaged(tmp / "zeroed.mkv", mkv, 0.5, len(mkv.read_bytes()) // 8),
        "mkv_with_audio_noise_in_the_middle": _damaged(tmp / "noisy.mkv", mkv, 0.5, len(mkv.read_bytes()) // 8, noise=True),
    }


@pytest.mark.parametrize("case", ["mp4_with_audio_cut_tail", "ts_zeroed_run", "avi_damaged_middle", "y4m_cut_inside_a_frame",
                                  "mkv_with_audio_zeroed_middle", "mkv_with_audio_noise_in_the_middle"])
def test_lost_frames_are_always_reported(tmp_path: Path, restorer: Restorer, case: str) -> None:
    """Every file here decodes to fewer (or patched-up) frames than it holds: the report says
    so, the output holds exactly the frames reported, and nothing is left behind."""
    source = _lossy_inputs(tmp_path)[case]
    out = tmp_path / "out" / "restored.mkv"
    out.parent.mkdir()
    report = restore_video(source, out, restorer)
    assert report.incomplete, f"{case}: {report.frames} frames and no word of damage"
    assert len(decoded(out)) == report.frames > 0
    assert not leftovers(out.parent)


def test_complete_files_are_not_called_damaged(tmp_path: Path, restorer: Restorer) -> None:
    for source in (clip(tmp_path / "a.mp4", audio="aac"), clip(tmp_path / "b.ts"), clip(tmp_path / "c.avi", codec="mpeg4"),
                   clip(tmp_path / "d.y4m", codec="rawvideo", frames=5)):
        report = restore_video(source, tmp_path / f"{source.stem}_out.mkv", restorer)
        assert report.incomplete is None, f"{source.name}: {report.incomplete}"


@pytest.mark.parametrize("start", [2**33 / 90000 - 0.4, 2**33 / 90000 - 1.6], ids=["across_the_wrap", "just_before_it"])
@pytest.mark.parametrize("extension", [".mp4", ".mov", ".mkv"])
def test_timestamp_wrap_restores_every_frame_that_plays(tmp_path: Path, restorer: Restorer, start: float, extension: str) -> None:
    """An MPEG-TS whose 33-bit timestamps wrap (FFmpeg unwraps them to times before 0): the
    output plays every frame reported, evenly spaced, from 0, and a note says it was shifted."""
    source = clip(tmp_path / "wrap.ts", start=start)
    out = tmp_path / f"out{extension}"
    report = restore_video(source, out, restorer)
    assert report.frames == 30
    times = frame_times(out)
    assert len(times) == 30
    assert times[0] == pytest.approx(0.0, abs=1e-3)
    np.testing.assert_allclose(np.diff(times), 0.04, atol=1e-3)
    assert any("shifted" in note for note in report.notes)


@pytest.mark.parametrize("extension", [".mp4", ".mkv", ".avi"])
def test_late_start_keeps_audio_in_sync(tmp_path: Path, restorer: Restorer, extension: str) -> None:
    """Streams starting at 10 s (typical of MPEG-TS): containers that hold start times keep
    them; AVI, which cannot for audio, gets both streams moved to 0 together, with a note."""
    source = clip(tmp_path / "late.ts", frames=10, start=10.0, audio="mp2")
    out = tmp_path / f"out{extension}"
    report = restore_video(source, out, restorer)
    assert report.copied, report.not_copied
    with av.open(str(out)) as container:
        starts = {}
        for stream in container.streams:
            stamps = [p.pts * p.time_base for p in container.demux(stream) if p.size and p.pts is not None]
            container.seek(0)
            starts[stream.type] = float(min(stamps))
    assert abs(starts["video"] - starts["audio"]) < 0.08, starts
    if extension == ".avi":
        assert starts["video"] < 0.1 and any("start time for audio" in note for note in report.notes)
    else:
        assert starts["video"] == pytest.approx(10.0, abs=0.05)
