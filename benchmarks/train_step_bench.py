"""Time one training step (forward of all three stages, the loss, backward, Adam) of an MPRNet
config, in fp32 or bf16 autocast, NCHW or channels-last: what `mprnet-vs train` does per iteration.

    .venv/bin/python benchmarks/train_step_bench.py --threads 2 --batch 4 --patch 80
"""

from __future__ import annotations

import argparse
import time

import torch

from mprnet_vs.model import MPRNet, MPRNetConfig
from mprnet_vs.training.losses import MPRNetLoss
from mprnet_vs.training.trainer import optimisation_step


def step_seconds(config: MPRNetConfig, precision: str, channels_last: bool, batch: int, patch: int,
                 device: torch.device, reps: int) -> float:
    torch.manual_seed(0)
    model = MPRNet.from_config(config).to(device).train()
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = MPRNetLoss().to(device)
    x = torch.rand(batch, 3, patch, patch, device=device).contiguous(memory_format=layout)
    y = torch.rand(batch, 3, patch, patch, device=device)

    def step() -> None:  # the trainer's own update; reading the loss back waits for the device
        optimisation_step(model, optimizer, loss_fn, x, y, precision)

    for _ in range(2):  # warm-up: oneDNN / cuDNN pick their kernels
        step()
    start = time.perf_counter()
    for _ in range(reps):
        step()
    return (time.perf_counter() - start) / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="20,10,8,2", help="n_feat,scale_unetfeats,scale_orsnetfeats,num_cab")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--patch", type=int, default=80)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n_feat, unet, orsnet, cabs = (int(v) for v in args.widths.split(","))
    config = MPRNetConfig(n_feat=n_feat, scale_unetfeats=unet, scale_orsnetfeats=orsnet, num_cab=cabs)
    device = torch.device(args.device)
    pixels = args.batch * args.patch**2
    print(f"widths {args.widths}, batch {args.batch} x {args.patch}^2, {torch.get_num_threads()} threads, {device}")
    for precision in ("fp32", "bf16"):
        for channels_last in (False, True):
            seconds = step_seconds(config, precision, channels_last, args.batch, args.patch, device, args.reps)
            layout = "channels-last" if channels_last else "NCHW"
            print(f"{precision:5s} {layout:13s} {seconds * 1000:7.0f} ms/step {pixels / seconds / 1e6:6.3f} Mpx/s", flush=True)


if __name__ == "__main__":
    main()
