"""The windows of a training run: the split order, window bounds, and encoded windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadml.data.check import ORDER, CheckedLeads, as_numbers
from leadml.data.fingerprint import WindowInfo
from leadml.errors import ConfigError, DataError
from leadml.evaluation.capacity import weeks_and_capacity
from leadml.scoring.encoding import LeadEncoder
from leadml.scoring.info import TrainedLeads, lead_keys
from leadml.spec.config import FILE_ORDER, TrainingConfig
from leadml.spec.features import FeatureSpec

MAX_EXAMPLES = 5


@dataclass
class Window:
    """One time window of checked leads, encoded once. The calibration window also carries
    every lead the model learns from (`trained`: the training window is not kept whole)."""

    name: str
    frame: pd.DataFrame
    X: np.ndarray
    y: np.ndarray
    weeks: np.ndarray
    trained: TrainedLeads | None = None


def split_order_of(config: TrainingConfig, spec: FeatureSpec) -> dict[str, str] | None:
    """What orders a time split (`ModelInfo.split_order`): the spec's timestamp, the config's
    `split.order_by` column, or the file's row order when the config declares it; None for a
    random split. A time split with none of them is refused, naming the fixes."""
    split = config.split
    if split.method == "random":
        return None
    by = split.order_by
    if by is None:
        if spec.timestamp is None:
            raise ConfigError(_no_order(config))
        return {"kind": "timestamp", "column": spec.timestamp}
    if by == FILE_ORDER:
        read = {spec.lead_id, spec.timestamp, spec.label.column, *(f.source for f in spec.features)}
        if FILE_ORDER in read:
            raise ConfigError(
                f"split.order_by: {FILE_ORDER} means the file's row order, but {config.spec} "
                f"also reads a column named {FILE_ORDER}; rename that column with `column:`"
            )
        return {"kind": "file_order", "column": FILE_ORDER}
    if by == spec.timestamp:
        return {"kind": "timestamp", "column": by}
    if by == spec.label.column:
        raise ConfigError(
            f"split.order_by: {by!r} is the label column of {config.spec}; name a column of "
            "numbers that grow with time (a lead number)"
        )
    return {"kind": "column", "column": by}


def order_column(order: dict[str, str] | None) -> str | None:
    """The column checking carries for a split ordered by one (`check_leads(order_by=...)`)."""
    return order["column"] if order is not None and order["kind"] == "column" else None


def _no_order(config: TrainingConfig) -> str:
    return (
        f"split.method: time needs an order, and {config.spec} has no timestamp. Without one "
        "the split would follow the file's row order, and many exports list the newest leads "
        "first: the model would train on the newest leads and be tested on the oldest. Fix one "
        "of: set `timestamp:` in the spec to the column with each lead's creation date; set "
        "`split.order_by: COLUMN` in the training config to a column of numbers that grow with "
        f"time (a lead number); set `split.order_by: {FILE_ORDER}` if the file lists the "
        "oldest leads first; or set `split.method: random` (no order: the windows are "
        "exchangeable, none is newer)"
    )


def order_values(
    frame: pd.DataFrame, order: dict[str, str] | None, spec: FeatureSpec
) -> np.ndarray | None:
    """Per checked lead, the value the time split sorts by (None: the file's row order, or a
    random split). A column is read by its values: numbers, whatever its type; anything else
    (or a missing value) is a DataError naming the column and rows."""
    if order is None or order["kind"] == "file_order":
        return None
    if order["kind"] == "timestamp":
        return frame["__timestamp__"].to_numpy()
    column = order["column"]
    if ORDER not in frame:
        raise DataError(
            f"split.order_by: the data has no column '{column}' (the training config orders "
            "its time split by it)"
        )
    raw = frame[ORDER]
    numbers = as_numbers(raw)
    bad = numbers.isna().to_numpy()
    if bad.any():
        ids, first = frame[spec.id_column], frame.attrs.get("first_row", 0)
        shown = "; ".join(
            f"row {first + i + 1:,} (lead {ids.iloc[i]}): {raw.iloc[i]!r}"
            for i in np.flatnonzero(bad)[:MAX_EXAMPLES]
        )
        more = f" and {bad.sum() - MAX_EXAMPLES} more" if bad.sum() > MAX_EXAMPLES else ""
        raise DataError(
            f"split.order_by: column '{column}' must hold a number for every lead (the split "
            f"sorts leads by it, oldest first); not a number in {shown}{more}. For dates, set "
            "the spec's timestamp instead"
        )
    return numbers.to_numpy()  # int64 when every value is a whole number: exact beyond 2**53


def split_order(n: int, values: np.ndarray | None, config: TrainingConfig) -> np.ndarray:
    """The leads' order for the split: oldest first by `values` (time; the file's row order
    only when the config declares it) or shuffled by the seed (random)."""
    s = config.split
    if s.method == "time":
        if values is not None:
            return np.argsort(values, kind="stable")
        if s.order_by != FILE_ORDER:
            raise ConfigError(_no_order(config))
        return np.arange(n)
    return np.random.default_rng(s.seed).permutation(n)


def window_bounds(n: int, config: TrainingConfig) -> dict[str, tuple[int, int]]:
    """Each window's [start, stop) in the split order."""
    n_test = round(n * config.split.test_share)
    n_cal = round(n * config.split.calibration_share)
    return {
        "train": (0, n - n_cal - n_test),
        "calibration": (n - n_cal - n_test, n - n_test),
        "test": (n - n_test, n),
    }


def make_window(
    name: str, frame: pd.DataFrame, y: np.ndarray, config: TrainingConfig, encoder: LeadEncoder
) -> Window:
    frame = frame.reset_index(drop=True)
    weeks, _ = weeks_and_capacity(frame, config.capacity)
    return Window(name, frame, encoder.transform(frame), y, weeks)


def split_windows(
    leads: CheckedLeads, config: TrainingConfig, encoder: LeadEncoder
) -> dict[str, Window]:
    """Oldest leads train, the next window early-stops and calibrates, the newest tests."""
    n = len(leads.frame)
    spec = encoder.spec
    if leads.y is None:
        raise ValueError("split_windows takes leads checked with their outcomes")
    values = order_values(leads.frame, split_order_of(config, spec), spec)
    order = split_order(n, values, config)
    out = {}
    for name, (start, stop) in window_bounds(n, config).items():
        idx = order[start:stop]
        out[name] = make_window(name, leads.frame.iloc[idx], leads.y[idx], config, encoder)
    cal, train = out["calibration"], out["train"]
    cal.trained = TrainedLeads.of(lead_keys(train.frame, spec), lead_keys(cal.frame, spec))
    return out


def window_info(w: Window) -> WindowInfo:
    """Leads, sales-ready leads and (with timestamps) the date range of a window."""
    info: WindowInfo = {"leads": len(w.y), "sales_ready": int(w.y.sum())}
    if "__timestamp__" in w.frame:
        info["from"] = str(w.frame["__timestamp__"].min())
        info["to"] = str(w.frame["__timestamp__"].max())
    return info


def capacity_of(window: Window, config: TrainingConfig) -> int:
    """Leads sales can work per 'week' in this window."""
    return weeks_and_capacity(window.frame, config.capacity)[1]


def seen_categories(X: np.ndarray, spec: FeatureSpec) -> dict[str, list[str]]:
    """Per categorical feature, the allowed values that occur in the encoded training leads."""
    encoder = LeadEncoder(spec)
    return encoder.category_names(encoder.seen_codes(X))


def leads_table(window: Window, spec: FeatureSpec, order_by: str | None = None) -> pd.DataFrame:
    """A window's leads as the spec reads them (id, timestamp, the split's `order_by` column,
    features by their columns, the label as its first positive or negative value): `leadml
    compare` and `evaluate` read it back as the same leads."""
    frame = window.frame
    out = pd.DataFrame({spec.id_column: frame[spec.id_column]})
    if spec.timestamp and "__timestamp__" in frame:
        ts = frame["__timestamp__"]
        out[spec.timestamp] = ts.dt.strftime(spec.timestamp_format) if spec.timestamp_format else ts
    if order_by is not None and ORDER in frame and order_by not in out:
        out[order_by] = frame[ORDER]
    for f in spec.features:
        out[f.source] = frame[f.source]
    label = spec.label
    out[label.column] = np.where(window.y == 1, label.positive[0], label.negative[0])
    return out
