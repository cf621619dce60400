"""Reliability, third pass (issue 24, part C): picture and track metadata carried into every
output container we write, or the loss said: sample aspect ratio, rotation, track titles and
languages, empty tracks, cover-art attachments; odd sources (MPEG-PS start offsets, VFR under
vspipe).

Every source is a tiny file made here with PyAV; every check reads the written file back.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from mprnet_vs.engine import Restorer
from mprnet_vs.video import VideoOptions, restore_video
from mprnet_vs.video.carried import decoded_sample_aspect, rotation, sample_aspect, track_title
from test_reliability_vs import needs_vspipe, vspipe

COVER = b"\xff\xd8\xff\xe0" + bytes(range(64)) + b"\xff\xd9"  # the bytes are carried, not decoded


@pytest.fixture(scope="module")
def restorer(tiny_weights: Path) -> Restorer:
    return Restorer(weights=tiny_weights, device="cpu", tile=0)


def source(path: Path, *, sar: Fraction | None = None, turn: int = 0, tags: dict[str, str] | None = None,
           audio_tags: dict[str, str] | None = None, empty_audio: bool = False, cover: bool = False, frames: int = 3) -> Path:
    """A 64x48 H.264 clip at 25 fps, with what is asked: a sample aspect ratio, a rotation,
    tags on the video, an AAC track with tags (and a second one without packets), a cover."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        if sar:
            video.codec_context.sample_aspect_ratio = sar
        if turn:
            video.set_display_rotation(turn)
        video.metadata.update(tags or {})
        sound = None
        if audio_tags is not None:
            sound = out.add_stream("aac", rate=48000)
            sound.layout = "mono"
            sound.metadata.update(audio_tags)
        if empty_audio:
            silent = out.add_stream("aac", rate=48000)
            silent.layout = "mono"
            silent.metadata["title"] = "Nothing"
        if cover:
            out.add_attachment("cover.jpg", "image/jpeg", COVER)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 25 * index, np.uint8), format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            for first in range(0, frames * 1920, 1024):
                chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 48000, first
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
    return path


OUTPUTS = [("out.mkv", None), ("ffv1.mkv", "ffv1"), ("ffv1.avi", "ffv1"), ("out.webm", None), ("out.mp4", None), ("out.mov", None),
           ("out.avi", None)]


@pytest.mark.parametrize("sar", [Fraction(4, 3), Fraction(32, 27), Fraction(8, 9)], ids=["4:3", "32:27", "8:9"])
def test_sample_aspect_ratio_is_kept_or_said_in_every_container(tmp_path: Path, restorer: Restorer, sar: Fraction) -> None:
    clip = source(tmp_path / "anamorphic.mkv", sar=sar)
    for name, codec in OUTPUTS:
        out = tmp_path / name
        report = restore_video(clip, out, restorer, VideoOptions(codec=codec))
        with av.open(str(out)) as written:
            # H.264 codes it in its headers (read into the stream); FFV1 in every frame
            kept = sample_aspect(written.streams.video[0]) or decoded_sample_aspect(out)
        said = [n for n in report.notes if f"sample aspect ratio {sar.numerator}:{sar.denominator} not stored" in n]
        assert kept == sar or said, (name, codec, kept, report.notes)
        assert not (kept == sar and said), (name, report.notes)
        if name != "out.webm":  # H.264 and FFV1 code it: these must keep it; VP9 cannot (said)
            assert kept == sar, (name, kept)


def test_ffv1_below_level_3_cannot_carry_the_aspect_ratio_and_says_so(tmp_path: Path, restorer: Restorer) -> None:
    """FFV1 codes the aspect ratio in its slice headers, which only level 3 and later have."""
    clip = source(tmp_path / "anamorphic.mkv", sar=Fraction(32, 27))
    out = tmp_path / "level1.mkv"
    report = restore_video(clip, out, restorer, VideoOptions(codec="ffv1", encoder_options={"level": "1"}))
    assert decoded_sample_aspect(out) is None
    assert any(n.startswith("sample aspect ratio 32:27 not stored (ffv1 video in matroska files") for n in report.notes), report.notes


def _tracks(path: Path) -> list[tuple[str, str | None, str | None]]:
    with av.open(str(path)) as container:
        return [(s.type, track_title(dict(s.metadata)), s.metadata.get("language"))
                for s in container.streams if s.type in ("video", "audio")]


@pytest.mark.parametrize("first", ["mp4", "mov", "mkv"])
def test_titles_languages_and_rotation_are_kept_or_said(tmp_path: Path, restorer: Restorer, first: str) -> None:
    # The source is first written through the pipeline into ``first`` (an MP4/MOV source reads
    # its titles back as "name"), then restored again into every container.
    made = source(tmp_path / "tagged.mkv", turn=90, tags={"title": "Main picture", "language": "fra"},
                  audio_tags={"title": "Commentary", "language": "deu"})
    clip = tmp_path / f"tagged_first.{first}"
    restore_video(made, clip, restorer)
    in_source = "ger" if first == "mov" else "deu"  # QuickTime's table has German only as "ger"
    assert _tracks(clip) == [("video", "Main picture", "fra"), ("audio", "Commentary", in_source)]
    for name in ("again.mkv", "again.mp4", "again.mov", "again.avi"):
        out = tmp_path / name
        report = restore_video(clip, out, restorer)
        tracks = _tracks(out)
        with av.open(str(out)) as written:
            turned = rotation(written.streams.video[0])
        if name != "again.avi":  # Matroska, MP4 and MOV hold all of it
            german = "ger" if name == "again.mov" or first == "mov" else "deu"
            assert tracks == [("video", "Main picture", "fra"), ("audio", "Commentary", german)], (name, tracks)
            assert turned == 90, name
            assert not [n for n in report.notes if "not stored" in n], report.notes
        else:  # AVI keeps titles but has no languages and no display matrix: said
            assert [t[1] for t in tracks] == ["Main picture", "Commentary"]
            assert any("rotation of 90 degrees not stored" in n for n in report.notes), report.notes
            assert any("language 'fra' not stored" in n for n in report.notes), report.notes
            assert any(f"language '{in_source}' not stored" in n for n in report.notes), report.notes


def test_an_empty_track_is_not_reported_as_copied_where_it_is_dropped(tmp_path: Path, restorer: Restorer) -> None:
    clip = source(tmp_path / "empty_track.mkv", audio_tags={"title": "Sound"}, empty_audio=True)
    for name in ("out.mkv", "out.mp4", "out.mov", "out.avi"):
        out = tmp_path / name
        report = restore_video(clip, out, restorer)
        with av.open(str(out)) as written:
            audio = len(written.streams.audio)
        copied_audio = [c for c in report.copied if c.startswith("audio")]
        assert len(copied_audio) == audio, (name, report.copied, audio)
        if audio == 1:
            assert any(n.startswith("audio #2") and "no packets" in n for n in report.not_copied), report.not_copied


def _attachments(path: Path) -> list[tuple[str | None, bytes]]:
    found = []
    with av.open(str(path)) as container:
        for stream in container.streams:
            if stream.metadata.get("filename"):
                data = stream.data if stream.type == "attachment" else bytes(next(p for p in container.demux(stream) if p.size))
                found.append((stream.metadata.get("filename"), bytes(data)))
    return found


def test_cover_art_attachment_is_carried_into_matroska_and_said_elsewhere(tmp_path: Path, restorer: Restorer) -> None:
    clip = source(tmp_path / "cover.mkv", cover=True)
    assert _attachments(clip) == [("cover.jpg", COVER)]
    report = restore_video(clip, tmp_path / "out.mkv", restorer)
    assert _attachments(tmp_path / "out.mkv") == [("cover.jpg", COVER)]
    assert any("cover.jpg" in c for c in report.copied) and not report.not_copied, (report.copied, report.not_copied)
    for name in ("out.webm", "out.mp4"):
        report = restore_video(clip, tmp_path / name, restorer)
        assert _attachments(tmp_path / name) == []
        assert any("cover art" in n and "cannot hold it" in n for n in report.not_copied), report.not_copied


def variable_rate_mkv(path: Path, frames: int = 12) -> Path:
    """FFV1 in Matroska whose frames alternate 80 ms and 20 ms apart (nominal 25 fps): the
    duration times the rate announces more frames than the file has."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("ffv1", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.time_base = Fraction(1, 1000)
        time = 0
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 * index, np.uint8), format="rgb24")
            frame.pts, frame.time_base = time, Fraction(1, 1000)
            out.mux(video.encode(frame))
            time += 20 if index % 2 else 80
        out.mux(video.encode(None))
    return path


@needs_vspipe
def test_vspipe_plays_a_complete_variable_rate_matroska_and_still_refuses_a_cut_one(tmp_path: Path, tiny_weights: Path) -> None:
    whole = variable_rate_mkv(tmp_path / "vfr.mkv", frames=24)
    result = vspipe(f"src={whole}", f"weights={tiny_weights}", "device=cpu")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout.count(b"FRAME\n") == 24
    assert b"variable frame rate: all 24 frames are delivered" in result.stderr
    data = whole.read_bytes()
    cut = tmp_path / "vfr_cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    result = vspipe(f"src={cut}", f"weights={tiny_weights}", "device=cpu")
    assert result.returncode != 0 and result.stdout == b""
    assert b"vfr_cut.mkv: truncated or damaged" in result.stderr, result.stderr.decode(errors="replace")


def mpeg_clip(path: Path, format_name: str, codec: str, offset: str | None, frames: int = 15) -> Path:
    """A 25 fps constant-rate MPEG file: the PS muxers' own preload puts the first frame at
    0.54 s (13.5 frames); ``offset`` (seconds, FFmpeg's output_ts_offset) moves it further."""
    with av.open(str(path), "w", format=format_name, options={"output_ts_offset": offset} if offset else {}) as out:
        video = out.add_stream(codec, rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 12 * index, np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def _times(path: Path) -> list[Fraction]:
    with av.open(str(path)) as container:
        return sorted(frame.pts * Fraction(frame.time_base) for frame in container.decode(video=0))


@pytest.mark.parametrize(
    ("name", "format_name", "codec", "offset"),
    [("dvd.vob", "vob", "mpeg2video", None), ("old.mpg", "mpeg", "mpeg1video", None), ("shifted.vob", "vob", "mpeg2video", "0.006"),
     ("broadcast.ts", "mpegts", "mpeg2video", "0.535"), ("h264.ts", "mpegts", "libx264", "0.545")],
)
def test_constant_rate_mpeg_off_the_frame_grid_stays_constant_rate(tmp_path: Path, restorer: Restorer, name: str,
                                                                   format_name: str, codec: str, offset: str | None) -> None:
    clip = mpeg_clip(tmp_path / name, format_name, codec, offset)
    before = _times(clip)
    assert len(before) == 15 and all(b - a == Fraction(1, 25) for a, b in zip(before, before[1:]))
    for out_name in ("out.mkv", "out.mp4", "out.avi"):
        out = tmp_path / out_name
        report = restore_video(clip, out, restorer)
        assert not [n for n in report.notes if "not evenly spaced" in n], (out_name, report.notes)
        after = _times(out)
        assert len(after) == 15, out_name
        steps = {round(float(b - a), 3) for a, b in zip(after, after[1:])}
        assert steps == {0.04}, (out_name, steps)
        # AVI stores frames in decode order: read back, a frame of H.264 (with its reorder delay)
        # is stamped up to one frame early; elsewhere within the half frame the grid allows
        allowed = Fraction(3, 50) if out_name == "out.avi" else Fraction(1, 50)
        assert abs(after[0] - before[0]) <= allowed, (out_name, float(after[0]), float(before[0]))
        if out_name != "out.avi":  # containers that keep every timestamp keep them exactly
            assert all(abs(a - b) < Fraction(1, 1000) for a, b in zip(after, before)), (out_name, after[:3], before[:3])


@pytest.mark.parametrize(("name", "codec"), [("out.ts", "libx264"), ("out.ts", None), ("out.mpg", "mpeg2video"), ("out.vob", "mpeg2video")])
def test_mpeg_muxers_that_move_the_whole_file_keep_sync_and_say_so(tmp_path: Path, restorer: Restorer, name: str,
                                                                  codec: str | None) -> None:
    """H.264 with B-frames has negative decode times at the start, which MPEG-TS/PS cannot
    store, and the PS muxers add a preload: FFmpeg moves every stream. That is a start offset
    change in sync, said in a note, not a failed run."""
    clip = source(tmp_path / "plain.mkv", audio_tags={"title": "Sound"}, frames=8)
    out = tmp_path / name
    report = restore_video(clip, out, restorer, VideoOptions(codec=codec))
    assert report.frames == 8
    assert any("the muxer moved every stream by +" in n for n in report.notes), report.notes
    with av.open(str(out)) as written:
        video = written.streams.video[0]
        moved_video = video.start_time * Fraction(video.time_base)
        assert moved_video > 0
        if not written.streams.audio:  # MPEG-PS takes no AAC: said, not copied
            assert any(n.startswith("audio #1") for n in report.not_copied), report.not_copied
            return
        audio = written.streams.audio[0]
        moved_audio = audio.start_time * Fraction(audio.time_base)
    assert abs(moved_video - moved_audio) < Fraction(1, 25), (float(moved_video), float(moved_audio))


def test_subtitle_titles_languages_and_an_empty_subtitle_track(tmp_path: Path, restorer: Restorer) -> None:
    srt = tmp_path / "subs.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,080\nBonjour\n", encoding="utf-8")
    video = source(tmp_path / "v.mkv")
    clip = tmp_path / "with_subs.mkv"
    with av.open(str(video)) as vin, av.open(str(srt)) as sin, av.open(str(clip), "w") as out:
        picture = out.add_stream_from_template(vin.streams.video[0])
        text = out.add_stream_from_template(sin.streams.subtitles[0])
        text.metadata.update({"title": "Sous-titres", "language": "fra"})
        empty = out.add_stream_from_template(sin.streams.subtitles[0])
        empty.metadata.update({"title": "Forced", "language": "eng"})
        for container, target in ((vin, picture), (sin, text)):
            for packet in container.demux():
                if packet.size:
                    packet.stream = target
                    out.mux(packet)
    report = restore_video(clip, tmp_path / "out.mkv", restorer)
    assert report.copied == ["subtitle #1 (srt, fra)", "subtitle #2 (srt, eng)"], report.copied
    assert not [n for n in report.notes if "not stored" in n], report.notes
    with av.open(str(tmp_path / "out.mkv")) as written:
        tags = [(track_title(dict(s.metadata)), s.metadata.get("language")) for s in written.streams.subtitles]
    assert tags == [("Sous-titres", "fra"), ("Forced", "eng")]
    report = restore_video(clip, tmp_path / "out.mp4", restorer)
    assert not report.copied and len(report.not_copied) == 2, report.not_copied
