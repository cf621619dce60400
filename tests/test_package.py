"""The installed command and module entry points."""

from __future__ import annotations

import subprocess
import sys

import mprnet_vs
from mprnet_vs.cli import main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mprnet_vs", *args], capture_output=True, text=True, timeout=120)


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


def test_demo_restores_and_reports():
    done = _run("demo")
    assert done.returncode == 0, done.stderr
    assert "restored" in done.stdout
