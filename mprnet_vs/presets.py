"""Stage presets: named profiles (fast / balanced / quality / best) of engine settings, read from YAML.

One file per task ships in the package (``presets/<task>.yaml`` in a checkout, the
``mprnet_vs.presets_data`` package in a wheel). A user may pass the path of a file of the same
shape instead. Every problem (missing file, unknown key or profile, bad value) is a
:class:`~mprnet_vs.errors.PresetError` naming the file, the key and what is allowed.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from .engine.options import SETTINGS, check_setting
from .errors import PresetError, first_line
from .tasks import TASKS

DEFAULT_PROFILE = "quality"  # the paper's output: all three stages
SETTING_KEYS = SETTINGS
PROFILE_KEYS = (*SETTING_KEYS, "description")
FILE_KEYS = ("task", "default", "profiles", "description")
YAML_SUFFIXES = (".yaml", ".yml")

TileSetting = int | str  # an int >= 0 (0 = whole frame) or "auto"


@dataclass(frozen=True)
class Settings:
    """What a profile sets, and where it came from (for messages and ``describe``)."""

    stages: int = 3
    tile: TileSetting = "auto"
    overlap: int = 32
    batch: int = 1
    precision: str = "auto"
    ensemble: int = 1
    source: str = "built-in defaults"
    description: str = ""

    def override(self, **explicit: Any) -> Settings:
        """These settings with every non-None keyword replacing the preset's value (validated)."""
        changes = {k: check_value(k, v, "argument") for k, v in explicit.items() if v is not None}
        unknown = set(changes) - set(SETTING_KEYS)
        if unknown:
            raise PresetError(f"unknown setting(s) {sorted(unknown)}; allowed: {', '.join(SETTING_KEYS)}")
        return replace(self, **changes) if changes else self

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k in SETTING_KEYS}


# Used when no task is known (e.g. Restorer(weights="my.pth")): the same stage mapping as the
# shipped files, with the engine's defaults for everything else.
BUILTIN_PROFILES = {
    "fast": Settings(stages=1, source="built-in profile fast", description="stage 1 only"),
    "balanced": Settings(stages=2, source="built-in profile balanced", description="stages 1-2"),
    "quality": Settings(stages=3, source="built-in profile quality", description="all three stages (the paper's output)"),
    "best": Settings(stages=3, ensemble=4, source="built-in profile best",
                     description="all three stages on four mirrored copies, averaged (4x the time)"),
}


def check_value(key: str, value: Any, where: str) -> Any:
    """``value`` for profile key ``key``: the settings are checked by the engine's option
    description (:func:`mprnet_vs.engine.options.check_setting`), ``description`` here."""
    if key == "description":
        if not isinstance(value, str):
            raise PresetError(f"{where}: {key} = {value!r} is not allowed; {key} must be a string")
        return value
    if key not in SETTING_KEYS:
        raise PresetError(f"{where}: unknown key {key!r}; allowed: {', '.join(PROFILE_KEYS)}")
    return check_setting(key, value, where)


# --- finding files -------------------------------------------------------------------------


def presets_dir() -> Path | None:
    """The folder holding the shipped preset files: the installed ``mprnet_vs.presets_data``
    package, else ``presets/`` of the source checkout this module lives in."""
    try:
        # A folder of data files without __init__.py: a namespace package, found via __path__.
        package = importlib.import_module("mprnet_vs.presets_data")
        for entry in getattr(package, "__path__", []):
            candidate = Path(entry)
            if candidate.is_dir() and any(candidate.glob("*.yaml")):
                return candidate
    except ImportError:
        pass
    root = Path(__file__).resolve().parent.parent
    checkout = root / "presets"
    if (root / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    return None


def preset_file(task: str) -> Path:
    """The shipped preset file of ``task``; PresetError when it is missing."""
    if task not in TASKS:
        raise PresetError(f"no presets for task {task!r}; tasks: {', '.join(TASKS)}")
    folder = presets_dir()
    path = folder / f"{task}.yaml" if folder else None
    if path is None or not path.is_file():
        where = str(path) if path else "presets/ (not found next to the package)"
        raise PresetError(f"{where}: preset file for task {task!r} is missing from this installation")
    return path


# --- reading files -------------------------------------------------------------------------


@dataclass(frozen=True)
class PresetFile:
    path: Path
    task: str | None
    default: str
    profiles: dict[str, Settings]


def load_file(path: str | os.PathLike) -> PresetFile:
    """Read and validate a preset file. Keys a profile leaves out take the engine defaults."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise PresetError(f"{path}: preset file not found" if not path.exists() else f"{path}: not a file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        raise PresetError(f"{path}: not valid YAML ({first_line(exc)})") from None
    if not isinstance(data, dict):
        raise PresetError(f"{path}: must be a mapping with keys {', '.join(FILE_KEYS)}")
    for key in data:
        if key not in FILE_KEYS:
            raise PresetError(f"{path}: unknown key {key!r}; allowed: {', '.join(FILE_KEYS)}")
    task = data.get("task")
    if task is not None and task not in TASKS:
        raise PresetError(f"{path}: task = {task!r} is not allowed; task must be one of {', '.join(TASKS)}")
    profiles_data = data.get("profiles")
    if not isinstance(profiles_data, dict) or not profiles_data:
        raise PresetError(f"{path}: key 'profiles' must map profile names to settings ({', '.join(SETTING_KEYS)})")
    profiles: dict[str, Settings] = {}
    for name, body in profiles_data.items():
        where = f"{path}: profile {name!r}"
        if not isinstance(name, str) or not name:
            raise PresetError(f"{path}: profile names must be non-empty strings, got {name!r}")
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise PresetError(f"{where}: must be a mapping of {', '.join(PROFILE_KEYS)}")
        values = {key: check_value(str(key), value, where) for key, value in body.items()}
        profiles[name] = Settings(source=f"{path} profile {name}", **values)
    default = data.get("default", DEFAULT_PROFILE if DEFAULT_PROFILE in profiles else next(iter(profiles)))
    if default not in profiles:
        raise PresetError(f"{path}: default = {default!r} is not a profile of this file; profiles: {', '.join(profiles)}")
    return PresetFile(path=path, task=task, default=default, profiles=profiles)


def pick_profile(preset_file_: PresetFile, profile: str | None) -> Settings:
    """The profile ``profile`` of a loaded preset file (its default for None); PresetError naming
    the file and its profiles otherwise."""
    name = preset_file_.default if profile is None else profile
    if name not in preset_file_.profiles:
        raise PresetError(
            f"{preset_file_.path}: unknown profile {name!r}; profiles: {', '.join(preset_file_.profiles)}"
        )
    return preset_file_.profiles[name]


def split_preset_path(preset: str) -> tuple[str, str | None] | None:
    """``"file.yaml"`` -> (file, None); ``"file.yaml:fast"`` -> (file, "fast"); else None."""
    head, sep, tail = preset.rpartition(":")
    if sep and head.lower().endswith(YAML_SUFFIXES) and tail and "/" not in tail and os.sep not in tail:
        return head, tail
    if preset.lower().endswith(YAML_SUFFIXES) or os.sep in preset or "/" in preset:
        return preset, None
    return None


def resolve(task: str | None, preset: str | os.PathLike | None = None) -> Settings:
    """The settings ``preset`` names for ``task``.

    ``preset`` is None (the task's default profile, ``quality``), a profile name
    (``fast``/``balanced``/``quality`` or any profile of the task's file), the path of a YAML
    file of the same shape (its ``default`` profile), or ``"path.yaml:profile"``.
    """
    if isinstance(preset, os.PathLike):
        preset = os.fspath(preset)
    if preset is not None and not isinstance(preset, str):
        raise PresetError(f"preset must be a profile name or a YAML file path, got {type(preset).__name__}")
    if preset is not None:
        split = split_preset_path(preset)
        if split is not None:
            path, profile = split
            return pick_profile(load_file(path), profile)
    if task is None:
        name = preset or DEFAULT_PROFILE
        if name not in BUILTIN_PROFILES:
            raise PresetError(f"unknown profile {name!r}; profiles: {', '.join(BUILTIN_PROFILES)} (or a .yaml path)")
        return BUILTIN_PROFILES[name]
    return pick_profile(load_file(preset_file(task)), preset)


def resolve_args(args: Any) -> Settings:
    """The settings a command line asks for: ``args.preset`` for ``args.task``, overridden by
    every setting flag given (``--stages``, ``--tile``, ... ``--ensemble``)."""
    return resolve(args.task, args.preset).override(**{key: getattr(args, key, None) for key in SETTING_KEYS})


def available() -> dict[str, list[str]]:
    """{task: [profile names]} for every shipped preset file that exists."""
    folder = presets_dir()
    found: dict[str, list[str]] = {}
    for task in TASKS:
        path = folder / f"{task}.yaml" if folder else None
        if path is not None and path.is_file():
            found[task] = list(load_file(path).profiles)
    return found


def describe(task: str | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """What each profile sets, for listings such as ``mprnet-vs presets``:
    {task: {profile: {"stages": .., "tile": .., "overlap": .., "batch": .., "precision": ..,
    "description": .., "default": bool}}}. ``task`` limits it to one task."""
    tasks = [task] if task is not None else list(available())
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for name in tasks:
        loaded = load_file(preset_file(name))
        result[name] = {
            profile: {**settings.as_dict(), "description": settings.description, "default": profile == loaded.default}
            for profile, settings in loaded.profiles.items()
        }
    return result
