"""Cutting videos at safe keyframes and joining restored pieces, without Ray: real files made by
PyAV, real x264 streams (closed and open GOP), pieces restored by the real video pipeline."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from mprnet_vs.cluster.keyframes import safe_cuts
from mprnet_vs.cluster.segments import join_segments, plan_split, write_segments
from mprnet_vs.engine import Restorer
from mprnet_vs.video import VideoOptions, restore_video
from test_video import make_clip


@pytest.fixture(scope="module")
def restorer(tiny_weights: Path) -> Restorer:
    return Restorer(weights=tiny_weights, device="cpu", tile=0)


def frames(path: Path) -> list[tuple[Fraction, bytes]]:
    with av.open(str(path)) as container:
        return [(f.pts * f.time_base, f.to_ndarray(format="rgb24").tobytes()) for f in container.decode(video=0)]


def audio_packets(path: Path) -> list[tuple[Fraction, int]]:
    with av.open(str(path)) as container:
        return [(p.pts * p.time_base, p.size) for p in container.demux(audio=0) if p.size]


def cut_restore_join(source: Path, target: Path, restorer: Restorer, options: VideoOptions, seconds: float) -> int:
    """Split ``source``, restore every piece with the pipeline, join into ``target``; the pieces."""
    plan = plan_split(source, seconds, target)
    assert plan.reason is None
    work = target.parent / "work"
    work.mkdir()
    cuts = {s.index: work / f"cut{s.index}{plan.suffix}" for s in plan.segments}
    write_segments(source, plan, lambda s: cuts[s.index])
    assert sum(s.count for s in plan.segments) == len(frames(source))
    pieces = []
    for segment in plan.segments:
        piece = work / f"piece{segment.index}{target.suffix}"
        restore_video(cuts[segment.index], piece, restorer, options)
        assert len(frames(piece)) == segment.count
        pieces.append(piece)
    copied: list[str] = []
    assert join_segments(source, pieces, target, target, copied, []) == len(frames(source))
    assert copied and copied[0].startswith("audio")
    return len(plan.segments)


@pytest.mark.parametrize(("container", "options"), [
    ("mkv", VideoOptions(codec="ffv1")),
    ("mp4", VideoOptions(codec="libx264", encoder_options={"qp": "0"})),  # lossless H.264
])
def test_pieces_join_to_the_serial_output(tmp_path: Path, restorer: Restorer, container: str, options: VideoOptions) -> None:
    source = make_clip(tmp_path / f"in.{container}", frames=96, audio=("aac",), options={"g": "12"})
    serial = tmp_path / f"serial.{container}"
    restore_video(source, serial, restorer, options)
    (tmp_path / "out").mkdir()
    joined = tmp_path / "out" / f"joined.{container}"
    assert cut_restore_join(source, joined, restorer, options, seconds=0.5) >= 4
    assert frames(joined) == frames(serial)  # same timestamps, count and pixels (lossless codec)
    assert audio_packets(joined) == audio_packets(serial)  # copied once, retimed as the serial run does
    assert len(audio_packets(joined)) == len(audio_packets(source))
    with av.open(str(joined)) as a, av.open(str(serial)) as b:
        va, vb = a.streams.video[0].codec_context, b.streams.video[0].codec_context
        assert (va.color_range, va.colorspace, va.color_primaries, va.color_trc) == (vb.color_range, vb.colorspace, vb.color_primaries, vb.color_trc)


def _psnr(a: list[tuple[Fraction, bytes]], b: list[tuple[Fraction, bytes]]) -> float:
    x = np.frombuffer(b"".join(f for _, f in a), np.uint8).astype(np.float64)
    y = np.frombuffer(b"".join(f for _, f in b), np.uint8).astype(np.float64)
    return float(10 * np.log10(255**2 / np.mean((x - y) ** 2)))


def test_default_codec_keeps_count_and_timestamps(tmp_path: Path, restorer: Restorer) -> None:
    """Lossy pieces are encoded apart, so pixels differ by encoder noise (as faithful to the
    restored frames as one encode of the whole); the timing does not differ at all."""
    source = make_clip(tmp_path / "in.mkv", frames=72, audio=("aac",), options={"g": "12"})
    exact = tmp_path / "exact.mkv"
    restore_video(source, exact, restorer, VideoOptions(codec="ffv1"))
    serial = tmp_path / "serial.mkv"
    restore_video(source, serial, restorer, VideoOptions())
    (tmp_path / "out").mkdir()
    joined = tmp_path / "out" / "joined.mkv"
    cut_restore_join(source, joined, restorer, VideoOptions(), seconds=0.5)
    a, b, reference = frames(joined), frames(serial), frames(exact)
    assert [t for t, _ in a] == [t for t, _ in b] == [t for t, _ in reference]
    assert abs(_psnr(a, reference) - _psnr(b, reference)) < 0.5


def test_open_gop_is_not_cut(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "open.mkv", frames=96, options={"g": "12", "x264-params": "open-gop=1:bframes=3:scenecut=0"})
    plan = plan_split(source, 0.5, tmp_path / "out.mkv")
    assert len(plan.segments) == 1 and "open GOP" in plan.reason


def test_containers_that_cannot_be_cut_or_joined(tmp_path: Path) -> None:
    avi = make_clip(tmp_path / "in.avi", codec="mpeg4", frames=60, options={"g": "6"})
    plan = plan_split(avi, 0.5, tmp_path / "out.mkv")
    assert len(plan.segments) == 1 and "avi" in plan.reason
    mkv = make_clip(tmp_path / "in.mkv", frames=60, options={"g": "6"})
    plan = plan_split(mkv, 0.5, tmp_path / "out.avi")
    assert len(plan.segments) == 1 and ".avi outputs cannot be joined" in plan.reason


def test_short_video_stays_whole_without_a_note(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "in.mkv", frames=24, options={"g": "6"})
    plan = plan_split(source, 5.0, tmp_path / "out.mkv")
    assert [s.count for s in plan.segments] == [24] and plan.reason is None


def test_safe_cuts_respect_presentation_order() -> None:
    # decode order stamps of a closed GOP (I P B B | I P B B) and of an open one (the second
    # I-frame's leading B-frames, shown before it, come after it in decode order)
    closed = [0, 3, 1, 2, 4, 7, 5, 6]
    assert safe_cuts(closed, [True, False, False, False, True, False, False, False]) == [4]
    opened = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8]
    assert safe_cuts(opened, [True, False, False, False, True, False, False, False, False, False]) == []


def test_cluster_options_are_checked_before_any_work(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    from mprnet_vs.cli import main

    source = make_clip(tmp_path / "in.mkv", frames=2)
    base = ["restore", str(source), "-o", str(tmp_path / "out.mkv"), "--weights", str(tiny_weights)]
    assert main(base + ["--segment-seconds", "10"]) == 2
    assert "--segment-seconds needs --ray" in capsys.readouterr().err
    for bad in (["--ray", "auto", "--ray-gpus", "0"], ["--ray", "auto", "--segment-seconds", "-1"],
                ["--ray", "auto", "--ray-transfer", "ftp"], ["--ray", "auto", "--ray-workers", "0"]):
        assert main(base + bad) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "out.mkv").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]
