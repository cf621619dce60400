"""The training-photo fetcher's offline parts: scipy's raw face image decodes to the exact pixels,
and every photo set names photos that have a source (the download itself needs PyPI)."""

from __future__ import annotations

import bz2
from pathlib import Path

import numpy as np

from mprnet_vs.training.data import read_rgb, write_rgb
from mprnet_vs.training.photos import PHOTO_SETS, PHOTOS


def test_scipy_face_dat_becomes_a_lossless_rgb_png(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    face = next(p for p in PHOTOS if p.member.endswith("face.dat"))
    assert face.name == "face.png" and face.decode is not None
    write_rgb(tmp_path / face.name, face.decode(bz2.compress(rgb.tobytes())))  # what fetch() does
    np.testing.assert_array_equal(read_rgb(tmp_path / face.name), rgb)


def test_every_photo_of_every_set_has_one_source() -> None:
    names = [p.name for p in PHOTOS]
    assert len(names) == len(set(names))
    for photo_set, members in PHOTO_SETS.items():
        assert set(members) <= set(names), photo_set
        assert len(members) == len(set(members)), photo_set
    stems = {name.rsplit(".", 1)[0] for name in names}
    assert not stems & {"coffee", "rocket"}  # the held-out photos
