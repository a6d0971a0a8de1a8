"""Sales capacity: weeks, how many leads sales can work per week, and which leads it works."""

from __future__ import annotations

from dataclasses import dataclass
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


# Capacity binds when sales cannot work this share of a window's leads; at or above it nearly
# every lead counts as worked, and recall and lift at capacity are about 1.0 for any scorer.
BINDING_SHARE = 0.9


@dataclass(frozen=True)
class CapacityUse:
    """How much of a window sales capacity covers: the leads worked at capacity (each week's
    capacity, or all of a smaller week) against all leads."""

    capacity: int  # leads sales can work per week (per window when undated or as a share)
    weeks: int
    leads: int
    worked: int

    @property
    def per_week(self) -> float:
        """Leads per week in the window (per window when there are no weeks)."""
        return self.leads / max(1, self.weeks)

    @property
    def worked_share(self) -> float:
        return self.worked / max(1, self.leads)

    @property
    def binds(self) -> bool:
        """False when sales can work (nearly) every lead: comparisons at capacity say nothing."""
        return self.worked_share < BINDING_SHARE

    def describe(self, window: str) -> str:
        """Why capacity does not bind on `window`, with the numbers."""
        if self.weeks > 1:
            volume = (
                f"sales can work {self.capacity:,} leads a week, against about "
                f"{self.per_week:,.0f} a week in {window} ({self.leads:,} leads over "
                f"{self.weeks:,} weeks)"
            )
        else:
            volume = f"sales can work {self.capacity:,} of the {self.leads:,} leads in {window}"
        return (
            f"{volume}, so {self.worked_share:.0%} of the leads count as worked: recall and lift "
            "at capacity are about 1.0 for the model and the rules alike and compare nothing"
        )


def capacity_use(weeks: Any, capacity_per_week: int) -> CapacityUse:
    """How much of the leads (one week code each) a capacity per week covers."""
    codes = _week_codes(weeks, len(as_vector(weeks, "weeks")))
    capacity = _check_capacity(capacity_per_week)
    sizes = np.bincount(codes) if len(codes) else np.zeros(0, dtype=np.int64)
    return CapacityUse(
        capacity=capacity,
        weeks=int((sizes > 0).sum()),
        leads=int(sizes.sum()),
        worked=int(np.minimum(sizes, capacity).sum()),
    )


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
