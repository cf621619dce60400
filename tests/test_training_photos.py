"""The training-photo fetcher's offline parts: scipy's raw face image decodes to the exact pixels,
wallpapers shrink to 1024 px, and every photo set names photos that have a source (the downloads
themselves need PyPI and Debian's archive)."""

from __future__ import annotations

import bz2
from pathlib import Path

import cv2
import numpy as np
import pytest

from mprnet_vs.errors import InputError
from mprnet_vs.training.data import read_rgb, write_rgb
from mprnet_vs.training.photos import ASSETS, HELD_OUT, PHOTO_SETS, PHOTOS, DebianPackage, long_side_1024


def test_scipy_face_dat_becomes_a_lossless_rgb_png(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    face = next(p for p in PHOTOS if p.member.endswith("face.dat"))
    assert face.name == "face.png" and face.decode is not None
    write_rgb(tmp_path / face.name, face.decode(bz2.compress(rgb.tobytes())))  # what fetch() does
    np.testing.assert_array_equal(read_rgb(tmp_path / face.name), rgb)


def test_every_photo_of_every_set_has_one_source() -> None:
    names = [p.name for p in PHOTOS + HELD_OUT]
    assert len(names) == len(set(names))
    shipped = {p.name for p in ASSETS.iterdir()}
    for photo_set, members in PHOTO_SETS.items():
        assert set(members) <= set(names) | shipped, photo_set
        assert len(members) == len(set(members)), photo_set


def test_no_training_set_holds_a_held_out_photo_or_scene() -> None:
    """The held-out set is disjoint from every training set, also by scene (a wallpaper's stem or
    its package folder), so the standing comparison scores photos no model saw."""
    held = PHOTO_SETS["heldout"]
    assert len(held) == 11 and {"coffee.jpg", "rocket.jpg"} <= set(held)
    stems = {name.rsplit(".", 1)[0] for name in held}
    members = {p.member for p in HELD_OUT}
    for photo_set, names in PHOTO_SETS.items():
        if photo_set == "heldout":
            continue
        assert not stems & {name.rsplit(".", 1)[0] for name in names}, photo_set
        assert not members & {p.member for p in PHOTOS if p.name in names}, photo_set


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    return data.tobytes()


def test_wallpapers_shrink_to_1024_on_the_long_side_by_area_averaging() -> None:
    rgb = np.zeros((1600, 2560, 3), np.uint8)
    rgb[:, ::2] = 255  # one-pixel stripes average to grey when shrunk by area, not by skipping pixels
    small = long_side_1024(_jpeg(rgb))
    assert small.shape == (640, 1024, 3)
    inner = small[100:540, 100:924]  # 2.5 stripes per pixel: 40 or 60 % white, never pure black or white
    assert inner.min() >= 95 and inner.max() <= 160 and abs(inner.mean() - 127.5) < 3
    tall = long_side_1024(_jpeg(np.full((3000, 2000, 3), 90, np.uint8)))
    assert tall.shape == (1024, 683, 3)
    little = np.random.default_rng(1).integers(0, 256, (300, 500, 3), dtype=np.uint8)
    assert long_side_1024(_jpeg(little)).shape == (300, 500, 3)  # never enlarged


def test_debian_photos_need_apt_and_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get, no dpkg-deb
    with pytest.raises(InputError, match="mate-backgrounds: fetching Debian packages needs apt-get"):
        DebianPackage("mate-backgrounds", "1.26.0-1").extract(tmp_path, ["x.jpg"])


def test_the_wallpaper_set_adds_thirty_one_photos_to_the_deblur_set() -> None:
    wallpapers = [n for n in PHOTO_SETS["deblur_wallpapers"] if n not in PHOTO_SETS["deblur"]]
    assert len(wallpapers) == 31 and all(n.endswith(".png") for n in wallpapers)
    assert PHOTO_SETS["deblur_wallpapers"][: len(PHOTO_SETS["deblur"])] == PHOTO_SETS["deblur"]
