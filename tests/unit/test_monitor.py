"""The monitor's measures: matured leads, the sequential calibration alert (its false-alarm
rate measured on calibrated streams, its power on miscalibrated ones), calibration tables, the
holdout lift and drift (PSI) against a recorded training profile."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from leadml.evaluation.drift import SHIFT, feature_psi, profile, score_psi
from leadml.monitoring.monitor import (
    calibration_table,
    holdout_lift,
    matured,
    sequential_calibration,
)
from leadml.spec import load_spec

from ..conftest import SPEC

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def _streams(rng, streams: int, leads: int) -> np.ndarray:
    """Scores shaped like lead scores: mostly low, a few high."""
    return np.clip(rng.beta(0.6, 5.0, size=(streams, leads)), 0.001, 0.999)


def test_the_alert_stays_quiet_on_calibrated_scores_at_its_false_alarm_rate():
    rng = np.random.default_rng(11)
    p = _streams(rng, 400, 4_000)
    y = rng.random(p.shape) < p
    fired = [sequential_calibration(y[k], p[k], alpha=0.05)["alert"] for k in range(len(p))]
    rate = float(np.mean(fired))
    assert rate <= 0.05 + 0.03, rate  # 400 streams: the rate's noise is about 0.011


@pytest.mark.parametrize(("factor", "power"), [(1.3, 0.9), (0.7, 0.9)])
def test_the_alert_fires_on_miscalibrated_scores(factor, power):
    rng = np.random.default_rng(12)
    p = _streams(rng, 100, 4_000)
    y = rng.random(p.shape) < np.clip(p * factor, 0, 1)
    found = [sequential_calibration(y[k], p[k], alpha=0.01) for k in range(len(p))]
    assert np.mean([f["alert"] for f in found]) >= power
    fired = [f for f in found if f["alert"]]
    assert all(f["first_alert_at_lead"] <= 4_000 for f in fired)
    assert all((f["observed_minus_expected"] > 0) == (factor > 1) for f in fired)


def _log(rows: list[tuple]) -> pd.DataFrame:
    scores = pd.DataFrame(rows, columns=["lead_id", "days_ago", "probability"])
    scores["scored_at"] = pd.Timestamp(NOW) - pd.to_timedelta(scores.pop("days_ago"), unit="D")
    scores["id"] = range(1, len(scores) + 1)
    return scores


def test_matured_leads_first_score_latest_outcome_and_the_label_window():
    scores = _log([("A", 90, 0.2), ("A", 10, 0.9), ("B", 90, 0.3), ("C", 5, 0.4), ("D", 5, 0.1)])
    outcomes = pd.DataFrame({"id": [1, 2, 3], "lead_id": ["A", "A", "C"], "outcome": [0, 1, 1]})
    found = matured(scores, outcomes, window_days=60, now=NOW)
    frame = found.frame.set_index("lead_id")
    assert found.scored == 4 and found.maturing == 1  # D: no outcome, scored 5 days ago
    assert frame.loc["A", "probability"] == 0.2 and frame.loc["A", "y"] == 1  # first, latest
    assert frame.loc["B", "y"] == 0  # no outcome after the label window: not sales-ready
    assert frame.loc["C", "y"] == 1  # known early
    # the same rows as the log gives them (in the order scored): the same leads
    ordered = matured(scores.sort_values(["scored_at", "id"]), outcomes, 60, NOW).frame
    pd.testing.assert_frame_equal(ordered, found.frame.sort_values("scored_at", kind="stable")
                                  .reset_index(drop=True))  # fmt: skip


def test_a_calibration_table_flags_a_group_whose_score_misses_its_interval():
    groups = pd.Series(["A"] * 500 + ["B"] * 500)
    y = np.r_[np.ones(250), np.zeros(250), np.ones(50), np.zeros(450)]
    p = np.r_[np.full(500, 0.5), np.full(500, 0.3)]
    rows = {r["group"]: r for r in calibration_table(groups, y, p)}
    assert not rows["A"]["outside"] and rows["B"]["outside"]
    assert rows["B"]["observed"] == 50 and rows["B"]["expected"] == 150.0


def test_the_holdout_lift_compares_the_picks_on_the_same_leads():
    frame = pd.DataFrame(
        {
            "holdout": [True] * 6 + [False] * 2,
            "sales_ready": [True, True, False, False, True, False, True, True],
            "rules_sales_ready": [True, False, True, True, False, False, True, True],
            "y": [1, 1, 0, 0, 1, 0, 1, 1],
        }
    )
    lift = holdout_lift(frame)
    assert lift["leads"] == 6
    assert (lift["model"]["picked"], lift["model"]["converted"]) == (3, 3)
    assert (lift["rules"]["picked"], lift["rules"]["converted"]) == (3, 1)
    assert lift["difference"]["rate"] == pytest.approx(2 / 3)
    assert holdout_lift(frame[~frame["holdout"]]) is None


def _encoded_leads(spec, rng, n: int) -> np.ndarray:
    """`n` encoded leads drawn at random: categories and flags uniform, numbers gamma."""
    return np.column_stack(
        [
            rng.integers(0, len(f.allowed), n).astype(float)
            if f.kind == "categorical"
            else (
                rng.integers(0, 2, n).astype(float) if f.kind == "boolean" else rng.gamma(2, 10, n)
            )
            for f in spec.features
        ]
    )


def test_drift_is_near_zero_for_the_same_leads_and_large_for_shifted_ones():
    spec = load_spec(SPEC)
    rng = np.random.default_rng(3)
    n = 5_000
    X = _encoded_leads(spec, rng, n)
    scores = rng.beta(0.6, 5, n)
    recorded = profile(spec, X, scores)
    again = X[rng.permutation(n)]
    assert max(feature_psi(spec, recorded, again).values()) < 0.02
    shifted = again.copy()
    j = next(j for j, f in enumerate(spec.features) if f.kind == "numeric")
    shifted[:, j] = shifted[:, j] * 3
    psi = feature_psi(spec, recorded, shifted)
    assert psi[spec.features[j].name] > SHIFT
    assert (
        score_psi(recorded, scores) < 0.01 < SHIFT < score_psi(recorded, np.minimum(scores * 3, 1))
    )


def test_a_calibrated_stream_like_its_training_raises_no_alert():
    """The whole report on simulated leads: nothing to act on, and the tables add up."""
    import orjson

    from leadml.monitoring import monitor
    from leadml.spec.config import MonitorConfig

    spec = load_spec(SPEC)
    rng = np.random.default_rng(5)
    n = 3_000
    X = _encoded_leads(spec, rng, n)
    p = np.clip(rng.beta(0.6, 5, n), 0.001, 0.999)
    recorded = profile(spec, X[: n // 2], p[: n // 2])
    live = X[n // 2 :]
    names = [np.array([*(f.allowed or []), None], dtype=object) for f in spec.features]
    features = [
        orjson.dumps(
            [
                names[j][int(v)] if f.kind == "categorical" else float(v)
                for j, (f, v) in enumerate(zip(spec.features, row, strict=True))
            ]
        ).decode()
        for row in live
    ]
    m = len(live)
    scores = pd.DataFrame(
        {
            "id": range(1, m + 1),
            "lead_id": [f"L{i}" for i in range(m)],
            "scored_at": pd.Timestamp(NOW) - pd.to_timedelta(np.linspace(80, 61, m), unit="D"),
            "probability": p[n // 2 :],
            "band": np.where(p[n // 2 :] > 0.25, "B", "D"),
            "sales_ready": p[n // 2 :] > 0.25,
            "rules_sales_ready": p[n // 2 :] > 0.3,
            "holdout": np.arange(m) % 10 == 0,
            "features": features,
            "spec_hash": spec.content_hash,
        }
    )
    y = rng.random(m) < p[n // 2 :]
    outcomes = pd.DataFrame({"id": range(1, m + 1), "lead_id": scores["lead_id"], "outcome": y})
    report = monitor(scores, outcomes, spec, recorded, MonitorConfig(segments=["lead_source"]),
                     {}, NOW)  # fmt: skip
    assert report.alerts == []
    assert report.leads == {"scored": m, "matured": m, "maturing": 0}
    assert sum(r["leads"] for r in report.calibration["by_band"]) == m
    assert sum(r["leads"] for r in report.calibration["by_segment"]["lead_source"]) == m
    assert report.holdout["leads"] == (np.arange(m) % 10 == 0).sum()
    assert max(report.drift["features"].values()) < SHIFT


def test_the_page_charts_bands_that_converted_none_or_all(tmp_path):
    """A rate of 0 or 1: its interval's bound misses it by a rounding step, never a negative
    error bar (matplotlib refuses those)."""
    from leadml.monitoring.monitor import calibration_table
    from leadml.monitoring.page import _band_chart, _calibration_chart

    groups = pd.Series(["A"] * 13 + ["D"] * 7)
    y = np.array([1.0] * 13 + [0.0] * 7)
    rows = calibration_table(groups, y, np.full(20, 0.5))
    assert [r["rate"] for r in rows] == [1.0, 0.0]
    for chart in (_band_chart, _calibration_chart):
        assert chart(rows, tmp_path).startswith("<img alt=")
