"""Stage presets: shipped YAML files, user files, overrides, errors, and the settings reaching
the network."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mprnet_vs import PresetError, presets
from mprnet_vs.engine import Restorer
from mprnet_vs.tasks import TASKS

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


USER_FILE = """\
default: mine
profiles:
  mine: {stages: 2, tile: 64, overlap: 8, batch: 3, precision: fp32}
  quick: {stages: 1}
"""


def test_every_task_ships_fast_balanced_quality():
    found = presets.available()
    assert set(found) == set(TASKS)
    for task in TASKS:
        assert found[task][:3] == ["fast", "balanced", "quality"]
        described = presets.describe(task)[task]
        assert [described[p]["stages"] for p in ("fast", "balanced", "quality")] == [1, 2, 3]
        assert described["quality"]["default"] and not described["fast"]["default"]
        for settings in described.values():
            assert set(settings) >= set(presets.SETTING_KEYS)


def test_default_is_quality_all_three_stages(tiny_weights):
    assert presets.resolve("derain").stages == 3
    restorer = Restorer("derain", weights=tiny_weights, device="cpu")
    assert restorer.stages == 3 and restorer.settings.source.endswith("derain.yaml profile quality")
    assert Restorer(weights=tiny_weights, device="cpu").stages == 3  # no task: built-in quality


def test_profiles_resolve_and_explicit_arguments_override(tiny_weights):
    fast = presets.resolve("deblur", "fast")
    restorer = Restorer("deblur", weights=tiny_weights, preset="fast", stages=2, overlap=8, device="cpu")
    assert (restorer.stages, restorer.overlap) == (2, 8)  # explicit wins
    assert (restorer.tile, restorer.batch, restorer.precision) == (fast.tile, fast.batch, fast.precision)
    assert Restorer("deblur", weights=tiny_weights, preset="fast", tile="32", device="cpu").tile == 32


def test_user_file_and_profile_selection(tmp_path, tiny_weights):
    path = write(tmp_path / "mine.yaml", USER_FILE)
    mine = Restorer("denoise", weights=tiny_weights, preset=str(path), device="cpu")
    assert (mine.stages, mine.tile, mine.overlap, mine.batch, mine.precision) == (2, 64, 8, 3, "fp32")
    quick = Restorer(weights=tiny_weights, preset=f"{path}:quick", device="cpu")
    assert quick.stages == 1 and quick.tile == presets.Settings().tile  # left-out keys: engine defaults
    assert Restorer(weights=tiny_weights, preset=path, device="cpu").stages == 2  # a Path works too


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("profiles:\n  a: {stages: 4}\n", r"profile 'a': stages = 4 is not allowed; stages must be 1, 2 or 3"),
        ("profiles:\n  a: {tile: -8}\n", r"profile 'a': tile = -8 is not allowed.*\"auto\""),
        ("profiles:\n  a: {batch: 0}\n", r"profile 'a': batch = 0 .*>= 1"),
        ("profiles:\n  a: {precision: fp8}\n", r"precision = 'fp8' .*auto, fp32, fp16, bf16"),
        ("profiles:\n  a: {overlap: 1.5}\n", r"overlap = 1.5 "),
        ("profiles:\n  a: {stage: 2}\n", r"profile 'a': unknown key 'stage'; allowed: stages, tile"),
        ("profile:\n  a: {stages: 2}\n", r"unknown key 'profile'; allowed: task, default, profiles"),
        ("task: sharpen\nprofiles:\n  a: {}\n", r"task = 'sharpen' .*derain, deblur, denoise"),
        ("default: b\nprofiles:\n  a: {}\n", r"default = 'b' is not a profile.*profiles: a"),
        ("- 1\n- 2\n", r"must be a mapping"),
        ("profiles: [\n", r"not valid YAML"),
        ("profiles: {}\n", r"'profiles' must map profile names"),
    ],
)
def test_bad_files_name_file_key_and_what_is_allowed(tmp_path, text, pattern):
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(PresetError, match=pattern) as info:
        presets.resolve("derain", str(path))
    assert str(path) in str(info.value)


def test_missing_file_unknown_profile_and_bad_arguments(tmp_path, tiny_weights):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(PresetError, match=re.escape(f"{missing}: preset file not found")):
        Restorer("derain", weights=tiny_weights, preset=str(missing), device="cpu")
    with pytest.raises(PresetError, match=r"derain\.yaml: unknown profile 'turbo'; profiles: fast, balanced, quality"):
        Restorer("derain", weights=tiny_weights, preset="turbo", device="cpu")
    with pytest.raises(PresetError, match=r"unknown profile 'turbo'; profiles: fast, balanced, quality"):
        Restorer(weights=tiny_weights, preset="turbo", device="cpu")
    path = write(tmp_path / "mine.yaml", USER_FILE)
    with pytest.raises(PresetError, match=r"mine\.yaml: unknown profile 'slow'; profiles: mine, quick"):
        presets.resolve(None, f"{path}:slow")
    with pytest.raises(PresetError, match="argument: stages = 0 is not allowed"):
        Restorer(weights=tiny_weights, stages=0, device="cpu")
    with pytest.raises(PresetError, match="argument: tile = 'big'"):
        Restorer(weights=tiny_weights, tile="big", device="cpu")
    with pytest.raises(PresetError, match="argument: batch = True"):
        Restorer(weights=tiny_weights, batch=True, device="cpu")


@pytest.mark.parametrize("profile, stages", [("fast", 1), ("balanced", 2), ("quality", 3)])
def test_stages_from_presets_reach_the_model(tiny_weights, profile, stages):
    restorer = Restorer("derain", weights=tiny_weights, preset=profile, tile=0, device="cpu")
    x = torch.from_numpy(np.random.default_rng(0).random((1, 3, 16, 24), dtype=np.float32))
    out = restorer.restore_tensor(x)
    with torch.inference_mode():
        outputs = restorer.model.forward_stages(x, 3)
    for k, stage_out in enumerate(outputs, start=1):
        matches = torch.equal(out, stage_out.clamp(0, 1))
        assert matches == (k == stages), f"profile {profile}: output {'equals' if matches else 'differs from'} stage {k}"


def test_every_package_folder_is_listed_for_the_wheel():
    """pyproject lists packages explicitly (presets/ ships as mprnet_vs.presets_data); a new
    package folder left out of that list would silently be missing from the wheel."""
    listed = set(re.findall(r'"(mprnet_vs[\w.]*)"', (ROOT / "pyproject.toml").read_text().split("packages = [")[1].split("]")[0]))
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "mprnet_vs").rglob("__init__.py") if "__pycache__" not in p.parts
    }
    assert on_disk - listed == set()
    assert "mprnet_vs.presets_data" in listed


@pytest.mark.slow
def test_presets_ship_in_the_wheel_and_are_found_when_installed(tmp_path):
    source = tmp_path / "src"  # build from a copy: setuptools writes build/ next to the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("mprnet_vs", "presets"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True, text=True,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("mprnet_vs-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for task in TASKS:
        assert f"mprnet_vs/presets_data/{task}.yaml" in names
        assert f"mprnet_vs/vapoursynth/scripts/{task}.vpy" in names  # `mprnet-vs vpy TASK` finds them
        assert f"mprnet_vs/models/{task}.pth" in names
    assert "setuptools" not in build.stderr and "Package would be ignored" not in build.stderr, build.stderr
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True, text=True,
    )
    assert install.returncode == 0, install.stderr
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import mprnet_vs.presets as p; "
        "assert p.__file__.startswith(sys.argv[1]), p.__file__; print(p.presets_dir()); print(sorted(p.available()))"
    )
    found = subprocess.run([sys.executable, "-c", probe, str(target)], capture_output=True, text=True, cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    folder, tasks = found.stdout.splitlines()
    assert folder == str(target / "mprnet_vs" / "presets_data") and tasks == str(sorted(TASKS))
