"""Calibrators that turn a booster's raw score (or the rules' points) into real probabilities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

EPS = 1e-4
METHODS = ("isotonic", "sigmoid", "none")


@dataclass(frozen=True)
class Calibrator:
    """A fitted monotone map from a score to a probability, kept as plain numbers (fast, small).

    `none` is the identity on a booster's log-odds: its probabilities are kept as they are.
    """

    method: str
    xs: np.ndarray | None = None
    ys: np.ndarray | None = None
    slope: float = 1.0
    intercept: float = 0.0

    def __call__(self, score: np.ndarray) -> np.ndarray:
        score = np.asarray(score, dtype=np.float64)
        if self.method == "isotonic":
            p = np.interp(score, cast(np.ndarray, self.xs), cast(np.ndarray, self.ys))
        else:
            p = 1.0 / (1.0 + np.exp(-(self.slope * score + self.intercept)))
        return np.clip(p, EPS, 1.0 - EPS)


def fit_calibrator(score: np.ndarray, y: np.ndarray, method: str) -> Calibrator:
    score = np.asarray(score, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(score, y)
        return Calibrator("isotonic", xs=iso.X_thresholds_.copy(), ys=iso.y_thresholds_.copy())
    if method == "none":
        return Calibrator("none")
    if method == "sigmoid":
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(score.reshape(-1, 1), y)
        return Calibrator("sigmoid", slope=float(lr.coef_[0, 0]), intercept=float(lr.intercept_[0]))
    raise ValueError(f"unknown calibration method {method!r}; use auto, isotonic, sigmoid or none")


def _log_losses(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def choose_calibrator(
    score: np.ndarray, y: np.ndarray, method: str = "auto", seed: int = 0, folds: int = 5
) -> tuple[Calibrator, dict[str, float]]:
    """Fit the named calibrator, or with `auto` the one with the lowest held-out log loss.

    `auto` weighs isotonic, sigmoid and none (the booster's own probabilities): held-out log
    loss comes from k-fold cross-validation over the given scores (none fits nothing,
    so its loss on the window is already held out). A calibrator must beat none by more than
    one standard error of the paired per-lead difference, so noise does not pick it; the winner
    is refitted on the whole window. Returns it and each method's log loss.
    """
    score = np.asarray(score, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if method != "auto":
        return fit_calibrator(score, y, method), {}
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    per_lead: dict[str, np.ndarray] = {}
    for m in METHODS:
        held_out = np.empty_like(score)
        for fit_idx, test_idx in cv.split(score, y):
            held_out[test_idx] = fit_calibrator(score[fit_idx], y[fit_idx], m)(score[test_idx])
        per_lead[m] = _log_losses(y, held_out)
    losses = {m: float(v.mean()) for m, v in per_lead.items()}
    eligible = ["none"]
    for m in METHODS:
        if m != "none":
            gain = per_lead["none"] - per_lead[m]
            if gain.mean() > gain.std(ddof=1) / np.sqrt(len(gain)):
                eligible.append(m)
    best = min(eligible, key=lambda m: losses[m])
    return fit_calibrator(score, y, best), losses
