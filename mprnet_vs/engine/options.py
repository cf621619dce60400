"""One description of the engine's options, from which every front end is made or checked.

:class:`~mprnet_vs.engine.Restorer`'s keywords, the VapourSynth filters' signature and
docstrings, the ``.vpy`` scripts' ``-a`` keys, the ``mprnet-vs restore`` option group and the
README's option table all list exactly :data:`ENGINE_OPTIONS` (tests/test_options.py checks
it), so an option is added, renamed or re-documented here once.

Each option validates in one place: the profile settings (stages, tile, overlap, batch,
precision, ensemble) in :func:`check_setting`, which presets, the Restorer and every front end call;
``weights``, ``preset`` and ``device`` where they are resolved (a file to find, a GPU to ask
for); ``compile`` and ``local_stats`` by their own checks below. Text from a command line or a
vspipe ``-a`` argument first goes through :meth:`Option.parse`, so ``tile=auto`` and
``tile=512`` mean the same everywhere. This module imports no torch: the CLI builds its parser
from it without loading the engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import PresetError

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
# What runs the network (mprnet_vs.engine.backends); "auto" is the fastest installed one exact here.
BACKENDS = ("torch", "onnxruntime", "openvino", "tensorrt", "auto")
BACKEND_HELP = (
    "what runs the network: torch (PyTorch, default), onnxruntime, openvino, tensorrt (CUDA only), "
    "or auto (the fastest installed backend that is exact on this device)"
)
STAGES = (1, 2, 3)  # the model's STAGE_CHOICES (tests check they agree; this module imports no torch)
ENSEMBLE = (1, 2, 4, 8)  # engine.ensemble.ENSEMBLE_SIZES (tests check they agree)
# Frames or tiles per forward pass. Far above what any GPU fits for real frames, low enough
# that a typo (batch=100000) fails at once instead of holding a whole video in memory.
MAX_BATCH = 256
# Training crop the TLC windows are sized for. Real crops are 128-512 px; a typo (9600 for 96)
# would make the first forward pass allocate gigabytes before any frame is read.
MAX_LOCAL_STATS = 1024
# A frame side (bench sizes, export --static): far above any frame (16K video is 15360 px wide).
# Tile and overlap need none: a tile larger than the frame is the whole frame, at no cost.
MAX_SIDE = 16384
# CPU threads of the largest machines, and training iterations (the released recipe runs 4e5):
# shared by the command line and the training config so both refuse the same typos.
MAX_THREADS = 1024
MAX_ITERATIONS = 100_000_000

_INTEGER = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: str.isdigit() also takes "²", which int() refuses

Kind = Literal["int", "text", "path", "flag"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Option:
    """One engine option.

    ``kind`` says how text (a command line, a vspipe ``-a`` value) becomes a value: ``int``
    (ASCII digits; ``words`` lists the text it also takes, e.g. ``auto``), ``text``, ``path``
    (a file name, resolved against the caller's folder by the scripts) or ``flag`` (a switch).
    ``check`` is the option's one validation, None where the engine validates it when it
    resolves it (a checkpoint file, a preset, a device).
    """

    name: str
    annotation: str
    help: str
    kind: Kind = "int"
    default: Any = None
    metavar: str = "N"
    words: tuple[str, ...] = ()
    choices: tuple[Any, ...] | None = None
    check: Callable[[Any, str], Any] | None = None

    @property
    def flag(self) -> str:
        """The command-line spelling: ``--local-stats`` for ``local_stats``."""
        return "--" + self.name.replace("_", "-")

    def parse(self, text: str) -> Any:
        """Text -> the value it stands for (not yet validated). Raises PresetError naming the
        option for text that is neither an integer nor one of ``words``, and for empty text."""
        text = text.strip()
        if not text:
            raise PresetError(f"{self.name}: empty value; leave the option out for its default")
        if self.kind != "int":
            return text
        if _INTEGER.fullmatch(text):
            return int(text)
        if self.words == ("*",) or text.lower() in self.words:
            return text
        allowed = "".join(f" or {word}" for word in self.words if word != "*")
        raise PresetError(f"{self.name}={text}: must be an integer{allowed}")

    def validate(self, value: Any, where: str = "argument") -> Any:
        """``value`` normalised by the option's check (unchanged when it has none)."""
        return self.check(value, where) if self.check is not None else value


def check_setting(key: str, value: Any, where: str) -> Any:
    """``value`` for profile setting ``key`` (stages, tile, overlap, batch, precision, ensemble),
    normalised; a PresetError naming ``where`` and the key, with what is allowed, otherwise.
    Presets, the Restorer and every front end validate these settings here only."""

    def bad(allowed: str) -> PresetError:
        prefix = f"{where}: " if where else ""
        return PresetError(f"{prefix}{key} = {value!r} is not allowed; {key} must be {allowed}")

    if isinstance(value, str) and key in ("tile", "overlap", "batch") and _INTEGER.fullmatch(value.strip()):
        value = int(value.strip())
    if key == "stages":
        if not _is_int(value) or value not in STAGES:
            raise bad("1, 2 or 3")
        return value
    if key == "tile":
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        if not _is_int(value) or value < 0:  # a tile larger than the frame is the whole frame
            raise bad('0 (whole frame), a tile side in pixels (> 0), or "auto"')
        return value
    if key == "overlap":
        if not _is_int(value) or value < 0:
            raise bad("an integer number of pixels >= 0")
        return value
    if key == "batch":
        if not _is_int(value) or value < 1 or value > MAX_BATCH:
            raise bad(f"an integer >= 1 and <= {MAX_BATCH}")
        return value
    if key == "ensemble":
        if not _is_int(value) or value not in ENSEMBLE:
            raise bad("1 (off), 2, 4 or 8")
        return value
    if key == "precision":
        if not isinstance(value, str) or value.strip().lower() not in PRECISIONS:
            raise bad(", ".join(PRECISIONS))
        return value.strip().lower()
    raise PresetError(f"{where}: unknown setting {key!r}; settings: {', '.join(SETTINGS)}")


def check_bool(value: Any, where: str, name: str = "compile") -> bool:
    if not isinstance(value, bool):
        raise PresetError(f"{name} must be True or False, got {value!r}")
    return value


def check_text(value: object, name: str) -> None:
    """A PresetError naming option ``name`` when ``value`` is an empty or whitespace-only
    string: an unset shell variable or ``-a weights=`` must not silently mean the default."""
    if isinstance(value, str) and not value.strip():
        raise PresetError(f"{name}: empty value; leave the option out for its default")


def check_backend(value: object, where: str = "") -> str:
    """``value`` as a backend name, or a PresetError naming the choices."""
    check_text(value, "backend")
    if not isinstance(value, str) or value.strip().lower() not in BACKENDS:
        raise PresetError(f"backend {value!r} is unknown; choose one of {', '.join(BACKENDS)}")
    return value.strip().lower()


def _check_local_stats(value: Any, where: str) -> int | None:
    from ..weights import check_local_stats  # torch-free callers (the CLI's parser) skip the import

    return check_local_stats(value)


def _setting(key: str) -> Callable[[Any, str], Any]:
    return lambda value, where: check_setting(key, value, where)


SETTINGS = ("stages", "tile", "overlap", "batch", "precision", "ensemble")

ENGINE_OPTIONS: tuple[Option, ...] = (
    Option("weights", "str | os.PathLike | None", "checkpoint file (default: the task's published checkpoint if found, "
           "else the shipped model)", kind="path", metavar="PATH"),
    Option("preset", "str | os.PathLike | None", "profile (fast = stage 1, balanced = stages 1-2, quality = all 3, "
           "the default, best = quality on 4 mirrored copies averaged) or a preset YAML file (FILE.yaml:PROFILE picks a profile)", kind="path", metavar="NAME|FILE"),
    Option("stages", "int | None", "stages to run: 3 is the paper's output, 2 and 1 stop early (faster)",
           choices=STAGES, check=_setting("stages")),
    Option("tile", "int | str | None", "tile side in pixels (larger than the frame: the whole frame), 0 = whole frame, auto = the whole frame when it fits "
           "the device's memory, else the largest tile that does", words=("auto",), metavar="N|auto",
           check=_setting("tile")),
    Option("overlap", "int | None", "pixels shared by neighbouring tiles, blended (>= 0; larger than the tile: the whole frame)",
           check=_setting("overlap")),
    Option("batch", "int | None", f"frames (or tiles) per forward pass (1 to {MAX_BATCH})", check=_setting("batch")),
    Option("precision", "str | None", "compute precision: auto = fp16 on CUDA (falling back to bf16/fp32 on "
           "overflow), fp32 on the CPU", kind="text", metavar="NAME", choices=PRECISIONS, check=_setting("precision")),
    Option("ensemble", "int | None", "restore 1 (off), 2, 4 or 8 mirrored copies of each frame and average them "
           "(that many times the time for a cleaner result; 4 = every mirror, 8 = transposed too)",
           choices=ENSEMBLE, check=_setting("ensemble")),
    Option("device", "str | int | None", "cpu, cuda, cuda:N or N (default: CUDA when available)",
           words=("*",), metavar="DEVICE"),
    Option("compile", "bool", "run the model through torch.compile", kind="flag", default=False, check=check_bool),
    Option("local_stats", "int | None", "channel attention over windows sized for N x N training crops (TLC), "
           f"0 = off, else a multiple of 8 from 16 to {MAX_LOCAL_STATS}; default: what the checkpoint records "
           "(shipped deblur: 96)", check=_check_local_stats),
    Option("backend", "str", BACKEND_HELP, kind="text", default="torch", metavar="NAME", choices=BACKENDS,
           check=check_backend),
)

OPTIONS_BY_NAME: dict[str, Option] = {option.name: option for option in ENGINE_OPTIONS}
ENGINE_OPTION_NAMES: tuple[str, ...] = tuple(OPTIONS_BY_NAME)


def describe(options: tuple[Option, ...] = ENGINE_OPTIONS, indent: str = "    ") -> str:
    """The options as a docstring section: one entry per option, for ``help()``."""
    lines = []
    for option in options:
        default = "" if option.default in (None, False) else f" (default {option.default!r})"
        lines.append(f"{indent}{option.name}: {option.annotation}{default}")
        lines.append(f"{indent}    {option.help}.")
    return "\n".join(lines)


def markdown_table(options: tuple[Option, ...], cli: tuple[Option, ...] = ENGINE_OPTIONS) -> str:
    """The README's option table: Python keyword (= vspipe ``-a`` key), command-line flag (for
    the options ``mprnet-vs restore`` has) and meaning. tests/test_options.py checks the README
    holds exactly this text."""
    rows = ["| option (Python, `-a` key) | command line | meaning |", "|---|---|---|"]
    for option in options:
        flag = f"`{option.flag}`" if option in cli else "-"
        rows.append(f"| `{option.name}` | {flag} | {option.help} |")
    return "\n".join(rows)
