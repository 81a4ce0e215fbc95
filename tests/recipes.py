"""Bundled recipes for tests: paths, and copies renamed into a test's own names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
BUNDLED = sorted(p.stem for p in RECIPES.glob("*.yaml"))


def bundled(name: str) -> Path:
    return RECIPES / f"{name}.yaml"


def renamed(name: str, lab: str, dest: Path, edit: Any = None) -> Path:
    """A copy of a bundled recipe with metadata.name = lab (so every namespace it makes,
    <lab>-<name>, carries the test's prefix), optionally edited (edit(data) -> None)."""
    data = yaml.safe_load(bundled(name).read_text())
    data["metadata"]["name"] = lab
    if edit is not None:
        edit(data)
    path = dest / f"{lab}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
