"""Photos through OpenCV: depth, alpha and gray kept, format from the extension, bad files
fail with one clear error and leave nothing behind."""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mprnet_vs.engine import Restorer
from mprnet_vs.errors import InputError
from mprnet_vs.photo import read_photo, restore_photo


@pytest.fixture(scope="module")
def restorer(tiny_weights: Path) -> Restorer:
    return Restorer(weights=tiny_weights, device="cpu", tile=0)


def picture(height: int = 40, width: int = 56, dtype: type = np.uint8, seed: int = 3) -> np.ndarray:
    """An RGB test picture: gradients plus noise, in the full range of ``dtype``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    rgb = np.stack([xx, yy, 0.5 + 0.4 * np.sin(6 * xx)], -1) + rng.normal(0, 0.05, (height, width, 3))
    top = np.iinfo(dtype).max
    return np.clip(np.round(rgb * top), 0, top).astype(dtype)


def write(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("dtype,suffix", [(np.uint8, ".png"), (np.uint16, ".png"), (np.uint16, ".tiff"), (np.uint8, ".bmp"), (np.uint8, ".webp")])
def test_rgb_photo_restored_at_its_depth(tmp_path: Path, restorer: Restorer, dtype: type, suffix: str) -> None:
    rgb = picture(dtype=dtype)
    source = write(tmp_path / f"in{suffix}", rgb[:, :, ::-1])
    report = restore_photo(source, tmp_path / f"out{suffix}", restorer)
    out = cv2.imread(str(tmp_path / f"out{suffix}"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == dtype and out.shape == rgb.shape
    expected = restorer.restore(np.ascontiguousarray(rgb))
    assert np.abs(out[:, :, ::-1].astype(int) - expected.astype(int)).max() <= 1
    assert report.layout == f"RGB {np.dtype(dtype).itemsize * 8}-bit"


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_alpha_passes_through_untouched(tmp_path: Path, restorer: Restorer, dtype: type) -> None:
    rgb = picture(dtype=dtype)
    alpha = np.random.default_rng(9).integers(0, np.iinfo(dtype).max, rgb.shape[:2], dtype=dtype)
    source = write(tmp_path / "in.png", np.dstack([rgb[:, :, ::-1], alpha]))
    restore_photo(source, tmp_path / "out.png", restorer)
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.shape == (*rgb.shape[:2], 4) and out.dtype == dtype
    assert np.array_equal(out[:, :, 3], alpha)
    expected = restorer.restore(rgb)
    assert np.abs(out[:, :, 2::-1].astype(int) - expected.astype(int)).max() <= 1


def test_gray_stays_gray(tmp_path: Path, restorer: Restorer) -> None:
    gray = picture(dtype=np.uint16)[:, :, 1]
    source = write(tmp_path / "in.png", gray)
    report = restore_photo(source, tmp_path / "out.png", restorer)
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.ndim == 2 and out.dtype == np.uint16 and out.shape == gray.shape
    assert report.layout == "gray 16-bit"
    restored = restorer.restore(np.repeat(gray[:, :, None], 3, axis=2))
    assert np.abs(out.astype(int) - cv2.cvtColor(restored, cv2.COLOR_RGB2GRAY).astype(int)).max() <= 1


def test_output_format_follows_the_extension(tmp_path: Path, restorer: Restorer) -> None:
    rgba16 = np.dstack([picture(dtype=np.uint16)[:, :, ::-1], np.full((40, 56), 65535, np.uint16)])
    source = write(tmp_path / "in.png", rgba16)
    report = restore_photo(source, tmp_path / "out.jpg", restorer)
    with open(tmp_path / "out.jpg", "rb") as f:
        assert f.read(3) == b"\xff\xd8\xff"  # a JPEG, whatever the input was
    out = read_photo(tmp_path / "out.jpg")
    assert out.dtype == np.uint8 and out.shape == (40, 56, 3)
    assert any("alpha" in n for n in report.notes) and any("8-bit" in n for n in report.notes)


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (5, 7)])
def test_tiny_and_odd_sizes(tmp_path: Path, restorer: Restorer, size: tuple[int, int]) -> None:
    source = write(tmp_path / "in.png", picture(*size))
    restore_photo(source, tmp_path / "out.png", restorer)
    assert read_photo(tmp_path / "out.png").shape == (*size, 3)


def test_names_with_spaces_and_non_ascii(tmp_path: Path, restorer: Restorer) -> None:
    source = write(tmp_path / "in.png", picture()[:, :, ::-1])
    odd = tmp_path / "été photo ü.png"
    odd.write_bytes(source.read_bytes())
    restore_photo(odd, tmp_path / "résultat 1.png", restorer)
    assert read_photo(tmp_path / "résultat 1.png").shape == (40, 56, 3)


def test_bad_photos_fail_cleanly(tmp_path: Path, restorer: Restorer) -> None:
    garbage = tmp_path / "broken.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(InputError, match=r"broken\.png: not a readable image"):
        restore_photo(garbage, tmp_path / "out.png", restorer)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.jpg: empty file"):
        restore_photo(empty, tmp_path / "out.jpg", restorer)
    source = write(tmp_path / "fine.png", picture()[:, :, ::-1])
    with pytest.raises(InputError, match="output is the input"):
        restore_photo(source, source, restorer)
    assert not list(tmp_path.glob("out*")) and not leftovers(tmp_path)


def exif_block(orientation: int, order: str = "<") -> bytes:
    """A TIFF-structured EXIF block holding only the Orientation tag (little or big endian)."""
    head = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(f"{order}IH", 8, 1)
    return head + struct.pack(f"{order}HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(f"{order}I", 0)


def encoded_with_exif(image: np.ndarray, kind: str, orientation: int, order: str = "<") -> bytes:
    """``image`` as a JPEG (an APP1 segment), PNG (an eXIf chunk) or lossless WebP (an EXIF
    chunk, written by OpenCV) tagged with an orientation."""
    if kind == "webp":
        ok, encoded = cv2.imencodeWithMetadata(".webp", image, [cv2.IMAGE_METADATA_EXIF], [np.frombuffer(exif_block(orientation, order), np.uint8)])
        assert ok
        return encoded.tobytes()
    ok, encoded = cv2.imencode(f".{kind}", image, [cv2.IMWRITE_JPEG_QUALITY, 100] if kind == "jpg" else [])
    assert ok
    data, exif = encoded.tobytes(), exif_block(orientation, order)
    if kind == "jpg":
        payload = b"Exif\x00\x00" + exif
        return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    return data[:33] + png_chunk(b"eXIf", exif) + data[33:]  # right after IHDR


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("kind", ["jpg", "png", "webp"])
def test_every_exif_orientation_is_applied_as_opencv_shows_it(tmp_path: Path, kind: str, order: str) -> None:
    """The picture read is the one OpenCV (and a viewer) shows: all eight orientations, JPEG
    APP1, PNG eXIf and WebP EXIF, either byte order; alpha is turned with the colour (it is a copy of the
    blue plane here, so the two can be compared)."""
    bgr = picture(5, 7, seed=11)
    bgra = np.dstack([bgr, bgr[:, :, 0]])
    for orientation in range(1, 9):
        for image in (bgr,) if kind == "jpg" else (bgr, bgra):
            source = tmp_path / f"o{orientation}_{image.shape[2]}.{kind}"
            source.write_bytes(encoded_with_exif(image, kind, orientation, order))
            shown = cv2.imdecode(np.fromfile(source, np.uint8), cv2.IMREAD_COLOR)
            got = read_photo(source)
            assert got.shape[:2] == shown.shape[:2] == ((7, 5) if orientation >= 5 else (5, 7))
            assert np.array_equal(got[:, :, :3], shown), (orientation, image.shape)
            if got.shape[2] == 4:
                assert np.array_equal(got[:, :, 3], shown[:, :, 0])


@pytest.mark.parametrize("kind,name", [("jpg", "phone.jpg"), ("jpg", "jpeg_called.png"), ("png", "tagged.png"), ("png", "png_called.jpg")])
def test_exif_orientation_is_baked_in_whatever_the_name(tmp_path: Path, restorer: Restorer, kind: str, name: str) -> None:
    """The output carries no EXIF, so a photo tagged "rotate 90" comes out already upright:
    JPEG or PNG (eXIf), whatever the file is called."""
    source = tmp_path / name
    source.write_bytes(encoded_with_exif(picture()[:, :, ::-1], kind, 6))  # 6: rotate 90 degrees clockwise
    restore_photo(source, tmp_path / "out.png", restorer)
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.shape == (56, 40, 3)  # was 40 x 56 before the rotation


def test_alpha_is_kept_whatever_the_file_is_called(tmp_path: Path, restorer: Restorer) -> None:
    """The decoder follows the content: an RGBA PNG named .jpg keeps its alpha."""
    rgb = picture()
    alpha = np.random.default_rng(4).integers(0, 255, rgb.shape[:2], dtype=np.uint8)
    ok, encoded = cv2.imencode(".png", np.dstack([rgb[:, :, ::-1], alpha]))
    source = tmp_path / "logo.jpg"
    source.write_bytes(encoded.tobytes())
    report = restore_photo(source, tmp_path / "out.png", restorer)
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.shape == (40, 56, 4) and np.array_equal(out[:, :, 3], alpha)
    assert report.layout == "RGBA 8-bit"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def gray_alpha_png(path: Path, gray: np.ndarray, alpha: np.ndarray) -> Path:
    """A PNG of colour type 4 (gray + alpha), which OpenCV can read but not write."""
    bits = gray.dtype.itemsize * 8
    samples = np.dstack([gray, alpha]).astype(gray.dtype.newbyteorder(">"))
    rows = b"".join(b"\x00" + row.tobytes() for row in samples)  # filter type 0 on each row
    header = struct.pack(">IIBBBBB", gray.shape[1], gray.shape[0], bits, 4, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gray_with_alpha_stays_gray(tmp_path: Path, restorer: Restorer, dtype: type) -> None:
    """OpenCV reads a gray+alpha PNG as BGRA with B = G = R; restoring those as colour planes
    tinted the picture. It is restored as gray: R = G = B, alpha untouched."""
    gray = picture(dtype=dtype)[:, :, 1]
    alpha = np.random.default_rng(5).integers(0, np.iinfo(dtype).max, gray.shape, dtype=dtype)
    source = gray_alpha_png(tmp_path / "in.png", gray, alpha)
    report = restore_photo(source, tmp_path / "out.png", restorer)
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.shape == (*gray.shape, 4) and out.dtype == dtype
    assert np.array_equal(out[:, :, 0], out[:, :, 1]) and np.array_equal(out[:, :, 1], out[:, :, 2])
    assert np.array_equal(out[:, :, 3], alpha)
    restored = restorer.restore(np.repeat(gray[:, :, None], 3, axis=2))
    assert np.abs(out[:, :, 0].astype(int) - cv2.cvtColor(restored, cv2.COLOR_RGB2GRAY).astype(int)).max() <= 1
    assert report.layout == f"grayA {np.dtype(dtype).itemsize * 8}-bit"
    restore_photo(source, tmp_path / "out.jpg", restorer)
    assert cv2.imread(str(tmp_path / "out.jpg"), cv2.IMREAD_UNCHANGED).ndim == 2  # a gray JPEG


def unwritable_folder(tmp: Path) -> Path:
    """A folder no file can be created in: read-only by mode, or for root (whom modes do not
    stop) sysfs."""
    if os.geteuid() != 0:
        folder = tmp / "locked"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    return Path("/sys")


def test_an_unwritable_output_fails_before_the_photo_is_read(tmp_path: Path, restorer: Restorer) -> None:
    """The output is claimed first (safe_output's promise): a damaged input into a folder that
    cannot be written fails on the folder, i.e. before the input was read, let alone restored."""
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(InputError, match=r"x\.png: cannot write in"):
        restore_photo(damaged, unwritable_folder(tmp_path) / "x.png", restorer)


def test_nan_infinite_and_64_bit_float_samples_are_noted(tmp_path: Path, restorer: Restorer) -> None:
    """Float TIFFs: NaN and infinities are replaced (NaN, -inf by 0, +inf by 1), float64 is
    restored as float32, and each is said in a note; an all-NaN picture gives no numpy
    "All-NaN slice" warning, which named no file."""
    rgb = picture(dtype=np.uint16).astype(np.float64) / 65535
    rgb[0, 0, 0], rgb[1, 1, 1], rgb[2, 2, 2] = np.nan, np.inf, -np.inf
    source = write(tmp_path / "in.tif", rgb[:, :, ::-1])
    report = restore_photo(source, tmp_path / "out.tif", restorer)
    out = cv2.imread(str(tmp_path / "out.tif"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert report.notes == ["64-bit float samples were converted to 32-bit float",
                            "3 of 2240 pixels had NaN or infinite samples: NaN and -inf were restored as 0, +inf as 1"]

    source = write(tmp_path / "nan.tif", np.full((6, 8, 3), np.nan, np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = restore_photo(source, tmp_path / "nan_out.png", restorer)
    assert report.notes[0] == "48 of 48 pixels had NaN or infinite samples: NaN and -inf were restored as 0, +inf as 1"
