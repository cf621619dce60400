"""Throughput of the engine (mprnet_vs.Restorer) on this machine: images/s and megapixels/s for
every combination of stages x precision x tile x batch, with the device's name.

Uses deterministic random weights of a published model's widths, so no checkpoint is needed:
the arithmetic, and so the speed, is the same as with the trained weights.

    .venv/bin/python benchmarks/engine_bench.py                      # CPU or GPU defaults
    .venv/bin/python benchmarks/engine_bench.py --size 256 --stages 1 2 3 --reps 3
    .venv/bin/python benchmarks/engine_bench.py --device cuda --precision fp32 fp16 bf16 \\
        --tile 0 512 --batch 1 4 --size 1080x1920
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from mprnet_vs.engine import Restorer, device_name, resolve_device  # noqa: E402
from mprnet_vs.bench.runner import psnr, time_call  # noqa: E402
from mprnet_vs.model import PUBLISHED_CONFIGS, MPRNet  # noqa: E402



def parse_size(text: str) -> tuple[int, int]:
    """"256" -> (256, 256); "1080x1920" -> (1080, 1920) (height x width)."""
    parts = text.lower().split("x")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be N or HxW, got {text!r}") from None
    if len(sizes) == 1:
        sizes *= 2
    if len(sizes) != 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"size must be N or HxW with positive numbers, got {text!r}")
    return sizes[0], sizes[1]


def parse_tile(text: str) -> int | str:
    return "auto" if text == "auto" else int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", choices=sorted(PUBLISHED_CONFIGS), default="derain", help="which published model's widths")
    parser.add_argument("--size", type=parse_size, default=None, help="N or HxW (default 256 on CPU, 720x1280 on CUDA)")
    parser.add_argument("--stages", type=int, nargs="+", choices=(1, 2, 3), default=[1, 2, 3])
    parser.add_argument("--precision", nargs="+", choices=("auto", "fp32", "fp16", "bf16"), default=None,
                        help="default: fp32 on CPU; fp32 fp16 bf16 on CUDA")
    parser.add_argument("--tile", type=parse_tile, nargs="+", default=[0], help="0 = whole frame, N, or auto")
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch", type=int, nargs="+", default=[1], help="images per forward pass")
    parser.add_argument("--reps", type=int, default=3, help="timed forward passes per combination")
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes first (allocation, cuDNN tuning)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA when available)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--weights", default=None, help="a checkpoint to use instead of random weights")
    parser.add_argument("--psnr", action="store_true",
                        help="instead of timing: PSNR (dB) of tiled against whole-frame output, per stages x tile")
    return parser


def synthetic_photo(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """1 x 3 x H x W in [0, 1] that looks like a photo to a network: smooth lighting, soft-edged
    shapes, fine texture and a little sensor grain (deterministic)."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    light = 0.35 + 0.3 * x + 0.15 * torch.sin(3.0 * y + 1.0)
    img = torch.stack([light * 0.9, light * 0.8 + 0.05, light * 0.7 + 0.1])
    for _ in range(12):  # soft discs of random colour
        cy, cx, r = torch.rand(3, generator=g)
        colour = torch.rand(3, 1, 1, generator=g)
        d = ((y - cy) ** 2 + (x - cx) ** 2).sqrt()
        mask = torch.sigmoid((0.05 + 0.2 * r - d) * 80)
        img = img * (1 - mask) + colour * mask
    texture = 0.04 * torch.sin(60 * x + 20 * torch.sin(8 * y)) * torch.cos(45 * y)
    img = img + texture + 0.015 * torch.randn(3, height, width, generator=g)
    return img.clamp(0, 1)[None]


def measure_psnr(args: argparse.Namespace, model: MPRNet | str, device: torch.device, height: int, width: int,
                 precisions: list[str]) -> None:
    x = synthetic_photo(height, width).to(device)
    print(f"{'stages':>6} {'precision':>9} {'tile':>5} {'overlap':>7} {'PSNR dB':>8}")
    for stages, precision in itertools.product(args.stages, precisions):
        whole = Restorer(weights=model, stages=stages, precision=precision, tile=0, device=device).restore_tensor(x)
        for tile in args.tile:
            tiled = Restorer(weights=model, stages=stages, precision=precision, tile=tile, overlap=args.overlap,
                             device=device).restore_tensor(x)
            print(f"{stages:>6} {precision:>9} {tile!s:>5} {args.overlap:>7} {psnr(tiled, whole):>8.2f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    height, width = args.size or ((720, 1280) if device.type == "cuda" else (256, 256))
    precisions = args.precision or (["fp32", "fp16", "bf16"] if device.type == "cuda" else ["fp32"])
    if args.weights:
        model: MPRNet | str = args.weights
        described = f"checkpoint {args.weights}"
    else:
        torch.manual_seed(0)  # deterministic random weights
        model = MPRNet.from_config(PUBLISHED_CONFIGS[args.widths]).eval()
        described = f"{args.widths} widths, random weights (seed 0)"

    print(f"device: {device_name(device)} ({device}); torch {torch.__version__}; threads {torch.get_num_threads()}; "
          f"python {platform.python_version()}; {datetime.date.today()}")
    print(f"model: {described}; input {height}x{width}")
    if args.psnr:
        measure_psnr(args, model, device, height, width, precisions)
        return 0
    print(f"overlap {args.overlap}; {args.reps} timed reps after {args.warmup} warm-up; median reported")
    print(f"{'stages':>6} {'precision':>9} {'tile':>5} {'batch':>5} {'s/call':>8} {'images/s':>9} {'MP/s':>8}")
    for stages, precision, tile, batch in itertools.product(args.stages, precisions, args.tile, args.batch):
        restorer = Restorer(weights=model, stages=stages, precision=precision, tile=tile, overlap=args.overlap,
                            batch=batch, device=device, compile=args.compile)
        x = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(1)).to(device)
        seconds = time_call(lambda: restorer.restore_tensor(x), restorer.device, args.warmup, args.reps)
        images = batch / seconds
        print(f"{stages:>6} {precision:>9} {tile!s:>5} {batch:>5} {seconds:>8.3f} {images:>9.3f} "
              f"{images * height * width / 1e6:>8.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
