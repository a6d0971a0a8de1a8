"""The agreed rules as people write them: sales and marketing's points table, checked against
the spec; scoring goes through the one engine in `rules.engine`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from leadml.errors import DataError, SpecError
from leadml.rules.engine import (
    RulesScore,
    _Compiled,
    _FeatureTests,
    layout_for,
    plan_for,
    total,
)
from leadml.spec.features import FeatureSpec, Kind, norm_value
from leadml.spec.files import diff_records, read_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_alias=True,
        validate_by_name=True,
        serialize_by_alias=True,
    )


class Group(_Strict):
    """Rules counted together; `cap` limits the positive total the group can add."""

    cap: int | None = Field(default=None, ge=0)
    description: str = Field(min_length=3)


class Rule(_Strict):
    """One line of the points table: points when one condition holds on one feature."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(min_length=3)
    feature: str
    points: int
    group: str | None = None
    in_: list[str] | None = Field(default=None, alias="in", min_length=1)
    at_least: float | None = Field(default=None, allow_inf_nan=False)
    at_most: float | None = Field(default=None, allow_inf_nan=False)
    is_: bool | None = Field(default=None, alias="is")
    missing: Literal[True] | None = None

    @field_validator("is_", mode="before")
    @classmethod
    def _a_flag(cls, value: Any) -> Any:
        if isinstance(value, str) and norm_value(value) not in ("0", "1"):
            raise ValueError(
                f"{value!r} is not true or false (`is` is for a yes/no feature); for a value "
                f"of a categorical feature write `in: [{value}]`"
            )
        return value

    @property
    def condition_kind(self) -> Kind | None:
        """The feature kind the condition applies to; None for `missing`, which fits any kind."""
        if self.in_ is not None:
            return "categorical"
        if self.is_ is not None:
            return "boolean"
        if self.missing:
            return None
        return "numeric"

    @model_validator(mode="after")
    def _one_condition(self) -> Rule:
        given = [
            key
            for key, present in (
                ("in", self.in_ is not None),
                ("at_least/at_most", self.at_least is not None or self.at_most is not None),
                ("is", self.is_ is not None),
                ("missing", self.missing is not None),
            )
            if present
        ]
        if not given:
            raise ValueError("no condition: give one of in, at_least/at_most, is, missing")
        if len(given) > 1:
            raise ValueError(f"more than one condition ({', '.join(given)}): give exactly one")
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise ValueError(f"at_least {self.at_least:g} is above at_most {self.at_most:g}")
        return self


class AgreedRules(_Strict):
    """The whole points table, as loaded from `features/scoring_rules.yaml`."""

    rules_version: int
    title: str = Field(min_length=1)
    spec: str | None = Field(default=None, description="The spec file the rules are written for.")
    sales_ready_points: float
    groups: dict[str, Group] = Field(default_factory=dict)
    rules: list[Rule] = Field(min_length=1)

    _compiled: _Compiled = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._compiled = _compile(self.rules, self.groups)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Any:
        """A copy whose scoring follows any updated rules (updates are not validated)."""
        copy = super().model_copy(update=update, deep=deep)
        copy._compiled = _compile(copy.rules, copy.groups)
        return copy

    @property
    def rule_names(self) -> list[str]:
        return list(self._compiled.names)

    @property
    def content_hash(self) -> str:
        """A hash of the rules' meaning (not their layout): stored with every run and model."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def problems(self, spec: FeatureSpec) -> list[str]:
        """What the rules get wrong against the spec, and against each other; empty when valid."""
        return _problems(self.rules, set(self.groups), spec)

    def score(self, frame: pd.DataFrame, spec: FeatureSpec) -> RulesScore:
        """Score every lead of a frame holding the spec's source columns (raw values: each
        read as `score_lead` reads it)."""
        c = self._compiled
        sources = {f.name: f.source for f in spec.features}
        columns = [sources.get(t.feature, t.feature) for t in c.plan]
        absent = sorted(set(columns) - set(frame.columns))
        if absent:
            raise DataError(f"the agreed rules need columns missing from the data: {absent}")
        layout = layout_for(c)
        X, missing = layout.read_frame(c, [frame[col] for col in columns])
        return total(c, layout.plan.fired(X, missing), self.sales_ready_points, frame.index)

    def score_encoded(self, X: np.ndarray, spec: FeatureSpec) -> RulesScore:
        """Score leads already encoded by the spec (`leadml.scoring.LeadEncoder`: one column per
        feature, categories as their index in `allowed`, booleans 0/1, NaN when missing)."""
        c = self._compiled
        return total(c, plan_for(c, spec).fired(X), self.sales_ready_points)

    def score_lead(
        self, lead: Mapping[str, Any], spec: FeatureSpec | None = None
    ) -> tuple[float, list[str], bool]:
        """(points, fired rule names, sales-ready) for one lead keyed by feature name.

        `spec` is accepted for symmetry with `score`: the rules were checked against it on load.
        """
        c = self._compiled
        layout = layout_for(c)
        X, missing = layout.read_lead(c, lead)
        scored = total(c, layout.plan.fired(X, missing), self.sales_ready_points)
        return float(scored.points[0]), scored.fired_names(0), bool(scored.verdict[0])


def _problems(rules: list[Rule], groups: set[str], spec: FeatureSpec) -> list[str]:
    problems = []
    seen: set[str] = set()
    for r in rules:
        where = f"rule '{r.name}'"
        if r.name in seen:
            problems.append(f"{where}: the rule name is used twice")
        seen.add(r.name)
        if r.group is not None and r.group not in groups:
            problems.append(f"{where}: unknown group '{r.group}' (groups: {sorted(groups)})")
        try:
            f = spec.feature(r.feature)
        except KeyError:
            problems.append(f"{where}: unknown feature '{r.feature}' (not in the feature spec)")
            continue
        kind = r.condition_kind
        if kind is not None and kind != f.kind:
            cond = {"categorical": "in", "boolean": "is", "numeric": "at_least/at_most"}[kind]
            problems.append(
                f"{where}: condition '{cond}' is for {kind} features, but '{f.name}' is {f.kind}"
            )
            continue
        if r.in_ is not None:
            allowed = f.allowed or []
            for value in r.in_:
                if value not in allowed:
                    problems.append(
                        f"{where}: value '{value}' is not an allowed value of '{f.name}' "
                        f"(allowed: {', '.join(allowed)})"
                    )
        if f.range is not None:
            lo, hi = f.range
            for key, bound in (("at_least", r.at_least), ("at_most", r.at_most)):
                if bound is None:
                    continue
                if (lo is not None and bound < lo) or (hi is not None and bound > hi):
                    problems.append(
                        f"{where}: {key} {bound:g} is outside the range of '{f.name}' "
                        f"[{'' if lo is None else f'{lo:g}'}, {'' if hi is None else f'{hi:g}'}]"
                    )
    return problems


def _validation_lines(exc: ValidationError, raw: dict[str, Any]) -> list[str]:
    """pydantic errors as lines naming the rule by its name, not its position."""
    raw_rules: list[Any] = raw["rules"] if isinstance(raw.get("rules"), list) else []
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = "(top level)"
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            item = raw_rules[loc[1]] if loc[1] < len(raw_rules) else None
            name = item.get("name") if isinstance(item, dict) else None
            where = f"rule '{name}'" if name else f"rule #{loc[1] + 1}"
            loc = loc[2:]
        elif loc:
            where, loc = str(loc[0]), loc[1:]
        key = ".".join(str(p) for p in loc)
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {key}: {msg}" if key else f"{where}: {msg}")
    return lines


def parse_rules(raw: dict[str, Any], source: str) -> AgreedRules:
    """Validate the rules' own shape, without a spec (enough to diff two versions)."""
    try:
        return AgreedRules.model_validate(raw)
    except ValidationError as exc:
        lines = _validation_lines(exc, raw)
        raise SpecError(f"{source} is invalid:\n" + "\n".join(f"  - {p}" for p in lines)) from None


def load_rules(path: str | Path, spec: FeatureSpec) -> AgreedRules:
    """Read the agreed rules and check them against the spec; one error lists every problem."""
    raw = read_yaml(path)
    try:
        agreed = AgreedRules.model_validate(raw)
    except ValidationError as exc:
        problems = _validation_lines(exc, raw)
        # Still check the well-formed rules against the spec, so one run shows every problem.
        valid = []
        items: list[Any] = raw["rules"] if isinstance(raw.get("rules"), list) else []
        for item in items:
            with contextlib.suppress(ValidationError):
                valid.append(Rule.model_validate(item))
        groups = raw.get("groups")
        problems += _problems(valid, set(groups) if isinstance(groups, dict) else set(), spec)
    else:
        problems = agreed.problems(spec)
    if problems:
        raise SpecError(f"{path} is invalid:\n" + "\n".join(f"  - {p}" for p in problems))
    return agreed


def diff_rules(old: AgreedRules, new: AgreedRules) -> list[str]:
    """Lines a reviewer must read: changed settings (threshold), groups and rules."""
    settings = ("rules_version", "title", "spec", "sales_ready_points")
    lines = diff_records(
        {"rules": old.model_dump(mode="json", include=set(settings))},
        {"rules": new.model_dump(mode="json", include=set(settings))},
        "setting",
    )
    lines += diff_records(
        {g: v.model_dump(mode="json") for g, v in old.groups.items()},
        {g: v.model_dump(mode="json") for g, v in new.groups.items()},
        "group",
    )
    lines += diff_records(
        {r.name: r.model_dump(mode="json", exclude_none=True) for r in old.rules},
        {r.name: r.model_dump(mode="json", exclude_none=True) for r in new.rules},
        "rule",
    )
    return lines


def _compile(rules: list[Rule], groups: dict[str, Group]) -> _Compiled:
    plan: dict[str, _FeatureTests] = {}
    for i, r in enumerate(rules):
        t = plan.setdefault(r.feature, _FeatureTests(r.feature, None))
        t.kind = t.kind or r.condition_kind
        if r.in_ is not None:
            for value in dict.fromkeys(r.in_):
                t.by_value.setdefault(value, []).append(i)
        elif r.is_ is not None:
            t.by_value.setdefault(r.is_, []).append(i)
        elif r.missing:
            t.on_missing.append(i)
        else:
            lo = -math.inf if r.at_least is None else r.at_least
            hi = math.inf if r.at_most is None else r.at_most
            t.ranges.append((i, lo, hi))
    capped = [g for g, v in groups.items() if v.cap is not None]
    slot = {g: k for k, g in enumerate(capped)}
    return _Compiled(
        plan=list(plan.values()),
        points=[float(r.points) for r in rules],
        names=[r.name for r in rules],
        slot_of=[slot.get(r.group, -1) if r.group else -1 for r in rules],
        caps=[float(groups[g].cap or 0) for g in capped],
    )
