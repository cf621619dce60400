"""The ``mprnet-vs`` command. Each sub-command lives in its own module of this package and
registers itself in ``COMMANDS``; this module only parses, dispatches and maps errors to exit codes."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import NoReturn

from .. import __version__
from ..engine.options import ENGINE_OPTIONS, MAX_SIDE, Option
from ..errors import MissingDependency, MprnetError, describe_os_error

# name -> (module, one-line help). Each module defines add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("mprnet_vs.cli.demo", "restore a small generated example and report what was done"),
    "train": ("mprnet_vs.cli.train", "train or fine-tune an MPRNet with the released recipe (YAML config)"),
    "evaluate": ("mprnet_vs.cli.evaluate", "PSNR and SSIM of restored images against clean ones"),
    "bench": ("mprnet_vs.cli.bench", "time the engine against the released code's way of running, on this device"),
    "restore": ("mprnet_vs.cli.restore", "restore videos, photos and folders (derain, deblur, denoise)"),
    "presets": ("mprnet_vs.cli.presets_cmd", "list the presets and what each sets"),
    "vpy": ("mprnet_vs.cli.vpy", "print the path of a task's installed .vpy script (for vspipe)"),
    "export": ("mprnet_vs.cli.export", "export a checkpoint as one ONNX file (onnxruntime, OpenVINO, TensorRT, vs-mlrt)"),
}

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Bounds no real run meets, so a typo fails at once instead of starting minutes of work:
# Ray workers of a large cluster, a day-long segment, benchmark repetitions and frames.
MAX_WORKERS = 4096
MAX_SEGMENT_SECONDS = 86400.0
MAX_REPEATS = 10000


def _parse_number(text: str, number: type) -> float:
    try:
        value = number(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if number is int else 'a number'}, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _shown(value: float) -> str:
    """A bound as a person writes it: 4294967295, not 4.29497e+09."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def at_least(minimum: float, number: type = int, maximum: float | None = None):  # noqa: ANN201 - an argparse type
    """An argparse type: a whole number (or, with ``number=float``, any finite number) >= ``minimum``
    and, given ``maximum``, <= it (a bound no real run meets, so a typo fails before any work)."""

    def parse(text: str) -> float:
        value = _parse_number(text, number)
        if value < minimum or (maximum is not None and value > maximum):
            within = f" and <= {_shown(maximum)}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"must be >= {_shown(minimum)}{within}")
        return value

    return parse


def above(bound: float, maximum: float | None = None):  # noqa: ANN201 - an argparse type
    """An argparse type: a finite number > ``bound`` (a learning rate) and, given ``maximum``, <= it."""

    def parse(text: str) -> float:
        value = _parse_number(text, float)
        if value <= bound or (maximum is not None and value > maximum):
            within = f" and <= {_shown(maximum)}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"must be > {_shown(bound)}{within}")
        return value

    return parse


def frame_size(minimum: int, maximum: int = MAX_SIDE):  # noqa: ANN201 - an argparse type
    """An argparse type: WIDTHxHEIGHT -> (width, height), each at least ``minimum`` and at most
    ``maximum`` pixels (16K video is 15360 px wide; a typo must not allocate gigabytes)."""

    def parse(text: str) -> tuple[int, int]:
        width, sep, height = text.lower().partition("x")
        if not (sep and width.isdigit() and height.isdigit()):
            raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT, e.g. 320x240")
        if min(int(width), int(height)) < minimum or max(int(width), int(height)) > maximum:
            raise argparse.ArgumentTypeError(f"{text!r}: width and height must be {minimum} to {maximum} pixels")
        return int(width), int(height)

    return parse


def option_type(option: Option):  # noqa: ANN201 - an argparse type
    """An argparse type for an engine option: its text parsed and validated by the option
    description, so the command line says what Python and VapourSynth say."""

    def parse(text: str) -> object:
        try:
            return option.validate(option.parse(text), "")  # argparse names the option
        except MprnetError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = option.name  # argparse names the type in its "invalid value" message
    return parse


def add_engine_options(parser: argparse.ArgumentParser, title: str = "model") -> None:
    """The engine's options (:data:`mprnet_vs.engine.options.ENGINE_OPTIONS`) as a group of
    ``--flags`` with the description's help text."""
    group = parser.add_argument_group(title)
    for option in ENGINE_OPTIONS:
        if option.kind == "flag":
            group.add_argument(option.flag, action="store_true", help=option.help)
        else:
            group.add_argument(option.flag, type=option_type(option), default=option.default, metavar=option.metavar,
                               help=option.help)


def engine_options(args: argparse.Namespace) -> dict[str, object]:
    """The engine keywords the command line gave (what ``add_engine_options`` added)."""
    return {option.name: getattr(args, option.name) for option in ENGINE_OPTIONS}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (the full usage is one ``--help`` away), so every
    failure of the command is a single line on stderr."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _get_value(self, action: argparse.Action, arg_string: str) -> object:
        """Every option's and argument's text, of every command, before its type sees it: an
        empty or blank value (an unset shell variable) is a usage error naming the option,
        never the default, the current folder or a confusing error from a library."""
        blank = isinstance(arg_string, str) and not arg_string.strip()
        if blank and not isinstance(action, argparse._SubParsersAction):  # its words are the command's own
            name = "/".join(action.option_strings) or action.metavar or action.dest
            self.error(f"argument {name}: empty value {arg_string!r}; give a value or leave the option out")
        return super()._get_value(action, arg_string)


def chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command named on the command line: the first word that is not an option (the
    top-level options take no values)."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def _load_command(name: str) -> ModuleType:
    """Only the command that runs is imported, so ``train`` and ``evaluate`` work on a training
    machine without PyAV or VapourSynth."""
    try:
        return importlib.import_module(COMMANDS[name][0])
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] == "mprnet_vs":
            raise
        raise MissingDependency(f"'{name}' needs the Python package '{exc.name}', which is not installed") from None


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser with every command listed and the options of the command named in ``argv``."""
    parser = _Parser(
        prog="mprnet-vs",
        description="MPRNet image restoration (derain, deblur, denoise) for videos, photos and folders.",
    )
    parser.add_argument("--version", action="version", version=f"mprnet-vs {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = chosen_command(argv)
    for name, (_module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
        if name == chosen:
            module = _load_command(name)
            module.add_arguments(command)
            command.set_defaults(_run=module.run)
    return parser


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM, SIGHUP or SIGQUIT: unwinds like KeyboardInterrupt so every ``finally``
    cleans up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# SIGHUP: the terminal closed; SIGQUIT: Ctrl-\ (its default, a core dump, would leave the
# part file of the output being written behind).
INTERRUPTING = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name))


class _Held:
    """While the command's modules import (torch, numpy, PyAV: C extensions), an interrupting
    signal is held, not raised: an exception inside a C extension's initialisation leaves it
    half-loaded ("cannot load module more than once per process") and the run ends in an
    ImportError traceback. It is delivered once the imports are done."""

    active = False
    pending: int | None = None


@contextlib.contextmanager
def _signals_held_while_importing() -> Iterator[None]:
    """Hold the signals of :data:`INTERRUPTING` for the block (see :class:`_Held`), then
    deliver the first one that came, if any, to the handler of :func:`_signals_interrupt`."""
    _Held.active, _Held.pending = True, None
    try:
        yield
    finally:
        _Held.active = False
        pending, _Held.pending = _Held.pending, None
        if pending is not None:  # only our own handler records one, so it is still installed
            signal.raise_signal(pending)


@contextlib.contextmanager
def _signals_interrupt(program: bool = False) -> Iterator[None]:
    """The signals of :data:`INTERRUPTING` raise Interrupted once; a second signal during the
    clean-up is ignored so it cannot leave a partial file behind. The previous handlers come
    back afterwards -- except when ``program`` (the command runs as its own process) was
    interrupted: the process exits at once then (see :func:`_leave`), and a second Ctrl-C
    until then is ignored too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def handler(signum: int, _frame: object) -> None:
        nonlocal fired
        if fired:
            return
        if _Held.active:
            if _Held.pending is None:
                _Held.pending = signum
            return
        fired = True
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in INTERRUPTING}
    try:
        yield
    finally:
        if not (fired and program):
            for sig, old in previous.items():
                signal.signal(sig, old)


def _leave(code: int) -> NoReturn:
    """End an interrupted program now. Its outputs are cleaned up already; Python's own
    shutdown (torch, codec libraries) takes a while and resets the signal handlers first, so a
    second Ctrl-C during it would kill the process or print a stray traceback."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _failed(exc: MprnetError) -> int:
    """Every failure of the command: one line on stderr, and the error's exit code."""
    print(f"mprnet-vs: error: {exc}", file=sys.stderr)
    return getattr(exc, "exit_code", EXIT_FAILED)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (``argv`` None: this process's own, and an interruption ends it)."""
    try:
        # From the very start: a signal while the command's libraries (torch, PyAV) load is
        # one line too, not a traceback from inside an import.
        with _signals_interrupt(program=argv is None):
            return _dispatch(argv)
    except KeyboardInterrupt as exc:
        print("mprnet-vs: interrupted", file=sys.stderr)
        code = 128 + getattr(exc, "signum", signal.SIGINT)
        if argv is None:  # the command line itself, not a caller in Python
            _leave(code)
        return code


def _dispatch(argv: Sequence[str] | None) -> int:
    """Parse, run the chosen command, and map its errors to one line and an exit code."""
    words = sys.argv[1:] if argv is None else argv
    try:
        with _signals_held_while_importing():
            parser = build_parser(words)
    except MissingDependency as exc:  # before parsing: --debug is looked for among the words
        if "--debug" in words:
            raise
        return _failed(exc)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args._run(args) or EXIT_OK)
    except MprnetError as exc:
        if args.debug:
            raise
        return _failed(exc)
    except OSError as exc:  # one the command did not turn into a message of its own
        if args.debug:
            raise
        return _failed(MprnetError(describe_os_error(exc)))
