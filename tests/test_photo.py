"""Photos through OpenCV: depth, alpha and gray kept, format from the extension, bad files
fail with one clear error and leave nothing behind."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import unwritable_folder

from mprnet_vs.engine import Restorer
from mprnet_vs.errors import InputError
from mprnet_vs.photo import read_photo, restore_photo
from mprnet_vs.photo.file import inspect


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


# --- what the output leaves out: pages, metadata, transparency OpenCV drops ----------------------


def icc_profile() -> bytes:
    """A small ICC profile that libpng accepts (header, white point and a filler tag)."""
    header = bytearray(128)
    header[4:8], header[12:16], header[16:20], header[20:24], header[36:40] = b"none", b"mntr", b"RGB ", b"XYZ ", b"acsp"
    struct.pack_into(">I", header, 8, 0x02100000)
    struct.pack_into(">iii", header, 68, 63190, 65536, 54061)  # D50
    tags = [(b"wtpt", b"XYZ \0\0\0\0" + struct.pack(">iii", 63190, 65536, 54061)), (b"cprt", b"text\0\0\0\0" + bytes(range(256)) * 2)]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for signature, data in tags:
        table += struct.pack(">4sII", signature, offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    profile = bytes(header) + struct.pack(">I", len(tags)) + table + body
    return struct.pack(">I", len(profile)) + profile[4:]


def raw_tiff(path: Path, image: np.ndarray, extra: list[tuple[int, int, bytes]] = ()) -> Path:
    """An uncompressed little-endian 8-bit TIFF written byte by byte (OpenCV cannot write a
    gray+alpha TIFF or an ICC profile tag); ``extra`` are (tag, type, little-endian value)."""
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    pixels = image.tobytes() + b"\0" * (image.size % 2)
    tags = [(256, 3, struct.pack("<H", width)), (257, 3, struct.pack("<H", height)), (258, 3, struct.pack("<H", 8) * channels),
            (259, 3, struct.pack("<H", 1)), (262, 3, struct.pack("<H", 2 if channels >= 3 else 1)), (273, 4, struct.pack("<I", 8)),
            (277, 3, struct.pack("<H", channels)), (278, 3, struct.pack("<H", height)), (279, 4, struct.pack("<I", image.size)), *extra]
    tags.sort()
    ifd = 8 + len(pixels)
    spill = ifd + 2 + 12 * len(tags) + 4
    entries, spilled = b"", b""
    for tag, kind, value in tags:
        count = len(value) // {1: 1, 3: 2, 4: 4, 7: 1}[kind]
        if len(value) <= 4:
            entries += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
        else:
            entries += struct.pack("<HHII", tag, kind, count, spill + len(spilled))
            spilled += value + b"\0" * (len(value) % 2)
    path.write_bytes(b"II*\0" + struct.pack("<I", ifd) + pixels + struct.pack("<H", len(tags)) + entries + b"\0" * 4 + spilled)
    return path


def test_pages_and_frames_after_the_first_are_reported_not_copied(tmp_path: Path, restorer: Restorer) -> None:
    """Only the first page of a multi-page TIFF (frame of an animated PNG or WebP) is restored:
    the report says how many were left out, counted as OpenCV counts them."""
    pages = [picture(8, 12, seed=s)[:, :, ::-1] for s in range(3)]
    assert cv2.imwritemulti(str(tmp_path / "scan.tif"), pages)
    assert cv2.imwritemulti(str(tmp_path / "two.tif"), pages[:2])
    animation = cv2.Animation()
    animation.frames, animation.durations = pages, [100, 100, 100]
    for name in ("anim.png", "anim.webp"):
        assert cv2.imwriteanimation(str(tmp_path / name), animation)
    expected = {"scan.tif": "pages 2 to 3 of 3: only the first page is restored", "two.tif": "page 2 of 2: only the first page is restored",
                "anim.png": "frames 2 to 3 of 3: only the first frame is restored", "anim.webp": "frames 2 to 3 of 3: only the first frame is restored"}
    for name, line in expected.items():
        report = restore_photo(tmp_path / name, tmp_path / f"out_{name}", restorer)
        assert report.not_copied == [line] and cv2.imcount(str(tmp_path / name)) == int(line.split(" of ")[1][0])
        assert read_photo(tmp_path / f"out_{name}").shape == (8, 12, 3)
    assert restore_photo(write(tmp_path / "one.tif", pages[0]), tmp_path / "out_one.tif", restorer).not_copied == []


def test_exif_and_icc_profiles_are_said_not_copied(tmp_path: Path, restorer: Restorer) -> None:
    """Outputs carry no metadata: a photo with EXIF or an ICC profile (JPEG APP1/APP2, PNG
    eXIf/iCCP, a TIFF's tags) gets a note saying so; one without gets none."""
    bgr = picture(8, 12)[:, :, ::-1]
    profile = icc_profile()
    ok, jpeg = cv2.imencode(".jpg", bgr)
    app2 = b"ICC_PROFILE\0\x01\x01" + profile
    exif = b"Exif\0\0" + exif_block(1)
    jpeg = jpeg.tobytes()
    (tmp_path / "camera.jpg").write_bytes(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
                                          + b"\xff\xe2" + struct.pack(">H", len(app2) + 2) + app2 + jpeg[2:])
    ok, png = cv2.imencode(".png", bgr)
    png = png.tobytes()
    (tmp_path / "wide.png").write_bytes(png[:33] + png_chunk(b"iCCP", b"P3\0\0" + zlib.compress(profile)) + png_chunk(b"eXIf", exif_block(1)) + png[33:])
    raw_tiff(tmp_path / "scan.tif", picture(8, 12), [(34675, 7, profile)])
    exif_note = "EXIF data (camera, date, location) was not copied"
    icc_note = ("the ICC colour profile was not copied: the output is shown as sRGB, "
                "so the colours of a wide-gamut photo (Display P3, Adobe RGB) shift")
    for name, notes in {"camera.jpg": [exif_note, icc_note], "wide.png": [exif_note, icc_note], "scan.tif": [icc_note]}.items():
        assert restore_photo(tmp_path / name, tmp_path / f"out_{name}", restorer).notes == notes, name
    assert restore_photo(write(tmp_path / "plain.png", bgr), tmp_path / "out_plain.png", restorer).notes == []


def test_transparency_opencv_cannot_read_is_reported_not_copied(tmp_path: Path, restorer: Restorer) -> None:
    """OpenCV ignores a gray PNG's tRNS colour key and reads a gray+alpha TIFF as plain gray:
    the alpha cannot pass through, and the report says so instead of staying silent."""
    gray = picture(8, 12)[:, :, 1]
    ok, png = cv2.imencode(".png", gray)
    png = png.tobytes()
    (tmp_path / "keyed.png").write_bytes(png[:33] + png_chunk(b"tRNS", struct.pack(">H", 0)) + png[33:])
    raw_tiff(tmp_path / "gray_alpha.tif", np.dstack([gray, 255 - gray]), [(338, 3, struct.pack("<H", 2))])  # ExtraSamples: alpha
    for name, line in {"keyed.png": "transparency: OpenCV cannot read the colour key (tRNS) of a gray PNG",
                       "gray_alpha.tif": "transparency: OpenCV cannot read this TIFF's extra (alpha) samples"}.items():
        report = restore_photo(tmp_path / name, tmp_path / f"out_{name}", restorer)
        assert report.layout == "gray 8-bit" and report.not_copied == [line]


def test_damaged_file_structures_never_break_the_inspection(tmp_path: Path) -> None:
    """Counting pages and looking for metadata reads offsets from the file itself: a file cut
    anywhere, or a TIFF whose directory chain loops back, gives an answer, never an error."""
    pages = [picture(8, 12, seed=s)[:, :, ::-1] for s in range(3)]
    assert cv2.imwritemulti(str(tmp_path / "scan.tif"), pages)
    animation = cv2.Animation()
    animation.frames, animation.durations = pages, [100, 100, 100]
    assert cv2.imwriteanimation(str(tmp_path / "anim.png"), animation)
    assert cv2.imwriteanimation(str(tmp_path / "anim.webp"), animation)
    for name in ("scan.tif", "anim.png", "anim.webp"):
        data = (tmp_path / name).read_bytes()
        assert inspect(data).pages == 3
        for cut in range(0, len(data), 7):
            assert 1 <= inspect(data[:cut]).pages <= 3
    looping = bytearray(raw_tiff(tmp_path / "loop.tif", picture(4, 4)).read_bytes())
    first = struct.unpack_from("<I", looping, 4)[0]
    entries = struct.unpack_from("<H", looping, first)[0]
    struct.pack_into("<I", looping, first + 2 + 12 * entries, first)  # the next directory is this one again
    assert inspect(bytes(looping)).pages == 1
