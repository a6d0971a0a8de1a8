"""What a reviewer of `features/` must look at when a spec or the agreed rules change, and what
the agreed rules could learn from the outcomes of the leads they scored."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml.errors import SpecError
from leadml.rules.definition import AgreedRules, diff_rules, parse_rules
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


# --- what the rules could learn from the outcomes ------------------------------------------------

MIN_LEADS = 20  # fewer leads on either side: the conversion gap is noise, never a contradiction
MIN_GAP_POINTS = 1.0  # percentage points


def rule_outcomes(rules: AgreedRules, fired: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """Per agreed rule, what happened to its leads: how many it fired on, their conversion and
    the others' (shares), the gap in percentage points, and whether the rule's points contradict
    it (points that raise a lead whose leads converted less than the rest, or the reverse, by at
    least MIN_GAP_POINTS on at least MIN_LEADS leads each side)."""
    fired = np.asarray(fired, dtype=bool)
    y = np.asarray(y, dtype=np.float64)
    if fired.shape != (len(y), len(rules.rules)):
        raise ValueError(
            f"fired must be one column per rule ({len(rules.rules)}) and one row per lead "
            f"({len(y)}), got {fired.shape}"
        )
    rows = []
    for i, rule in enumerate(rules.rules):
        fires = fired[:, i]
        on, off = int(fires.sum()), int((~fires).sum())
        when = float(y[fires].mean()) if on else np.nan
        rest = float(y[~fires].mean()) if off else np.nan
        gap = 100 * (when - rest)
        rows.append(
            {
                "rule": rule.name,
                "description": rule.description,
                "points": float(rule.points),
                "leads": on,
                "conversion_when_fired": when,
                "conversion_otherwise": rest,
                "gap_points": gap,
                "contradicts": bool(
                    on >= MIN_LEADS
                    and off >= MIN_LEADS
                    and abs(gap) >= MIN_GAP_POINTS
                    and rule.points * gap < 0
                ),
            }
        )
    return pd.DataFrame(rows)


def contradiction_words(row: Mapping[str, Any]) -> str:
    """One rule's contradiction in words: '+5 points, yet its leads converted at 4.0% against
    16.0% for the rest (a quarter as often)'."""
    when, rest = float(row["conversion_when_fired"]), float(row["conversion_otherwise"])
    ratio = when / rest if rest > 0 else np.inf
    how = f"{ratio:.2f} times as often" if np.isfinite(ratio) else "where the rest never did"
    return (
        f"{row['rule']} gives {row['points']:+g} points, yet its {int(row['leads']):,} leads "
        f"converted at {100 * when:.1f}% against {100 * rest:.1f}% for the rest "
        f"({row['gap_points']:+.1f} pts; {how})"
    )
