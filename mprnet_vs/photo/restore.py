"""Restore a photo (PNG, JPEG, TIFF, BMP, WebP) through OpenCV.

8- and 16-bit samples stay 8- and 16-bit, an alpha channel is passed through untouched, a gray
picture stays gray, and the output format follows the output's extension. Files are decoded
by content (the name does not matter) and turned upright by their EXIF orientation; decoding
and encoding happen in memory (``imdecode``/``imencode``), so any file name works, and the
result is written through safe_output so a partial file never sits at the target path.
"""

from __future__ import annotations

import contextlib
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..engine.protocol import Engine
from ..errors import InputError
from .file import Contents, inspect
from ..safe_output import atomic_output, refuse_inputs

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".bmp", ".webp")
EIGHT_BIT_ONLY = (".jpg", ".jpeg", ".jpe", ".bmp", ".webp")
NO_ALPHA = (".jpg", ".jpeg", ".jpe")
FLOAT_OK = (".tif", ".tiff")
# JPEG at quality 95 (OpenCV's 95 default made explicit); WebP stays at OpenCV's default,
# which is lossless.
QUALITY = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, 95], ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, 95], ".jpe": [cv2.IMWRITE_JPEG_QUALITY, 95]}


def is_photo(path: Path) -> bool:
    return path.suffix.lower() in PHOTO_SUFFIXES


@dataclass
class PhotoReport:
    source: Path
    output: Path
    width: int = 0
    height: int = 0
    layout: str = ""  # e.g. "RGB 8-bit", "gray 16-bit", "RGBA 16-bit"
    notes: list[str] = field(default_factory=list)
    not_copied: list[str] = field(default_factory=list)  # what of the source the output lacks, each a warning
    seconds: float = 0.0

    def summary(self) -> str:
        return f"{self.width}x{self.height} {self.layout} ({self.seconds:.1f} s)"


_cv_log_lock = threading.Lock()


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV's codecs print their own warnings (``[ WARN:0] ... PNG input buffer is
    incomplete``) straight to stderr; the InputError raised here already says what is wrong,
    so they are silenced while a file is decoded or encoded."""
    with _cv_log_lock:
        previous = cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            yield
        finally:
            cv2.utils.logging.setLogLevel(previous)


def _to_8bit(image: np.ndarray) -> np.ndarray:
    return np.round(image.astype(np.float32) / 257.0).astype(np.uint8)


def read_photo(path: Path) -> np.ndarray:
    """The image as OpenCV stores it (BGR / BGRA / gray, native depth), upright."""
    return _decode(_file_bytes(path), path)[0]


def read_rgb_photo(path: Path) -> tuple[np.ndarray, bool]:
    """The picture as ``restore`` reads it (upright, alpha dropped) as H x W x 3 RGB at the
    file's depth (uint8, uint16 or float32 in [0, 1]), and whether it is gray. Evaluation
    reads with this, so a 16-bit file is scored at 16 bits, not rounded to 8."""
    rgb, _alpha, family = _split(_decode(_file_bytes(path), path)[0], path)
    return _to_supported(np.ascontiguousarray(rgb), path)[0], family == "gray"


def read_rgb(path: str | Path) -> np.ndarray:
    """The picture as 8-bit H x W x 3 RGB, read as ``restore`` reads it (by content, upright,
    alpha dropped, gray repeated): training, the demo and evaluation of 8-bit data use this."""
    return decode_rgb(_file_bytes(Path(path)), str(path))


def decode_rgb(data: bytes | np.ndarray, origin: str) -> np.ndarray:
    """Encoded image bytes as :func:`read_rgb` reads a file; ``origin`` names them in errors."""
    buffer = np.frombuffer(data, np.uint8) if isinstance(data, bytes) else data
    if buffer.size == 0:
        raise InputError(f"{origin}: empty file")
    where = Path(origin)
    rgb = _to_supported(np.ascontiguousarray(_split(_decode(buffer, where)[0], where)[0]), where)[0]
    if rgb.dtype == np.uint16:
        return _to_8bit(rgb)
    if rgb.dtype != np.uint8:
        return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    return rgb


def _file_bytes(path: Path) -> np.ndarray:
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data.size == 0:
        raise InputError(f"{path}: empty file")
    return data


def _decode(data: np.ndarray, path: Path) -> tuple[np.ndarray, dict[int, bytes]]:
    """The picture and its metadata blocks (``cv2.IMAGE_METADATA_*`` -> bytes). Decoded by
    content, whatever the file is called: the alpha channel is kept whenever there is one, and
    the EXIF orientation is applied as OpenCV applies it for a plain ``imread`` (JPEG, PNG,
    WebP, ...), since the written file carries no EXIF to turn it."""
    with _quiet_opencv():
        image, kinds, blocks = cv2.imdecodeWithMetadata(data, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise InputError(f"{path}: not a readable image (damaged, truncated or not a picture)")
    metadata = {int(kind): np.asarray(block).tobytes() for kind, block in zip(kinds, blocks)}
    return _upright(image, _orientation(metadata.get(cv2.IMAGE_METADATA_EXIF, b""))), metadata


def _orientation(exif: bytes) -> int:
    """EXIF tag 0x0112 of the first IFD: 1 (as stored) to 8; 1 when absent or unreadable."""
    exif = exif.removeprefix(b"Exif\x00\x00")
    order = {b"II": "<", b"MM": ">"}.get(exif[:2])
    try:
        if order is None:
            return 1
        first = struct.unpack_from(f"{order}I", exif, 4)[0]
        for entry in range(struct.unpack_from(f"{order}H", exif, first)[0]):
            at = first + 2 + 12 * entry
            if struct.unpack_from(f"{order}H", exif, at)[0] == 0x0112:
                value = struct.unpack_from(f"{order}H", exif, at + 8)[0]
                return value if 1 <= value <= 8 else 1
    except struct.error:  # cut short: as if absent
        pass
    return 1


# What turns a stored picture upright, for each EXIF orientation (the TIFF/EXIF definitions).
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def _upright(image: np.ndarray, orientation: int) -> np.ndarray:
    turn = _UPRIGHT.get(orientation)
    return image if turn is None else np.ascontiguousarray(turn(image))


def _split(image: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(RGB H x W x 3, alpha or None, family) from an OpenCV image. OpenCV decodes a gray
    picture with alpha (PNG colour type 4) as BGRA with B = G = R: such an image is gray, so it
    is restored and written as gray (restoring three copies apart would tint it)."""
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2), None, "gray"
    channels = image.shape[2]
    if channels == 1:
        return np.repeat(image, 3, axis=2), None, "gray"
    if channels == 2:
        return np.repeat(image[:, :, :1], 3, axis=2), image[:, :, 1], "gray"
    if channels == 3:
        return image[:, :, ::-1], None, "rgb"
    if channels == 4:
        gray = np.array_equal(image[:, :, 0], image[:, :, 1]) and np.array_equal(image[:, :, 1], image[:, :, 2])
        return image[:, :, 2::-1], image[:, :, 3], "gray" if gray else "rgb"
    raise InputError(f"{path}: {channels}-channel images are not supported")


def _to_supported(image: np.ndarray, path: Path) -> tuple[np.ndarray, list[str]]:
    """uint8 / uint16 / float32 in [0, 1] for the engine, with a note on each conversion."""
    if image.dtype in (np.uint8, np.uint16):
        return image, []
    if image.dtype not in (np.float32, np.float64):
        raise InputError(f"{path}: {image.dtype} samples are not supported (use 8- or 16-bit or float images)")
    notes = ["64-bit float samples were converted to 32-bit float"] if image.dtype == np.float64 else []
    finite = np.isfinite(image)
    bad = int(np.count_nonzero(~finite.all(axis=2)))
    if bad:
        pixels = finite.shape[0] * finite.shape[1]
        notes.append(f"{bad} of {pixels} pixels had NaN or infinite samples: NaN and -inf were restored as 0, +inf as 1")
    # The range of the finite samples only (nanmax would warn "All-NaN slice" without naming the file).
    if np.max(image, where=finite, initial=0.0) > 1.0 or np.min(image, where=finite, initial=1.0) < 0.0:
        notes.append("float samples outside [0, 1] were clipped")
    return np.clip(np.nan_to_num(image, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0).astype(np.float32), notes


def _fit_output(colour: np.ndarray, alpha: np.ndarray | None, target: Path, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """Convert depth/alpha only where the output format cannot hold them, saying so."""
    suffix = target.suffix.lower()
    if alpha is not None and suffix in NO_ALPHA:
        notes.append(f"{suffix} cannot hold an alpha channel: it was dropped")
        alpha = None
    if colour.dtype == np.float32 and suffix not in FLOAT_OK:
        depth = np.uint8 if suffix in EIGHT_BIT_ONLY else np.uint16
        top = float(np.iinfo(depth).max)
        colour = np.round(colour * top).astype(depth)
        if alpha is not None and alpha.dtype != depth:
            alpha = np.round(np.clip(alpha, 0, 1) * top).astype(depth)
        notes.append(f"float samples written as {np.dtype(depth).itemsize * 8}-bit for {suffix}")
    if colour.dtype == np.uint16 and suffix in EIGHT_BIT_ONLY:
        colour = _to_8bit(colour)
        if alpha is not None:
            alpha = _to_8bit(alpha)
        notes.append(f"{suffix} holds only 8-bit samples: written as 8-bit")
    return colour, alpha


def restore_photo(source: str | Path, target: str | Path, restorer: Engine, *, replace: bool = True) -> PhotoReport:
    """Restore one photo into ``target`` (format from its extension). InputError on a file
    that cannot be read or written; nothing is left at ``target`` then. The output's temporary
    file is claimed first, so an unwritable folder fails before the photo is read or restored.
    ``replace`` False: a file that appears at ``target`` meanwhile is left alone."""
    source, target = Path(source), Path(target)
    refuse_inputs(target, [source])
    if not is_photo(target):
        raise InputError(f"{target}: photo outputs must end in one of {', '.join(PHOTO_SUFFIXES)}")
    started = time.monotonic()
    with atomic_output(target, replace) as temp:
        report, out = _restore(source, target, restorer)
        _write(out, target, temp)
    report.seconds = time.monotonic() - started
    return report


def _restore(source: Path, target: Path, restorer: Engine) -> tuple[PhotoReport, np.ndarray]:
    """The report, and the restored image in OpenCV's layout at a depth ``target``'s format holds."""
    data = _file_bytes(source)
    image, metadata = _decode(data, source)
    rgb, alpha, family = _split(image, source)
    rgb, notes = _to_supported(np.ascontiguousarray(rgb), source)
    report = PhotoReport(source=source, output=target, width=rgb.shape[1], height=rgb.shape[0], notes=notes)
    _left_out(inspect(data.tobytes()), metadata, alpha is not None, report)
    bits = {np.dtype(np.uint8): "8-bit", np.dtype(np.uint16): "16-bit"}.get(rgb.dtype, "float")
    report.layout = f"{'gray' if family == 'gray' else 'RGB'}{'A' if alpha is not None else ''} {bits}"

    restored = restorer.restore(rgb)
    colour, alpha = _fit_output(restored, alpha, target, report.notes)
    if family == "gray":
        colour = cv2.cvtColor(np.ascontiguousarray(colour), cv2.COLOR_RGB2GRAY)
        out = colour if alpha is None else np.dstack([colour, colour, colour, alpha.astype(colour.dtype)])  # OpenCV writes no gray+alpha
    else:
        bgr = np.ascontiguousarray(colour[:, :, ::-1])
        out = bgr if alpha is None else np.dstack([bgr, alpha.astype(bgr.dtype)])
    return report, np.ascontiguousarray(out)


def _left_out(contents: Contents, metadata: dict[int, bytes], has_alpha: bool, report: PhotoReport) -> None:
    """Say what the output cannot carry over: metadata in notes (cv2.imencode writes none;
    most camera photos have EXIF), pages and transparency in warnings (picture data lost)."""
    if cv2.IMAGE_METADATA_EXIF in metadata or contents.exif:
        turned = _orientation(metadata.get(cv2.IMAGE_METADATA_EXIF, b"")) != 1
        report.notes.append("EXIF data (camera, date, location) was not copied"
                            + ("; its orientation was applied to the pixels" if turned else ""))
    if cv2.IMAGE_METADATA_ICCP in metadata or contents.icc:
        report.notes.append("the ICC colour profile was not copied: the output is shown as sRGB, "
                            "so the colours of a wide-gamut photo (Display P3, Adobe RGB) shift")
    if contents.pages > 1:
        word, count = contents.page_word, contents.pages
        which = f"{word[:-1]} 2 of 2" if count == 2 else f"{word} 2 to {count} of {count}"
        report.not_copied.append(f"{which}: only the first {word[:-1]} is restored")
    if contents.transparency_key and not has_alpha:
        report.not_copied.append("transparency: OpenCV cannot read the colour key (tRNS) of a gray PNG")
    if contents.extra_samples and not has_alpha:
        report.not_copied.append("transparency: OpenCV cannot read this TIFF's extra (alpha) samples")


def _write(out: np.ndarray, target: Path, temp: Path) -> None:
    """Encode ``out`` in ``target``'s format into ``temp``, then read the file back: it must
    decode to a picture of the same size and depth before it may be renamed into place."""
    suffix = target.suffix.lower()
    with _quiet_opencv():
        ok, encoded = cv2.imencode(suffix, out, QUALITY.get(suffix, []))
    if not ok:
        raise InputError(f"{target}: OpenCV could not encode a {out.dtype} image with {out.shape[-1] if out.ndim == 3 else 1} channel(s) as {suffix}")
    try:
        encoded.tofile(temp)
        written = np.fromfile(temp, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"{target}: cannot write ({exc.strerror or exc})") from None
    with _quiet_opencv():
        back = cv2.imdecode(written, cv2.IMREAD_UNCHANGED)
    if back is None or back.shape[:2] != out.shape[:2] or back.dtype != out.dtype:
        raise InputError(f"{target}: the written file does not read back as the restored {out.shape[1]}x{out.shape[0]} picture")
