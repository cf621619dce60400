"""``mprnet-vs bench``: frames/s, megapixels/s, peak memory and achieved TFLOP/s of the engine,
against the same weights run the released code's way, on the current device."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from .. import weights as weights_mod
from ..engine import Restorer
from ..engine.options import MAX_BATCH, MAX_THREADS, PRECISIONS, STAGES
from ..engine.backends import BACKENDS
from ..engine.devices import device_name
from ..model import MPRNet
from ..tasks import TASKS, get as get_task
from . import MAX_REPEATS, at_least, frame_size

DEFAULT_4K_TILE = 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..bench.runner import RESOLUTIONS

    parser.add_argument("--task", choices=TASKS, default="deblur")
    parser.add_argument(
        "--weights",
        help="checkpoint to time; default: the task's published checkpoint if found, else its published "
        "architecture with deterministic weights (speed does not depend on the weights)",
    )
    parser.add_argument("--stages", type=int, nargs="+", choices=STAGES, default=[3])
    parser.add_argument("--precision", nargs="+", default=["auto"], choices=PRECISIONS)
    parser.add_argument("--batch", type=at_least(1, maximum=MAX_BATCH), nargs="+", default=[1],
                        help=f"batches to time (1 to {MAX_BATCH})")
    parser.add_argument(
        "--resolution", nargs="+", default=["720p"], type=_resolution,
        help=f"{', '.join(RESOLUTIONS)} or WIDTHxHEIGHT",
    )
    parser.add_argument("--tile", type=at_least(0), nargs="+", default=[0],
                        help=f"tile sizes to time (0 = whole frame; 4k uses {DEFAULT_4K_TILE} when 0)")
    parser.add_argument("--overlap", type=at_least(0), default=32)
    parser.add_argument("--device", default=None)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument(
        "--backend", nargs="+", default=["torch"], choices=BACKENDS,
        help="backends to time in one run (default torch); each row gets its speed-up over torch eager "
        "and its output's PSNR and largest difference against torch fp32",
    )
    parser.add_argument("--threads", type=at_least(1, maximum=MAX_THREADS),
                        help=f"CPU threads for torch and the other backends, 1 to {MAX_THREADS} (default: torch's)")
    parser.add_argument("--warmup", type=at_least(0, maximum=MAX_REPEATS), default=2, help=f"untimed runs first (0 to {MAX_REPEATS})")
    parser.add_argument("--reps", type=at_least(1, maximum=MAX_REPEATS), default=5, help=f"timed runs (1 to {MAX_REPEATS})")
    parser.add_argument("--no-released", action="store_true", help="skip the released-way comparison")
    parser.add_argument("--video", action="store_true", help="also time the video pipeline end to end")
    parser.add_argument("--video-frames", type=at_least(1, maximum=MAX_REPEATS), default=24,
                        help=f"frames of the --video run (1 to {MAX_REPEATS})")
    parser.add_argument("--json", type=_json_path, help="write every measurement to this JSON file")


def _json_path(text: str) -> Path:
    """Checked before the timing starts, not after it."""
    path = Path(text)
    if path.is_dir() or not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: must name a file in an existing folder")
    return path


def _resolution(text: str) -> str:
    from ..bench.runner import RESOLUTIONS

    if text.lower() in RESOLUTIONS:
        return text.lower()
    try:  # at least 8: the released way pads to a multiple of 8 by reflection
        width, height = frame_size(8)(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (or one of {', '.join(RESOLUTIONS)})") from None
    return f"{width}x{height}"


def _size(resolution: str) -> tuple[int, int]:
    """(height, width) of a resolution name or WIDTHxHEIGHT."""
    from ..bench.runner import RESOLUTIONS

    if resolution in RESOLUTIONS:
        return RESOLUTIONS[resolution]
    width, height = resolution.split("x")
    return int(height), int(width)


def _weights_path(args: argparse.Namespace, scratch: Path) -> tuple[Path, str]:
    if args.weights:
        return Path(args.weights), f"weights {args.weights}"
    published = weights_mod.find_published(args.task)
    if published:
        return published, f"published checkpoint {published}"
    torch.manual_seed(0)
    model = MPRNet.from_config(get_task(args.task).published_config)
    path = scratch / f"{args.task}-published-architecture.pth"
    torch.save({"state_dict": model.state_dict(), "epoch": 0, "optimizer": {}}, path)
    return path, "published architecture, deterministic weights (seed 0)"


def run(args: argparse.Namespace) -> int:
    from ..bench.runner import measure_engine, measure_released_way, psnr
    from ..safe_output import atomic_output
    from ..training.metrics import finite_or_none

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    references: dict[tuple, torch.Tensor] = {}  # torch fp32 outputs the backends are compared with
    with tempfile.TemporaryDirectory() as scratch:
        path, origin = _weights_path(args, Path(scratch))
        for resolution, given_tile in ((r, t) for r in args.resolution for t in args.tile):
            height, width = _size(resolution)
            tile = given_tile or (DEFAULT_4K_TILE if resolution == "4k" else 0)
            for stages in args.stages:
                reference = None
                for precision, batch, backend in ((p, b, k) for p in args.precision for b in args.batch for k in args.backend):
                        restorer = Restorer(
                            args.task, weights=path, stages=stages, tile=tile, overlap=args.overlap,
                            batch=batch, precision=precision, device=args.device, compile=args.compile, backend=backend,
                        )
                        config = restorer.model.config
                        name = "engine" if args.backend == ["torch"] else restorer.backend.name
                        m, out = measure_engine(restorer, config, height, width, args.warmup, args.reps, name=name)
                        if len(args.backend) > 1:
                            _compare_backends(m, out, rows, restorer, path, args, resolution, references)
                        if reference is None and not args.no_released:
                            released, reference = measure_released_way(
                                restorer, config, height, width, min(args.warmup, 1), max(1, min(args.reps, 3))
                            )
                            released.extra["resolution"] = resolution
                            rows.append(released)
                            _print_row(released, None)
                        if reference is not None:
                            m.extra["psnr_vs_released_fp32_db"] = psnr(out[:1].float(), reference.float())
                            m.extra["speedup_vs_released"] = rows_released(rows, resolution, stages) / m.seconds_per_frame
                        m.extra["resolution"] = resolution
                        if args.video:
                            m.extra.update(_video_rate(restorer, height, width, args.video_frames, Path(scratch), m))
                        rows.append(m)
                        _print_row(m, rows_released(rows, resolution, stages))
                        del restorer.backend, restorer  # one backend's buffers at a time
    device = _device(args.device)
    print(f"device: {device_name(device)} ({device}); torch {torch.__version__}; model: {origin}")
    if args.json:
        payload = {"device": device_name(device), "torch": torch.__version__, "weights": origin, "rows": [r.as_dict() for r in rows]}
        with atomic_output(args.json) as temp:  # JSON has no infinity (identical outputs: PSNR inf): null
            temp.write_text(json.dumps(finite_or_none(payload), indent=2))
    return 0


def _device(spec: str | None) -> torch.device:
    from ..engine.devices import resolve_device

    return resolve_device(spec)


def _compare_backends(m, out: torch.Tensor, rows: list, restorer: Restorer, path: Path, args, resolution: str,
                      references: dict[tuple, torch.Tensor]) -> None:
    """Speed-up over the torch eager row of the same settings, and the output's PSNR and largest
    difference against torch fp32 on the same frames (computed once, untimed)."""
    from ..bench.runner import psnr

    key = (str(path), resolution, restorer.stages, restorer.batch, restorer.tile, restorer.overlap)
    if key not in references:
        reference = Restorer(args.task, weights=path, stages=restorer.stages, tile=restorer.tile, overlap=restorer.overlap,
                             batch=restorer.batch, precision="fp32", device=args.device)
        frames = torch.rand(restorer.batch, 3, m.height, m.width, generator=torch.Generator().manual_seed(0))
        references[key] = reference.restore_tensor(frames.to(reference.device)).cpu()
    expected = references[key]
    m.extra["psnr_vs_torch_fp32_db"] = psnr(out.cpu().float(), expected)
    m.extra["max_diff_vs_torch_fp32"] = float((out.cpu().float() - expected).abs().max())
    for row in [*rows, m]:  # the torch row itself is appended after this
        if (row.name == "torch" and row.stages == m.stages and row.batch == m.batch and row.precision == m.precision
                and (row.height, row.width) == (m.height, m.width) and row.tile == m.tile):
            m.extra["speedup_vs_torch"] = row.seconds_per_frame / m.seconds_per_frame


def rows_released(rows: list, resolution: str, stages: int) -> float | None:
    for row in rows:
        if row.name == "released way" and row.extra.get("resolution") == resolution and row.stages == stages:
            return row.seconds_per_frame
    return None


def _video_rate(restorer: Restorer, height: int, width: int, frames: int, scratch: Path, model_only) -> dict:
    """End-to-end rate of the video pipeline (decode, convert, restore, encode with x264
    ``veryfast``) on a generated lossless clip, against the model-only rate."""
    from ..clips import make_test_clip
    from ..video import VideoOptions, restore_video

    src = scratch / f"bench-{height}p.mkv"
    dst = scratch / f"bench-{height}p-out.mkv"
    dst.unlink(missing_ok=True)
    make_test_clip(src, width=width, height=height, frames=frames)
    start = time.perf_counter()
    restore_video(src, dst, restorer, VideoOptions(codec="libx264", encoder_options={"preset": "veryfast"}))
    seconds = time.perf_counter() - start
    fps = frames / seconds
    return {"video_fps": fps, "video_vs_model_only": fps / model_only.frames_per_second}


def _print_row(m, released_seconds: float | None) -> None:
    memory = f"{m.peak_memory_mib:8.0f} MiB" if m.peak_memory_mib is not None else "      n/a"
    line = (
        f"{m.name:13s} {m.extra.get('resolution', ''):6s} stages {m.stages} {m.precision:5s} batch {m.batch:2d} "
        f"tile {str(m.tile):5s} {m.seconds_per_frame * 1000:9.1f} ms/frame {m.frames_per_second:7.2f} fps "
        f"{m.megapixels_per_second:7.2f} MP/s {m.tflops:7.2f} TFLOP/s peak {memory}"
    )
    if "speedup_vs_released" in m.extra:
        line += f"  x{m.extra['speedup_vs_released']:.2f} vs released, {m.extra['psnr_vs_released_fp32_db']:.1f} dB"
    if "psnr_vs_torch_fp32_db" in m.extra:
        line += f"  {m.extra['psnr_vs_torch_fp32_db']:.1f} dB / max {m.extra['max_diff_vs_torch_fp32']:.1e} vs torch fp32"
    if "speedup_vs_torch" in m.extra:
        line += f"  x{m.extra['speedup_vs_torch']:.2f} vs torch"
    if "video_fps" in m.extra:
        line += f"  video {m.extra['video_fps']:.2f} fps ({m.extra['video_vs_model_only'] * 100:.0f}% of model-only)"
    print(line, flush=True)
