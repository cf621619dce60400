"""What the written file kept of the source's picture and track metadata, read back from it.

FFmpeg's muxers drop without a word what their container (or the chosen encoder) cannot
store: a WebM track's sample aspect ratio (Matroska takes it from a stream field PyAV cannot
set; only codecs that code it keep it: H.264/HEVC/MPEG-4 in their headers, FFV1 from level 3 in
every frame), an AVI's rotation, an MP4's track without packets, a MOV's language code outside
QuickTime's table. Rather than claim they were carried, the report says each loss, found by
reading the written file back.
"""

from __future__ import annotations

import math
import re
import struct
from collections import Counter
from fractions import Fraction
from pathlib import Path

import av
import av.filter
import av.logging

from .frame_times import DECODE_ORDER_FORMATS
from .streams import MOV_LANGUAGES, stream_label
from .timing import stream_start

TITLE_KEYS = ("title", "name")  # Matroska and most containers say title; MP4/MOV read back "name"


def track_title(metadata: dict[str, str]) -> str | None:
    return next((metadata[k] for k in TITLE_KEYS if metadata.get(k)), None)


def track_language(metadata: dict[str, str]) -> str | None:
    """The language, under the code MOV stores for it (so "deu" written as "ger" counts as kept)."""
    language = metadata.get("language")
    return MOV_LANGUAGES.get(language, language) if language and language != "und" else None


def sample_aspect(stream: av.video.stream.VideoStream) -> Fraction | None:
    """The stream's non-square sample aspect ratio, or None for square (or unknown) pixels."""
    for sar in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        if sar and sar.numerator and Fraction(sar) != 1:
            return Fraction(sar)
    return None


SHOWN_SAR = re.compile(r"\bsar:(\d+)/(\d+)")


def decoded_sample_aspect(path: Path) -> Fraction | None:
    """The first decoded frame's non-square sample aspect ratio, or None. A codec that codes it
    in every frame (FFV1 version 3 slice headers) puts it only on the decoded frames, and PyAV
    19 does not expose a frame's aspect ratio: FFmpeg's showinfo filter, which logs it, is asked."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frame = next(iter(container.decode(stream)), None)
        if frame is None:
            return None
        graph = av.filter.Graph()
        source, show, sink = graph.add_buffer(template=stream), graph.add("showinfo"), graph.add("buffersink")
        source.link_to(show)
        show.link_to(sink)
        graph.configure()
        previous = av.logging.get_level()
        av.logging.set_level(av.logging.INFO)
        try:
            with av.logging.Capture() as logs:
                graph.push(frame)
                graph.pull()
        finally:
            av.logging.set_level(previous)
    found = next((m for m in (SHOWN_SAR.search(str(line[2])) for line in logs) if m), None)
    if found is None or not int(found[1]) or not int(found[2]):
        return None
    sar = Fraction(int(found[1]), int(found[2]))
    return sar if sar != 1 else None


def rotation(stream: av.video.stream.VideoStream) -> int:
    """The display matrix's rotation in whole degrees (0 without one)."""
    side = getattr(stream.codec_context, "coded_side_data", None)
    matrix = side.get("display_matrix") if side else None
    if not matrix or len(matrix) < 36:
        return 0
    m = struct.unpack("<9i", matrix[:36])
    return round(-math.degrees(math.atan2(m[1], m[0]))) % 360  # FFmpeg's sign: set_display_rotation(90) reads 90


def audio_start_changes(kind: str, video: av.video.stream.VideoStream, out_video: av.stream.Stream,
                        pairs: list[tuple[av.stream.Stream, av.stream.Stream]]) -> list[str]:
    """Notes for copied audio tracks (source, written) whose start against the video's start
    moved by more than half a frame. MP4/MOV and MPEG-TS mark an encoder's priming (AAC's
    1024 samples) as not to be played only before 0: from a later start it is played, as
    silence before the sound, which then says so (the sound itself keeps its place)."""
    rate = video.average_rate or video.guessed_rate
    starts = stream_start(video), stream_start(out_video)
    if not rate or None in starts:
        return []
    notes = []
    for source, out in pairs:
        before, after = stream_start(source), stream_start(out)
        if source.type != "audio" or before is None or after is None:
            continue
        change = (after - starts[1]) - (before - starts[0])
        if abs(change) <= 1 / (2 * Fraction(rate)):
            continue
        note = f"{stream_label(source)}: starts {float(abs(change)):.3f} s {'later' if change > 0 else 'earlier'} against the video than in the source"
        padding = int(getattr(source.codec_context, "initial_padding", 0) or 0)
        sample_rate = int(getattr(source.codec_context, "sample_rate", 0) or 0)
        if padding and sample_rate and abs(change + Fraction(padding, sample_rate)) < Fraction(1, 1000):
            note += (f": the encoder's priming ({padding} samples), which {kind} files can mark as not to be played only "
                     f"before 0, plays as silence first; the sound itself stays in sync")
        notes.append(note)
    return notes


def check_kept(path: Path, kind: str, video: av.video.stream.VideoStream, copied: dict[int, av.stream.Stream],
               packets: Counter[int], copied_labels: list[str], not_copied: list[str], notes: list[str]) -> None:
    """Compare the written ``path`` (a ``kind`` file: the muxer's name) with the source's ``video`` and ``copied`` streams (input
    index to input stream, in output order): a copied track the file does not hold moves from
    ``copied_labels`` to ``not_copied`` with the reason, and every sample aspect ratio,
    rotation, title or language the file lost becomes a note."""
    with av.open(str(path)) as check:
        written = [s for s in check.streams if s.type != "attachment"]
        expected = [video, *copied.values()]
        if len(written) < len(expected):
            empty = [s for i, s in copied.items() if packets[i] == 0]
            if len(written) == len(expected) - len(empty):
                for stream in empty:
                    label = stream_label(stream)
                    if label in copied_labels:
                        copied_labels.remove(label)
                    not_copied.append(f"{label}: it has no packets and {kind} files drop empty tracks")
                expected = [s for s in expected if s not in empty]
        if len(written) != len(expected):
            return  # cannot pair the tracks up; the counts above already say what is there
        out_video = written[0]
        sar = sample_aspect(video)
        if sar and sample_aspect(out_video) != sar and out_video.type == "video" and decoded_sample_aspect(path) != sar:
            codec = check.streams.video[0].codec_context.name
            notes.append(f"sample aspect ratio {sar.numerator}:{sar.denominator} not stored ({codec} video in {kind} files cannot carry it"
                         f" here): the output shows square pixels; H.264 or HEVC in .mkv/.mp4, or FFV1 from level 3, keeps it")
        turned = rotation(video)
        if turned and out_video.type == "video" and rotation(out_video) != turned:
            notes.append(f"rotation of {turned} degrees not stored ({kind} files cannot carry it): the output plays unrotated")
        if kind not in DECODE_ORDER_FORMATS:  # AVI: see timing.audio_start_notes
            notes.extend(audio_start_changes(kind, video, out_video, list(zip(expected, written))[1:]))
        for source, out in zip(expected, written):
            for what, read in (("title", track_title), ("language", track_language)):
                value = read(dict(source.metadata))
                if value and read(dict(out.metadata)) != value:
                    shown = dict(source.metadata).get(what) or value
                    notes.append(f"{stream_label(source)}: {what} {shown!r} not stored ({kind} files cannot carry it)")
