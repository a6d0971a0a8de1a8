"""How good a lead score is: ranking, calibration, conversion per band, and all of it at once
(`score_metrics`); sales capacity is `capacity`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn import metrics

from leadml.evaluation.capacity import capacity_metrics
from leadml.evaluation.checks import check_bins, check_y_p
from leadml.scoring.bands import BANDS, assign_bands

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

CLIP = 1e-6
WILSON_Z = 1.959963984540054  # two-sided 95%


# --- input checks -------------------------------------------------------------------------------


def _equal_mass_bins(p: np.ndarray, bins: int) -> list[np.ndarray]:
    """Lead indices ordered by p (stable), split into near-equal groups; empty groups dropped."""
    order = np.argsort(p, kind="stable")
    return [group for group in np.array_split(order, check_bins(bins)) if len(group)]


# --- calibration --------------------------------------------------------------------------------


def expected_calibration_error(y: Any, p: Any, bins: int = 10) -> float:
    """Lead-weighted mean gap between predicted and observed conversion over equal-mass bins."""
    y_arr, p_arr = check_y_p(y, p)
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
    y_arr, p_arr = check_y_p(y, p)
    if y_arr.min() == y_arr.max():
        return float("nan"), float("nan")
    logit = special.logit(np.clip(p_arr, CLIP, 1 - CLIP))
    yf = y_arr.astype(float)
    design = np.column_stack([np.ones_like(logit), logit])
    _, slope = _fit_logistic(design, np.zeros_like(logit), yf)
    (intercept,) = _fit_logistic(np.ones((len(logit), 1)), logit, yf)
    return float(slope), float(intercept)


def wilson(successes: np.ndarray, n: np.ndarray, z: float = WILSON_Z) -> tuple[np.ndarray, ...]:
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
    y_arr, p_arr = check_y_p(y, p)
    groups = _equal_mass_bins(p_arr, bins)
    leads = np.array([len(g) for g in groups], dtype=np.int64)
    sales_ready = np.array([y_arr[g].sum() for g in groups], dtype=np.int64)
    low, high = wilson(sales_ready.astype(float), leads.astype(float))
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


# --- bands --------------------------------------------------------------------------------------


def band_table(y: Any, p: Any, edges: Mapping[str, float]) -> pd.DataFrame:
    """One row per band A-D, empty bands included (conversion and mean_probability NaN)."""
    y_arr, p_arr = check_y_p(y, p)
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
    y_arr, p_arr = check_y_p(y, p)
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
    y_arr, p_arr = check_y_p(y, p)
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
