"""``mprnet-vs evaluate``: PSNR/SSIM before and after restoration, per image and on average."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..tasks import TASKS
from ..engine.options import OPTIONS_BY_NAME
from . import at_least


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--weights", type=Path, help="checkpoint (default: the published one if found, else the shipped model)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pairs", type=Path, metavar="DIR",
                        help="folder with degraded/ and clean/ subfolders holding images of matching names")
    source.add_argument("--clean", type=Path, metavar="DIR", help="clean images, degraded here by --degrade")
    parser.add_argument("--degrade", metavar="RECIPE",
                        help='degradation recipe for --clean, e.g. "noise:sigma=25", "rain", "blur" (see mprnet_vs.degrade)')
    parser.add_argument("--seed", type=at_least(0), default=0, help="seed of the degradation (default 0)")
    parser.add_argument("--preset", help="engine preset (fast / balanced / quality or a YAML file)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
    parser.add_argument("--local-stats", type=at_least(0), metavar="N", help=OPTIONS_BY_NAME["local_stats"].help)
    parser.add_argument("--save", type=Path, metavar="DIR", help="also write the degraded and restored images here")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..degrade import to_dtype
    from ..engine import Restorer
    from ..errors import UsageError
    from ..safe_output import atomic_output, same_file
    from ..training.data import write_rgb
    from ..training.evaluate import evaluate, pairs_from_folders, pairs_from_recipe, table, to_json

    if args.clean is not None and not args.degrade:
        raise UsageError("--clean needs --degrade RECIPE (or use --pairs DIR)")
    if args.pairs is not None and args.degrade:
        raise UsageError("--degrade applies to --clean only; --pairs images are already degraded")
    restorer = Restorer(args.task, weights=args.weights, preset=args.preset, device=args.device, local_stats=args.local_stats)
    pairs = (pairs_from_folders(args.pairs / "degraded", args.pairs / "clean", _note) if args.pairs is not None
             else pairs_from_recipe(args.clean, args.degrade, args.seed))

    on_image = None
    if args.save is not None:
        inputs = [args.pairs / "degraded", args.pairs / "clean"] if args.pairs is not None else [args.clean]
        for folder in inputs:  # the saved images would join the inputs of the next run
            if same_file(args.save, folder):
                raise UsageError(f"{args.save}: --save is the input folder {folder}; choose another folder")
        args.save.mkdir(parents=True, exist_ok=True)

        used: set[str] = set()

        def on_image(name, bad, restored):  # noqa: ANN001 - a local callback
            stem = Path(name).stem
            if stem in used:  # a.png and a.jpg: a_jpg_restored.png, not a second a_restored.png
                stem = name.replace(".", "_")
            used.add(stem)
            for kind, img in (("degraded", bad), ("restored", restored)):
                with atomic_output(args.save / f"{stem}_{kind}.png") as temp:  # never a half-written PNG
                    write_rgb(temp, to_dtype(img, np.uint16) if img.dtype.kind == "f" else img)  # 16-bit stays 16-bit

    scores = evaluate(restorer.restore, pairs, on_image)
    if args.json:
        print(json.dumps({"task": args.task, "weights": str(restorer.checkpoint or ""),
                          "source": str(args.pairs or args.clean), "degrade": args.degrade, "seed": args.seed,
                          **to_json(scores)}, indent=2))
    else:
        print(f"task {args.task}, weights {restorer.checkpoint}")
        print(table(scores))
    return 0


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)
