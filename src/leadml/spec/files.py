"""Reading the reviewed YAML files, and listing what changed between two versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from leadml.errors import LeadmlError, SpecError


def read_yaml(path: str | Path, error: type[LeadmlError] = SpecError) -> dict[str, Any]:
    """A YAML mapping from a file; problems raise `error` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise error(f"{path}: expected a mapping at the top level")
    return raw


def diff_records(
    old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]], what: str
) -> list[str]:
    """Lines a reviewer must read: added, removed and changed entries keyed by name."""
    lines = []
    for name in sorted(new.keys() - old.keys()):
        lines.append(f"+ {what} added: {name}")
    for name in sorted(old.keys() - new.keys()):
        lines.append(f"- {what} removed: {name}")
    for name in sorted(old.keys() & new.keys()):
        a, b = old[name], new[name]
        for key in sorted(a.keys() | b.keys()):
            if a.get(key) != b.get(key):
                lines.append(f"~ {what} {name}: {key}: {a.get(key)!r} -> {b.get(key)!r}")
    return lines
