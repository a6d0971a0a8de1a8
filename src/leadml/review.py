"""What a reviewer of `features/` must look at when a spec or the agreed rules change."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from leadml.errors import SpecError, format_validation_error
from leadml.rules import AgreedRules, diff_rules
from leadml.spec import diff_specs, load_spec, read_yaml


def diff_files(old: Path, new: Path) -> list[str]:
    """Diff two feature specs or two agreed-rules files (recognised by their top-level keys)."""
    kinds = {_kind(old), _kind(new)}
    if len(kinds) != 1:
        raise SpecError(f"{old} and {new} are not the same kind of file (spec vs rules)")
    if kinds == {"spec"}:
        a, b = load_spec(old), load_spec(new)
        lines = diff_specs(a, b)
        if lines and a.spec_version == b.spec_version:
            lines.append(
                f"! spec_version is still {b.spec_version}: bump it so both teams sign again"
            )
        return lines
    return diff_rules(_rules(old), _rules(new))


def _rules(path: Path) -> AgreedRules:
    """The rules file's own shape, checked without a spec (a diff needs no spec)."""
    try:
        return AgreedRules.model_validate(read_yaml(path))
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, str(path))) from None


def _kind(path: Path) -> str:
    raw = read_yaml(path)
    if "features" in raw:
        return "spec"
    if "rules" in raw:
        return "rules"
    raise SpecError(f"{path}: neither a feature spec (no 'features') nor rules (no 'rules')")
