"""``mprnet-vs demo``: restore a small generated image end to end and say what was done."""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ..model import MPRNet


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of the deterministic weights and image")


def _make_image(seed: int, height: int = 64, width: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width, yy / height, 0.5 + 0.5 * np.sin(xx / 7.0) * np.cos(yy / 5.0)], -1)
    return np.clip(base + rng.normal(0, 0.1, base.shape), 0, 1).astype(np.float32)


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    model = MPRNet(n_feat=16, scale_unetfeats=8, scale_orsnetfeats=8, num_cab=2).eval()
    image = _make_image(args.seed)
    x = torch.from_numpy(image).permute(2, 0, 1)[None]
    with torch.inference_mode():
        for stages in (1, 2, 3):
            start = time.perf_counter()
            out = model(x, stages=stages).clamp(0, 1)
            took = time.perf_counter() - start
            change = float((out - x).abs().mean())
            print(f"stage {stages}: restored {image.shape[1]}x{image.shape[0]} image in {took * 1000:.1f} ms, mean |change| {change:.4f}")
    params = sum(p.numel() for p in model.parameters())
    print(f"model: MPRNet {model.config.n_feat}/{model.config.scale_unetfeats}/{model.config.scale_orsnetfeats}, {params} parameters, deterministic weights (seed {args.seed})")
    return 0
