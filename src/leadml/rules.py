"""The agreed rules: sales and marketing's points table, scored beside the model as the baseline."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from leadml.columns import labels_at
from leadml.errors import DataError, SpecError
from leadml.spec import FeatureSpec, Kind, diff_records, norm_value, read_yaml

_MISSING = object()  # a value read as missing: fires only `missing: true` rules


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


@dataclass
class RulesScore:
    """The agreed rules' points, fired rules and verdict for a batch of leads."""

    points: np.ndarray
    fired: np.ndarray
    rule_names: list[str]
    verdict: np.ndarray
    index: pd.Index | None = None
    rows: tuple[np.ndarray, np.ndarray] | None = None  # distinct_rows(fired)

    def fired_names(self, i: int) -> list[str]:
        return [self.rule_names[j] for j in np.flatnonzero(self.fired[i])]

    def to_frame(self) -> pd.DataFrame:
        """Columns rules_points, rules_fired (names joined by ';') and rules_sales_ready."""
        patterns, inverse = distinct_names(self.fired, self.rule_names, self.rows)
        return pd.DataFrame(
            {
                "rules_points": self.points,
                "rules_fired": labels_at([";".join(names) for names in patterns], inverse),
                "rules_sales_ready": self.verdict,
            },
            index=self.index,
        )


def names_per_row(mask: np.ndarray, names: list[str]) -> list[tuple[str, ...]]:
    """The names whose column is True, per row, worked out once per distinct row."""
    if len(mask) <= 1:
        return [tuple(names[j] for j in np.flatnonzero(row)) for row in mask]
    found, inverse = distinct_names(mask, names)
    return [found[k] for k in inverse.tolist()]


def distinct_names(
    mask: np.ndarray, names: list[str], rows: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[list[tuple[str, ...]], np.ndarray]:
    """Each distinct row's names whose column is True, and every row's index into them
    (`rows`: the mask's `distinct_rows`, when already known)."""
    first, inverse = rows if rows is not None else distinct_rows(mask)
    if mask.shape[1] > 63:
        return [tuple(names[j] for j in np.flatnonzero(mask[i])) for i in first.tolist()], inverse
    tables = _byte_names(tuple(names))  # each distinct row's names by byte lookups
    found = []
    for key in _row_keys(mask[first]).tolist():
        row: tuple[str, ...] = ()
        for b, table in enumerate(tables):
            row += table[(key >> (8 * b)) & 255]
        found.append(row)
    return found, inverse


def distinct_rows(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One row number per distinct row of a boolean mask, and every row's index into them."""
    if mask.shape[1] > 63:  # each row's bits as one byte string (rows must be contiguous)
        packed = np.ascontiguousarray(np.packbits(mask, axis=1))
        keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    else:
        keys = _row_keys(mask)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def _row_keys(mask: np.ndarray) -> np.ndarray:
    """Each row of a mask of at most 64 columns as one integer (bit j: column j)."""
    keys = np.zeros(len(mask), dtype=np.uint64)
    for j in range(mask.shape[1]):
        keys |= mask[:, j].astype(np.uint64) << np.uint64(j)
    return keys


@functools.lru_cache(maxsize=16)
def _byte_names(names: tuple[str, ...]) -> list[list[tuple[str, ...]]]:
    """Per byte of a bit mask over `names`: the names each of its 256 values selects."""
    return [
        [
            tuple(names[8 * b + j] for j in range(8) if v >> j & 1 and 8 * b + j < len(names))
            for v in range(256)
        ]
        for b in range((len(names) + 7) // 8)
    ]


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
        """Score every lead of a frame holding the spec's source columns."""
        c = self._compiled
        sources = {f.name: f.source for f in spec.features}
        columns = {t.feature: sources.get(t.feature, t.feature) for t in c.plan}
        absent = sorted(set(columns.values()) - set(frame.columns))
        if absent:
            raise DataError(f"the agreed rules need columns missing from the data: {absent}")
        fired = np.zeros((len(frame), len(c.names)), dtype=bool)
        for t in c.plan:
            column = frame[columns[t.feature]]
            if t.kind in ("numeric", None) and pd.api.types.is_numeric_dtype(column):
                values = column.to_numpy(dtype=float, na_value=np.nan)
                missing = np.isnan(values)
            else:  # read each distinct value once, exactly as score_lead reads it
                codes, uniques = pd.factorize(column, use_na_sentinel=True)
                read = [_read_value(u, t.kind) for u in uniques] + [_MISSING]  # code -1: NA
                missing = np.array([v is _MISSING for v in read])[codes]
                if t.ranges:
                    values = np.array([np.nan if v is _MISSING else v for v in read])[codes]
                for i in {i for hit in t.by_value.values() for i in hit}:
                    hit_u = [v is not _MISSING and i in t.by_value.get(v, ()) for v in read]
                    fired[:, i] = np.array(hit_u)[codes]
            for i in t.on_missing:
                fired[:, i] = missing
            with np.errstate(invalid="ignore"):
                for i, lo, hi in t.ranges:
                    fired[:, i] = (values >= lo) & (values <= hi)
        return self._total(fired, index=frame.index)

    def score_encoded(self, X: np.ndarray, spec: FeatureSpec) -> RulesScore:
        """Score leads already encoded by the spec (`model.LeadEncoder`: one column per feature,
        categories as their index in `allowed`, booleans 0/1, NaN when missing)."""
        c = self._compiled
        plans = getattr(c, "encoded", None)  # absent from rules pickled by older versions
        if plans is None:
            plans = c.encoded = {}
        found = plans.get(id(spec))
        if found is None or found[0] is not spec:
            found = plans[id(spec)] = (spec, _EncodedPlan.build(c, spec))
        return self._total(found[1].fired(X))

    def _total(self, fired: np.ndarray, index: pd.Index | None = None) -> RulesScore:
        c = self._compiled
        rows = distinct_rows(fired)  # leads share few patterns of fired rules: total each once
        # one product gives the uncapped sum (column 0) and each capped group's sum
        slot_of = np.array(c.slot_of)
        weights = np.zeros((len(slot_of), 1 + len(c.caps)))
        weights[np.arange(len(slot_of)), slot_of + 1] = c.points
        sums = fired[rows[0]].astype(np.float64) @ weights
        points = sums[:, 0].copy()
        for k, cap in enumerate(c.caps):
            points += np.minimum(sums[:, k + 1], cap)
        points = points[rows[1]]
        verdict = points >= self.sales_ready_points
        return RulesScore(points, fired, self.rule_names, verdict, index=index, rows=rows)

    def score_lead(
        self, lead: Mapping[str, Any], spec: FeatureSpec | None = None
    ) -> tuple[float, list[str], bool]:
        """(points, fired rule names, sales-ready) for one lead keyed by feature name.

        `spec` is accepted for symmetry with `score`: the rules were checked against it on load.
        """
        c = self._compiled
        hits: list[int] = []
        for t in c.plan:
            value = _read_value(lead.get(t.feature), t.kind)
            if value is _MISSING:
                hits.extend(t.on_missing)
                continue
            if t.by_value:
                hits.extend(t.by_value.get(value, ()))
            for i, lo, hi in t.ranges:
                if lo <= value <= hi:
                    hits.append(i)
        hits.sort()
        points, slot_of, names = c.points, c.slot_of, c.names
        total = 0.0
        slot_totals = [0.0] * len(c.caps)
        for i in hits:
            slot = slot_of[i]
            if slot < 0:
                total += points[i]
            else:
                slot_totals[slot] += points[i]
        for subtotal, cap in zip(slot_totals, c.caps, strict=True):
            total += min(subtotal, cap)
        return total, [names[i] for i in hits], total >= self.sales_ready_points


@dataclass(slots=True)
class _FeatureTests:
    """The conditions of every rule on one feature."""

    feature: str
    kind: Kind | None  # None when only `missing: true` rules read the feature
    on_missing: list[int] = field(default_factory=list)  # rules firing on a missing value
    by_value: dict[Any, list[int]] = field(default_factory=dict)  # in / is: value -> rules
    ranges: list[tuple[int, float, float]] = field(default_factory=list)  # (rule, lo, hi)


@dataclass(slots=True)
class _Compiled:
    """The rules laid out for fast scoring, shared by `score` and `score_lead`."""

    plan: list[_FeatureTests]
    points: list[float]
    names: list[str]
    slot_of: list[int]  # per rule: the slot of its capped group, or -1
    caps: list[float]  # per slot: the group's cap
    encoded: dict[int, tuple[FeatureSpec, _EncodedPlan]] = field(
        default_factory=dict, compare=False, repr=False
    )


COLUMNWISE_ROWS = 4096  # from this many leads, the rules are tested column by column


@dataclass(eq=False)
class _EncodedPlan:
    """Every rule condition as one column test on encoded leads, evaluated all at once."""

    equal_cols: np.ndarray  # a categorical code or boolean value
    equal_to: np.ndarray
    equal_rule: np.ndarray
    missing_cols: np.ndarray
    missing_rule: np.ndarray
    range_cols: np.ndarray
    range_lo: np.ndarray
    range_hi: np.ndarray
    range_rule: np.ndarray
    n_rules: int

    @classmethod
    def build(cls, c: _Compiled, spec: FeatureSpec) -> _EncodedPlan:
        where = {f.name: (j, f) for j, f in enumerate(spec.features)}
        equal, missing, ranges = [], [], []
        for t in c.plan:
            j, f = where[t.feature]
            for value, hits in t.by_value.items():
                code = f.allowed.index(value) if f.kind == "categorical" else float(bool(value))
                equal += [(j, code, i) for i in hits]
            missing += [(j, i) for i in t.on_missing]
            ranges += [(j, lo, hi, i) for i, lo, hi in t.ranges]

        def columns(rows: list[tuple], width: int) -> list[np.ndarray]:
            table = np.array(rows, dtype=float).reshape(len(rows), width)
            return [table[:, k] for k in range(width)]

        eq_j, eq_code, eq_i = columns(equal, 3)
        mi_j, mi_i = columns(missing, 2)
        ra_j, ra_lo, ra_hi, ra_i = columns(ranges, 4)
        ints = [a.astype(np.intp) for a in (eq_j, eq_i, mi_j, mi_i, ra_j, ra_i)]
        return cls(
            ints[0], eq_code, ints[1], ints[2], ints[3], ints[4], ra_lo, ra_hi, ints[5],
            len(c.names),
        )  # fmt: skip

    def fired(self, X: np.ndarray) -> np.ndarray:
        if len(X) >= COLUMNWISE_ROWS:
            return self._fired_by_column(X)
        fired = np.zeros((len(X), self.n_rules), dtype=bool)
        if len(self.equal_rule):  # several values of one rule: any of them fires it
            order = np.argsort(self.equal_rule, kind="stable")
            rule = self.equal_rule[order]
            first = np.flatnonzero(np.r_[True, rule[1:] != rule[:-1]])
            hit = X[:, self.equal_cols[order]] == self.equal_to[order]
            fired[:, rule[first]] = np.logical_or.reduceat(hit, first, axis=1)
        if len(self.missing_rule):
            fired[:, self.missing_rule] = np.isnan(X[:, self.missing_cols])
        if len(self.range_rule):  # NaN compares False: a missing value fires no range
            x = X[:, self.range_cols]
            fired[:, self.range_rule] = (x >= self.range_lo) & (x <= self.range_hi)
        return fired

    def _fired_by_column(self, X: np.ndarray) -> np.ndarray:
        """`fired` for many leads: one pass over a column per test, into a column-major mask
        (gathering the tested columns side by side first cost several times more)."""
        fired = np.zeros((len(X), self.n_rules), dtype=bool, order="F")
        for j, code, i in zip(self.equal_cols, self.equal_to, self.equal_rule, strict=True):
            fired[:, i] |= X[:, j] == code
        for j, i in zip(self.missing_cols, self.missing_rule, strict=True):
            fired[:, i] = np.isnan(X[:, j])
        ranges = zip(self.range_cols, self.range_lo, self.range_hi, self.range_rule, strict=True)
        for j, lo, hi, i in ranges:
            column = X[:, j]
            fired[:, i] = (column >= lo) & (column <= hi)
        return fired


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


def _read_value(value: Any, kind: Kind | None) -> Any:
    """One value as the rules see it: _MISSING, a float, True/False/None, or a category."""
    if value is None:
        return _MISSING
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return _MISSING
    else:
        try:
            if value != value:  # NaN
                return _MISSING
        except TypeError:  # pd.NA
            return _MISSING
    if kind == "categorical":
        return value if isinstance(value, str) else str(value)
    if kind == "numeric":
        try:
            return float(value)
        except (TypeError, ValueError):
            return math.nan  # unreadable: fires nothing
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        word = norm_value(value)
        return True if word == "1" else False if word == "0" else None
    return value


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
    raw_rules = raw.get("rules") if isinstance(raw.get("rules"), list) else []
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
        for item in raw.get("rules") if isinstance(raw.get("rules"), list) else []:
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
