"""``mprnet-vs presets``: list the shipped presets (or a preset file) and what each profile sets."""

from __future__ import annotations

import argparse
from typing import Any

from .. import presets
from ..errors import PresetError, UsageError
from ..tasks import TASKS

COLUMNS = presets.SETTING_KEYS  # every setting a profile holds, in the engine options' order


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", metavar="FILE", help="describe this preset YAML file instead of the shipped ones")
    parser.add_argument("--task", choices=TASKS, help="only this task's presets")


def _rows(profiles: dict[str, dict[str, Any]]) -> list[str]:
    width = max(len(name) for name in profiles) + 2
    lines = []
    for name, values in profiles.items():
        mark = "*" if values.get("default") else " "
        settings = "  ".join(f"{key} {values[key]!s:<5}" for key in COLUMNS)
        description = values.get("description") or ""
        lines.append(f"  {mark} {name:<{width}}{settings}  {description}".rstrip())
    return lines


def run(args: argparse.Namespace) -> int:
    if args.file:
        path, profile = presets.split_preset_path(args.file) or (args.file, None)  # FILE.yaml:PROFILE as --preset takes it
        try:
            loaded = presets.load_file(path)
            if profile is not None:
                presets.pick_profile(loaded, profile)  # an unknown profile is named with the file's profiles
        except PresetError as exc:
            raise UsageError(str(exc)) from None
        profiles = {
            name: {**settings.as_dict(), "description": settings.description, "default": name == loaded.default}
            for name, settings in loaded.profiles.items() if profile is None or name == profile
        }
        print(f"{loaded.path}{' (task ' + loaded.task + ')' if loaded.task else ''}")
        print("\n".join(_rows(profiles)))
        print("* = default profile. Use it with: mprnet-vs restore ... --preset PATH[:PROFILE]")
        return 0
    described = presets.describe(args.task)
    if not described:
        print("no preset files found in this installation")
        return 1
    for task, profiles in described.items():
        print(f"{task} ({presets.preset_file(task)})")
        print("\n".join(_rows(profiles)))
    print("* = default profile. Use one with: mprnet-vs restore ... --task TASK --preset NAME")
    flags = ", ".join(f"--{key}" for key in COLUMNS)
    print(f"Options given explicitly ({flags}) override the profile.")
    return 0
