"""Sales capacity: weeks, how many leads sales can work per week, and which leads it works."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from leadml.evaluation.checks import check_y_p
from leadml.scoring.bands import as_probabilities, as_vector
from leadml.spec.config import CapacityConfig


def weeks_and_capacity(frame: pd.DataFrame, capacity: CapacityConfig) -> tuple[np.ndarray, int]:
    """Each lead's week and how many leads sales can work per week.

    Capacity given as a share (or leads without dates) makes the whole window one 'week'.
    """
    if capacity.share is not None or "__timestamp__" not in frame:
        per_week = round(capacity.share * len(frame)) if capacity.share else capacity.leads_per_week
        return np.zeros(len(frame), dtype=np.int64), max(1, int(per_week or 0))
    return week_of(frame["__timestamp__"]), int(capacity.leads_per_week or 0)


def _check_capacity(capacity_per_week: int) -> int:
    if isinstance(capacity_per_week, bool) or int(capacity_per_week) != capacity_per_week:
        raise ValueError(f"capacity_per_week must be a whole number, got {capacity_per_week!r}")
    if capacity_per_week < 1:
        raise ValueError(f"capacity_per_week must be at least 1, got {capacity_per_week}")
    return int(capacity_per_week)


def _week_codes(weeks: Any, n: int) -> np.ndarray:
    weeks_arr = as_vector(weeks, "weeks")
    if len(weeks_arr) != n:
        raise ValueError(f"p has {n} leads but weeks has {len(weeks_arr)}")
    codes, _ = pd.factorize(np.asarray(weeks_arr, dtype=object), use_na_sentinel=False)
    return codes


def threshold_from_capacity(p: Any, weeks: Any, capacity_per_week: int) -> float:
    """Probability at or above which about capacity_per_week leads per week score, on average.

    Uses the number of distinct weeks present; when capacity covers every lead, the threshold is
    the lowest score.
    """
    p_arr = as_probabilities(p)
    codes = _week_codes(weeks, len(p_arr))
    capacity = _check_capacity(capacity_per_week)
    n_weeks = len(np.unique(codes))
    share = min(1.0, capacity * n_weeks / len(p_arr))
    return float(np.quantile(p_arr, 1 - share))


def top_k_per_week(p: Any, weeks: Any, capacity_per_week: int) -> np.ndarray:
    """Boolean mask of the leads sales would work: each week's capacity_per_week highest scores.

    Ties are broken by position (the earlier lead is worked first); a week with fewer leads than
    the capacity has all its leads worked.
    """
    p_arr = as_probabilities(p)
    codes = _week_codes(weeks, len(p_arr))
    capacity = _check_capacity(capacity_per_week)
    n = len(p_arr)
    order = np.lexsort((np.arange(n), -p_arr, codes))  # week, then best score, then position
    sorted_codes = codes[order]
    is_start = np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]
    group_start = np.maximum.accumulate(np.where(is_start, np.arange(n), 0))
    worked = np.zeros(n, dtype=bool)
    worked[order] = (np.arange(n) - group_start) < capacity
    return worked


def capacity_metrics(y: Any, p: Any, weeks: Any, capacity_per_week: int) -> dict[str, float]:
    """What sales gets from working the top capacity_per_week leads each week.

    precision_at_capacity: conversion of worked leads; recall_at_capacity: share of all
    sales-ready leads that were worked (NaN if none); lift_at_capacity: precision over the base
    rate (NaN if no lead is sales-ready); leads_worked: an int.
    """
    y_arr, p_arr = check_y_p(y, p)
    worked = top_k_per_week(p_arr, weeks, capacity_per_week)
    found = int(y_arr[worked].sum())
    total = int(y_arr.sum())
    precision = found / int(worked.sum())
    base_rate = total / len(y_arr)
    return {
        "precision_at_capacity": float(precision),
        "recall_at_capacity": found / total if total else float("nan"),
        "lift_at_capacity": precision / base_rate if total else float("nan"),
        "leads_worked": int(worked.sum()),
    }


def week_of(timestamps: pd.Series) -> np.ndarray:
    """Week number of each timestamp (weeks start on Monday), for capacity per week."""
    days = timestamps.to_numpy().astype("datetime64[D]").astype(np.int64)
    return (days + 3) // 7
