"""The README's Layout section matches the tree, and modules stay small enough to read."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mprnet_vs"
MAX_MODULE_LINES = 450


def _layout_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def test_every_top_level_part_of_the_package_is_in_the_layout():
    block = _layout_block()
    named = set(re.findall(r"([\w.]+\.py|\w+/)", block))
    for entry in PACKAGE.iterdir():
        if entry.name.startswith(("_", ".")) or entry.name == "__pycache__":
            continue
        label = f"{entry.name}/" if entry.is_dir() else entry.name
        assert label in named, f"{label} is missing from the README's Layout section"


def test_everything_the_layout_names_exists():
    block = _layout_block()
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip())
        for name in re.findall(r"(?:^|\s)([\w]+(?:\.py|/))", line):
            if indent == 0:
                where = ROOT
            elif indent == 2:
                where = PACKAGE
            else:
                parents = [p for p in PACKAGE.rglob(name.rstrip("/").removesuffix(".py") + "*")]
                assert parents, f"{name} (README Layout) does not exist"
                continue
            candidates = [where / name.rstrip("/"), PACKAGE / name.rstrip("/"), ROOT / name.rstrip("/")]
            assert any(c.exists() for c in candidates), f"{name} (README Layout) does not exist"


def test_no_module_is_too_long_to_read():
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"split these modules by concern: {long}"
