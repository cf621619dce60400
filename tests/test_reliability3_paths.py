"""Reliability, third pass (issue 24, part A), through the real ``mprnet-vs restore`` process:
output paths that name the current folder by accident, a file appearing at the output while it
is restored, part files left by killed runs, signals at start-up and mid-run, a closed stdout,
and two runs started at once on one output folder.

Inputs are made here (PyAV videos, OpenCV photos); the model is the tiny deterministic one.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from mprnet_vs.cli import main
from mprnet_vs.safe_output import TEMP_MARK
from test_cli import digest, wait_for
from test_video import decoded, make_clip

ROOT = Path(__file__).resolve().parent.parent


def _photo(path: Path, seed: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 256, (24, 32, 3), dtype=np.uint8))
    return path


def _slow_clip(path: Path, frames: int = 60) -> Path:
    """A video that takes a few seconds to restore, so a run can be caught while writing it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_clip(path, codec="ffv1", size=(128, 96), frames=frames)


def _args(*words: object, weights: Path) -> list[str]:
    return ["restore", *map(str, words), "--weights", str(weights), "--device", "cpu", "--tile", "0"]


def _start(args: list[str], stdout_closed: bool = False) -> subprocess.Popen:
    """The command as its own process; ``stdout_closed``: started with no stdout at all (``>&-``)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "mprnet_vs", *args]
    if stdout_closed:
        command = ["bash", "-c", 'exec "$@" >&-', "bash", *command]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=None if stdout_closed else subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _parts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if TEMP_MARK in p.name) if folder.is_dir() else []


def _hidden(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob(".*")) if folder.is_dir() else []


def _writing(folder: Path) -> bool:
    return bool(_parts(folder))


# --- 1. empty and blank output / input paths ------------------------------------------------


@pytest.mark.parametrize("output", ["", "   ", "\t", "  /clean.png"])
@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("kind", ["photo", "folder"])
def test_blank_output_is_a_usage_error(tmp_path: Path, tiny_weights: Path, monkeypatch, capsys,
                                       output: str, overwrite: bool, kind: str) -> None:
    """An unset variable in ``-o "$OUT"`` must not restore into (and with --overwrite replace
    files in) the folder the command was started from."""
    source = _photo(tmp_path / "in" / "a.png")
    users = _photo(tmp_path / "a.png", seed=9)  # the user's own file, in the current folder
    before = digest(users)
    monkeypatch.chdir(tmp_path)
    given = "in" if kind == "folder" else "in/a.png"
    code = main(_args(given, "-o", output, *(["--overwrite"] if overwrite else []), weights=tiny_weights))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "-o/--output" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert digest(users) == before and sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "in"]
    assert digest(source)


def test_blank_output_for_a_video_and_blank_input(tmp_path: Path, tiny_weights: Path, monkeypatch, capsys) -> None:
    video = make_clip(tmp_path / "v.mkv", codec="ffv1", frames=3)
    monkeypatch.chdir(tmp_path)
    assert main(_args("v.mkv", "-o", "", "--overwrite", weights=tiny_weights)) == 2
    assert "-o/--output" in capsys.readouterr().err
    assert main(_args("", "-o", "out.png", weights=tiny_weights)) == 2  # "" is not "."
    assert "argument INPUT" in capsys.readouterr().err
    assert main(["restore", "v.mkv", "-o", "out.mkv", "--weights", ""]) == 2
    assert "--weights" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mkv"] and digest(video)


@pytest.mark.parametrize("output", [".", "./"])
def test_explicit_current_folder_stays_allowed(tmp_path: Path, tiny_weights: Path, monkeypatch, output: str) -> None:
    _photo(tmp_path / "in" / "a.png")
    monkeypatch.chdir(tmp_path)
    assert main(_args("in/a.png", "-o", output, "--quiet", weights=tiny_weights)) == 0
    assert cv2.imread(str(tmp_path / "a.png")).shape == (24, 32, 3)


# --- 2. a file appearing at the output while restoring ---------------------------------------


def _appear_while_writing(target: Path, process: subprocess.Popen, content: bytes) -> None:
    wait_for(lambda: _writing(target.parent), process, timeout=90)
    target.write_bytes(content)


def test_file_appearing_at_the_target_is_left_alone(tmp_path: Path, tiny_weights: Path) -> None:
    source = _slow_clip(tmp_path / "clip.mkv")
    target = tmp_path / "out" / "clip.mkv"
    target.parent.mkdir()
    process = _start(_args(source, "-o", target, weights=tiny_weights))
    _appear_while_writing(target, process, b"the user's file")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    assert "appeared" in err and str(target) in err and "Traceback" not in err
    assert target.read_bytes() == b"the user's file"
    assert _hidden(target.parent) == []


def test_with_overwrite_a_file_appearing_is_replaced(tmp_path: Path, tiny_weights: Path) -> None:
    source = _slow_clip(tmp_path / "clip.mkv", frames=40)
    target = tmp_path / "out" / "clip.mkv"
    target.parent.mkdir()
    process = _start(_args(source, "-o", target, "--overwrite", weights=tiny_weights))
    _appear_while_writing(target, process, b"the user's file")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert len(decoded(target)) == 40 and _hidden(target.parent) == []


def test_photo_target_appearing_in_a_folder_run(tmp_path: Path, tiny_weights: Path) -> None:
    """The same in a folder run: the video after the photo is still restored, and the run
    says which file it left alone (exit 1)."""
    folder = tmp_path / "in"
    _slow_clip(folder / "b.mkv", frames=40)
    _photo(folder / "c.png")
    out = tmp_path / "out"
    process = _start(_args(folder, "-o", out, weights=tiny_weights))
    _appear_while_writing(out / "b.mkv", process, b"mine")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    assert (out / "b.mkv").read_bytes() == b"mine" and cv2.imread(str(out / "c.png")) is not None
    assert "appeared" in err and _hidden(out) == []


# --- 3. part files of killed runs -----------------------------------------------------------


def test_part_files_of_a_killed_run_are_removed_by_the_next(tmp_path: Path, tiny_weights: Path) -> None:
    source = _slow_clip(tmp_path / "clip.mkv")
    out = tmp_path / "out"
    args = _args(source, "-o", out / "clip.mkv", weights=tiny_weights)
    process = _start(args)
    wait_for(lambda: _writing(out), process, timeout=90)
    process.kill()
    process.communicate(timeout=30)
    left = _parts(out)
    assert len(left) == 1  # what SIGKILL leaves: nothing can clean up
    look_alikes = [out / ".clip.mprnet-part-notours.mkv", out / ".other.mprnet-part-0123abcd.mkv",
                   out / ".clip.mprnet-part-0123abcd.mp4", out / "clip.mprnet-part-0123abcd.mkv"]
    for path in look_alikes:
        path.write_bytes(b"not ours")
    assert main(args + ["--quiet"]) == 0
    assert len(decoded(out / "clip.mkv")) == 60
    assert not left[0].exists()
    assert all(p.read_bytes() == b"not ours" for p in look_alikes)
    assert sorted(p.name for p in out.iterdir()) == sorted(["clip.mkv", *(p.name for p in look_alikes)])


def test_a_part_file_someone_holds_is_left_alone(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    """A locked part file is another run writing that output: it is neither removed nor
    written a second time (the job is skipped, exit 0); the others are restored."""
    folder = tmp_path / "in"
    _photo(folder / "a.png")
    _photo(folder / "b.png", seed=2)
    out = tmp_path / "out"
    out.mkdir()
    live = out / ".a.mprnet-part-0badc0de.png"
    live.write_bytes(b"being written")
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert main(_args(folder, "-o", out, weights=tiny_weights)) == 0
    out_text = capsys.readouterr().out
    assert "another mprnet-vs run is writing" in out_text and "a.png" in out_text
    assert live.read_bytes() == b"being written" and not (out / "a.png").exists()
    assert cv2.imread(str(out / "b.png")) is not None


# --- 4. signals at start-up and mid-run ------------------------------------------------------


SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("when", ["start-up", "mid-run"])
def test_signals_leave_nothing_and_no_traceback(tmp_path: Path, tiny_weights: Path, sig: signal.Signals, when: str) -> None:
    source = _slow_clip(tmp_path / "clip.mkv", frames=40)
    out = tmp_path / "out"
    out.mkdir()
    process = _start(_args(source, "-o", out / "clip.mkv", weights=tiny_weights))
    if when == "start-up":
        time.sleep(0.3)  # imports and the model are still loading
    else:
        wait_for(lambda: _writing(out), process, timeout=90)
        time.sleep(0.1)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + sig, err
    assert "Traceback" not in err and "interrupted" in err
    assert list(out.iterdir()) == []


def test_a_signal_anywhere_in_the_imports_is_one_line(tmp_path: Path, tiny_weights: Path) -> None:
    """Start-up is mostly imports of C extensions (torch, numpy, PyAV); an exception raised in
    one's initialisation left it half-loaded ("ImportError: cannot load module more than once
    per process", exit 1). Signals are held until the imports are done, wherever they land."""
    source = _slow_clip(tmp_path / "clip.mkv", frames=40)
    for delay in (0.1, 0.2, 0.35, 0.5, 0.7):
        out = tmp_path / f"out{delay}"
        out.mkdir()
        process = _start(_args(source, "-o", out / "clip.mkv", weights=tiny_weights))
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 128 + signal.SIGTERM, (delay, err)
        assert "Traceback" not in err and "interrupted" in err, (delay, err)
        assert list(out.iterdir()) == []


# --- 5. a closed stdout ------------------------------------------------------------------------


def _folder_of_photos(folder: Path, count: int = 3) -> list[Path]:
    return [_photo(folder / f"p{i}.png", seed=i) for i in range(count)]


@pytest.mark.parametrize("how", ["pipe closed", "stdout closed"])
def test_closed_stdout_does_not_stop_a_folder_run(tmp_path: Path, tiny_weights: Path, how: str) -> None:
    folder = tmp_path / "in"
    photos = _folder_of_photos(folder)
    out = tmp_path / "out"
    if how == "pipe closed":  # mprnet-vs restore IN -o OUT | head -c0
        process = _start(_args(folder, "-o", out, weights=tiny_weights))
        process.stdout.close()
    else:  # mprnet-vs restore IN -o OUT >&-
        process = _start(_args(folder, "-o", out, weights=tiny_weights), stdout_closed=True)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err and "error" not in err
    assert all(cv2.imread(str(out / p.name)) is not None for p in photos)
    assert _hidden(out) == []


# --- 6. two runs at once on one output folder -------------------------------------------------


def test_two_runs_at_once_on_one_folder(tmp_path: Path, tiny_weights: Path) -> None:
    folder = tmp_path / "in"
    for index in range(3):
        _slow_clip(folder / f"v{index}.mkv", frames=12)
    _folder_of_photos(folder, 2)
    single = tmp_path / "single"
    assert main(_args(folder, "-o", single, "--quiet", weights=tiny_weights)) == 0
    out = tmp_path / "out"
    first, second = (_start(_args(folder, "-o", out, weights=tiny_weights)) for _ in range(2))
    results = [(p.wait(timeout=180), p.communicate()) for p in (first, second)]
    for code, (_, err) in results:
        assert code == 0, err
        assert "Traceback" not in err
    names = sorted(p.name for p in single.iterdir())
    # Each output written by one run only; the other says another run is writing it (or has).
    restored = [line for _, (said, _) in results for line in said.splitlines() if line.startswith("restored ")]
    assert len(restored) == len(names), restored
    assert sorted(p.name for p in out.iterdir()) == names and _hidden(out) == []
    for name in names:
        if name.endswith(".png"):
            assert np.array_equal(cv2.imread(str(out / name)), cv2.imread(str(single / name)))
        else:
            ours, theirs = decoded(out / name), decoded(single / name)
            assert len(ours) == len(theirs) == 12
            assert all(np.array_equal(a.to_ndarray(format="rgb24"), b.to_ndarray(format="rgb24")) for a, b in zip(ours, theirs))


def test_a_thread_writing_the_same_output_is_not_clobbered(tmp_path: Path) -> None:
    """The claim itself, without processes: while one writer holds the output, a second gets
    OutputTaken at once and writes nothing."""
    from mprnet_vs.safe_output import OutputTaken, atomic_output

    target = tmp_path / "x.txt"
    holding, release = threading.Event(), threading.Event()

    def first() -> None:
        with atomic_output(target, replace=False) as temp:
            temp.write_text("first")
            holding.set()
            release.wait(10)

    writer = threading.Thread(target=first)
    writer.start()
    assert holding.wait(10)
    with pytest.raises(OutputTaken, match="another mprnet-vs run"):
        with atomic_output(target, replace=False) as temp:
            temp.write_text("second")
    release.set()
    writer.join()
    assert target.read_text() == "first" and _hidden(tmp_path) == []


def test_ray_results_never_replace_a_file_that_appeared_unless_overwrite(tmp_path: Path) -> None:
    """The Ray driver moves a finished result (a worker's whole-file output) into place with the
    same rule as a local run: without --overwrite a file found at the target is left alone."""
    from mprnet_vs.cluster.driver import _move
    from mprnet_vs.safe_output import OutputAppeared

    target = tmp_path / "out.mkv"
    target.write_bytes(b"the user's file")
    result = tmp_path / "result.mkv"
    result.write_bytes(b"restored")
    with pytest.raises(OutputAppeared, match="a file appeared there while restoring"):
        _move(result, target, replace=False)
    assert target.read_bytes() == b"the user's file" and not result.exists()
    result.write_bytes(b"restored")
    _move(result, target, replace=True)
    assert target.read_bytes() == b"restored" and not result.exists()
    fresh = tmp_path / "fresh.mkv"
    result.write_bytes(b"restored")
    _move(result, fresh, replace=False)
    assert fresh.read_bytes() == b"restored" and not result.exists()
