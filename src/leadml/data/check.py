"""Checking leads against the feature spec: every problem named by column and rows, values typed
by the spec, leads with open outcomes excluded and counted."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadml.data.read import refuse_duplicate_columns
from leadml.errors import DataError
from leadml.spec.features import Feature, FeatureSpec, Label, norm_value

log = logging.getLogger(__name__)
MAX_EXAMPLES = 5
ORDER = "__order__"  # checked leads' copy of the column a time split is ordered by
NA_WORDS = {"", "NA", "N/A", "nan", "NaN", "null", "NULL", "None"}  # missing, in a number column
# a date written day and month first, year last (03/04/2025, 3.4.25 10:00): which is the month?
DAY_MONTH = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](?:\d{4}|\d{2})(?!\d)")


@dataclass
class CheckedLeads:
    """Leads that passed the spec's checks, typed by the spec, with what was excluded and why."""

    frame: pd.DataFrame
    y: np.ndarray | None
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def timestamps(self) -> pd.Series | None:
        return self.frame.get("__timestamp__")


def rows_named(frame: pd.DataFrame, spec: FeatureSpec, mask: np.ndarray, values=None) -> str:
    """Up to five offending rows, named by row number (1 = first data row; `first_row` in
    the frame's attrs: rows before it in its file) and lead id."""
    idx = np.flatnonzero(mask)
    ids = frame.get(spec.lead_id) if spec.lead_id else None
    before = frame.attrs.get("first_row", 0)
    parts = []
    for i in idx[:MAX_EXAMPLES]:
        who = f"row {before + i + 1:,}"
        if ids is not None:
            who += f" (lead {ids.iloc[i]})"
        if values is not None:
            value = values.iloc[i]
            who += f": {value.item() if isinstance(value, np.generic) else value!r}"
        parts.append(who)
    more = f" and {len(idx) - MAX_EXAMPLES} more" if len(idx) > MAX_EXAMPLES else ""
    return "; ".join(parts) + more


def normalised(series: pd.Series) -> pd.Series:
    """norm_value applied per distinct value (fast on large columns); object dtype out."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    normed = np.array([norm_value(u) for u in uniques] + [None], dtype=object)
    return pd.Series(normed[codes], index=series.index, dtype=object)


def as_numbers(raw: pd.Series) -> pd.Series:
    """A column's values as numbers, whatever its type; NaN where missing or not a number."""
    return pd.to_numeric(raw.astype(object).where(raw.notna()), errors="coerce")


def coerce_feature(
    frame: pd.DataFrame,
    spec: FeatureSpec,
    f: Feature,
    problems: list[str],
    unseen: dict[str, int] | None = None,
) -> pd.Series:
    """The feature's column typed by the spec: float for numeric/boolean, str for categorical.

    A placeholder value (the feature's or the spec's `missing_values`, such as 'Select') is
    missing, whatever the kind. A category outside the allowed set is a problem, or, when
    `unseen` is given (scoring new leads), it is counted there and scored as missing.
    """
    raw = without_placeholders(frame[f.source], spec.placeholders(f))
    if f.kind == "numeric":
        return _numbers(frame, spec, f, raw, problems)
    if f.kind == "boolean":
        return _flags(frame, spec, f, raw, problems)
    return _categories(frame, spec, f, raw, problems, unseen)


def _plain(value: object) -> str:
    """A value as placeholders are compared: text trimmed; a number (or text that reads as one:
    '-1', '-1.0', ' 999 ') in one spelling, a whole number without '.0'."""
    text = str(value).strip()
    if isinstance(value, bool | np.bool_):
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    if not np.isfinite(number):
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def without_placeholders(raw: pd.Series, placeholders: frozenset[str]) -> pd.Series:
    """`raw` with each placeholder value ('Select', 'N/A'; the number -1 for '-1', whether the
    file writes -1, -1.0 or '-1.0') made missing; each distinct value is compared once, so this
    is cheap on large columns."""
    if not placeholders:
        return raw
    wanted = {_plain(p) for p in placeholders}
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    hit = np.array([_plain(u) in wanted for u in uniques] + [False], dtype=bool)[codes]
    return raw.where(~hit) if hit.any() else raw


def _numbers(
    frame: pd.DataFrame, spec: FeatureSpec, f: Feature, raw: pd.Series, problems: list[str]
) -> pd.Series:
    if pd.api.types.is_bool_dtype(raw) or pd.api.types.is_numeric_dtype(raw):
        values = raw.astype("float64")
    else:
        text = raw.astype(object).where(~raw.astype(str).str.strip().isin(NA_WORDS))
        values = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = text.notna().to_numpy() & values.isna().to_numpy()
        if bad.any():
            problems.append(
                f"column '{f.source}' must be numeric; not a number in "
                + rows_named(frame, spec, bad, raw)
            )
    if f.range is not None:
        lo, hi = f.range
        arr = values.to_numpy()
        with np.errstate(invalid="ignore"):
            out = (arr < lo if lo is not None else False) | (arr > hi if hi is not None else False)
        out = np.asarray(out, dtype=bool)
        if out.any():
            bounds = f"{'' if lo is None else f'{lo:g}'} to {'' if hi is None else f'{hi:g}'}"
            problems.append(
                f"column '{f.source}' must lie in the range {bounds.strip()}; outside in "
                + rows_named(frame, spec, out, raw)
            )
    return values


def _flags(
    frame: pd.DataFrame, spec: FeatureSpec, f: Feature, raw: pd.Series, problems: list[str]
) -> pd.Series:
    if pd.api.types.is_bool_dtype(raw):
        return pd.Series(raw.to_numpy(dtype="float64", na_value=np.nan), index=raw.index)
    normed = normalised(raw)
    bad = raw.notna().to_numpy() & ~normed.isin(["0", "1"]).to_numpy()
    if bad.any():
        problems.append(
            f"column '{f.source}' must be true/false (or 1/0, yes/no); got "
            + rows_named(frame, spec, bad, raw)
        )
    return normed.map({"1": 1.0, "0": 0.0}).astype("float64")


def _categories(
    frame: pd.DataFrame,
    spec: FeatureSpec,
    f: Feature,
    raw: pd.Series,
    problems: list[str],
    unseen: dict[str, int] | None,
) -> pd.Series:
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        text = normalised(raw)
    else:
        text = raw.astype("str").where(raw.notna())
    allowed = set(f.allowed or [])
    bad = raw.notna().to_numpy() & ~text.isin(allowed).to_numpy()
    if bad.any() and unseen is not None:
        unseen[f.name] = int(bad.sum())
        return text.where(~bad)
    if bad.any():
        problems.append(
            f"column '{f.source}' has values outside the allowed set {sorted(allowed)}: "
            + rows_named(frame, spec, bad, raw)
        )
    return text


def check_leads(
    frame: pd.DataFrame,
    spec: FeatureSpec,
    *,
    require_label: bool,
    require_id: bool = True,
    unseen: dict[str, int] | None = None,
    first_row: int = 0,
    first_id: int | None = None,
    order_by: str | None = None,
) -> CheckedLeads:
    """Check leads against the spec and return them typed; one DataError lists every problem.

    Leads whose outcome is still open (the label's `open` values) are excluded and counted.
    With `unseen` (scoring), unknown categories are counted there and scored as missing.
    Without `require_id`, leads lacking the id column are named by row number.
    A part of a larger file or dataset names its rows from `first_row` + 1 (rows before it in
    its file) and, without an id column, numbers its leads from `first_id` + 1 (rows before it
    in the whole data; default `first_row`).
    `order_by` names a column to carry as it is, as `__order__` (a time split's `split.order_by`:
    the split and the drift view read it), when the data has it.
    """
    if spec.lead_id and not require_id and spec.lead_id not in frame.columns:
        spec = spec.model_copy(update={"lead_id": None})
    _check_columns(frame, spec, require_label)
    frame = frame.reset_index(drop=True)
    frame.attrs["first_row"] = first_row
    problems: list[str] = []
    start = first_row if first_id is None else first_id
    out = pd.DataFrame({spec.id_column: _lead_ids(frame, spec, start, problems)})
    if spec.timestamp and spec.timestamp in frame.columns:
        out["__timestamp__"] = _timestamps(frame, spec, problems)
    for f in spec.features:
        out[f.source] = coerce_feature(frame, spec, f, problems, unseen)
    if order_by is not None and order_by in frame.columns:
        out[ORDER] = frame[order_by].to_numpy()
    y, opn = label_outcomes(frame, spec, problems) if require_label else (None, None)
    if problems:
        raise DataError(
            f"the data does not match the feature spec ({len(problems)} problem(s)):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    excluded: dict[str, int] = {}
    if opn is not None and opn.any():
        excluded["outcome still open"] = int(opn.sum())
        log.info("excluded %d lead(s): %s", int(opn.sum()), "outcome still open")
        out = out.loc[~opn].reset_index(drop=True)
        y = y[~opn] if y is not None else None
    return CheckedLeads(frame=out, y=y, excluded=excluded)


def _check_columns(frame: pd.DataFrame, spec: FeatureSpec, require_label: bool) -> None:
    """Every column the spec needs is there, and there are rows."""
    needed = [*([spec.lead_id] if spec.lead_id else []), *(f.source for f in spec.features)]
    if require_label:  # history needs outcomes and dates; new leads to score need neither
        needed.append(spec.label.column)
        if spec.timestamp:
            needed.append(spec.timestamp)
    refuse_duplicate_columns(list(frame.columns), "the data has")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(
            f"the data lacks {len(missing)} column(s) the spec needs: {', '.join(missing)}"
        )
    if len(frame) == 0:
        raise DataError("the data has no rows")


def _lead_ids(frame: pd.DataFrame, spec: FeatureSpec, start: int, problems: list[str]) -> pd.Series:
    """The lead ids as text (row numbers from `start` + 1 without an id column); empty and
    duplicate ids are problems."""
    ids = (
        frame[spec.lead_id]
        if spec.lead_id
        else pd.Series(np.arange(start + 1, start + len(frame) + 1))
    )
    if ids.isna().any():
        problems.append(
            f"column '{spec.lead_id}' (lead id) is empty in "
            + rows_named(frame, spec, ids.isna().to_numpy())
        )
    dup = ids.duplicated(keep=False).to_numpy() & ids.notna().to_numpy()
    if dup.any():
        problems.append(
            f"column '{spec.lead_id}' has duplicate lead ids: " + rows_named(frame, spec, dup)
        )
    return ids.astype("str")


def _timestamps(frame: pd.DataFrame, spec: FeatureSpec, problems: list[str]) -> pd.Series:
    """The timestamp column as naive UTC datetimes; numbers are refused, unparsable or
    missing values are problems. Text is read with the spec's `timestamp_format` when it gives
    one; without it, each value by its own format, and a date that reads as two different days
    (03/04/2025: 3 April or 4 March?) is a problem."""
    column = str(spec.timestamp)
    raw_ts = frame[column]
    if pd.api.types.is_numeric_dtype(raw_ts) and not pd.api.types.is_bool_dtype(raw_ts):
        raise DataError(
            f"column '{column}' holds numbers, not dates; export it as a date "
            "(e.g. 2025-03-01T09:30:00) so leads are not placed in 1970"
        )
    fmt = spec.timestamp_format
    what = "missing or unparsable timestamps"
    if pd.api.types.is_datetime64_any_dtype(raw_ts):
        ts = raw_ts
    elif fmt:
        ts = pd.to_datetime(raw_ts, errors="coerce", utc=True, format=fmt)
        what = f"missing timestamps or timestamps not in the spec's timestamp_format {fmt!r}"
    else:
        _ambiguous(frame, spec, raw_ts, problems)
        ts = pd.to_datetime(raw_ts, errors="coerce", utc=True, format="mixed")
    bad = ts.isna().to_numpy()
    if bad.any():
        problems.append(f"column '{column}' has {what}: " + rows_named(frame, spec, bad, raw_ts))
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts


def _ambiguous(
    frame: pd.DataFrame, spec: FeatureSpec, raw_ts: pd.Series, problems: list[str]
) -> None:
    """Dates whose day and month could be either way round (both at most 12, and different)
    are a problem: read value by value, some would be taken day-first and others month-first."""
    codes, uniques = pd.factorize(raw_ts.astype("str").where(raw_ts.notna()))
    parts = pd.Series(uniques, dtype="str").str.extract(DAY_MONTH)
    first, second = (pd.to_numeric(parts[i]).to_numpy(dtype="float64") for i in (0, 1))
    either = (first >= 1) & (first <= 12) & (second >= 1) & (second <= 12) & (first != second)
    if not either.any():
        return
    rows = np.append(either, False)[codes]  # code -1 (a missing value) takes the last entry
    problems.append(
        f"column '{spec.timestamp}' has dates that read as two different days (day/month or "
        "month/day?): " + rows_named(frame, spec, rows, raw_ts) + ". Set timestamp_format in the "
        "feature spec (e.g. timestamp_format: '%d/%m/%Y %H:%M') or export ISO dates "
        "(2025-04-03T09:30:00)"
    )


def label_codes(values: pd.Series, label: Label) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per value: (sales-ready by the label definition, still open, outside the definition)."""
    normed = normalised(values).fillna("")
    pos = normed.isin({norm_value(v) for v in label.positive}).to_numpy()
    neg = normed.isin({norm_value(v) for v in label.negative}).to_numpy()
    opn = normed.isin({norm_value(v) for v in label.open}).to_numpy() & ~pos & ~neg
    return pos, opn, ~(pos | neg | opn)


def label_outcomes(
    frame: pd.DataFrame, spec: FeatureSpec, problems: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Per lead: sales-ready (1) or not (0) by the label definition, and whether its outcome
    is still open; values outside the definition are problems."""
    label = spec.label
    pos, opn, bad = label_codes(frame[label.column], label)
    if bad.any():
        problems.append(
            f"column '{label.column}' (label) has {outside(label)}: "
            + rows_named(frame, spec, bad, frame[label.column])
        )
    return pos.astype(np.int8), opn


def outside(label: Label) -> str:
    """What a value outside the label definition is, in words."""
    return (
        f"values outside the label definition (positive {label.positive}, negative "
        f"{label.negative}, open {label.open})"
    )
