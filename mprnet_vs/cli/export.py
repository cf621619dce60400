"""``mprnet-vs export``: a checkpoint as one self-contained ONNX file, checked against torch."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from ..tasks import TASKS
from ..engine.options import MAX_BATCH, OPTIONS_BY_NAME
from . import at_least, frame_size, option_type


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..export.onnx import DEFAULT_OPSET, OPSETS

    parser.add_argument("--task", choices=TASKS, help="the task whose default checkpoint is exported (with no --weights)")
    parser.add_argument("--weights", type=Path, help="checkpoint to export (default: the task's published or shipped model)")
    parser.add_argument("--stages", type=int, choices=(1, 2, 3), default=3, help="output of which stage (default 3)")
    parser.add_argument("--local-stats", type=option_type(OPTIONS_BY_NAME["local_stats"]), default=None, metavar="N",
                        help=OPTIONS_BY_NAME["local_stats"].help)
    parser.add_argument("--fp16", action="store_true", help="fp16 weights and arithmetic (inputs and outputs stay fp32)")
    parser.add_argument("--fp16-io", action="store_true", help="with --fp16: fp16 inputs and outputs too (vs-mlrt: RGBH clips)")
    parser.add_argument(
        "--static", type=frame_size(1), metavar="WIDTHxHEIGHT",
        help="fixed frame size, multiples of 8, at most 16384 a side (TensorRT-style); default: any height and width",
    )
    parser.add_argument("--batch", type=at_least(1, maximum=MAX_BATCH), help=f"fixed batch, 1 to {MAX_BATCH} (default: dynamic; vs-mlrt runs either)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, choices=OPSETS, metavar="K",
                        help=f"ONNX opset {OPSETS.start}..{OPSETS.stop - 1} (default {DEFAULT_OPSET})")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")


def run(args: argparse.Namespace) -> int:
    from ..export import export_onnx
    from ..safe_output import refuse_inputs

    if args.task is None and args.weights is None:
        raise UsageError(f"give --task ({', '.join(TASKS)}) or --weights")
    if args.fp16_io and not args.fp16:
        raise UsageError("--fp16-io needs --fp16")
    if args.weights is not None:
        refuse_inputs(args.output, [args.weights], UsageError)  # the paths given clash: exit 2
    result = export_onnx(
        args.output, args.task, weights=args.weights, stages=args.stages, local_stats=args.local_stats,
        fp16=args.fp16, fp16_io=args.fp16_io, static=args.static, batch=args.batch, opset=args.opset,
    )
    sizes = f"{args.static[0]}x{args.static[1]}" if args.static else "any height and width that are multiples of 8"
    if not args.static and result.min_side > 8:
        sizes += f", at least {result.min_side} px each (local statistics)"
    print(f"wrote {result.path} from {result.checkpoint}: stages {args.stages}, {'fp16' if args.fp16 else 'fp32'}, "
          f"batch {args.batch or 'any'}, {sizes}; largest difference from torch {result.max_error:.2g}")
    return 0
