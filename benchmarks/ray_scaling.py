"""Ray scaling of ``mprnet-vs restore --ray``: N workers against one, on a batch of files and on
one long video cut into pieces, and what Ray costs on top of the serial run.

Everything runs on a local Ray cluster started here (``ray.init(num_cpus=N)``, CPU workers of
``--threads`` torch threads each, the shipped model of ``--task``): on a machine with fewer
cores than workers CPU-bound workers cannot scale, which the ratio then shows; the overhead
figures hold anywhere (model load per worker, a run's fixed cost, cost per file and per piece).

    .venv/bin/python benchmarks/ray_scaling.py                       # 2 workers, defaults
    .venv/bin/python benchmarks/ray_scaling.py --workers 4 --files 16 --size 320x180
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from mprnet_vs.cli import frame_size  # noqa: E402
from mprnet_vs.clips import pan, read_rgb  # noqa: E402

PHOTO = Path(__file__).resolve().parent.parent / "mprnet_vs" / "assets" / "coffee.jpg"


def write_h264(path: Path, width: int, height: int, frames: int, keyint: int) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"g": str(keyint), "crf": "18"}
        for picture in pan(read_rgb(PHOTO), width, height, frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def engine_spec_for(args: argparse.Namespace) -> object:
    from mprnet_vs.cluster.actors import EngineSpec

    return EngineSpec(task=args.task, weights_name="x.pth", stages=1, tile=0, overlap=0, batch=1, precision="fp32",
                      device="cpu", compile=False, local_stats=None, threads=1)


def timed(call) -> float:  # noqa: ANN001 - any callable
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker (and for the serial run)")
    parser.add_argument("--files", type=int, default=8, help="videos in the batch (as many photos are added)")
    parser.add_argument("--frames", type=int, default=48, help="frames per video of the batch")
    parser.add_argument("--long-frames", type=int, default=480, help="frames of the long video")
    parser.add_argument("--segment-seconds", type=float, default=2.0)
    parser.add_argument("--size", type=frame_size(16), default=(192, 108))
    parser.add_argument("--task", default="derain")
    parser.add_argument("--preset", default="fast")
    args = parser.parse_args()

    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import ray
    import torch

    from mprnet_vs.cluster import restore_on_ray
    from mprnet_vs.engine import Restorer
    from mprnet_vs.photo import restore_photo
    from mprnet_vs.video import restore_video

    torch.set_num_threads(args.threads)
    width, height = args.size
    work = Path(tempfile.mkdtemp(prefix="ray-scaling-"))
    batch = work / "batch"
    batch.mkdir()
    photo = read_rgb(PHOTO)
    for i in range(args.files):
        write_h264(batch / f"clip{i:02d}.mkv", width, height, args.frames, keyint=24)
        crop = photo[i * 7 : i * 7 + height * 2, i * 11 : i * 11 + width * 2]
        cv2.imwrite(str(batch / f"photo{i:02d}.png"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    long_video = write_h264(work / "long.mkv", width, height, args.long_frames, keyint=24)
    engine = {"preset": args.preset, "device": "cpu"}
    restorer = Restorer(args.task, **engine)
    restorer.restore(photo[:height, :width])  # warm-up

    def serial_batch() -> None:
        out = work / "serial"
        out.mkdir(exist_ok=True)
        for path in sorted(batch.iterdir()):
            (restore_photo if path.suffix == ".png" else restore_video)(path, out / path.name, restorer)

    t_serial_batch = timed(serial_batch)
    t_serial_long = timed(lambda: restore_video(long_video, work / "serial-long.mkv", restorer))

    t_init = timed(lambda: ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False))
    results: dict[tuple[str, int], float] = {}
    for count in sorted({1, args.workers}):
        options = {"task": args.task, "workers": count, "cpus_per_worker": args.threads, **engine}
        results[("batch", count)] = timed(lambda: restore_on_ray([batch], work / f"ray-{count}", segment_seconds=0, **options))
        results[("long", count)] = timed(
            lambda: restore_on_ray([long_video], work / f"long-{count}.mkv", segment_seconds=args.segment_seconds, **options))
        if count == 1:
            results[("whole", 1)] = timed(lambda: restore_on_ray([long_video], work / "whole-1.mkv", segment_seconds=0, **options))
    # Ray's own cost per call: round trips to a started worker (small arguments, as with paths).
    from mprnet_vs.cluster.actors import RestoreWorker

    probe = ray.remote(num_cpus=0, max_concurrency=2)(RestoreWorker).remote(engine_spec_for(args))
    ray.get(probe.pid.remote())
    calls = 200
    t_calls = timed(lambda: ray.get([probe.pid.remote() for _ in range(calls)])) / calls
    t_put = timed(lambda: ray.get(ray.put(long_video.read_bytes()))) / max(1, long_video.stat().st_size / 1e6)
    ray.get(probe.close.remote())
    ray.shutdown()
    # The driver's cost per piece: cutting (stream copy) and joining (remux), timed alone.
    from mprnet_vs.cluster.segments import join_segments, plan_split, write_segments

    cut_dir = work / "cuts"
    cut_dir.mkdir()
    started = time.perf_counter()
    plan = plan_split(long_video, args.segment_seconds, work / "x.mkv")
    write_segments(long_video, plan, lambda seg: cut_dir / f"{seg.index}.mkv")
    t_cut = time.perf_counter() - started
    cuts = [cut_dir / f"{seg.index}.mkv" for seg in plan.segments]
    t_join = timed(lambda: join_segments(long_video, cuts, work / "joined.mkv", work / "joined.mkv", [], []))
    pieces = len(plan.segments)
    units = 2 * args.files
    n = args.workers
    # A run of one unit (the long video, not cut) costs its serial time plus the run's fixed
    # cost (actors start, model loads, one dispatch, one move into place).
    fixed = results[("whole", 1)] - t_serial_long
    per_file = (results[("batch", 1)] - t_serial_batch - fixed) / (units - 1)
    per_piece = (results[("long", 1)] - results[("whole", 1)]) / (pieces - 1)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    print(f"# Ray scaling, {datetime.date.today()}, {cpu}, {os.cpu_count()} cores, torch threads {args.threads}, "
          f"{args.task} preset {args.preset}, {width}x{height}")
    print(f"ray.init (local cluster, {n} CPUs): {t_init:.1f} s; fixed cost of a run (1 worker, 1 unit): {fixed:.1f} s")
    print(f"long video whole on 1 worker: {results[('whole', 1)]:.1f} s")
    print(f"Ray call round trip: {t_calls * 1000:.2f} ms; object store put+get: {t_put * 1000:.1f} ms per MB")
    print(f"cut {pieces} pieces: {t_cut * 1000:.0f} ms, join them: {t_join * 1000:.0f} ms "
          f"({(t_cut + t_join) / pieces * 1000:.1f} ms per piece, {args.long_frames} frames of {width}x{height})")
    print()
    print("| work | serial (no Ray) | 1 worker | " + (f"{n} workers | scaling 1->{n} |" if n > 1 else "") + " overhead (1 worker) |")
    print("|---|---|---|" + ("---|---|" if n > 1 else "") + "---|")
    for label, serial, name, overhead in (
        (f"{args.files} videos x {args.frames} frames + {args.files} photos", t_serial_batch, "batch", f"{per_file * 1000:.0f} ms per file"),
        (f"1 video x {args.long_frames} frames in {pieces} pieces", t_serial_long, "long", f"{per_piece * 1000:.0f} ms per piece"),
    ):
        one, many = results[(name, 1)], results[(name, n)]
        row = f"| {label} | {serial:.1f} s | {one:.1f} s | "
        if n > 1:
            row += f"{many:.1f} s | {one / many:.2f}x | "
        print(row + f"{overhead} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
