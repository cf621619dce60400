"""``mprnet-vs demo``: rain over a slow pan across a shipped photo, restored by the shipped
derain model through the video pipeline; prints PSNR before and after."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..demo import run_demo
from ..tasks import TASKS, get as get_task
from ..engine import Restorer
from ..engine.options import STAGES
from . import MAX_REPEATS, at_least, frame_size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=TASKS, default="derain")
    parser.add_argument("-o", "--output", type=Path, default=Path("mprnet-demo"), help="folder for the clips and PNG")
    parser.add_argument("--weights", help="checkpoint (default: published if found, else the shipped model)")
    parser.add_argument("--stages", type=int, choices=STAGES)
    parser.add_argument("--frames", type=at_least(1, maximum=MAX_REPEATS), default=24,
                        help=f"frames of the clip, 1 to {MAX_REPEATS} (default 24)")
    parser.add_argument("--size", type=frame_size(16), default=(320, 240), metavar="WIDTHxHEIGHT", help="size of the clip, 16 to 16384 a side (default 320x240)")
    parser.add_argument("--device")
    parser.add_argument("--seed", type=at_least(0, maximum=2**32 - 1), default=0, help="0 to 4294967295 (default 0)")


def run(args: argparse.Namespace) -> int:
    width, height = args.size
    restorer = Restorer(args.task, weights=args.weights, stages=args.stages, device=args.device)
    model = restorer.model.config
    source = f"weights {restorer.checkpoint}" if restorer.checkpoint else "in-memory weights"
    print(f"model: MPRNet {model.n_feat}/{model.scale_unetfeats}/{model.scale_orsnetfeats} x{model.num_cab} CABs, "
          f"{source}, {restorer.stages} stages on {restorer.device}")
    result = run_demo(args.output, restorer, frames=args.frames, width=width, height=height, seed=args.seed)
    print(f"degraded clip ({get_task(args.task).demo_recipe}): {result.degraded} ({result.frames} frames {width}x{height})")
    print(f"restored clip (video pipeline, {result.fps:.1f} fps): {result.restored}")
    print(f"side by side (clean | degraded | restored): {result.side_by_side}")
    gain = result.psnr_restored - result.psnr_degraded
    print(f"PSNR against the clean pan: degraded {result.psnr_degraded:.2f} dB -> restored {result.psnr_restored:.2f} dB ({gain:+.2f} dB)")
    return 0
