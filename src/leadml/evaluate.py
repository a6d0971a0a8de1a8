"""How good a lead score is: ranking, calibration, what sales would work at capacity, bands A-D."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn import metrics

# The metrics shown side by side for the model and the agreed rules, in people's words.
METRIC_LABELS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "log_loss": "log loss",
    "brier": "Brier score",
    "ece": "calibration error (ECE)",
    "calibration_slope": "calibration slope",
    "calibration_intercept": "calibration intercept",
    "precision_at_capacity": "conversion of worked leads",
    "recall_at_capacity": "share of sales-ready found",
    "lift_at_capacity": "lift at capacity",
}

BANDS = ("A", "B", "C", "D")
EDGE_BANDS = BANDS[:-1]
CLIP = 1e-6
WILSON_Z = 1.959963984540054  # two-sided 95%


# --- input checks -------------------------------------------------------------------------------


def _vector(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: there are no leads to evaluate")
    return arr


def _probabilities(p: Any, name: str = "p") -> np.ndarray:
    arr = _vector(p, name)
    try:
        arr = arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold numbers (probabilities): {exc}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains missing or infinite values")
    if arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"{name} must be probabilities in [0, 1], got [{arr.min()}, {arr.max()}]")
    return arr


def _outcomes(y: Any) -> np.ndarray:
    arr = _vector(y, "y")
    try:
        arr = arr.astype(float)
    except (TypeError, ValueError):
        raise ValueError("y must be 0/1 (sales-ready or not)") from None
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError("y must be 0/1 (sales-ready or not)")
    return arr.astype(np.int64)


def _same_length(**arrays: np.ndarray) -> None:
    (first, ref), *rest = arrays.items()
    for name, arr in rest:
        if len(arr) != len(ref):
            raise ValueError(f"{first} has {len(ref)} leads but {name} has {len(arr)}")


def _check_y_p(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    y_arr, p_arr = _outcomes(y), _probabilities(p)
    _same_length(y=y_arr, p=p_arr)
    return y_arr, p_arr


def _check_capacity(capacity_per_week: int) -> int:
    if isinstance(capacity_per_week, bool) or int(capacity_per_week) != capacity_per_week:
        raise ValueError(f"capacity_per_week must be a whole number, got {capacity_per_week!r}")
    if capacity_per_week < 1:
        raise ValueError(f"capacity_per_week must be at least 1, got {capacity_per_week}")
    return int(capacity_per_week)


def _check_bins(bins: int) -> int:
    if isinstance(bins, bool) or int(bins) != bins or bins < 1:
        raise ValueError(f"bins must be a whole number of at least 1, got {bins!r}")
    return int(bins)


def _week_codes(weeks: Any, n: int) -> np.ndarray:
    weeks_arr = _vector(weeks, "weeks")
    if len(weeks_arr) != n:
        raise ValueError(f"p has {n} leads but weeks has {len(weeks_arr)}")
    codes, _ = pd.factorize(np.asarray(weeks_arr, dtype=object), use_na_sentinel=False)
    return codes


def _equal_mass_bins(p: np.ndarray, bins: int) -> list[np.ndarray]:
    """Lead indices ordered by p (stable), split into near-equal groups; empty groups dropped."""
    order = np.argsort(p, kind="stable")
    return [group for group in np.array_split(order, _check_bins(bins)) if len(group)]


# --- calibration --------------------------------------------------------------------------------


def expected_calibration_error(y: Any, p: Any, bins: int = 10) -> float:
    """Lead-weighted mean gap between predicted and observed conversion over equal-mass bins."""
    y_arr, p_arr = _check_y_p(y, p)
    n = len(p_arr)
    return float(
        sum(
            len(g) / n * abs(y_arr[g].mean() - p_arr[g].mean())
            for g in _equal_mass_bins(p_arr, bins)
        )
    )


def _fit_logistic(x: np.ndarray, offset: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Unpenalised maximum likelihood for logit P(y) = offset + x @ beta (Newton trust region)."""
    n = len(y)

    def loss(beta: np.ndarray) -> float:
        eta = offset + x @ beta
        return -float(np.sum(y * special.log_expit(eta) + (1 - y) * special.log_expit(-eta))) / n

    def grad(beta: np.ndarray) -> np.ndarray:
        return -(x.T @ (y - special.expit(offset + x @ beta))) / n

    def hess(beta: np.ndarray) -> np.ndarray:
        mu = special.expit(offset + x @ beta)
        return (x.T * (mu * (1 - mu))) @ x / n

    result = optimize.minimize(
        loss,
        np.zeros(x.shape[1]),
        jac=grad,
        hess=hess,
        method="trust-exact",
        options={"gtol": 1e-10, "maxiter": 200},
    )
    return result.x


def calibration_slope_intercept(y: Any, p: Any) -> tuple[float, float]:
    """Calibration slope and calibration-in-the-large; (1, 0) when the scores mean what they say.

    Slope below 1: scores too extreme (over-confident); above 1: too timid. Intercept above 0:
    more leads become sales-ready than the scores promise. NaN for both when y has one class only.
    With perfectly separated data the fit does not converge and the slope is very large.
    """
    y_arr, p_arr = _check_y_p(y, p)
    if y_arr.min() == y_arr.max():
        return float("nan"), float("nan")
    logit = special.logit(np.clip(p_arr, CLIP, 1 - CLIP))
    yf = y_arr.astype(float)
    design = np.column_stack([np.ones_like(logit), logit])
    _, slope = _fit_logistic(design, np.zeros_like(logit), yf)
    (intercept,) = _fit_logistic(np.ones((len(logit), 1)), logit, yf)
    return float(slope), float(intercept)


def _wilson(successes: np.ndarray, n: np.ndarray, z: float = WILSON_Z) -> tuple[np.ndarray, ...]:
    phat = successes / n
    denom = 1 + z**2 / n
    centre = (phat + z**2 / (2 * n)) / denom
    half = z * np.sqrt(phat * (1 - phat) / n + z**2 / (4 * n**2)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def calibration_curve_points(y: Any, p: Any, bins: int = 10) -> pd.DataFrame:
    """Predicted vs observed conversion per equal-mass bin, lowest scores first.

    Columns: mean_predicted, observed, leads, sales_ready, low, high (95% Wilson interval for
    observed). Fewer rows than `bins` when there are fewer leads than bins.
    """
    y_arr, p_arr = _check_y_p(y, p)
    groups = _equal_mass_bins(p_arr, bins)
    leads = np.array([len(g) for g in groups], dtype=np.int64)
    sales_ready = np.array([y_arr[g].sum() for g in groups], dtype=np.int64)
    low, high = _wilson(sales_ready.astype(float), leads.astype(float))
    return pd.DataFrame(
        {
            "mean_predicted": [p_arr[g].mean() for g in groups],
            "observed": sales_ready / leads,
            "leads": leads,
            "sales_ready": sales_ready,
            "low": low,
            "high": high,
        }
    )


# --- sales capacity -----------------------------------------------------------------------------


def threshold_from_capacity(p: Any, weeks: Any, capacity_per_week: int) -> float:
    """Probability at or above which about capacity_per_week leads per week score, on average.

    Uses the number of distinct weeks present; when capacity covers every lead, the threshold is
    the lowest score.
    """
    p_arr = _probabilities(p)
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
    p_arr = _probabilities(p)
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
    y_arr, p_arr = _check_y_p(y, p)
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


# --- bands --------------------------------------------------------------------------------------


def _check_edges(edges: Mapping[str, float]) -> dict[str, float]:
    unknown = sorted(set(edges) - set(EDGE_BANDS), key=str)
    if unknown:
        raise ValueError(f"unknown band {unknown[0]!r} in band edges: expected A, B and C")
    checked: dict[str, float] = {}
    for band in EDGE_BANDS:
        if band not in edges:
            raise ValueError(f"band {band} has no edge: expected edges for A, B and C")
        edge = float(edges[band])
        if not 0 <= edge <= 1:
            raise ValueError(f"edge of band {band} must be a probability in [0, 1], got {edge}")
        if checked and edge >= min(checked.values()):
            above = list(checked)[-1]
            raise ValueError(
                f"edge of band {band} ({edge}) must be below the edge of band {above} "
                f"({checked[above]})"
            )
        checked[band] = edge
    return checked


def assign_bands(p: Any, edges: Mapping[str, float]) -> np.ndarray:
    """Band letter per lead: A if p >= edges["A"], else B if p >= edges["B"], ..., else D."""
    return np.array(BANDS, dtype=object)[band_codes(p, edges)]


def band_codes(p: Any, edges: Mapping[str, float]) -> np.ndarray:
    """Each lead's band as its index in BANDS (0 = A)."""
    p_arr = _probabilities(p)
    checked = _check_edges(edges)
    codes = np.full(len(p_arr), len(BANDS) - 1, dtype=np.int8)
    for k in reversed(range(len(EDGE_BANDS))):  # C, B, A: higher bands overwrite lower ones
        codes[p_arr >= checked[EDGE_BANDS[k]]] = k
    return codes


def band_table(y: Any, p: Any, edges: Mapping[str, float]) -> pd.DataFrame:
    """One row per band A-D, empty bands included (conversion and mean_probability NaN)."""
    y_arr, p_arr = _check_y_p(y, p)
    bands = assign_bands(p_arr, edges)
    rows = []
    for band in BANDS:
        mask = bands == band
        leads = int(mask.sum())
        rows.append(
            {
                "band": band,
                "leads": leads,
                "sales_ready": int(y_arr[mask].sum()),
                "conversion": y_arr[mask].mean() if leads else np.nan,
                "mean_probability": p_arr[mask].mean() if leads else np.nan,
            }
        )
    return pd.DataFrame(rows).astype(
        {"leads": "int64", "sales_ready": "int64", "conversion": float, "mean_probability": float}
    )


# --- everything at once -------------------------------------------------------------------------


def score_metrics(y: Any, p: Any, weeks: Any, capacity_per_week: int) -> dict[str, float]:
    """All metrics for one scorer on one window, as plain floats (ints for counts).

    Keys: roc_auc, pr_auc, log_loss, brier, ece, calibration_slope, calibration_intercept,
    precision_at_capacity, recall_at_capacity, lift_at_capacity, leads_worked, base_rate, leads.
    With a single class in y the AUCs and calibration slope/intercept are NaN.
    """
    y_arr, p_arr = _check_y_p(y, p)
    one_class = y_arr.min() == y_arr.max()
    slope, intercept = calibration_slope_intercept(y_arr, p_arr)
    result: dict[str, float] = {
        "roc_auc": float("nan") if one_class else float(metrics.roc_auc_score(y_arr, p_arr)),
        "pr_auc": (
            float("nan") if one_class else float(metrics.average_precision_score(y_arr, p_arr))
        ),
        "log_loss": float(metrics.log_loss(y_arr, np.clip(p_arr, CLIP, 1 - CLIP), labels=[0, 1])),
        "brier": float(metrics.brier_score_loss(y_arr, p_arr, labels=[0, 1])),
        "ece": expected_calibration_error(y_arr, p_arr),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
    }
    result |= capacity_metrics(y_arr, p_arr, weeks, capacity_per_week)
    result["base_rate"] = float(y_arr.mean())
    result["leads"] = len(y_arr)
    return result


def gains_curve(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative gains: share of leads worked (best p first, ties by position) vs share found.

    Both arrays have len(y) + 1 points starting at (0, 0). The share found is NaN (after the
    start) when no lead is sales-ready.
    """
    y_arr, p_arr = _check_y_p(y, p)
    order = np.argsort(-p_arr, kind="stable")
    found = np.r_[0, np.cumsum(y_arr[order])].astype(float)
    total = found[-1]
    share_worked = np.arange(len(y_arr) + 1) / len(y_arr)
    if total == 0:
        share_found = np.full_like(found, np.nan)
        share_found[0] = 0.0
    else:
        share_found = found / total
    return share_worked, share_found


def week_of(timestamps: pd.Series) -> np.ndarray:
    """Week number of each timestamp (weeks start on Monday), for capacity per week."""
    days = timestamps.to_numpy().astype("datetime64[D]").astype(np.int64)
    return (days + 3) // 7
