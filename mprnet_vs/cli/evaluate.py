"""``mprnet-vs evaluate``: PSNR/SSIM before and after restoration, per image and on average."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..tasks import TASKS
from ..engine.options import OPTIONS_BY_NAME
from . import at_least, option_type

if TYPE_CHECKING:
    from ..evaluation.compare import Timed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--weights", type=Path, help="checkpoint (default: the published one if found, else the shipped model)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pairs", type=Path, metavar="DIR",
                        help="folder with degraded/ and clean/ subfolders holding images of matching names")
    source.add_argument("--clean", type=Path, metavar="DIR", help="clean images, degraded here by --degrade")
    parser.add_argument("--degrade", metavar="RECIPE",
                        help='degradation recipe for --clean, e.g. "noise:sigma=25", "rain", "blur" (see mprnet_vs.degrade)')
    parser.add_argument("--render", choices=("recipe", "independent"), default="recipe",
                        help="who degrades --clean images: the training recipes of mprnet_vs.degrade (default), or "
                             "the independent renderer of mprnet_vs.evaluation.render, whose specs are "
                             '"noise:sigma=25", "blur:length=15", "rain:amount=heavy"')
    parser.add_argument("--baseline", choices=("bm3d", "wiener"),
                        help="also score a classical method given the truth, on the same images: bm3d (true sigma; "
                             "denoise) or wiener (true kernel; deblur); needs --render independent and the "
                             "compare extra (pip install 'mprnet-vs[compare]')")
    parser.add_argument("--seed", type=at_least(0, maximum=2**32 - 1), default=0,
                        help="seed of the degradation, 0 to 4294967295 (default 0)")
    parser.add_argument("--preset", help="engine preset (fast / balanced / quality / best or a YAML file)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
    parser.add_argument("--local-stats", type=option_type(OPTIONS_BY_NAME["local_stats"]), metavar="N", help=OPTIONS_BY_NAME["local_stats"].help)
    parser.add_argument("--ensemble", type=option_type(OPTIONS_BY_NAME["ensemble"]), metavar="N", help=OPTIONS_BY_NAME["ensemble"].help)
    parser.add_argument("--save", type=Path, metavar="DIR", help="also write the degraded and restored images here")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..degrade import to_dtype
    from ..engine import Restorer
    from ..errors import UsageError
    from ..safe_output import atomic_output, same_file
    from ..training.data import write_rgb
    from ..evaluation.compare import baseline_run, check_spec_for, comparison_table, rendered_pairs, timed
    from ..training.evaluate import pairs_from_folders, pairs_from_recipe, table, to_json

    if args.clean is not None and not args.degrade:
        raise UsageError("--clean needs --degrade RECIPE (or use --pairs DIR)")
    if args.pairs is not None and args.degrade:
        raise UsageError("--degrade applies to --clean only; --pairs images are already degraded")
    if args.render == "independent":
        if args.pairs is not None:
            raise UsageError("--render independent degrades --clean images; --pairs images are already degraded")
        check_spec_for(args.task, args.degrade, args.baseline)
    elif args.baseline is not None:
        raise UsageError("--baseline needs --render independent (the renderer tells it the true sigma or kernel)")
    restorer = Restorer(args.task, weights=args.weights, preset=args.preset, device=args.device, local_stats=args.local_stats,
                        ensemble=args.ensemble)
    if args.render == "independent":
        items = rendered_pairs(args.clean, args.degrade, args.seed)  # kept: the baseline scores the same images
    else:
        pairs = (pairs_from_folders(args.pairs / "degraded", args.pairs / "clean", _note) if args.pairs is not None
                 else pairs_from_recipe(args.clean, args.degrade, args.seed))
        items = ((pair, None) for pair in pairs)

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

    restorer.restore(np.zeros((32, 32, 3), np.uint8))  # one-time start-up costs stay out of the timing
    model = timed("model", lambda _truth: restorer.restore, items, on_image)
    runs = [model] + ([baseline_run(args.baseline, items)] if args.baseline else [])
    if args.json:
        report = {"task": args.task, "weights": str(restorer.checkpoint or ""), "source": str(args.pairs or args.clean),
                  "degrade": args.degrade, "render": args.render, "seed": args.seed,
                  "stages": restorer.stages, "ensemble": restorer.ensemble, **to_json(model.scores),
                  **_times(model)}
        if args.baseline:
            report["baseline"] = {"name": args.baseline, **to_json(runs[1].scores), **_times(runs[1])}
        print(json.dumps(report, indent=2))
    else:
        print(f"task {args.task}, weights {restorer.checkpoint}, stages {restorer.stages}, ensemble {restorer.ensemble}")
        print(table(model.scores))
        print(f"restoration time: {model.seconds_per_megapixel:.2f} s per megapixel "
              f"({model.cpu_seconds_per_megapixel:.2f} CPU s, all threads)")
        if args.baseline:
            print()
            print(comparison_table(runs))
    return 0


def _times(run: Timed) -> dict[str, float]:
    """Wall-clock and CPU seconds per megapixel, for the JSON report."""
    return {"seconds_per_megapixel": run.seconds_per_megapixel, "cpu_seconds_per_megapixel": run.cpu_seconds_per_megapixel}


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)
