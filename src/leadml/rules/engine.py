"""The agreed rules as a scoring engine: each condition compiled to a column test on encoded
leads, points totalled once per distinct set of fired rules."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadml.data.columns import labels_at
from leadml.spec.features import FeatureSpec, Kind, norm_value

_MISSING = object()  # a value read as missing: fires only `missing: true` rules


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
    if mask.shape[1] > 63 or len(first) == 1:
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
    if len(mask) == 1:
        return np.zeros(1, dtype=np.intp), np.zeros(1, dtype=np.intp)
    if mask.shape[1] > 63:  # each row's bits as one byte string (rows must be contiguous)
        packed = np.ascontiguousarray(np.packbits(mask, axis=1))
        keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    else:
        keys = _row_keys(mask)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def _row_keys(mask: np.ndarray) -> np.ndarray:
    """Each row of a mask of at most 64 columns as one integer (bit j: column j).

    A column-major mask (many leads, tested column by column) is read a column at a time; any
    other is packed row by row (one call, whatever the number of rules: 30x faster for one lead).
    """
    if mask.flags.f_contiguous and not mask.flags.c_contiguous:
        keys = np.zeros(len(mask), dtype=np.uint64)
        for j in range(mask.shape[1]):
            keys |= mask[:, j].astype(np.uint64) << np.uint64(j)
        return keys
    packed = np.packbits(mask, axis=1, bitorder="little")
    padded = np.zeros((len(mask), 8), dtype=np.uint8)
    padded[:, : packed.shape[1]] = packed
    return padded.view("<u8").ravel()


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
    """The rules laid out for scoring: per feature its tests, per rule its points and group."""

    plan: list[_FeatureTests]
    points: list[float]
    names: list[str]
    slot_of: list[int]  # per rule: the slot of its capped group, or -1
    caps: list[float]  # per slot: the group's cap
    encoded: dict[int, tuple[FeatureSpec, _EncodedPlan]] = field(
        default_factory=dict, compare=False, repr=False
    )
    values: _ValueLayout | None = field(default=None, compare=False, repr=False)
    weights: np.ndarray | None = field(default=None, compare=False, repr=False)


COLUMNWISE_ROWS = 4096  # from this many leads, the rules are tested column by column
FEW_ROWS = 8  # up to this many, value by value


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
        """The plan for leads encoded by the spec (`LeadEncoder`)."""
        where = {f.name: (j, f) for j, f in enumerate(spec.features)}
        equal, missing, ranges = [], [], []
        for t in c.plan:
            j, f = where[t.feature]
            for value, hits in t.by_value.items():
                code = (
                    (f.allowed or []).index(value)
                    if f.kind == "categorical"
                    else float(bool(value))
                )
                equal += [(j, code, i) for i in hits]
            missing += [(j, i) for i in t.on_missing]
            ranges += [(j, lo, hi, i) for i, lo, hi in t.ranges]
        return cls.of(equal, missing, ranges, c)

    @classmethod
    def of(cls, equal: list, missing: list, ranges: list, c: _Compiled) -> _EncodedPlan:
        """From the tests: (column, code, rule), (missing column, rule), (column, lo, hi, rule)."""

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

    def fired(self, X: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
        """Which rules fire for each lead (row) of `X`. `missing`: which values were not given,
        by the columns `missing_cols` name (default: NaN in `X`)."""
        if missing is None:
            missing = X
        if len(X) <= FEW_ROWS:
            return self._fired_by_value(X, missing)
        if len(X) >= COLUMNWISE_ROWS:
            return self._fired_by_column(X, missing)
        fired = np.zeros((len(X), self.n_rules), dtype=bool)
        if len(self.equal_rule):  # several values of one rule: any of them fires it
            cols, to, rule, first = self._equal_by_rule()
            hit = X[:, cols] == to
            fired[:, rule] = np.logical_or.reduceat(hit, first, axis=1)
        if len(self.missing_rule):
            fired[:, self.missing_rule] = _is_missing(missing[:, self.missing_cols])
        if len(self.range_rule):  # NaN compares False: a missing value fires no range
            x = X[:, self.range_cols]
            fired[:, self.range_rule] = (x >= self.range_lo) & (x <= self.range_hi)
        return fired

    def _fired_by_value(self, X: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """`fired` for a few leads, test by test in plain Python (the same tests; numpy's
        per-call cost is most of the time for one lead)."""
        equal, on_missing, ranges = self._tests()
        fired = np.zeros((len(X), self.n_rules), dtype=bool)
        nan_is_missing = missing is X
        for i, (row, gaps) in enumerate(zip(X.tolist(), missing.tolist(), strict=True)):
            hits = [rule for col, value, rule in equal if row[col] == value]
            if nan_is_missing:
                hits += [rule for col, rule in on_missing if gaps[col] != gaps[col]]
            else:
                hits += [rule for col, rule in on_missing if gaps[col]]
            hits += [rule for col, lo, hi, rule in ranges if lo <= row[col] <= hi]
            fired[i, hits] = True
        return fired

    def _tests(self) -> tuple[list, list, list]:
        """The tests as Python tuples, worked out once per plan."""
        found = self.__dict__.get("_python")
        if found is None:
            found = self._python = (
                list(zip(self.equal_cols.tolist(), self.equal_to.tolist(),
                         self.equal_rule.tolist(), strict=True)),
                list(zip(self.missing_cols.tolist(), self.missing_rule.tolist(), strict=True)),
                list(zip(self.range_cols.tolist(), self.range_lo.tolist(),
                         self.range_hi.tolist(), self.range_rule.tolist(), strict=True)),
            )  # fmt: skip
        return found

    def _equal_by_rule(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The equality tests grouped by rule: (columns, values, each group's rule, each
        group's first test); worked out once per plan."""
        found = self.__dict__.get("_by_rule")
        if found is None:
            order = np.argsort(self.equal_rule, kind="stable")
            rule = self.equal_rule[order]
            first = np.flatnonzero(np.r_[True, rule[1:] != rule[:-1]])
            found = self._by_rule = (
                self.equal_cols[order], self.equal_to[order], rule[first], first,
            )  # fmt: skip
        return found

    def _fired_by_column(self, X: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """`fired` for many leads: one pass over a column per test, into a column-major mask
        (gathering the tested columns side by side first cost several times more)."""
        fired = np.zeros((len(X), self.n_rules), dtype=bool, order="F")
        for j, code, i in zip(self.equal_cols, self.equal_to, self.equal_rule, strict=True):
            fired[:, i] |= X[:, j] == code
        for j, i in zip(self.missing_cols, self.missing_rule, strict=True):
            fired[:, i] = _is_missing(missing[:, j])
        ranges = zip(self.range_cols, self.range_lo, self.range_hi, self.range_rule, strict=True)
        for j, lo, hi, i in ranges:
            column = X[:, j]
            fired[:, i] = (column >= lo) & (column <= hi)
        return fired


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


def _is_missing(values: np.ndarray) -> np.ndarray:
    """NaN in encoded leads, True in a mask of missing values."""
    return values if values.dtype == bool else np.isnan(values)


@dataclass(eq=False)
class _ValueLayout:
    """How `score_values` lays out leads given as raw values (a frame's columns or one lead's
    fields), as the rules read them (`_read_value`): per feature of the plan, a column of codes
    for its `in`/`is` rules (-1: a value no rule names), a column of numbers for its ranges, and
    a column of the missing-value mask."""

    codes: list[dict[Any, int]]  # per feature: value -> code, for its code column
    code_col: list[int]  # per feature: its code column in X, or -1
    value_col: list[int]  # per feature: its number column in X, or -1
    width: int
    plan: _EncodedPlan

    @classmethod
    def build(cls, c: _Compiled) -> _ValueLayout:
        codes, code_col, value_col = [], [], []
        equal, missing, ranges = [], [], []
        width = 0
        for f, t in enumerate(c.plan):
            codes.append({v: k for k, v in enumerate(t.by_value)})
            code_col.append(width if t.by_value else -1)
            for value, hits in t.by_value.items():
                equal += [(width, codes[f][value], i) for i in hits]
            width += bool(t.by_value)
            value_col.append(width if t.ranges else -1)
            ranges += [(width, lo, hi, i) for i, lo, hi in t.ranges]
            width += bool(t.ranges)
            missing += [(f, i) for i in t.on_missing]
        return cls(codes, code_col, value_col, width, _EncodedPlan.of(equal, missing, ranges, c))

    def read_frame(self, c: _Compiled, columns: list[pd.Series]) -> tuple[np.ndarray, np.ndarray]:
        """(X, missing) for a frame's columns, one per feature of the plan; each distinct value
        is read once."""
        n = len(columns[0]) if columns else 0
        X = np.full((n, self.width), np.nan)
        missing = np.zeros((n, len(c.plan)), dtype=bool)
        for f, (t, column) in enumerate(zip(c.plan, columns, strict=True)):
            if t.kind in ("numeric", None) and pd.api.types.is_numeric_dtype(column):
                values = column.to_numpy(dtype=float, na_value=np.nan)
                missing[:, f] = np.isnan(values)
                if self.value_col[f] >= 0:
                    X[:, self.value_col[f]] = values
                continue
            found, uniques = pd.factorize(column, use_na_sentinel=True)
            read = [_read_value(u, t.kind) for u in uniques] + [_MISSING]  # code -1: NA
            missing[:, f] = np.array([v is _MISSING for v in read])[found]
            self._fill(X, f, read, found)
        return X, missing

    def read_lead(self, c: _Compiled, lead: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """(X, missing) for one lead keyed by feature name."""
        X = np.full((1, self.width), np.nan)
        missing = np.zeros((1, len(c.plan)), dtype=bool)
        at = np.zeros(1, dtype=np.intp)
        for f, t in enumerate(c.plan):
            value = _read_value(lead.get(t.feature), t.kind)
            missing[0, f] = value is _MISSING
            self._fill(X, f, [value], at)
        return X, missing

    def _fill(self, X: np.ndarray, f: int, read: list[Any], found: np.ndarray) -> None:
        """Feature `f`'s columns of X from its distinct values as read, and each row's index."""
        if self.code_col[f] >= 0:
            codes = self.codes[f]
            code = [np.nan if v is _MISSING else codes.get(v, -1) for v in read]
            X[:, self.code_col[f]] = np.array(code, dtype=float)[found]
        if self.value_col[f] >= 0:
            number = [np.nan if v is _MISSING or v is None else v for v in read]
            X[:, self.value_col[f]] = np.array(number, dtype=float)[found]


def plan_for(c: _Compiled, spec: FeatureSpec) -> _EncodedPlan:
    """The plan for leads encoded by `spec`, built once per spec and kept with the rules."""
    plans = getattr(c, "encoded", None)  # absent from rules pickled by older versions
    if plans is None:
        plans = c.encoded = {}
    found = plans.get(id(spec))
    if found is None or found[0] is not spec:
        found = plans[id(spec)] = (spec, _EncodedPlan.build(c, spec))
    return found[1]


def layout_for(c: _Compiled) -> _ValueLayout:
    """The layout for raw values, built once and kept with the rules."""
    layout = getattr(c, "values", None)  # absent from rules pickled by older versions
    if layout is None:
        layout = c.values = _ValueLayout.build(c)
    return layout


def _weights(c: _Compiled) -> np.ndarray:
    """Rules x (1 + capped groups): one product of the fired rules with it gives each lead's
    uncapped sum (column 0) and each capped group's sum. Built once and kept with the rules."""
    weights = getattr(c, "weights", None)  # absent from rules pickled by older versions
    if weights is None:
        slot_of = np.array(c.slot_of)
        weights = np.zeros((len(slot_of), 1 + len(c.caps)))
        weights[np.arange(len(slot_of)), slot_of + 1] = c.points
        c.weights = weights
    return weights


def _points_of(c: _Compiled, hits: list[int]) -> float:
    """The points of one lead's fired rules, each capped group's positive total capped."""
    total = 0.0
    slot_totals = [0.0] * len(c.caps)
    for i in hits:
        slot = c.slot_of[i]
        if slot < 0:
            total += c.points[i]
        else:
            slot_totals[slot] += c.points[i]
    return total + sum(min(s, cap) for s, cap in zip(slot_totals, c.caps, strict=True))


def total(c: _Compiled, fired: np.ndarray, sales_ready_points: float, index=None) -> RulesScore:
    """Points (capped per group), verdict and fired rules for every lead; leads share few sets
    of fired rules, so each set is totalled once."""
    rows = distinct_rows(fired)
    if len(fired) == 1:  # one lead: its fired rules added up in plain Python
        points = np.array([_points_of(c, np.flatnonzero(fired[0]).tolist())])
        return RulesScore(points, fired, list(c.names), points >= sales_ready_points, index, rows)
    sums = fired[rows[0]].astype(np.float64) @ _weights(c)
    points = sums[:, 0].copy()
    for k, cap in enumerate(c.caps):
        points += np.minimum(sums[:, k + 1], cap)
    points = points[rows[1]]
    verdict = points >= sales_ready_points
    return RulesScore(points, fired, list(c.names), verdict, index=index, rows=rows)
