"""The installed command and module entry points."""

from __future__ import annotations

import os
import subprocess
import sys

import mprnet_vs
from mprnet_vs.cli import main


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mprnet_vs", *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_version_via_module():
    done = _run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"mprnet-vs {mprnet_vs.__version__}"


def test_help_lists_commands(capsys):
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    assert "usage: mprnet-vs" in out and "demo" in out


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2


def test_demo_runs_offline_on_the_shipped_model(tmp_path):
    """The README's main command, with nothing but the package: the shipped derain model."""
    # No published checkpoint anywhere we look, whatever this machine has in its cache.
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "MPRNET_VS_WEIGHTS": str(tmp_path / "none")}
    done = _run("demo", "-o", str(tmp_path / "demo"), "--frames", "3", "--size", "96x64", env=env)
    assert done.returncode == 0, done.stderr
    assert "mprnet_vs/models/derain.pth" in done.stdout
    assert "PSNR against the clean pan" in done.stdout
    assert (tmp_path / "demo" / "side_by_side.png").is_file()
