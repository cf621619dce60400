"""Photos through OpenCV: depth, alpha and gray kept, format from the extension, bad files
fail with one clear error and leave nothing behind."""

from __future__ import annotations

import struct
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


def test_jpeg_exif_orientation_is_baked_in(tmp_path: Path, restorer: Restorer) -> None:
    """The output carries no EXIF, so a JPEG tagged "rotate 90" comes out already upright."""
    ok, encoded = cv2.imencode(".jpg", picture()[:, :, ::-1])
    assert ok
    entry = struct.pack("<HHII", 0x0112, 3, 1, 6)  # Orientation = 6: rotate 90 degrees clockwise
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + entry + struct.pack("<I", 0)
    app1 = b"\xff\xe1" + struct.pack(">H", len(tiff) + 8) + b"Exif\x00\x00" + tiff
    data = encoded.tobytes()
    source = tmp_path / "phone.jpg"
    source.write_bytes(data[:2] + app1 + data[2:])
    restore_photo(source, tmp_path / "out.png", restorer)
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.shape == (56, 40, 3)  # was 40 x 56 before the rotation


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
