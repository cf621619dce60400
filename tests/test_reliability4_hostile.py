"""Reliability, fourth pass (issue 24's hidden set): hostile files found by exploring many small
variants (codecs, containers, cuts, damaged runs, odd sizes, rates and time bases) through the
real ``mprnet-vs restore`` command. Each test is one class of failure that exploration found.

Every source is a tiny file made here with PyAV; every output is read back with PyAV.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from mprnet_vs.cli import main
from test_reliability2_video import clip as noise_clip
from test_reliability_vs import needs_vspipe, vspipe
from test_video import decoded

FRAMES = 12


def clip(path: Path, codec: str = "libx264", audio: str | None = None, frames: int = FRAMES, start: float = 0.0,
         tick: Fraction = Fraction(1, 1000)) -> Path:
    """A 64x48 video of noise at 25 fps from ``start`` seconds, stamped in ``tick``, with an
    optional mono audio track (codec ``audio``) as long as the video."""
    return noise_clip(path, codec=codec, audio=audio, frames=frames, start=start, tick=tick)


def last_video_packet(path: Path) -> tuple[int, int]:
    """(byte offset, size) of the last video packet in the file."""
    with av.open(str(path)) as container:
        return max((p.pos, p.size) for p in container.demux(video=0) if p.size)


def restore(source: Path, target: Path, weights: Path, capsys, *extra: str) -> tuple[int, list[str], list[str]]:
    """Run ``mprnet-vs restore`` (the real command, in this process); (exit code, stdout
    lines, stderr lines). The input must come out unchanged."""
    before = hashlib.sha256(source.read_bytes()).digest()
    code = main(["restore", str(source), "-o", str(target), "--weights", str(weights), "--preset", "fast", "--device", "cpu",
                 *extra])
    out, err = capsys.readouterr()
    assert hashlib.sha256(source.read_bytes()).digest() == before, "the input was modified"
    return code, out.splitlines(), err.splitlines()


def assert_loss_is_reported(source: Path, target: Path, code: int, err: list[str]) -> int:
    """Exit 1, one warning naming the input that says how many frames were written, an
    output holding exactly those frames and nothing else beside it. Returns that count."""
    warnings = [line for line in err if line.startswith(f"mprnet-vs: warning: {source}: input ")]
    assert code == 1 and len(warnings) == 1, (code, err)
    written = int(warnings[0].rsplit("restored the ", 1)[1].split(" frames", 1)[0])
    assert len(decoded(target)) == written < FRAMES
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
    return written


# --------------------------------------------------------------------------- streams not copied


@pytest.mark.parametrize(("name", "codec", "audio", "output"), [
    ("ffv1_flac.mkv", "ffv1", "flac", "restored.mov"),  # MOV cannot hold FLAC
    ("vp9_opus.webm", "libvpx-vp9", "libopus", "restored.avi"),  # AVI cannot hold Opus
])
def test_damage_is_reported_when_the_audio_cannot_be_copied(tmp_path: Path, tiny_weights: Path, capsys,
                                                            name: str, codec: str, audio: str, output: str) -> None:
    """A Matroska file with a run of zeros over a third of it decodes to about half its
    frames. Its loss shows only against the file's duration, which was checked only when
    every stream was copied: into a container that cannot hold the audio, half the video
    went missing with exit 0 and no word."""
    whole = clip(tmp_path / name, codec, audio)
    data = bytearray(whole.read_bytes())
    data[len(data) // 3 : 2 * len(data) // 3] = bytes(len(data) // 3)
    damaged = tmp_path / f"zeroed_{name}"
    damaged.write_bytes(bytes(data))
    target = tmp_path / "out" / output
    target.parent.mkdir()
    code, _out, err = restore(damaged, target, tiny_weights, capsys)
    assert_loss_is_reported(damaged, target, code, err)
    assert any("not copied: audio" in line for line in err), err


# --------------------------------------------------------------------------- Matroska's last frame


@pytest.mark.parametrize("where", ["inside", "before"])
@pytest.mark.parametrize(("name", "codec", "audio"), [
    ("ffv1_flac.mkv", "ffv1", "flac"),
    ("mpeg2.mkv", "mpeg2video", None),
    ("vp9_opus.webm", "libvpx-vp9", "libopus"),
])
def test_matroska_cut_at_its_last_frame_is_reported(tmp_path: Path, tiny_weights: Path, capsys,
                                                    name: str, codec: str, audio: str | None, where: str) -> None:
    """A Matroska or WebM file cut inside (or just before) its last video frame: the demuxer
    drops the partial frame without a word, and one frame (40 ms) was within the 0.1 s the
    duration check allowed, so the run ended with exit 0. The track's DURATION tag (FFmpeg
    and mkvmerge write one per track, to the nanosecond) now says where the video ends."""
    whole = clip(tmp_path / name, codec, audio, tick=Fraction(1, 25) if codec == "mpeg2video" else Fraction(1, 1000))
    at, size = last_video_packet(whole)
    cut = tmp_path / f"cut_{where}_{name}"
    cut.write_bytes(whole.read_bytes()[: at + size // 2 if where == "inside" else at])
    target = tmp_path / "out" / "restored.mkv"
    target.parent.mkdir()
    code, _out, err = restore(cut, target, tiny_weights, capsys)
    assert assert_loss_is_reported(cut, target, code, err) == FRAMES - 1
    assert f"after {FRAMES - 1} frames" in err[-1], err


def test_complete_matroska_files_are_not_called_cut(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    """The tighter check must not call a whole file cut: Matroska and WebM with and without
    audio (AAC and Opus end after the video: their priming and padding), starting late, and a
    variable-rate file whose last frame lasts 500 ms."""
    sources = [clip(tmp_path / "a.mkv", "ffv1", "flac"), clip(tmp_path / "b.mkv", "libx264", "aac", start=100000.0),
               clip(tmp_path / "c.webm", "libvpx-vp9", "libopus"), clip(tmp_path / "d.mkv", "mpeg2video", tick=Fraction(1, 25))]
    vfr = tmp_path / "vfr.mkv"
    with av.open(str(vfr), "w") as out:
        video = out.add_stream("ffv1", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.time_base = Fraction(1, 1000)
        for index, pts in enumerate([0, 40, 130, 170, 650]):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * index, np.uint8), format="rgb24")
            frame.pts, frame.time_base, frame.duration = pts, Fraction(1, 1000), 500 if pts == 650 else 40
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    for source in [*sources, vfr]:
        target = tmp_path / f"{source.stem}_out.mkv"
        code, out, err = restore(source, target, tiny_weights, capsys)
        assert code == 0 and not err, (source.name, err)
        assert f": {len(decoded(source))} frames " in out[0], out


# --------------------------------------------------------------------------- frames the decoder held


def frames_one_thread(path: Path) -> int:
    """Frames a single-threaded decoder gets out of ``path``, going on after damaged packets."""
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        for packet in container.demux(stream):
            try:
                count += len(stream.decode(packet))
            except av.error.InvalidDataError:
                continue
    return count


@pytest.mark.parametrize("name", ["faststart.mp4", "faststart.mov"])
def test_a_cut_last_frame_costs_only_that_frame(tmp_path: Path, tiny_weights: Path, capsys, name: str) -> None:
    """An MP4/MOV (index first) cut inside its last H.264 frame. With frame threads the
    decoder reports the cut frame's error only while it is being drained; PyAV then stops
    draining and refuses a second drain, so the two good frames still inside the decoder
    were lost: 9 of 12 restored where 11 decode. Slice threads report the error on the cut
    packet itself and every frame before it comes out."""
    whole = tmp_path / name
    noise_clip(whole, frames=FRAMES, tick=Fraction(1, 25), container_options={"movflags": "faststart"})
    at, size = last_video_packet(whole)
    cut = tmp_path / f"cut_{name}"
    cut.write_bytes(whole.read_bytes()[: at + size // 2])
    target = tmp_path / "out" / "restored.mkv"
    target.parent.mkdir()
    code, _out, err = restore(cut, target, tiny_weights, capsys)
    assert assert_loss_is_reported(cut, target, code, err) == frames_one_thread(cut) == FRAMES - 1


# --------------------------------------------------------------------------- late starts in AVI


@pytest.mark.parametrize(("name", "start"), [("late.ts", 3 * 3600.0), ("late.mp4", 100000.0)])
def test_a_start_hours_late_goes_into_avi(tmp_path: Path, tiny_weights: Path, capsys, name: str, start: float) -> None:
    """A video-only broadcast capture whose clock starts three hours in (or an MP4 at 10^5 s)
    restored into AVI: AVI keeps a start time as dropped frames, one index entry each, and
    FFmpeg's muxer refuses more than 60000 in a row, so a complete file failed with
    `encoding or writing failed (Invalid argument)`. The start now moves to 0, said in a note,
    as it already did when audio came along."""
    source = clip(tmp_path / name, start=start, tick=Fraction(1, 90000))
    target = tmp_path / "out" / "restored.avi"
    target.parent.mkdir()
    code, out, err = restore(source, target, tiny_weights, capsys)
    assert code == 0 and not err, err
    assert f": {FRAMES} frames " in out[0] and any("shifted by -" in line and "to start at 0" in line for line in out), out
    with av.open(str(target)) as written:
        stream = written.streams.video[0]
        times = sorted(float(f.pts * f.time_base) for f in written.decode(stream))
        assert len(times) == FRAMES and stream.frames == FRAMES  # no index entries for the hours before the first frame
    # AVI stores decode order: H.264 with B-frames reads back one frame late (as the shift for audio does).
    assert times[0] <= 1 / 25 + 1e-9 and times[-1] - times[0] == pytest.approx((FRAMES - 1) / 25)


# --------------------------------------------------------------------------- where it stopped


def test_a_short_frame_count_says_where_decoding_stopped(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    """An MP4 (index first) cut just before its last frame, and an AVI cut the same way, are
    found short by their stored frame count; the warning said how many frames decoded but not
    where decoding stopped. It now names the last frame that decoded and its time."""
    for name, codec in (("index_first.mp4", "libx264"), ("short.avi", "mpeg4")):
        whole = tmp_path / name
        noise_clip(whole, codec=codec, frames=FRAMES, tick=Fraction(1, 25),
                   container_options={"movflags": "faststart"} if name.endswith(".mp4") else {})
        cut = tmp_path / f"cut_{name}"
        cut.write_bytes(whole.read_bytes()[: last_video_packet(whole)[0]])
        target = tmp_path / f"out_{whole.stem}" / "restored.mkv"
        target.parent.mkdir()
        code, _out, err = restore(cut, target, tiny_weights, capsys)
        assert assert_loss_is_reported(cut, target, code, err) == FRAMES - 1
        assert f"only {FRAMES - 1} of the {FRAMES} frames" in err[-1], err
        assert f"decoding stopped after frame {FRAMES - 1} ({(FRAMES - 2) / 25:.2f} s)" in err[-1], err


# --------------------------------------------------------------------------- vspipe


@needs_vspipe
@pytest.mark.parametrize(("name", "codec", "audio"), [("ffv1_flac.mkv", "ffv1", "flac"), ("vp9_opus.webm", "libvpx-vp9", "libopus")])
def test_vspipe_refuses_a_cut_matroska_with_audio(tmp_path: Path, tiny_weights: Path, name: str, codec: str, audio: str) -> None:
    """A Matroska / WebM with audio, cut in half, under vspipe: the Segment's duration may be
    the audio's, so the video had no announcement to be checked against and the half clip
    passed as a finished one (exit 0, 5 frames of 12 on stdout). The video track's DURATION
    tag is that announcement: refused, nothing on stdout. The whole file still plays."""
    whole = clip(tmp_path / name, codec, audio)
    cut = tmp_path / f"cut_{name}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    result = vspipe(f"src={cut}", f"weights={tiny_weights}", "stages=1")
    assert result.returncode != 0 and result.stdout == b"", result.stderr[-400:]
    assert f"src={cut}: truncated or damaged: decoding stops at frame".encode() in result.stderr, result.stderr[-400:]
    played = vspipe(f"src={whole}", f"weights={tiny_weights}", "stages=1")
    assert played.returncode == 0 and played.stdout.count(b"FRAME") == FRAMES, played.stderr[-400:]


# --------------------------------------------------------------------------- jumps in constant-rate outputs


def paused(path: Path, jump: float) -> Path:
    """A 25 fps H.264 clip whose recording paused: its stamps jump ``jump`` s after frame 6."""
    tick = Fraction(1, 90000)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.time_base = tick
        rng = np.random.default_rng(4)
        for index in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), format="rgb24")
            frame.pts, frame.time_base = round((Fraction(index, 25) + (jump if index >= 6 else 0)) / tick), tick
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def test_a_paused_recording_keeps_its_times_in_avi(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    """An MP4 whose stamps jump 1 s after frame 6 has an average rate of 8.1 fps. That rate
    was the AVI's one rate: its 12 frames were spread over 1.5 s on a grid of 123 ms, the
    first six (0.2 s) playing for 0.7 s. The rate is now FFmpeg's guess (25 fps here, what
    `ffmpeg` itself uses): every frame within a frame of its own time, the pause kept as
    dropped frames. (MJPEG: AVI stores decode order, so B-frames would blur the times read back.)"""
    source = paused(tmp_path / "paused.mp4", 1.0)
    target = tmp_path / "out" / "restored.avi"
    target.parent.mkdir()
    code, out, err = restore(source, target, tiny_weights, capsys, "--codec", "mjpeg")
    assert code == 0 and not err, err
    with av.open(str(source)) as original, av.open(str(target)) as written:
        assert written.streams.video[0].average_rate == 25
        wanted = [float(f.pts * f.time_base) for f in original.decode(video=0)]
        got = sorted(float(f.pts * f.time_base) for f in written.decode(video=0))
    assert len(got) == FRAMES
    assert max(abs(a - b) for a, b in zip(got, wanted)) <= 1 / 25 + 1e-6, (got, wanted)


def test_an_hour_long_pause_into_avi_is_one_clear_line(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    """The same with a 1-hour pause. At the average rate (0.0033 fps) it was written with
    exit 0 as 12 frames spread over 5400 s; at 25 fps AVI would need 90000 dropped frames in a
    row, and FFmpeg's muxer refuses more than 60000 (`encoding or writing failed (Invalid
    argument)`). Refused with a line naming the input, the jump and the way out; nothing is
    written."""
    source = paused(tmp_path / "paused.mp4", 3600.0)
    target = tmp_path / "out" / "restored.avi"
    target.parent.mkdir()
    code, _out, err = restore(source, target, tiny_weights, capsys)
    assert code == 1 and len(err) == 1 and err[0].startswith(f"mprnet-vs: error: {source}: "), err
    assert "jump 3600.04 s after frame 6" in err[0] and ".mkv" in err[0], err
    assert list(target.parent.iterdir()) == []


# --------------------------------------------------------------------------- duplicated packets


def with_a_duplicate(source: Path, path: Path, which: int = 5) -> Path:
    """``source`` copied packet for packet, its video packet ``which`` written twice, the copy
    one tick of its time base later (a capture that repeated a packet)."""
    with av.open(str(source)) as original, av.open(str(path), "w") as out:
        video = out.add_stream_from_template(original.streams.video[0])
        for count, packet in enumerate((p for p in original.demux(video=0) if p.size), 1):
            packet.stream = video
            out.mux(packet)
            if count == which:
                again = av.Packet(bytes(packet))
                again.pts, again.dts, again.time_base, again.duration = packet.pts + 1, packet.dts + 1, packet.time_base, packet.duration
                again.stream = video
                out.mux(again)
    return path


@pytest.mark.parametrize("output", ["restored.mkv", "restored.webm"])
def test_a_duplicated_packet_gets_its_own_time_in_matroska(tmp_path: Path, tiny_weights: Path, capsys, output: str) -> None:
    """An MP4 (time base 1/12800) with one packet repeated 78 us after itself: 13 frames, all
    written, but Matroska stores milliseconds, so two of them came out at the same time (one
    is never shown). Each frame now gets at least one tick of the container's time base, the
    repair is said in a note, and the output's times strictly increase."""
    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w") as out:
        video = out.add_stream("libx264", rate=25, options={"bf": "0"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        rng = np.random.default_rng(6)
        for index in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    source = with_a_duplicate(whole, tmp_path / "repeated.mp4")
    target = tmp_path / "out" / output
    target.parent.mkdir()
    code, out, err = restore(source, target, tiny_weights, capsys)
    assert code == 0 and not err, err
    assert f": {FRAMES + 1} frames " in out[0] and any("repaired" in line for line in out), out
    with av.open(str(target)) as written:
        times = [f.pts for f in written.decode(video=0)]
    assert len(times) == FRAMES + 1 and all(b > a for a, b in zip(times, times[1:])), times
