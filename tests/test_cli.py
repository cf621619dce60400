"""The ``mprnet-vs restore`` and ``presets`` commands: folders, resume, refusals, exit codes,
interruption (real signals to a real process) and progress."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from mprnet_vs.cli import main
from mprnet_vs.progress import Progress
from test_video import decoded, make_clip

ROOT = Path(__file__).resolve().parent.parent


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hidden(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*")]


def restore(*args: object, weights: Path) -> list[str]:
    return ["restore", *map(str, args), "--weights", str(weights), "--device", "cpu", "--tile", "0"]


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A folder of inputs: videos, a photo, a sub-folder with awkward names, a broken file
    and a file that is not media at all."""
    folder = tmp_path / "in"
    (folder / "sub dir").mkdir(parents=True)
    make_clip(folder / "clip.mkv", codec="ffv1", frames=3)
    make_clip(folder / "sub dir" / "vidéo ü 2.mp4", frames=3, audio=("aac",))
    assert cv2.imwrite(str(folder / "photo.png"), np.full((24, 32, 3), 120, np.uint8))
    (folder / "broken.mp4").write_bytes(b"this is not a video" * 100)
    (folder / "notes.txt").write_text("not media", encoding="utf-8")
    return folder


def test_folder_run_with_a_bad_file_then_rerun_skips(library: Path, tmp_path: Path, tiny_weights: Path, capsys) -> None:
    out = tmp_path / "out"
    before = {p: digest(p) for p in library.rglob("*") if p.is_file()}
    code = main(restore(library, "-o", out, weights=tiny_weights))
    captured = capsys.readouterr()
    assert code == 1
    restored = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert restored == ["clip.mkv", "photo.png", "sub dir/vidéo ü 2.mp4"]
    assert len(decoded(out / "sub dir" / "vidéo ü 2.mp4")) == 3
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "broken.mp4" in errors[0] and "not a readable video" in errors[0]
    assert "Traceback" not in captured.err
    assert "summary: 3 restored, 0 skipped, 1 failed" in captured.err
    assert {p: digest(p) for p in before} == before  # inputs never modified
    assert not hidden(out)

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    code = main(restore(library, "-o", out, weights=tiny_weights))
    captured = capsys.readouterr()
    assert code == 1  # the broken file still fails
    assert captured.out.count("skipped ") == 3
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    code = main(restore(library / "clip.mkv", "-o", out / "clip.mkv", "--overwrite", weights=tiny_weights))
    assert code == 0 and out.joinpath("clip.mkv").stat().st_mtime_ns != stamps[out / "clip.mkv"]


def test_single_files_and_debug_tracebacks(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    clip = make_clip(tmp_path / "a b.mkv", codec="ffv1", frames=2)
    assert main(restore(clip, "-o", tmp_path / "out" / "x.mp4", "--quiet", weights=tiny_weights)) == 0
    assert capsys.readouterr().out == ""  # --quiet
    assert len(decoded(tmp_path / "out" / "x.mp4")) == 2

    bad = tmp_path / "bad.mkv"
    bad.write_bytes(os.urandom(3000))
    assert main(restore(bad, "-o", tmp_path / "bad_out.mkv", weights=tiny_weights)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") >= 1 and "bad.mkv" in err and "Traceback" not in err
    assert main([*restore(bad, "-o", tmp_path / "bad_out.mkv", weights=tiny_weights), "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err
    assert not (tmp_path / "bad_out.mkv").exists() and not hidden(tmp_path)


def test_output_that_is_an_input_is_refused(library: Path, tmp_path: Path, tiny_weights: Path, capsys) -> None:
    clip = library / "clip.mkv"
    before = digest(clip)
    assert main(restore(clip, "-o", clip, "--overwrite", weights=tiny_weights)) == 2
    assert main(restore(clip, "-o", library / "." / "clip.mkv", weights=tiny_weights)) == 2
    assert main(restore(library, "-o", library, weights=tiny_weights)) == 2
    err = capsys.readouterr().err
    assert err.count("refusing to overwrite an input") == 3
    assert digest(clip) == before and not hidden(library)


@pytest.mark.parametrize(
    "args",
    [
        ["missing.mkv", "-o", "x.mkv"],
        ["{clip}", "-o", "x.mkv", "--tile", "big"],
        ["{clip}", "-o", "x.mkv", "--codec", "no-such-codec"],
        ["{clip}", "-o", "x.mkv", "--encoder-opt", "nonsense=1"],
        ["{clip}", "-o", "x.mkv", "--codec", "ffv1", "--crf", "10"],
        ["{clip}", "-o", "x.mkv", "--crf", "10", "--encoder-opt", "qp=0"],
        ["{clip}", "-o", "x.mkv", "--crf", "10", "--encoder-opt", "x264-params=crf=20"],
        ["{clip}", "-o", "x.mkv", "--preset", "warp-speed"],
        ["{clip}", "-o", "x.png"],
        ["{clip}", "-o", "noextension"],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, tiny_weights: Path, args: list[str], capsys) -> None:
    clip = make_clip(tmp_path / "clip.mkv", codec="ffv1", frames=1)
    argv = [a.format(clip=clip) for a in args]
    argv = [str(tmp_path / a) if a in ("x.mkv", "x.png", "noextension") else a for a in argv]
    assert main(["restore", *argv, "--task", "derain", "--weights", str(tiny_weights), "--device", "cpu"]) == 2
    assert not list(tmp_path.glob("x*")) and not (tmp_path / "noextension").exists()
    assert "Traceback" not in capsys.readouterr().err


def test_task_or_weights_required(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mkv", codec="ffv1", frames=1)
    assert main(["restore", str(clip), "-o", str(tmp_path / "x.mkv")]) == 2


def test_unwritable_output_folder_fails_that_file(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    clip = make_clip(tmp_path / "clip.mkv", codec="ffv1", frames=1)
    blocker = tmp_path / "a_file"
    blocker.write_text("x", encoding="utf-8")
    assert main(restore(clip, "-o", blocker / "sub" / "out.mkv", weights=tiny_weights)) == 1
    err = capsys.readouterr().err
    assert "clip.mkv" in err and "Traceback" not in err


def test_codec_follows_each_output_container(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    """Without --codec a .webm output gets VP9 (libx264 cannot go in WebM) and a .mkv H.264;
    a --codec one of the outputs cannot hold stops the run before any work, in one line."""
    folder = tmp_path / "in"
    folder.mkdir()
    make_clip(folder / "a.webm", codec="libvpx-vp9", frames=2)
    make_clip(folder / "b.mkv", codec="ffv1", frames=2)
    assert main(restore(folder, "-o", tmp_path / "out", "--quiet", weights=tiny_weights)) == 0
    for name, codec in (("a.webm", "vp9"), ("b.mkv", "h264")):
        with av.open(str(tmp_path / "out" / name)) as out:
            assert out.streams.video[0].codec_context.name == codec
        assert len(decoded(tmp_path / "out" / name)) == 2
    capsys.readouterr()
    assert main(restore(folder, "-o", tmp_path / "forced", "--codec", "libx264", weights=tiny_weights)) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "a.webm: webm files cannot hold libx264 video" in err[0] and "--codec libvpx-vp9" in err[0]
    assert not (tmp_path / "forced").exists()


def test_presets_command_lists_profiles(capsys) -> None:
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for task in ("derain", "deblur", "denoise"):
        assert task in out
    assert "fast" in out and "quality" in out and "stages 1" in out and "stages 3" in out
    assert main(["presets", "--task", "deblur"]) == 0
    assert "derain" not in capsys.readouterr().out


def test_presets_command_takes_a_file_and_profile_as_preset_does(capsys) -> None:
    deblur = Path(__file__).resolve().parent.parent / "presets" / "deblur.yaml"
    assert main(["presets", f"{deblur}:fast"]) == 0
    out = capsys.readouterr().out
    assert "fast" in out and "stages 1" in out and "quality" not in out
    assert main(["presets", f"{deblur}:nope"]) == 2
    assert "unknown profile 'nope'; profiles: fast, balanced, quality" in capsys.readouterr().err


def test_progress_draws_only_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    progress = Progress(2, 20, stream=screen, interval=0)
    progress.start_file("a.mkv", 10)
    progress.update(5, 10)
    progress.update(5, 10)  # tqdm redraws at most once per mininterval: the second update is drawn
    drawn = screen.getvalue()
    assert "[1/2] a.mkv" in drawn and "5/10 frames" in drawn and "frames/s" in drawn and "ETA" in drawn
    assert "all 5/20 frames" in drawn
    progress.end_file(10)
    progress.close()

    pipe = io.StringIO()
    quiet = Progress(1, 10, stream=pipe, interval=0)
    quiet.start_file("a.mkv", 10)
    quiet.update(10, 10)
    assert pipe.getvalue() == ""


# --- interruption: a real process and real signals --------------------------------------------


def _start(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "mprnet_vs", *args], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, timeout: float = 60) -> None:
    """Poll ``condition`` until true; fail if ``process`` ends first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"finished before it could be interrupted: {process.communicate()}"
        assert time.monotonic() < deadline, "timed out waiting for the run to start"
        time.sleep(0.05)


def test_ctrl_c_leaves_nothing_at_the_output(tmp_path: Path, tiny_weights: Path) -> None:
    source = make_clip(tmp_path / "long.mkv", codec="ffv1", size=(128, 96), frames=120, audio=("flac",))
    before = digest(source)
    out = tmp_path / "out"
    process = _start(restore(source, "-o", out / "long.mp4", weights=tiny_weights))
    wait_for(lambda: out.is_dir() and any(out.iterdir()), process)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert list(out.iterdir()) == []  # no output, no temporary file
    assert digest(source) == before


def test_sigterm_in_a_folder_run_then_rerun_finishes_the_rest(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    make_clip(folder / "a_short.mkv", codec="ffv1", frames=2)
    make_clip(folder / "b_long.mkv", codec="ffv1", size=(128, 96), frames=60)
    before = {p: digest(p) for p in folder.iterdir()}
    out = tmp_path / "out"
    process = _start(restore(folder, "-o", out, weights=tiny_weights))
    wait_for(lambda: (out / "a_short.mkv").exists() and any(p.name.startswith(".b_long") for p in out.iterdir()), process)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert sorted(p.name for p in out.iterdir()) == ["a_short.mkv"]
    finished = (out / "a_short.mkv").stat().st_mtime_ns

    assert main(restore(folder, "-o", out, weights=tiny_weights)) == 0
    assert "skipped" in capsys.readouterr().out
    assert (out / "a_short.mkv").stat().st_mtime_ns == finished  # not redone
    assert len(decoded(out / "b_long.mkv")) == 60
    assert {p: digest(p) for p in folder.iterdir()} == before and not hidden(out)


def test_pipes_and_broken_links_in_a_folder_are_never_opened(tmp_path: Path, tiny_weights: Path) -> None:
    """A pipe named like a photo or a video would block its reader forever: it is skipped
    without being opened (it holds no picture). A link to a photo that is gone fails, since a
    picture the folder names is missing. The rest is restored. Run as a real process, so a
    hang is a timeout, not a stuck test session."""
    folder = tmp_path / "in"
    folder.mkdir()
    assert cv2.imwrite(str(folder / "a.png"), np.full((12, 16, 3), 90, np.uint8))
    os.mkfifo(folder / "pipe.png")
    os.mkfifo(folder / "pipe.mp4")
    (folder / "gone.png").symlink_to(tmp_path / "deleted.png")
    out = tmp_path / "out"
    process = _start(restore(folder, "-o", out, weights=tiny_weights))
    try:
        stdout, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 1, err
    for pipe in ("pipe.mp4", "pipe.png"):
        assert f"skipped {folder / pipe}: not a regular file (a pipe, socket or device)" in stdout
    errors = [line for line in err.splitlines() if "error:" in line]
    assert errors == [f"mprnet-vs: error: {folder / 'gone.png'}: broken symbolic link (to {tmp_path / 'deleted.png'}, which cannot be opened)"]
    assert "summary: 1 restored, 2 skipped, 1 failed" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]


def test_broken_link_as_the_input_is_a_usage_error(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    (tmp_path / "gone.png").symlink_to(tmp_path / "deleted.png")
    assert main(restore(tmp_path / "gone.png", "-o", tmp_path / "out.png", weights=tiny_weights)) == 2
    assert "gone.png: broken symbolic link (to " in capsys.readouterr().err


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_folder_where_an_output_goes_fails_that_file(tmp_path: Path, tiny_weights: Path, overwrite: list[str], capsys) -> None:
    """A folder in the way is no finished output to skip, and no file --overwrite can replace:
    that input fails with a line naming both, not an OS error about a temporary name."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        assert cv2.imwrite(str(folder / name), np.full((12, 16, 3), 90, np.uint8))
    out = tmp_path / "out"
    (out / "a.png").mkdir(parents=True)
    assert main(restore(folder, "-o", out, *overwrite, weights=tiny_weights)) == 1
    err = capsys.readouterr().err
    assert f"error: {folder / 'a.png'}: {out / 'a.png'} is a folder; the output cannot be written there" in err
    assert "summary: 1 restored, 0 skipped, 1 failed" in err and "mprnet-part" not in err
    assert (out / "a.png").is_dir() and (out / "b.png").is_file() and not hidden(out)


def test_names_too_long_for_the_file_system_are_one_line_usage_errors(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    """Python 3.13's Path.exists raises on ENAMETOOLONG instead of answering False: the
    command still ends with one line and exit 2 (the traceback only with --debug)."""
    photo = tmp_path / "p.png"
    assert cv2.imwrite(str(photo), np.full((8, 8, 3), 90, np.uint8))
    long = "y" * 300
    for args in ([photo, "-o", tmp_path / f"{long}.png"], [tmp_path / f"{long}.png", "-o", tmp_path / "out.png"]):
        assert main(restore(*args, weights=tiny_weights)) == 2
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"mprnet-vs: error: {tmp_path / long}") and lines[0].endswith(".png: file name too long")
    with pytest.raises(Exception, match="file name too long"):
        main([*restore(photo, "-o", tmp_path / f"{long}.png", weights=tiny_weights), "--debug"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]


def test_a_file_system_error_no_step_names_is_still_one_line(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    """The last net for OSError in main: ``evaluate --save`` below a file is one line, exit 1."""
    clean = tmp_path / "clean"
    clean.mkdir()
    assert cv2.imwrite(str(clean / "a.png"), np.full((16, 16, 3), 100, np.uint8))
    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    argv = ["evaluate", "--task", "denoise", "--weights", str(tiny_weights), "--clean", str(clean), "--degrade", "noise:sigma=15",
            "--save", str(tmp_path / "a_file" / "sub"), "--device", "cpu"]
    assert main(argv) == 1
    assert capsys.readouterr().err.splitlines() == [f"mprnet-vs: error: {tmp_path / 'a_file' / 'sub'}: not a directory"]


def test_pages_left_out_are_a_warning_even_with_quiet(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    """Pages 2..N of a TIFF are picture data the output lacks: a warning on stderr (as for a
    video stream not copied), shown with --quiet too; the run still succeeds."""
    pages = [np.full((8, 12, 3), value, np.uint8) for value in (40, 120, 200)]
    assert cv2.imwritemulti(str(tmp_path / "scan.tif"), pages)
    assert main(restore(tmp_path / "scan.tif", "-o", tmp_path / "out.tif", "--quiet", weights=tiny_weights)) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [f"mprnet-vs: warning: {tmp_path / 'out.tif'}: not copied: pages 2 to 3 of 3: only the first page is restored"]


def test_every_failure_line_starts_with_its_input(tmp_path: Path, tiny_weights: Path, monkeypatch, capsys) -> None:
    """A relative input's name is often part of its output's name (``p.png`` in
    ``/sys/p.png``): the error line still starts with the input, not only with the output."""
    monkeypatch.chdir(tmp_path)
    assert cv2.imwrite("p.png", np.full((8, 8, 3), 90, np.uint8))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    folder = locked if os.geteuid() != 0 else Path("/sys")  # root is not stopped by modes; sysfs takes no files
    assert main(restore("p.png", "-o", folder / "p.png", weights=tiny_weights)) == 1
    assert capsys.readouterr().err.startswith(f"mprnet-vs: error: p.png: {folder / 'p.png'}: cannot write in")


@pytest.mark.parametrize("name", ["notes.txt", "photo.jfif", "png_without_extension"])
def test_an_unknown_extension_to_a_photo_output_names_the_input_and_the_photo_extensions(tmp_path: Path, tiny_weights: Path,
                                                                                        name: str, capsys) -> None:
    """It used to say "out.png: a video cannot be written as a .png photo" about a text file."""
    source = tmp_path / name
    source.write_bytes(cv2.imencode(".png", np.full((8, 8, 3), 90, np.uint8))[1].tobytes())
    assert main(restore(source, "-o", tmp_path / "out.png", weights=tiny_weights)) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"mprnet-vs: error: {source}: not a photo extension (.png, .jpg, .jpeg, .jpe, .tif, .tiff, .bmp, .webp); "
        "other files are read as videos, which cannot be written as a .png photo"]


def test_output_named_only_by_its_extension_is_explained(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    """``-o .png`` is a hidden file with no extension to Python: the message says what is missing."""
    photo = tmp_path / "in.png"
    cv2.imwrite(str(photo), np.full((16, 16, 3), 90, np.uint8))
    assert main(restore(photo, "-o", tmp_path / ".png", weights=tiny_weights)) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / '.png'}: the output needs a name before its extension (e.g. clean.png)" in err
    assert not (tmp_path / ".png").exists()


def test_symlinked_folders_inside_a_folder_are_not_followed(tmp_path: Path, tiny_weights: Path, capsys) -> None:
    """As ``find`` does by default (a link may loop back to its own parent): only real
    sub-folders are mirrored; a linked folder named as an input is restored."""
    real, folder = tmp_path / "real", tmp_path / "in"
    real.mkdir(), folder.mkdir()
    cv2.imwrite(str(real / "b.png"), np.full((16, 16, 3), 90, np.uint8))
    cv2.imwrite(str(folder / "a.png"), np.full((16, 16, 3), 90, np.uint8))
    (folder / "linked").symlink_to(real, target_is_directory=True)
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    assert main(restore(folder, "-o", tmp_path / "out", weights=tiny_weights)) == 0
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["a.png"]
    assert main(restore(folder / "linked", "-o", tmp_path / "out2", weights=tiny_weights)) == 0
    assert sorted(p.name for p in (tmp_path / "out2").rglob("*")) == ["b.png"]
