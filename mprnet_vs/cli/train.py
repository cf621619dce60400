"""``mprnet-vs train``: the released MPRNet training recipe from a YAML config (presets/train/)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..engine.options import MAX_ITERATIONS, MAX_THREADS
from . import above, at_least


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="training YAML (see presets/train/)")
    parser.add_argument("--data", type=Path, help="folder of clean images (overrides data.clean)")
    parser.add_argument("--degraded", type=Path, help="folder of degraded images named like the clean ones (paired training)")
    parser.add_argument("--output", type=Path, help="run folder for checkpoints (overrides output); an existing last.pth is resumed")
    parser.add_argument("--iterations", type=at_least(1, maximum=MAX_ITERATIONS),
                        help=f"total iterations, 1 to {MAX_ITERATIONS:.0e} (overrides train.iterations)")
    parser.add_argument("--lr", type=above(0, maximum=1), help="peak learning rate, above 0 and at most 1 (overrides train.lr; the released recipe uses 2e-4)")
    parser.add_argument("--init", type=Path, help="fine-tune from this checkpoint (published or ours)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available, else the CPU)")
    parser.add_argument("--precision", choices=("fp32", "bf16"),
                        help="fp32 (default) or bf16 autocast (about 2.4x faster on an AMX CPU; tensor cores on a GPU; overrides train.precision)")
    parser.add_argument("--threads", type=at_least(0, maximum=MAX_THREADS),
                        help=f"CPU threads for torch, 0 to {MAX_THREADS} (0 = torch's default)")
    parser.add_argument("--workers", type=at_least(0, maximum=256),
                        help="processes that degrade batches ahead, 0 to 256 (overrides train.workers; 0 = none)")
    parser.add_argument("--max-minutes", type=at_least(0, float), metavar="M",
                        help="stop after M minutes and save a resumable checkpoint (run again to go on)")
    parser.add_argument("--export", type=Path, metavar="PATH",
                        help="after training, write a compact fp16 copy (no optimizer state) to PATH")


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError, UsageError
    from ..safe_output import refuse_inputs
    from ..training.trainer import LAST, Trainer, export_model, load_config

    config = load_config(args.config, clean=args.data, degraded=args.degraded, output=args.output,
                         iterations=args.iterations, lr=args.lr, init=args.init, threads=args.threads,
                         device=args.device, precision=args.precision, workers=args.workers)
    if args.export is not None:  # found now, not after hours of training
        if args.export.is_dir():
            raise UsageError(f"{args.export}: --export names a folder; give the path of the file to write")
        blocking = next((p for p in args.export.parents if p.exists()), None)
        if blocking is not None and not blocking.is_dir():
            raise InputError(f"{args.export}: cannot be written, {blocking} is a file, not a folder")
        # the fp16 copy has no optimizer state: written over last.pth it would end the run's resumability
        refuse_inputs(args.export, [config.output / LAST, *([config.init] if config.init else [])], UsageError)
    trainer = Trainer(config)
    last = trainer.run(args.max_minutes)
    if args.export and trainer.finished:
        print(f"exported {export_model(last, args.export)}")
    elif args.export:
        print(f"not exported: training stopped before its last iteration ({last} resumes it)")
    return 0
