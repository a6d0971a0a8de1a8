"""The monitor's measures, from the score log's rows (`ScoreLog.read_scores`, `read_outcomes`).

**Matured leads.** Per lead, the first score in the period (the one that routed it) and its
latest outcome. A lead counts once its outcome is known, or once `label_window_days` have passed
since it was scored without one (then it is not sales-ready); the others are still maturing.

**Calibration alert.** Over the matured leads in the order they were scored, S = sum(y - p) is a
martingale while the scores are calibrated, with intrinsic time V = sum p(1 - p). The alert is
the two-sided normal-mixture confidence sequence (Robbins 1970; Howard, Ramdas, McAuliffe and
Sekhon 2021): it fires when |S| >= sqrt((V + rho) log((V + rho) / (rho alpha^2))) at any point of
the stream, which a calibrated model does with probability about `alpha` however long it is
watched (checked by simulation in the tests; the bound is exact for Gaussian increments, close
for these). rho = RHO puts its strength around a few hundred sales-ready leads' worth of V.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from leadml.errors import ConfigError
from leadml.evaluation.drift import SHIFT, feature_psi, score_psi
from leadml.evaluation.metrics import wilson
from leadml.scorelog.history import matured
from leadml.scorelog.rows import features_frame
from leadml.scoring.encoding import LeadEncoder
from leadml.spec.config import MonitorConfig
from leadml.spec.features import FeatureSpec

RHO = 100.0
# the score log's columns the monitor reads (`ScoreLog.read_scores(columns=...)`)
COLUMNS = ["lead_id", "model_name", "model_version", "spec_hash", "features", "probability",
           "band", "sales_ready", "rules_sales_ready", "holdout"]  # fmt: skip
TEST_NAME = "normal-mixture confidence sequence on sum(outcome - probability)"


def sequential_calibration(y: np.ndarray, p: np.ndarray, alpha: float) -> dict[str, Any]:
    """The calibration alert over leads in the order scored (see module): the statistic and
    bound at the end, and the first lead at which it fired (None: never)."""
    gap = np.cumsum(np.asarray(y, float) - p)
    v = np.cumsum(p * (1 - p))
    bound = np.sqrt((v + RHO) * np.log((v + RHO) / (RHO * alpha**2)))
    crossed = np.flatnonzero(np.abs(gap) >= bound)
    end = len(gap) - 1
    return {
        "test": TEST_NAME,
        "alpha": alpha,
        "leads": len(gap),
        "observed_minus_expected": float(gap[end]) if len(gap) else 0.0,
        "bound": float(bound[end]) if len(gap) else None,
        "alert": bool(len(crossed)),
        "first_alert_at_lead": int(crossed[0]) + 1 if len(crossed) else None,
    }


def calibration_table(groups: pd.Series, y: np.ndarray, p: np.ndarray) -> list[dict[str, Any]]:
    """Per group: leads, expected and observed sales-ready, the observed rate with its 95%
    interval, and whether the mean score lies outside it."""
    frame = pd.DataFrame({"g": groups.to_numpy(), "y": y, "p": p})
    rows = []
    for key, part in frame.groupby("g", sort=True, dropna=False):
        n, observed, expected = len(part), int(part["y"].sum()), float(part["p"].sum())
        low, high = wilson(np.array([observed]), np.array([n]))
        mean_p = expected / n
        rows.append(
            {
                "group": None if pd.isna(key) else str(key),
                "leads": n,
                "expected": round(expected, 2),
                "observed": observed,
                "rate": observed / n,
                "mean_probability": mean_p,
                "low": float(low[0]),
                "high": float(high[0]),
                "outside": not low[0] <= mean_p <= high[0],
            }
        )
    return rows


def holdout_lift(frame: pd.DataFrame) -> dict[str, Any] | None:
    """On matured holdout leads (routed by the rules alone): conversion of the leads the model
    calls sales-ready and of those the rules do, with 95% intervals, and the difference."""
    held = frame[frame["holdout"].astype(bool)]
    if held.empty:
        return None

    def side(mask: pd.Series) -> dict[str, Any]:
        n, k = int(mask.sum()), int(held.loc[mask, "y"].sum())
        low, high = wilson(np.array([k]), np.array([max(n, 1)]))
        return {"picked": n, "converted": k, "rate": k / n if n else None,
                "low": float(low[0]), "high": float(high[0])}  # fmt: skip

    model, rules = (
        side(held["sales_ready"].astype(bool)),
        side(held["rules_sales_ready"].astype(bool)),
    )
    out = {"leads": len(held), "model": model, "rules": rules, "difference": None}
    if model["picked"] and rules["picked"]:
        a, b = model["rate"], rules["rate"]
        se = math.sqrt(a * (1 - a) / model["picked"] + b * (1 - b) / rules["picked"])
        out["difference"] = {"rate": a - b, "low": a - b - 1.96 * se, "high": a - b + 1.96 * se}
    return out


@dataclass
class MonitorReport:
    """What `leadml monitor` found; `alerts` is empty when nothing needs acting on."""

    period: dict[str, Any]
    leads: dict[str, int]
    calibration: dict[str, Any]
    drift: dict[str, Any]
    holdout: dict[str, Any] | None
    alerts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def monitor(
    scores: pd.DataFrame,
    outcomes: pd.DataFrame,
    spec: FeatureSpec,
    profile: dict[str, Any] | None,
    config: MonitorConfig,
    period: dict[str, Any],
    now: datetime,
) -> MonitorReport:
    """Every measure of the period's scores (`scores`, from the score log) and the outcomes."""
    found = matured(scores, outcomes, config.label_window_days, now)
    frame = found.frame
    y, p = frame["y"].to_numpy(), frame["probability"].to_numpy(float)
    test = sequential_calibration(y, p, config.alpha)
    weeks = _iso_weeks(frame["scored_at"])
    unknown = [name for name in config.segments if name not in spec.names]
    if unknown:
        raise ConfigError(
            f"monitor.segments: {', '.join(unknown)} not a feature of the spec (features: "
            f"{', '.join(spec.names)})"
        )
    by_segment = {}
    if config.segments and len(frame):
        features = features_frame(frame["features"], spec)
        for name in config.segments:
            values = features[spec.feature(name).source].astype(object)
            by_segment[name] = calibration_table(values, y, p)
    calibration = {
        "expected": round(float(p.sum()), 2),
        "observed": int(y.sum()),
        "sequential_test": test,
        "by_week": calibration_table(weeks, y, p),
        "by_band": calibration_table(frame["band"], y, p),
        "by_segment": by_segment,
    }
    report = MonitorReport(
        period=period,
        leads={"scored": found.scored, "matured": len(frame), "maturing": found.maturing},
        calibration=calibration,
        drift=_drift(scores, spec, profile),
        holdout=holdout_lift(frame),
    )
    report.alerts = _alerts(report, config)
    return report


def _iso_weeks(stamps: pd.Series) -> pd.Series:
    """Each time's ISO week, as 2026-W48 (written once per distinct week)."""
    if stamps.empty:
        return pd.Series([], dtype=object)
    days = stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    mondays = days - (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    found, at = np.unique(mondays, return_inverse=True)
    names = []
    for monday in found.tolist():  # a datetime.date: its ISO year and week, once per week
        year, week, _ = monday.isocalendar()
        names.append(f"{year}-W{week:02d}")
    return pd.Series(np.array(names, dtype=object)[at], index=stamps.index)


def _drift(scores: pd.DataFrame, spec: FeatureSpec, profile: dict[str, Any] | None) -> dict:
    if not profile:
        return {"recorded": False, "why": "the model records no training profile (trained "
                "before leadml kept one)", "features": {}, "score_psi": None}  # fmt: skip
    mine = scores[scores["spec_hash"] == spec.content_hash].drop_duplicates("lead_id")
    X = LeadEncoder(spec).transform(features_frame(mine["features"], spec)) if len(mine) else None
    return {
        "recorded": True,
        "leads": len(mine),
        "other_spec": int((scores["spec_hash"] != spec.content_hash).sum()),
        "features": feature_psi(spec, profile, X) if X is not None else {},
        "score_psi": score_psi(profile, mine["probability"].to_numpy(float)) if len(mine) else None,
    }


def _alerts(report: MonitorReport, config: MonitorConfig) -> list[str]:
    alerts = []
    test = report.calibration["sequential_test"]
    if test["alert"]:
        gap = test["observed_minus_expected"]
        alerts.append(
            f"calibration: {report.leads['matured']:,} matured leads brought "
            f"{report.calibration['observed']:,} sales-ready against "
            f"{report.calibration['expected']:,.1f} expected ({gap:+,.1f}; {TEST_NAME} at "
            f"alpha {config.alpha}, first at lead {test['first_alert_at_lead']:,})"
        )
    drift = report.drift
    if drift.get("recorded") and drift.get("leads", 0) >= config.min_leads:
        shifted = {k: v for k, v in drift["features"].items() if v > SHIFT}
        for name, value in sorted(shifted.items(), key=lambda kv: -kv[1]):
            alerts.append(f"drift: {name} PSI {value:.2f} > {SHIFT} against the training window")
        if drift["score_psi"] is not None and drift["score_psi"] > SHIFT:
            alerts.append(
                f"drift: the scores' PSI {drift['score_psi']:.2f} > {SHIFT} against the test window"
            )
    return alerts
