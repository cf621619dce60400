"""The ``mprnet-vs`` command. Each sub-command lives in its own module of this package and
registers itself in ``COMMANDS``; this module only parses, dispatches and maps errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import MprnetError

# name -> (module, one-line help). Each module defines add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("mprnet_vs.cli.demo", "restore a small generated example and report what was done"),
}

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mprnet-vs",
        description="MPRNet image restoration (derain, deblur, denoise) for videos, photos and folders.",
    )
    parser.add_argument("--version", action="version", version=f"mprnet-vs {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args._run(args) or EXIT_OK)
    except KeyboardInterrupt:
        print("mprnet-vs: interrupted", file=sys.stderr)
        return 130
    except MprnetError as exc:
        if args.debug:
            raise
        print(f"mprnet-vs: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
