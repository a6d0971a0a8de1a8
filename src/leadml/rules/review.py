"""What a reviewer of `features/` must look at when a spec or the agreed rules change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leadml.errors import SpecError
from leadml.rules.definition import diff_rules, parse_rules
from leadml.spec.features import diff_specs, parse_spec
from leadml.spec.files import read_yaml


def diff_files(old: Path, new: Path) -> list[str]:
    """Diff two feature specs or two agreed-rules files (recognised by their top-level keys)."""
    raw_old, raw_new = read_yaml(old), read_yaml(new)
    kinds = {_kind(raw_old, old), _kind(raw_new, new)}
    if len(kinds) != 1:
        raise SpecError(f"{old} and {new} are not the same kind of file (spec vs rules)")
    if kinds == {"rules"}:
        return diff_rules(parse_rules(raw_old, str(old)), parse_rules(raw_new, str(new)))
    a, b = parse_spec(raw_old, str(old)), parse_spec(raw_new, str(new))
    lines = diff_specs(a, b)
    if lines and a.spec_version == b.spec_version:
        lines.append(f"! spec_version is still {b.spec_version}: bump it so both teams sign again")
    return lines


def _kind(raw: dict[str, Any], path: Path) -> str:
    if "features" in raw:
        return "spec"
    if "rules" in raw:
        return "rules"
    raise SpecError(f"{path}: neither a feature spec (no 'features') nor rules (no 'rules')")
