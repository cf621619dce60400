"""Carrying the other streams over: audio, subtitles and attachments are copied packet for
packet where the output container can hold them (tested by writing a throw-away header in
memory), and the report says what could not be copied and why. Metadata and chapters follow."""

from __future__ import annotations

from fractions import Fraction
from io import BytesIO

import av
import av.error

from .input import describe_error

# Tags that describe the old encode and would be wrong on the new one (alpha_mode: Matroska's
# muxer would flag the restored video, which has no alpha, as carrying VP9 alpha).
STALE_TAGS = {"encoder", "duration", "number_of_frames", "number_of_bytes", "bps", "major_brand", "minor_version", "compatible_brands",
              "alpha_mode"}
COPIED_TYPES = ("audio", "subtitle", "attachment")


def copy_problem(format_name: str, stream: av.stream.Stream) -> str | None:
    """Why ``stream`` cannot be copied into a ``format_name`` file, or None if it can: the
    stream is test-muxed into a throw-away in-memory file of that format."""
    try:
        with av.open(BytesIO(), "w", format=format_name) as probe:
            probe.add_stream_from_template(stream)
            probe.start_encoding()
    except Exception as exc:  # noqa: BLE001 - any refusal means "cannot copy"
        return describe_error(exc)
    return None


def stream_label(stream: av.stream.Stream) -> str:
    codec = stream.codec_context.name if stream.codec_context is not None else (getattr(stream, "name", None) or "?")
    language = stream.metadata.get("language")
    return f"{stream.type} #{stream.index} ({codec}{', ' + language if language else ''})"


def fresh_metadata(metadata: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k.lower() not in STALE_TAGS and not k.upper().startswith("_STATISTICS")}


# ISO 639-2 languages with two codes (terminology, bibliographic) where QuickTime's language
# table holds only one: the MOV muxer silently drops the other, so it gets the one it stores.
MOV_LANGUAGES = {"deu": "ger", "fre": "fra", "nld": "dut", "zho": "chi", "cze": "ces", "ell": "gre", "isl": "ice",
                 "rum": "ron", "slo": "slk", "cym": "wel", "fas": "per", "msa": "may", "sqi": "alb", "hye": "arm",
                 "eus": "baq", "kat": "geo", "mkd": "mac", "mya": "bur", "bod": "tib"}


def track_metadata(metadata: dict[str, str], format_name: str) -> dict[str, str]:
    """A track's tags for a new ``format_name`` file: MP4/MOV read a track title back as
    "name" but write it only from "title", so the title goes back under the key every muxer
    reads; a MOV gets the language code QuickTime's table holds."""
    fresh = fresh_metadata(metadata)
    if "name" in fresh and "title" not in fresh:
        fresh["title"] = fresh.pop("name")
    if format_name == "mov" and fresh.get("language") in MOV_LANGUAGES:
        fresh["language"] = MOV_LANGUAGES[fresh["language"]]
    return fresh


def cover_attachment(output: av.container.OutputContainer, container: av.container.InputContainer,
                     stream: av.stream.Stream) -> str | None:
    """Carry a Matroska cover image (an attachment FFmpeg shows as an attached-picture video
    stream) into a Matroska output as an attachment again; why not, or None when carried."""
    if output.format.name != "matroska":
        return f"{output.format.name} files cannot hold it as the source did (a Matroska attachment)"
    name, mimetype = stream.metadata.get("filename"), stream.metadata.get("mimetype")
    if not name or not mimetype:
        return "cover art from a container other than Matroska is not copied"
    try:
        with av.open(container.name) as again:
            packet = next(p for p in again.demux(again.streams[stream.index]) if p.size)
            data = bytes(packet)
    except (av.error.FFmpegError, OSError, StopIteration) as exc:
        return f"its picture could not be read ({describe_error(exc) if not isinstance(exc, StopIteration) else 'empty'})"
    output.add_attachment(name, mimetype, data)
    return None


class AudioRetimer:
    """Sample-exact timestamps for audio copied out of a coarse time base (Matroska's 1 ms):
    rounded stamps are snapped back onto the running sample count, as FFmpeg's own stream copy
    does, so an MP4 gets true packet durations and the right priming/trim. The first packet
    is anchored on the stream's start less the encoder's priming (AAC's 1024 samples, stamped
    -21 ms), not on its rounded stamp: rounded, 16 samples of priming were played and every
    sample came 16 late. ``shift``: ticks the pipeline adds to every stamp (see StartShift)."""

    def __init__(self, stream: av.audio.stream.AudioStream, shift: int = 0) -> None:
        self.rate = int(stream.codec_context.sample_rate or 0)
        self.time_base = Fraction(stream.time_base) if stream.time_base else None
        self.frame_size = int(stream.codec_context.frame_size or 0)
        self.active = bool(self.rate and self.time_base and self.time_base > Fraction(1, self.rate))
        padding = int(getattr(stream.codec_context, "initial_padding", 0) or 0)
        self.next: int | None = None
        self.anchor: int | None = None  # where the first packet starts, in samples
        if self.active and padding and stream.start_time is not None:
            self.anchor = round((stream.start_time + shift) * self.time_base * self.rate) - padding

    def __call__(self, packet: av.Packet) -> None:
        if not self.active or packet.pts is None:
            return
        tick = self.time_base * self.rate  # samples per input tick
        exact = packet.pts * tick
        expected = self.next if self.next is not None else self.anchor
        start = expected if expected is not None and abs(exact - expected) <= tick else round(exact)
        duration = packet.duration * tick if packet.duration else Fraction(self.frame_size)
        if self.frame_size and abs(duration - self.frame_size) <= tick:
            duration = Fraction(self.frame_size)
        shift = start - exact
        dts = None if packet.dts is None else round(packet.dts * tick + shift)
        packet.time_base = Fraction(1, self.rate)
        packet.pts = start
        packet.dts = dts
        packet.duration = round(duration)
        self.next = start + round(duration)


def add_copied_streams(
    output: av.container.OutputContainer,
    container: av.container.InputContainer,
    video: av.video.stream.VideoStream,
    copied: list[str],
    not_copied: list[str],
) -> dict[int, av.stream.Stream]:
    """Output streams for every copyable stream, by input index; labels of what was and was
    not copied (with the reason) go to ``copied`` / ``not_copied``."""
    streams: dict[int, av.stream.Stream] = {}
    for stream in container.streams:
        if stream.index == video.index:
            continue
        label = stream_label(stream)
        if stream.disposition & av.stream.Disposition.attached_pic and stream.type == "video":
            problem = cover_attachment(output, container, stream)
            if problem is None:
                copied.append(f"{label} as attachment {stream.metadata.get('filename')}")
            else:
                not_copied.append(f"{label}: cover art: {problem}")
            continue
        if stream.type not in COPIED_TYPES:
            why = "cover art is not copied" if stream.disposition & av.stream.Disposition.attached_pic else (
                "only the first video stream is restored" if stream.type == "video" else f"{stream.type} streams are not copied")
            not_copied.append(f"{label}: {why}")
            continue
        problem = copy_problem(output.format.name, stream)
        if problem is not None:
            not_copied.append(f"{label}: {output.format.name} files cannot hold it ({problem})")
            continue
        out = output.add_stream_from_template(stream)
        out.metadata.clear()
        out.metadata.update(track_metadata(dict(stream.metadata), output.format.name))
        out.disposition = stream.disposition
        streams[stream.index] = out
        copied.append(label)
    return streams


def copy_container_info(output: av.container.OutputContainer, container: av.container.InputContainer) -> None:
    output.metadata.update(fresh_metadata(dict(container.metadata)))
    try:
        chapters = container.chapters()
        if chapters:
            output.set_chapters(chapters)
    except Exception:  # noqa: BLE001, S110 - chapters are a courtesy; the video matters
        pass
