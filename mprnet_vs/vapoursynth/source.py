"""The source of a ``shipped ``.vpy```` script, checked with PyAV: where a relative ``-a`` path
points (vspipe runs a script in its own folder), why bestsource could not open a file, and
whether the file decodes to as many frames as it announces."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import vapoursynth as vs

from ..errors import InputError
from ..safe_output import same_file
from ..video.input import announced_frames, announced_seconds, main_video_stream, open_input, tagged_end


def caller_path(text: str, name: str, key: str) -> str:
    """A path given with ``-a key=text``, for a script run by vspipe. vspipe evaluates a script
    in the script's own folder, but a relative path on its command line means the folder vspipe
    was started from, which a shell keeps in ``$PWD``: that is tried first, then the script's
    folder (where a path relative to the script resolves). A program that starts vspipe in
    another folder without updating ``$PWD`` leaves a stale one, so a relative path naming
    different files in both folders is refused as ambiguous, and a path found through ``$PWD``
    is logged with the file it resolved to."""
    path = Path(text).expanduser()
    if path.is_absolute():
        return str(path)
    caller = os.environ.get("PWD")
    if not caller or not (Path(caller) / path).exists():
        return str(path)
    found, here = Path(caller) / path, Path.cwd() / path
    if here.exists() and not same_file(found, here):
        raise vs.Error(
            f"{name}: {key}={text}: ambiguous relative path, both {found} ($PWD) and {here} (the script's folder) "
            "exist; give an absolute path"
        )
    if not same_file(Path(caller), Path.cwd()):
        vs.core.log_message(vs.MESSAGE_TYPE_INFORMATION, f"{name}: {key}={text} is {os.path.abspath(found)}")
    return str(found)


def looked_in(text: str) -> str:
    """For an error message: where a relative path was looked for (empty for absolute ones)."""
    if Path(text).is_absolute():
        return ""
    places = [p for p in (os.environ.get("PWD"), os.getcwd()) if p]
    return f" (a relative path is looked up in {' and '.join(dict.fromkeys(places))})"


def source_problem(src: str) -> str | None:
    """What is wrong with a file bestsource could not open, in the words the CLI uses
    ("not a readable video (...)", "no video stream (found audio)", ...), or None."""

    def cause(exc: InputError) -> str:
        return str(exc).removeprefix(f"{src}: ")

    try:
        container = open_input(Path(src))
    except InputError as exc:
        return cause(exc)
    except Exception:  # noqa: BLE001 - no better explanation than bestsource's own
        return None
    try:
        main_video_stream(container, Path(src))
    except InputError as exc:
        return cause(exc)
    except Exception:  # noqa: BLE001
        return None
    finally:
        container.close()
    return None


def check_complete(clip: vs.VideoNode, src: str, name: str) -> None:
    """vs.Error when the source decodes to clearly fewer frames than its header announces (a
    truncated or damaged file): under vspipe a shortened clip would pass as a finished one.
    Only announcements that describe the video itself (its frame count or duration, a
    Matroska track's DURATION tag, or the file's duration when the video is its only stream)
    are trusted."""
    try:
        container = open_input(Path(src))
    except Exception:  # noqa: BLE001 - bestsource read it; a check that cannot run says nothing
        return
    try:
        stream = main_video_stream(container, Path(src))
        warn_if_cropped(clip, stream.codec_context.width, stream.codec_context.height, src, name)
        if not stream.frames and not stream.duration and tagged_end(container, stream) is None and len(container.streams) > 1:
            return  # the file's duration may be another stream's
        announced = announced_frames(container, stream)
        short = bool(announced and clip.num_frames < announced - max(2, announced // 100))
        if short and not stream.frames and variable_rate_but_whole(container, stream, clip.num_frames):
            vs.core.log_message(
                vs.MESSAGE_TYPE_INFORMATION,
                f"{name}: src={src}: variable frame rate: all {clip.num_frames} frames are delivered back to back at "
                f"{clip.fps} fps (the y4m output holds one rate); `mprnet-vs restore` keeps every frame's time",
            )
            return
    except Exception:  # noqa: BLE001
        return
    finally:
        container.close()
    if short:
        raise vs.Error(
            f"{name}: src={src}: truncated or damaged: decoding stops at frame {clip.num_frames} of the {announced} "
            "frames the file announces; `mprnet-vs restore` restores the frames that decode"
        )


def variable_rate_but_whole(container: av.container.InputContainer, stream: av.video.stream.VideoStream, frames: int) -> bool:
    """True when a file that seemed short (fewer frames than its duration times its rate)
    is whole but variable-rate: its video packets, read without decoding, run to the end the
    file announces, and the source filter delivered (nearly) one frame per packet. A cut file
    ends early; a damaged one decodes to fewer frames than it has packets."""
    announced = announced_seconds(container, stream)
    if not stream.time_base or announced is None:
        return False
    packets, end = 0, None
    for packet in container.demux(stream):
        if packet.size and packet.pts is not None:
            packets += 1
            stop = packet.pts + (packet.duration or 0)
            end = stop if end is None else max(end, stop)
    if end is None:
        return False
    tick = Fraction(stream.time_base)
    start = stream.start_time or 0
    reached = (end - start) * tick
    slack = max(Fraction(1, 20), announced / 100)
    return reached >= announced - slack and frames >= packets - max(1, packets // 100)


def warn_if_cropped(clip: vs.VideoNode, width: int, height: int, src: str, name: str) -> None:
    """Log a warning when the source filter delivers another size than the file holds: a
    VapourSynth clip with subsampled chroma cannot have an odd width or height, so bestsource
    drops the odd column or row of a 4:2:0 file (161x121 comes out 160x120), and so does the
    restored output."""
    if width and height and (width, height) != (clip.width, clip.height):
        vs.core.log_message(
            vs.MESSAGE_TYPE_WARNING,
            f"{name}: src={src}: the video is {width}x{height} but the source filter delivers "
            f"{clip.width}x{clip.height} (odd sizes cannot be held with subsampled chroma); the output is "
            f"{clip.width}x{clip.height}. `mprnet-vs restore` keeps the full size",
        )
