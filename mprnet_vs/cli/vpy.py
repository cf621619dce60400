"""``mprnet-vs vpy TASK``: print the path of the installed ``.vpy`` script of a task, for vspipe:

    vspipe -c y4m -a src=in.mkv "$(mprnet-vs vpy derain)" - | ffmpeg -i - -c:v libx264 out.mkv
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..tasks import TASKS

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "vapoursynth" / "scripts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", choices=TASKS, help="the script to locate")


def run(args: argparse.Namespace) -> int:
    # The path alone (no VapourSynth import: this must work where only vspipe will load it).
    print(SCRIPTS_DIR / f"{args.task}.vpy")
    return 0
