"""The video front end: decode any file FFmpeg reads, restore its frames in batches, encode,
copy the other streams, and write the result atomically.

Modules, each one concern: :mod:`.input` (opening, demuxing, decoding, timing, damage),
:mod:`.colour` (tag policy), :mod:`.conversion` (YUV <-> RGB maths), :mod:`.frames` (PyAV frame
I/O), :mod:`.palette` (GIF palettes), :mod:`.containers` (which muxer and codec an output gets),
:mod:`.pixfmt` (the output pixel format), :mod:`.probe` (opening an encoder for real),
:mod:`.encoder` (encoder options, rate control, the checks before any work), :mod:`.streams` (audio, subtitles, attachments,
chapters and metadata copied packet for packet), :mod:`.threads` (decode, restore and encode
threads joined by bounded channels), :mod:`.timing` (start offsets, and the written file decoded
again to check its frames and times), :mod:`.pipeline` (planning one video and the report).
"""

from .pipeline import (
    DEFAULT_CODEC,
    DEFAULT_CRF,
    VideoOptions,
    VideoReport,
    check_settings,
    estimate_frames,
    restore_video,
)

__all__ = ["DEFAULT_CODEC", "DEFAULT_CRF", "VideoOptions", "VideoReport", "check_settings", "estimate_frames", "restore_video"]
