"""What a photo file holds besides the picture OpenCV decodes from it: more pages or frames,
metadata (EXIF, an ICC colour profile) and transparency OpenCV drops. Read from the file's
structure (PNG chunks, TIFF directories, WebP chunks) without decoding anything, so the
restore can say what its output leaves out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
PNG_GRAY = 0  # IHDR colour type of a gray PNG without alpha
TIFF_EXIF_IFD, TIFF_ICC_PROFILE, TIFF_EXTRA_SAMPLES = 34665, 34675, 338


@dataclass
class Contents:
    """What a file holds besides its first picture (the defaults: nothing)."""

    pages: int = 1
    page_word: str = "pages"  # "pages" (TIFF) or "frames" (animated PNG or WebP)
    exif: bool = False
    icc: bool = False
    transparency_key: bool = False  # a gray PNG's tRNS chunk, which OpenCV ignores
    extra_samples: bool = False  # a TIFF's extra alpha samples, which OpenCV drops for gray+alpha


def inspect(data: bytes) -> Contents:
    """What ``data`` (a whole photo file) holds; a damaged structure counts as absent."""
    try:
        if data.startswith(PNG_SIGNATURE):
            return _png(data)
        if data[:4] in TIFF_MAGIC:
            return _tiff(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return Contents(pages=_webp_frames(data), page_word="frames")
    except struct.error:
        pass
    return Contents()


def _png(data: bytes) -> Contents:
    chunks: dict[bytes, int] = {}  # kind -> where its first chunk's data starts
    at = len(PNG_SIGNATURE)
    while at + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, at)
        chunks.setdefault(kind, at + 8)
        if kind == b"IEND":
            break
        at += 12 + length
    found = Contents(exif=b"eXIf" in chunks, icc=b"iCCP" in chunks, page_word="frames")
    found.transparency_key = b"tRNS" in chunks and b"IHDR" in chunks and data[chunks[b"IHDR"] + 9] == PNG_GRAY
    if b"acTL" in chunks:  # an animated PNG: acTL starts with its number of frames
        found.pages = max(1, struct.unpack_from(">I", data, chunks[b"acTL"])[0])
    return found


def _tiff(data: bytes) -> Contents:
    """Pages are the chain of image directories (IFDs); the first one's tags tell the rest.
    A chain cut short or looping ends the count where it breaks."""
    order = "<" if data[:2] == b"II" else ">"
    tags: dict[int, int] = {}  # the first directory's tags -> their first SHORT value
    pages, seen = 0, set()
    at = struct.unpack_from(f"{order}I", data, 4)[0]
    while at and at not in seen and at + 2 <= len(data):
        entries = struct.unpack_from(f"{order}H", data, at)[0]
        following = at + 2 + 12 * entries
        if following + 4 > len(data):
            break
        seen.add(at)
        pages += 1
        if pages == 1:
            for entry in range(at + 2, following, 12):
                tag, value = struct.unpack_from(f"{order}H6xH", data, entry)
                tags[tag] = value
        at = struct.unpack_from(f"{order}I", data, following)[0]
    alpha = tags.get(TIFF_EXTRA_SAMPLES) in (1, 2)  # associated or unassociated alpha (0: other data)
    return Contents(pages=max(pages, 1), exif=TIFF_EXIF_IFD in tags, icc=TIFF_ICC_PROFILE in tags, extra_samples=alpha)


def _webp_frames(data: bytes) -> int:
    """The ANMF chunks of an animated WebP (1 for a still one)."""
    frames, at = 0, 12
    while at + 8 <= len(data):
        kind, size = data[at:at + 4], struct.unpack_from("<I", data, at + 4)[0]
        frames += kind == b"ANMF"
        at += 8 + size + (size & 1)
    return max(frames, 1)
