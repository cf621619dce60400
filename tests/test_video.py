"""The PyAV video processor on real files made by PyAV: frames equal the engine's output,
audio and subtitles are copied packet for packet, timestamps, bit depth, colour tags and
rotation survive, and bad or truncated input fails (or warns) without leaving files behind."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

from mprnet_vs.cli import main
from mprnet_vs.video.colour import ColourTags, interpret, layout
from mprnet_vs.video.conversion import ColourMatrix
from mprnet_vs.video.frames import FrameReader, FrameWriter
from mprnet_vs.video.palette import adaptive_palette
from mprnet_vs.engine import Restorer
from mprnet_vs.errors import InputError
from mprnet_vs.video import VideoOptions, estimate_frames, restore_video


# --- clips ------------------------------------------------------------------------------------


def pictures(count: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """Gradients with noise: smooth enough for chroma subsampling, busy enough to restore."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    out = []
    for i in range(count):
        base = np.stack([(xx * 4 + i * 9) % 256, (yy * 5 + i * 3) % 256, ((xx + yy) * 3 + 40) % 256], -1)
        noisy = base + rng.integers(-20, 21, base.shape)
        out.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return out


def make_clip(
    path: Path,
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    size: tuple[int, int] = (64, 48),
    frames: int = 4,
    rate: int = 25,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    tags: ColourTags | None = None,
    audio: tuple[str, ...] = (),
    rotation: int | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """A real video file written with PyAV (optionally with audio streams of given codecs and
    encoder options)."""
    width, height = size
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        if options:
            video.codec_context.options = dict(options)
        if time_base is not None:
            video.codec_context.time_base = time_base
        if tags is not None:
            tags.apply(video.codec_context)
        if rotation is not None:
            video.set_display_rotation(rotation)
        audio_streams = [out.add_stream(name, rate=48000) for name in audio]
        for stream in audio_streams:
            stream.layout = "mono"
        for index, picture in enumerate(pictures(frames, width, height)):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            if tags is not None:
                matrix = {1: Colorspace.ITU709, 9: Colorspace.BT2020}.get(tags.matrix, Colorspace.ITU601)
                frame = frame.reformat(format=pix_fmt, dst_colorspace=matrix, dst_color_range=ColorRange(tags.range))
                tags.apply(frame)
            frame.pts = pts[index] if pts else index
            if time_base is not None:
                frame.time_base = time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for stream in audio_streams:
            _write_tone(out, stream, seconds=frames / rate)
    return path


def _write_tone(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float) -> None:
    samples = int(48000 * seconds)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
    fmt = stream.codec_context.format.name
    step = stream.codec_context.frame_size or 1024
    for start in range(0, samples, step):
        chunk = tone[start : start + step][None]
        if fmt.startswith("s16"):
            chunk = (chunk * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(chunk, format=fmt, layout="mono")
        frame.sample_rate, frame.pts = 48000, start
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def decoded(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.pts * f.time_base) for f in container.decode(video=0)]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def restorer(tiny_weights: Path) -> Restorer:
    return Restorer(weights=tiny_weights, device="cpu", tile=0)


# --- the frames -------------------------------------------------------------------------------


def test_lossless_round_trip_equals_engine_output(tmp_path: Path, tiny_weights: Path, restorer: Restorer) -> None:
    source = make_clip(tmp_path / "in.mkv", codec="ffv1", pix_fmt="bgr0", frames=4)
    target = tmp_path / "out.mkv"
    code = main(["restore", str(source), "-o", str(target), "--weights", str(tiny_weights), "--device", "cpu",
                 "--tile", "0", "--codec", "ffv1", "--pix-fmt", "bgr0", "--quiet"])
    assert code == 0
    inputs, outputs = decoded(source), decoded(target)
    assert len(outputs) == len(inputs) == 4
    assert outputs[0].format.name == "bgr0"
    for before, after in zip(inputs, outputs):
        expected = restorer.restore(before.to_ndarray(format="rgb24"))
        got = after.to_ndarray(format="rgb24")
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
        assert not np.array_equal(got, before.to_ndarray(format="rgb24"))  # the model really ran
        assert after.pts * after.time_base == before.pts * before.time_base


def test_batches_give_the_same_frames(tmp_path: Path, tiny_weights: Path) -> None:
    source = make_clip(tmp_path / "in.mkv", codec="ffv1", pix_fmt="bgr0", frames=5)
    one = restore_video(source, tmp_path / "b1.mkv", Restorer(weights=tiny_weights, device="cpu", batch=1),
                        VideoOptions(codec="ffv1", pix_fmt="bgr0"))
    three = restore_video(source, tmp_path / "b3.mkv", Restorer(weights=tiny_weights, device="cpu", batch=3),
                          VideoOptions(codec="ffv1", pix_fmt="bgr0"))
    assert one.frames == three.frames == 5
    for a, b in zip(decoded(tmp_path / "b1.mkv"), decoded(tmp_path / "b3.mkv")):
        assert np.abs(a.to_ndarray(format="rgb24").astype(int) - b.to_ndarray(format="rgb24").astype(int)).max() <= 1


# --- streams and timing -----------------------------------------------------------------------


def _audio_packets(path: Path) -> list[tuple[str, list[bytes], int]]:
    """(codec, packet payloads, decoded sample count) per audio stream."""
    with av.open(str(path)) as container:
        streams = list(container.streams.audio)
        position = {s.index: i for i, s in enumerate(streams)}
        payloads: list[list[bytes]] = [[] for _ in streams]
        samples = [0] * len(streams)
        for packet in container.demux(streams):
            where = position[packet.stream.index]
            if packet.size:
                payloads[where].append(bytes(packet))
            samples[where] += sum(frame.samples for frame in packet.decode())
        return [(s.codec_context.name, payloads[i], samples[i]) for i, s in enumerate(streams)]


@pytest.mark.parametrize("extension", [".mkv", ".mp4"])
def test_flac_and_aac_audio_copied_unchanged(tmp_path: Path, restorer: Restorer, extension: str) -> None:
    source = make_clip(tmp_path / f"in{extension}", audio=("flac", "aac"), frames=6)
    report = restore_video(source, tmp_path / f"out{extension}", restorer)
    assert [c.split(" ")[0] for c in report.copied] == ["audio", "audio"]
    before, after = _audio_packets(source), _audio_packets(tmp_path / f"out{extension}")
    assert [a[0] for a in after] == ["flac", "aac"]
    for (codec, packets_in, samples_in), (_, packets_out, samples_out) in zip(before, after):
        assert samples_out == samples_in > 0, codec
        assert packets_out == packets_in, f"{codec} was re-encoded"
    assert report.frames == 6


def test_audio_from_matroska_keeps_its_length_in_mp4(tmp_path: Path, restorer: Restorer) -> None:
    """Matroska rounds stamps to 1 ms; copied into MP4 they are snapped back to whole samples,
    so the AAC track plays exactly as long as the tone that was encoded (no 1008-sample packets)."""
    source = make_clip(tmp_path / "in.mkv", audio=("aac",), frames=6)
    restore_video(source, tmp_path / "out.mp4", restorer)
    with av.open(str(tmp_path / "out.mp4")) as out:
        stream = out.streams.audio[0]
        durations = [p.duration for p in out.demux(stream) if p.size]
    assert set(durations[:-1]) == {1024}  # the last packet is the short tail
    assert abs(_audio_packets(tmp_path / "out.mp4")[0][2] - 6 / 25 * 48000) <= 48  # within Matroska's 1 ms


@pytest.mark.parametrize("extension", [".mp4", ".mkv"])
def test_variable_frame_rate_keeps_timestamps(tmp_path: Path, restorer: Restorer, extension: str) -> None:
    stamps = [0, 40, 50, 120, 130, 200, 330]
    source = make_clip(tmp_path / "vfr.mp4", frames=len(stamps), pts=stamps, time_base=Fraction(1, 1000))
    target = tmp_path / f"out{extension}"
    report = restore_video(source, target, restorer)
    assert report.frames == len(stamps)
    assert frame_times(target) == pytest.approx(frame_times(source), abs=1e-6)
    assert frame_times(source) == pytest.approx([s / 1000 for s in stamps])


@pytest.mark.parametrize("extension,codec", [(".avi", "mpeg4"), (".y4m", "rawvideo")])
def test_constant_rate_containers_get_the_frame_rate(tmp_path: Path, restorer: Restorer, extension: str, codec: str) -> None:
    """AVI and Y4M take the frame rate from the stream's time base: an MP4 source's 1/30000
    made a 30000 fps file (AVI padding the gaps with empty frames); the rate must be 29.97."""
    ntsc = Fraction(30000, 1001)
    source = make_clip(tmp_path / "in.mp4", frames=5, rate=ntsc)
    target = tmp_path / f"out{extension}"
    report = restore_video(source, target, restorer, VideoOptions(codec=codec))
    assert report.frames == 5 and not any("evenly" in n for n in report.notes)
    with av.open(str(target)) as out:
        stream = out.streams.video[0]
        assert stream.average_rate == ntsc and stream.time_base == 1 / ntsc
        assert out.duration == pytest.approx(5 / ntsc * 1_000_000, abs=1000)
        packets = [p for p in out.demux(stream) if p.size is not None]
    assert len([p for p in packets if p.size]) == 5 and len(packets) <= 6  # no empty "dropped" frames (one flush)
    assert frame_times(target) == pytest.approx([i / ntsc for i in range(5)], abs=1e-6)
    if extension == ".y4m":
        assert target.read_bytes().startswith(b"YUV4MPEG2 W64 H48 F30000:1001 ")


@pytest.mark.parametrize("extension,codec", [(".avi", "mpeg4"), (".y4m", "rawvideo")])
def test_variable_rate_into_a_constant_rate_container(tmp_path: Path, restorer: Restorer, extension: str, codec: str) -> None:
    """Uneven frames go onto the source's average-rate grid (AVI keeps the gap as a dropped
    frame), every frame is written, and the report says the timing changed."""
    source = make_clip(tmp_path / "vfr.mkv", frames=5, pts=[0, 40, 50, 120, 200], time_base=Fraction(1, 1000))
    target = tmp_path / f"out{extension}"
    report = restore_video(source, target, restorer, VideoOptions(codec=codec))
    assert report.frames == 5 == len(decoded(target))
    assert any("not evenly spaced" in n and "25 fps" in n for n in report.notes), report.notes
    with av.open(str(target)) as out:
        assert out.streams.video[0].average_rate == 25
    expected = [0, 0.04, 0.08, 0.12, 0.2] if extension == ".avi" else [0, 0.04, 0.08, 0.12, 0.16]
    assert frame_times(target) == pytest.approx(expected, abs=1e-6)


def test_avi_with_b_frames_keeps_the_display_times(tmp_path: Path, restorer: Restorer) -> None:
    """AVI stores no presentation times: a B-frame stream's frames come out of the decoder
    with decode-order stamps (1, 3, 2, 5, 4, ...). Taken as they come, every frame from the
    third on was a frame late and the clip a frame longer; put in order they are the source's."""
    source = make_clip(tmp_path / "xvid.avi", frames=10)  # libx264 with B-frames, as in Xvid/DivX files
    raw = frame_times(source)
    assert raw != sorted(raw)
    report = restore_video(source, tmp_path / "out.mkv", restorer)
    assert report.frames == 10 and not any("repaired" in n for n in report.notes), report.notes
    times = frame_times(tmp_path / "out.mkv")
    assert times == pytest.approx(sorted(raw), abs=1e-6)
    assert np.diff(times) == pytest.approx([0.04] * 9, abs=1e-6)


def test_subtitles_copied_where_the_container_can_hold_them(tmp_path: Path, restorer: Restorer) -> None:
    srt = tmp_path / "subs.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,080\nHello\n\n2\n00:00:00,100 --> 00:00:00,150\nWorld\n", encoding="utf-8")
    video = make_clip(tmp_path / "v.mkv", codec="ffv1", frames=5)
    source = tmp_path / "with_subs.mkv"
    with av.open(str(video)) as vin, av.open(str(srt)) as sin, av.open(str(source), "w") as out:
        streams = {vin.streams.video[0]: out.add_stream_from_template(vin.streams.video[0]),
                   sin.streams.subtitles[0]: out.add_stream_from_template(sin.streams.subtitles[0])}
        for container in (vin, sin):
            for packet in container.demux():
                if packet.size:
                    packet.stream = streams[packet.stream]
                    out.mux(packet)

    kept = restore_video(source, tmp_path / "out.mkv", restorer)
    assert kept.copied == ["subtitle #1 (srt)"] and not kept.not_copied
    with av.open(str(tmp_path / "out.mkv")) as out:
        texts = [bytes(p) for p in out.demux(out.streams.subtitles[0]) if p.size]
    assert texts == [b"Hello", b"World"]

    dropped = restore_video(source, tmp_path / "out.mp4", restorer)
    assert not dropped.copied
    assert len(dropped.not_copied) == 1 and "subtitle #1 (srt)" in dropped.not_copied[0] and "mp4" in dropped.not_copied[0]


def test_rotation_is_kept(tmp_path: Path, restorer: Restorer) -> None:
    source = make_clip(tmp_path / "phone.mp4", rotation=90)
    restore_video(source, tmp_path / "out.mp4", restorer)
    assert decoded(source)[0].rotation == decoded(tmp_path / "out.mp4")[0].rotation == 90


def test_vp9_alpha_is_reported_and_its_tag_not_copied(tmp_path: Path, restorer: Restorer) -> None:
    """FFmpeg's vp9 decoder skips WebM's alpha layer, so the first frame says yuv420p; the
    source's ALPHA_MODE tag, copied, made the alpha-less output claim alpha."""
    source = make_clip(tmp_path / "logo.webm", codec="libvpx-vp9", pix_fmt="yuva420p", frames=2)
    with av.open(str(source)) as before:
        assert before.streams.video[0].metadata.get("alpha_mode") == "1"
    target = tmp_path / "out.webm"
    report = restore_video(source, target, restorer)
    assert report.frames == 2 and any("alpha channel" in n and "not kept" in n for n in report.notes), report.notes
    with av.open(str(target)) as after:
        assert not [k for k in after.streams.video[0].metadata if k.lower() == "alpha_mode"]


def test_interlaced_source_gets_a_note(tmp_path: Path, restorer: Restorer) -> None:
    source = make_clip(tmp_path / "tff.mkv", frames=2, options={"x264-params": "tff=1"})
    with av.open(str(source)) as before:
        assert before.streams.video[0].codec_context.field_order == 2  # top coded and shown first
    report = restore_video(source, tmp_path / "out.mkv", restorer)
    assert any("interlaced source (top field first)" in n and "progressive" in n for n in report.notes), report.notes
    progressive = restore_video(make_clip(tmp_path / "p.mkv", frames=2), tmp_path / "p_out.mkv", restorer)
    assert not any("interlaced" in n for n in progressive.notes)


# --- colour and depth -------------------------------------------------------------------------


def test_ten_bit_stays_ten_bit_with_colour_tags(tmp_path: Path, restorer: Restorer) -> None:
    tags = ColourTags(matrix=9, range=1, primaries=9, transfer=16)  # BT.2020, limited, PQ
    source = make_clip(tmp_path / "hdr.mp4", pix_fmt="yuv420p10le", tags=tags)
    target = tmp_path / "out.mp4"
    report = restore_video(source, target, restorer)
    assert report.pix_fmt == "yuv420p10le" and not report.notes
    with av.open(str(target)) as out:
        assert ColourTags.of(out.streams.video[0].codec_context) == tags
        frames = list(out.decode(video=0))
    assert frames[0].format.name == "yuv420p10le"
    assert all(ColourTags.of(f) == tags for f in frames)
    luma = np.frombuffer(frames[0].planes[0], dtype=np.uint16)
    assert np.any(luma % 4 != 0)  # real 10-bit samples, not 8-bit ones shifted


@pytest.mark.parametrize("matrix,sws", [(1, Colorspace.ITU709), (6, Colorspace.ITU601), (9, Colorspace.BT2020)])
@pytest.mark.parametrize("full", [False, True])
def test_yuv_to_rgb_uses_the_tagged_matrix(matrix: int, sws: Colorspace, full: bool) -> None:
    """8-bit 4:4:4 -> RGB agrees with swscale told the same matrix and range explicitly."""
    frame = av.VideoFrame.from_ndarray(pictures(1, 32, 16)[0], format="rgb24").reformat(
        format="yuv444p", dst_colorspace=sws, dst_color_range=ColorRange.JPEG if full else ColorRange.MPEG
    )
    tags = ColourTags(matrix=matrix, range=2 if full else 1)
    tags.apply(frame)
    pixels = layout("yuv444p")
    used = interpret(tags, pixels, 32, 16)
    assert used.matrix == matrix and not used.note
    planes = FrameReader(pixels, used).planes(frame)
    ours = ColourMatrix(pixels, used).to_rgb(torch.from_numpy(planes[None]))[0].permute(1, 2, 0).numpy() * 255
    reference = VideoReformatter().reformat(
        frame, format="rgb24", src_colorspace=sws, dst_colorspace=sws,
        src_color_range=ColorRange.JPEG if full else ColorRange.MPEG, dst_color_range=ColorRange.JPEG,
    ).to_ndarray()
    assert np.abs(ours - reference).max() <= 1.0


def test_untagged_video_says_which_matrix_it_assumed() -> None:
    sd = interpret(ColourTags(), layout("yuv420p"), 720, 480)
    hd = interpret(ColourTags(), layout("yuv420p"), 1920, 1080)
    assert sd.matrix == 6 and "BT.601" in sd.note and "720x480" in sd.note
    assert hd.matrix == 1 and "BT.709" in hd.note


@pytest.mark.parametrize("pix_fmt", ["yuv420p10le", "yuv420p", "nv12", "yuv422p10le"])
def test_decode_to_rgb_and_back_keeps_the_samples(pix_fmt: str) -> None:
    """Reader -> RGB -> writer (what an identity model would see) returns the same picture:
    the matrix round trip is exact for in-gamut colours and luma survives bit for bit; chroma
    only passes through swscale's resampling (up to 4:4:4 and back)."""
    gentle = (48 + pictures(1, 64, 48)[0] // 2).astype(np.uint8)  # in gamut after subsampling
    source = av.VideoFrame.from_ndarray(gentle, format="rgb24").reformat(format=pix_fmt, dst_colorspace=Colorspace.ITU709)
    tags = ColourTags(matrix=1, range=1)
    tags.apply(source)
    pixels = layout(pix_fmt)
    used = interpret(tags, pixels, 64, 48)
    planar = layout(pixels.planar)
    matrix = ColourMatrix(planar, used)
    planes = FrameReader(planar, used).planes(source)
    back = matrix.from_rgb(matrix.to_rgb(torch.from_numpy(planes[None])))[0].numpy()
    assert np.array_equal(back, planes)
    frame = FrameWriter(planar, pix_fmt, used, tags).frame(back)
    assert frame.format.name == pix_fmt and ColourTags.of(frame) == tags
    unit = 1 << (pixels.depth - 8)
    for before, after in zip(source.reformat(format=pixels.planar).planes, frame.reformat(format=pixels.planar).planes):
        a = np.frombuffer(before, dtype=pixels.dtype).reshape(48, -1)[:, :64].astype(int)
        b = np.frombuffer(after, dtype=pixels.dtype).reshape(48, -1)[:, :64].astype(int)
        assert np.abs(a - b).max() <= 4 * unit
    y_before = np.frombuffer(source.planes[0], dtype=pixels.dtype).reshape(48, -1)[:, :64]
    y_after = np.frombuffer(frame.planes[0], dtype=pixels.dtype).reshape(48, -1)[:, :64]
    assert np.array_equal(y_before, y_after)


@pytest.mark.parametrize("pix_fmt", [None, "yuv422p", "yuvj444p"])
def test_mjpeg_writes_full_range_and_says_so(tmp_path: Path, restorer: Restorer, pix_fmt: str | None) -> None:
    """MJPEG takes YUV only as full range: the default format must open (it failed on every
    file), and a limited-range source must be converted, not just relabelled."""
    source = make_clip(tmp_path / "tv.mkv", codec="ffv1", tags=ColourTags(matrix=6, range=1, primaries=6, transfer=6))
    target = tmp_path / "out.avi"
    report = restore_video(source, target, restorer, VideoOptions(codec="mjpeg", pix_fmt=pix_fmt))
    assert report.frames == 4 and report.pix_fmt == (pix_fmt or "yuv420p")
    assert any("full range (pc): converted from limited" in n for n in report.notes), report.notes
    outputs = decoded(target)
    assert len(outputs) == 4 and outputs[0].color_range == 2
    for before, after in zip(decoded(source), outputs):
        expected = restorer.restore(before.to_ndarray(format="rgb24")).astype(float)
        got = after.to_ndarray(format="rgb24").astype(float)
        assert np.abs(got.mean(axis=(0, 1)) - expected.mean(axis=(0, 1))).max() < 2  # range mix-ups move means by ~10


@pytest.mark.parametrize("option,mode", [({"qp": "0"}, b"rc=cqp"), ({"b": "20k"}, b"rc=abr"),
                                         ({"x264-params": "qp=0:keyint=10"}, b"rc=cqp")])
def test_rate_control_option_replaces_the_default_crf(tmp_path: Path, restorer: Restorer, option: dict[str, str], mode: bytes) -> None:
    """x264 lets crf win over qp and b: the default crf 16 silently overrode the user's
    lossless or bitrate request. x264 writes the rate control it used into the stream."""
    source = make_clip(tmp_path / "in.mkv", codec="ffv1", frames=3)
    target = tmp_path / "out.mkv"
    assert restore_video(source, target, restorer, VideoOptions(encoder_options=option)).frames == 3
    written = target.read_bytes()
    assert mode in written and b"crf=16" not in written
    restore_video(source, tmp_path / "default.mkv", restorer)
    assert b"rc=crf" in (tmp_path / "default.mkv").read_bytes() and b"crf=16.0" in (tmp_path / "default.mkv").read_bytes()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


@pytest.mark.parametrize("pix_fmt", [None, "pal8"])
def test_gif_gets_an_adaptive_palette(tmp_path: Path, restorer: Restorer, pix_fmt: str | None) -> None:
    """GIF's formats all rank as '8 bit': the alphabetical tie-break chose bgr4_byte (16
    colours, under 10 dB) and pal8 passed the settings check but failed mid-run. Restored
    frames now get a palette of their own."""
    source = make_clip(tmp_path / "in.mkv", codec="ffv1", pix_fmt="bgr0", frames=3)
    target = tmp_path / "out.gif"
    report = restore_video(source, target, restorer, VideoOptions(codec="gif", pix_fmt=pix_fmt))
    assert report.frames == 3 and report.pix_fmt == "pal8"
    outputs = decoded(target)
    assert len(outputs) == 3
    for before, after in zip(decoded(source), outputs):
        expected = restorer.restore(before.to_ndarray(format="rgb24"))
        got = after.to_ndarray(format="rgb24")
        assert len(np.unique(got.reshape(-1, 3), axis=0)) > 200
        assert _psnr(got, expected) > 28  # bgr8 (3-3-2 bits) gives 22 dB here, 3000 distinct colours in 3072 pixels


def test_adaptive_palette_is_exact_for_few_colours() -> None:
    picture = (pictures(1, 32, 16)[0] // 64) * 64 + 10
    indices, palette = adaptive_palette(picture)
    assert len(palette) == len(np.unique(picture.reshape(-1, 3), axis=0)) and np.array_equal(palette[indices], picture)
    noisy = pictures(1, 64, 48)[0]
    indices, palette = adaptive_palette(noisy)
    assert len(palette) == 256 and _psnr(palette[indices], noisy) > 30


# --- sizes ------------------------------------------------------------------------------------


def test_odd_size_420_falls_back_to_444_or_fails_clearly(tmp_path: Path, restorer: Restorer) -> None:
    source = make_clip(tmp_path / "odd.mkv", codec="ffv1", pix_fmt="yuv420p", size=(7, 5))
    report = restore_video(source, tmp_path / "out.mp4", restorer)
    assert report.pix_fmt == "yuv444p" and any("yuv444p" in n for n in report.notes)
    assert (decoded(tmp_path / "out.mp4")[0].width, decoded(tmp_path / "out.mp4")[0].height) == (7, 5)
    with pytest.raises(InputError, match="needs even width/height.*--pix-fmt yuv444p"):
        restore_video(source, tmp_path / "forced.mp4", restorer, VideoOptions(pix_fmt="yuv420p"))
    assert not (tmp_path / "forced.mp4").exists() and not leftovers(tmp_path)


@pytest.mark.parametrize("size,pix_fmt", [((1, 1), "yuv444p"), ((2, 2), "bgr0")])
def test_tiny_frames(tmp_path: Path, restorer: Restorer, size: tuple[int, int], pix_fmt: str) -> None:
    source = make_clip(tmp_path / "tiny.mkv", codec="ffv1", pix_fmt=pix_fmt, size=size, frames=2)
    report = restore_video(source, tmp_path / "out.mkv", restorer)
    assert report.frames == 2
    assert (decoded(tmp_path / "out.mkv")[0].width, decoded(tmp_path / "out.mkv")[0].height) == size


# --- bad input --------------------------------------------------------------------------------


def test_garbage_input_fails_cleanly(tmp_path: Path, restorer: Restorer) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match=r"bad\.mp4: not a readable video"):
        restore_video(bad, tmp_path / "out.mp4", restorer)
    assert not (tmp_path / "out.mp4").exists() and not leftovers(tmp_path)


def test_audio_only_and_frameless_files_fail_cleanly(tmp_path: Path, restorer: Restorer) -> None:
    audio_only = tmp_path / "song.m4a"
    with av.open(str(audio_only), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        stream.layout = "mono"
        _write_tone(out, stream, seconds=0.2)
    with pytest.raises(InputError, match=r"song\.m4a: no video stream \(found audio\)"):
        restore_video(audio_only, tmp_path / "out.mp4", restorer)

    frameless = tmp_path / "empty.mkv"
    with av.open(str(frameless), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height = 64, 48
        out.start_encoding()
    with pytest.raises(InputError, match=r"empty\.mkv: "):
        restore_video(frameless, tmp_path / "out.mkv", restorer)
    assert not list(tmp_path.glob("out*")) and not leftovers(tmp_path)


def test_truncated_file_restores_what_decodes_and_says_where_it_stopped(tmp_path: Path, restorer: Restorer) -> None:
    whole = make_clip(tmp_path / "whole.mkv", codec="ffv1", frames=20)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    report = restore_video(cut, tmp_path / "out.mkv", restorer)
    assert 0 < report.frames < 20
    assert report.incomplete and f"after {report.frames} frames" in report.incomplete
    assert len(decoded(tmp_path / "out.mkv")) == report.frames
    assert restore_video(whole, tmp_path / "whole_out.mkv", restorer).incomplete is None


@pytest.mark.parametrize("extension", [".mkv", ".webm", ".mp4", ".mov", ".ts", ".flv"])
def test_late_start_is_not_taken_for_truncation(tmp_path: Path, restorer: Restorer, extension: str) -> None:
    """Timestamps starting at 10 s (a -copyts cut, a broadcast capture): Matroska announces its
    end time where MP4 and TS announce a length (FLV: a length after its B-frame delay);
    none is a truncated file, nor is the
    restored .mkv (which starts at 10 s too) when it is restored again."""
    stamps = [10_000 + 40 * i for i in range(4)]
    codec = "libvpx-vp9" if extension == ".webm" else "libx264"
    source = make_clip(tmp_path / f"late{extension}", codec=codec, frames=4, pts=stamps, time_base=Fraction(1, 1000))
    if extension != ".flv":  # FLV's duration counts its B-frame delay: a guess, for progress only
        assert estimate_frames(source) == 4
    once = restore_video(source, tmp_path / "once.mkv", restorer)
    twice = restore_video(tmp_path / "once.mkv", tmp_path / "twice.mkv", restorer)
    assert once.incomplete is None and twice.incomplete is None
    assert once.frames == twice.frames == 4
    assert frame_times(tmp_path / "twice.mkv") == pytest.approx(frame_times(source), abs=1e-3)
    assert frame_times(source)[0] == pytest.approx(10.0, abs=0.1)


def test_truncated_file_with_a_late_start_is_still_found(tmp_path: Path, restorer: Restorer) -> None:
    whole = make_clip(tmp_path / "whole.mkv", codec="ffv1", frames=20, pts=[10_000 + 40 * i for i in range(20)],
                      time_base=Fraction(1, 1000))
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    report = restore_video(cut, tmp_path / "out.mkv", restorer)
    assert 0 < report.frames < 20
    assert report.incomplete and "it says it lasts 0.80 s" in report.incomplete
