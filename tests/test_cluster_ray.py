"""Restoring on a real local Ray cluster (``ray.cluster_utils.Cluster``: a head that takes no
work and three nodes with one logical GPU each, running the CPU restorer): outputs equal the
serial run's, long videos are cut into pieces and joined, a SIGKILLed worker, a removed node and
an interrupted driver lose nothing and leave no temporary file. One cluster for the module
(starting Ray costs 10-25 s here); every wait is on something observable, never a sleep."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from mprnet_vs.cluster import restore_on_ray  # noqa: E402
from mprnet_vs.cluster.actors import SCRATCH_PREFIX  # noqa: E402
from mprnet_vs.cluster.workdir import WORK_FOLDER  # noqa: E402
from mprnet_vs.video import VideoOptions  # noqa: E402
from test_video import make_clip, pictures  # noqa: E402

ENGINE = {"device": "cpu", "tile": 0}
LOSSLESS = VideoOptions(codec="ffv1")
NODE = {"num_cpus": 1, "num_gpus": 1}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "num_gpus": 0})
    for _ in range(3):
        cluster.add_node(**NODE)
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def frames(path: Path) -> list[tuple[float, bytes]]:
    with av.open(str(path)) as container:
        return [(float(f.pts * f.time_base), f.to_ndarray(format="rgb24").tobytes()) for f in container.decode(video=0)]


def audio_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(audio=0) if p.size)


def hidden(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*")]


def scratch_left() -> list[Path]:
    """Worker scratch folders of processes that are gone (a live worker may hold its own)."""
    left = []
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        pid = int(folder.name.removeprefix(SCRATCH_PREFIX).split("-")[0])
        if not Path(f"/proc/{pid}").exists():
            left.append(folder)
    return left


def worker_pids() -> list[int]:
    """Processes running a RestoreWorker actor (Ray names them ``ray::RestoreWorker...``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if command.startswith(b"ray::RestoreWorker"):
                pids.append(int(entry.name))
    return pids


def wait_for(condition: Callable[[], object], what: str, timeout: float = 120) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def long_video(tmp_path_factory, tiny_weights: Path) -> tuple[Path, Path]:
    """A 9.6 s video with audio (keyframe every 12 frames) and its serial, lossless restoration."""
    folder = tmp_path_factory.mktemp("long")
    source = make_clip(folder / "film.mkv", size=(96, 64), frames=240, audio=("aac",), options={"g": "12"})
    serial = folder / "serial.mkv"
    serial_run(source, serial, tiny_weights, "--codec", "ffv1")
    return source, serial


def serial_run(source: Path, output: Path, weights: Path, *options: str, status: int = 0) -> None:
    """The command without Ray, in a process of its own with the workers' torch thread count
    (as a user runs it: the outputs of this test process's earlier runs must not matter)."""
    command = [sys.executable, "-m", "mprnet_vs", "restore", str(source), "-o", str(output), "--weights", str(weights),
               "--device", "cpu", "--tile", "0", "--quiet", *options]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == status, done.stderr


def assert_same_as_serial(output: Path, serial: Path, source: Path) -> None:
    restored = frames(output)
    assert restored == frames(serial)  # count, timestamps and pixels
    assert [t for t, _ in restored] == [t for t, _ in frames(source)]
    assert audio_count(output) == audio_count(source)


def in_thread(**kwargs) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def run() -> None:
        try:
            result["outcome"] = restore_on_ray(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_folder_restores_like_the_serial_run(cluster: Cluster, tmp_path: Path, tiny_weights: Path) -> None:
    shots = tmp_path / "shots"
    (shots / "day2").mkdir(parents=True)
    for i, picture in enumerate(pictures(3, 40, 32, seed=5)):
        cv2.imwrite(str(shots / ("day2" if i else "") / f"photo{i}.png"), picture)
    make_clip(shots / "a.mkv", frames=30, audio=("aac",), options={"g": "6"})
    make_clip(shots / "day2" / "b.mp4", size=(48, 32), frames=20, options={"g": "5"})
    (shots / "broken.mp4").write_bytes(b"not a video" * 100)
    (shots / "broken.png").write_bytes(b"not a photo" * 100)
    outcome = restore_on_ray([shots], tmp_path / "ray", weights=tiny_weights, **ENGINE)
    assert len(outcome.restored) == 5
    assert sorted(job.source.name for job, _ in outcome.failed) == ["broken.mp4", "broken.png"]  # and the others go on
    assert all(reason.startswith(str(job.source)) for job, reason in outcome.failed)
    serial_run(shots, tmp_path / "serial", tiny_weights, status=1)  # the broken files fail there too
    for name in ("photo0.png", "day2/photo1.png", "day2/photo2.png"):
        assert np.array_equal(cv2.imread(str(tmp_path / "ray" / name)), cv2.imread(str(tmp_path / "serial" / name)))
    for name in ("a.mkv", "day2/b.mp4"):
        assert frames(tmp_path / "ray" / name) == frames(tmp_path / "serial" / name)
    assert audio_count(tmp_path / "ray" / "a.mkv") == audio_count(shots / "a.mkv")
    assert hidden(tmp_path / "ray") == [] and scratch_left() == []
    again = restore_on_ray([shots], tmp_path / "ray", weights=tiny_weights, **ENGINE)
    assert len(again.skipped) == 5 and not again.restored  # finished outputs are not redone
    assert not (tmp_path / "ray" / "broken.mp4").exists() and not (tmp_path / "ray" / "broken.png").exists()


def test_long_video_in_pieces_through_the_object_store(cluster: Cluster, tmp_path: Path, tiny_weights: Path, long_video, capsys) -> None:
    source, serial = long_video
    output = tmp_path / "out" / "film.mkv"
    outcome = restore_on_ray([source], output, weights=tiny_weights, segment_seconds=0.9, transfer="store",
                             video=LOSSLESS, quiet=False, **ENGINE)
    assert len(outcome.restored) == 1
    pieces = int(capsys.readouterr().out.split("restored in ")[1].split()[0])
    assert pieces >= 4
    assert_same_as_serial(output, serial, source)
    assert hidden(output.parent) == [] and scratch_left() == []


def test_sigkill_of_a_worker_loses_nothing(cluster: Cluster, tmp_path: Path, tiny_weights: Path, long_video) -> None:
    source, serial = long_video
    output = tmp_path / "film.mkv"
    work = tmp_path / WORK_FOLDER
    thread, result = in_thread(inputs=[source], output=output, weights=tiny_weights, segment_seconds=0.9, video=LOSSLESS, **ENGINE)
    wait_for(lambda: list(work.glob("*/piece-*")), "a first finished piece")
    assert list(work.glob("*/cut-*")), "work was left when the worker was killed"
    victim = wait_for(worker_pids, "a worker process")[0]
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=180)
    assert not thread.is_alive() and "error" not in result, result
    assert len(result["outcome"].restored) == 1
    assert_same_as_serial(output, serial, source)
    assert not work.exists() and hidden(tmp_path) == []
    assert wait_for(lambda: scratch_left() == [] or None, "no scratch folder of a dead worker", timeout=30)


@pytest.mark.parametrize("replaced", [True, False], ids=["replaced", "not-replaced"])
def test_removing_a_node_mid_run_loses_nothing(cluster: Cluster, tmp_path: Path, tiny_weights: Path, long_video, replaced: bool) -> None:
    """Replaced: the lost worker restarts on the new node. Not replaced: it cannot restart, and
    its piece goes to another worker once it has been silent for stall_seconds."""
    source, serial = long_video
    output = tmp_path / "film.mkv"
    work = tmp_path / WORK_FOLDER
    thread, result = in_thread(inputs=[source], output=output, weights=tiny_weights, segment_seconds=0.9, video=LOSSLESS,
                               stall_seconds=5, **ENGINE)
    wait_for(lambda: list(work.glob("*/piece-*")), "a first finished piece")
    assert list(work.glob("*/cut-*")), "work was left when the node was removed"
    cluster.remove_node(cluster.list_all_nodes()[-1])
    if replaced:
        cluster.add_node(**NODE)
    thread.join(timeout=180)
    assert not thread.is_alive() and "error" not in result, result
    assert_same_as_serial(output, serial, source)
    assert not work.exists() and hidden(tmp_path) == []
    if not replaced:
        cluster.add_node(**NODE)  # back to three workers for the tests after this one


def test_interrupted_driver_resumes_without_redoing(cluster: Cluster, tmp_path: Path, tiny_weights: Path, long_video) -> None:
    source, serial = long_video
    output = tmp_path / "film.mkv"
    work = tmp_path / WORK_FOLDER
    command = [sys.executable, "-m", "mprnet_vs", "restore", str(source), "-o", str(output), "--weights", str(tiny_weights),
               "--device", "cpu", "--tile", "0", "--codec", "ffv1", "--ray", cluster.address, "--segment-seconds", "0.9"]
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: list(work.glob("*/piece-*")) or driver.poll() is not None, "a first finished piece")
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130, err
    assert not output.exists()
    kept = sorted(p.name for p in work.rglob("*") if p.is_file())
    assert kept and all(name.startswith("piece-") for name in kept), kept  # no cut piece, no half-written file
    again = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr
    assert f"{len(kept)} restored by an earlier run" in again.stdout
    assert_same_as_serial(output, serial, source)
    assert not work.exists() and hidden(tmp_path) == []


def test_without_ray_installed_is_one_line_naming_the_extra(tmp_path: Path, tiny_weights: Path) -> None:
    source = make_clip(tmp_path / "in.mkv", frames=2)
    code = ("import sys; sys.modules['ray'] = None\n"  # what `import ray` meets when Ray is not installed
            "from mprnet_vs.cli import main\n"
            f"sys.exit(main(['restore', {str(source)!r}, '-o', {str(tmp_path / 'out.mkv')!r}, '--weights', {str(tiny_weights)!r}, '--ray', 'auto']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["mprnet-vs: error: --ray needs Ray, which is not installed: pip install mprnet-vs[ray]"]
    assert not (tmp_path / "out.mkv").exists()


@pytest.fixture(autouse=True, scope="module")
def _clean_scratch() -> Iterator[None]:
    yield
    for folder in scratch_left():
        shutil.rmtree(folder, ignore_errors=True)



def test_two_attempts_at_one_piece_at_once_both_finish(cluster: Cluster, tmp_path: Path, tiny_weights: Path, long_video) -> None:
    """A removed node's worker can still be writing a piece when its restarted actor (or a second
    worker, for a stalled piece) starts the same piece: neither may refuse the other (the
    second used to fail with "another mprnet-vs run is writing it"). The first to finish is
    the result; nothing else is left."""
    from mprnet_vs.cluster.actors import EngineSpec, Work, start_workers
    from mprnet_vs.cluster.workdir import Token

    source, serial = long_video
    spec = EngineSpec(task=None, weights_name=tiny_weights.name, options=dict(ENGINE), threads=1)
    workers = start_workers(2, spec, gpus=1, cpus=1)
    try:
        token = Token(tmp_path)
        result = tmp_path / "piece-0000.mkv"
        work = Work("0/0", "video", str(source), str(result), str(token.path), token.value, LOSSLESS)
        weights = [ray.put(tiny_weights.read_bytes())]
        answers = ray.get([worker.restore.remote(work, weights) for worker in workers], timeout=300)
    finally:
        for worker in workers:
            ray.kill(worker)
    assert [answer.report.frames for answer in answers] == [240, 240]
    assert_same_as_serial(result, serial, source)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([result.name, token.path.name])
