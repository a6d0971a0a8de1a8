"""A learned points table (`leadml.rules.learn`) written as a rules file in the agreed rules' own
format, for both teams to review, edit and sign: the current rules kept by name and wording with
their points moved, new rules named and described in words, each with its evidence in a comment,
the rules left out listed at the end, and a header saying it is a proposal nobody has agreed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import yaml

from leadml.rules.definition import AgreedRules, Group, Rule, parse_rules
from leadml.rules.learn import Condition, Learned
from leadml.spec.features import FeatureSpec

# said wherever a proposal ranks the test window worse than the current rules
WORSE = (
    "These rules rank the test window worse than the current ones: do not adopt them as they "
    "are (the newest leads may behave unlike the training window's)."
)


@dataclass(frozen=True)
class Evidence:
    """What happened to a rule's leads on a window: how many it fired on, and the conversion
    of those leads and of the rest."""

    leads: int
    share: float
    converted: float
    rest: float

    @classmethod
    def of(cls, fires: np.ndarray, y: np.ndarray) -> Evidence:
        on = int(fires.sum())
        return cls(
            leads=on,
            share=on / max(1, len(y)),
            converted=float(y[fires].mean()) if on else float("nan"),
            rest=float(y[~fires].mean()) if on < len(y) else float("nan"),
        )

    def words(self, window: str) -> str:
        return (
            f"fires on {self.leads:,} {window} leads ({100 * self.share:.1f}%): "
            f"{100 * self.converted:.1f}% became sales-ready against {100 * self.rest:.1f}% "
            "of the rest"
        )


@dataclass(frozen=True)
class Proposal:
    """The proposed table (`rules`), its file's text, and per rule its points before (None:
    a new rule) and its evidence on the training window."""

    rules: AgreedRules
    text: str
    before: list[int | None]
    evidence: list[Evidence]
    left_out: dict[str, str]  # current rule -> why it is not in the proposal


def propose(
    current: AgreedRules,
    learned: Learned,
    spec: FeatureSpec,
    *,
    sales_ready_points: int,
    evidence: list[Evidence],
    caps: Mapping[str, int | None],
    header: list[str],
) -> Proposal:
    """The rules file of `learned`: `caps` are the groups' caps to keep (None: no cap)."""
    by_name = {r.name: r for r in current.rules}
    taken = set(by_name)
    rules: list[Rule] = []
    before: list[int | None] = []
    for condition, points, kept in zip(
        learned.conditions, learned.points.tolist(), learned.kept, strict=True
    ):
        if kept is not None:
            rules.append(by_name[kept].model_copy(update={"points": int(points)}))
            before.append(by_name[kept].points)
            continue
        name = _name(condition, taken)
        taken.add(name)
        feature = spec.feature(condition.feature)
        rules.append(
            Rule.model_validate(
                {
                    "name": name,
                    "description": f"{_label(feature.name)} {condition.words()} "
                    "(proposed from the outcomes).",
                    "feature": feature.name,
                    **condition.fields(),
                    "points": int(points),
                    "group": _group_of(current, feature.name),
                }
            )
        )
        before.append(None)
    used = {r.group for r in rules if r.group}
    groups = {
        g: Group(cap=caps.get(g), description=v.description)
        for g, v in current.groups.items()
        if g in used
    }
    table = parse_rules(
        {
            "rules_version": current.rules_version + 1,
            "title": f"Proposed: {current.title}",
            "spec": current.spec,
            "sales_ready_points": sales_ready_points,
            "groups": {g: v.model_dump(mode="json", exclude_none=True) for g, v in groups.items()},
            "rules": [r.model_dump(mode="json", exclude_none=True, by_alias=True) for r in rules],
        },
        "the proposed rules",
    )
    text = _text(table, before, evidence, learned.left_out, current, header)
    back = parse_rules(yaml.safe_load(text), "the proposed rules file")
    if back.model_dump() != table.model_dump():
        raise AssertionError("the proposed rules file does not read back as written")
    return Proposal(table, text, before, evidence, dict(learned.left_out))


class _Dumper(yaml.SafeDumper):
    """Block style, but a list of values on one line (`in: [free, student]`), as people write
    the rules."""


_Dumper.add_representer(
    list,
    lambda dumper, items: dumper.represent_sequence(
        "tag:yaml.org,2002:seq",
        items,
        flow_style=all(not isinstance(i, dict | list) for i in items),
    ),
)


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _name(condition: Condition, taken: set[str]) -> str:
    """A new rule's name from its condition: `pricing_page_views_at_least_2`."""
    values = condition.values
    if condition.op == "in":
        tag = "_".join(map(str, values)) if len(values) <= 2 else f"{len(values)}_values"
    elif condition.op == "is":
        tag = "yes" if values[0] else "no"
    elif condition.op == "missing":
        tag = "missing"
    else:
        tag = f"{condition.op}_" + "_".join(f"{v:g}".replace("-", "minus_") for v in values)
    base = re.sub(r"[^a-z0-9_]+", "_", f"{condition.feature}_{tag}".lower()).strip("_")
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    return name


def _group_of(current: AgreedRules, feature: str) -> str | None:
    """The group of the current rules on `feature`, when they all share one."""
    groups = {r.group for r in current.rules if r.feature == feature}
    return groups.pop() if len(groups) == 1 else None


def _text(
    table: AgreedRules,
    before: list[int | None],
    evidence: list[Evidence],
    left_out: Mapping[str, str],
    current: AgreedRules,
    header: list[str],
) -> str:
    def dump(value: object) -> str:
        return yaml.dump(_whole(value), Dumper=_Dumper, sort_keys=False, width=100).rstrip()

    lines = [f"# {line}" if line else "#" for line in header]
    settings = table.model_dump(
        mode="json", include={"rules_version", "title", "spec", "sales_ready_points"}
    )
    lines += [dump(settings), ""]
    if table.groups:
        lines.append("groups:")
        for name, group in table.groups.items():
            was = current.groups[name].cap
            if was is not None and group.cap is None:
                lines.append(
                    f"  # cap {was} removed: the rules rank the calibration window better "
                    "without it (reword the description if it names the cap)"
                )
            body = dump({name: group.model_dump(mode="json", exclude_none=True)})
            lines += ["  " + line for line in body.splitlines()]
        lines.append("")
    lines.append("rules:")
    for rule, was, seen in zip(table.rules, before, evidence, strict=True):
        moved = "new rule" if was is None else f"was {was:+d} points"
        lines.append(f"  # {moved}; {seen.words('training')}")
        lines += ["  " + line for line in dump([_written(rule)]).splitlines()]
    if left_out:
        by_name = {r.name: r for r in current.rules}
        lines += ["", "# Left out of the proposal (current rules):"]
        for name, why in left_out.items():
            lines.append(f"#   {name} ({by_name[name].points:+d} points): {why}")
    return "\n".join(lines) + "\n"


def _written(rule: Rule) -> dict:
    """A rule's fields in the order people write them: who, what, condition, points, group."""
    data = rule.model_dump(mode="json", exclude_none=True, by_alias=True)
    first = ["name", "description", "feature"]
    last = ["points", "group"]
    middle = [k for k in data if k not in first + last]
    return {k: data[k] for k in first + middle + last if k in data}


def _whole(value: object) -> object:
    """Whole numbers written without a decimal point (`at_least: 2`, not 2.0)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value
