"""The agreed rules as a scoring engine: each condition compiled to a column test on encoded
leads, points totalled once per distinct set of fired rules."""

from __future__ import annotations

import functools
import math
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
