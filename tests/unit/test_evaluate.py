"""Unit tests for the evaluation metrics and the plots."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from sklearn import metrics

from leadml import evaluate as ev
from leadml import plots

EDGES = {"A": 0.5, "B": 0.25, "C": 0.1}


@pytest.fixture(scope="module")
def known_truth() -> tuple[np.ndarray, np.ndarray]:
    """200k leads whose true sales-ready probability is p, symmetric around 50% on the logit."""
    rng = np.random.default_rng(20240611)
    p = expit(rng.normal(0.0, 1.5, 200_000))
    return rng.binomial(1, p), p


@pytest.fixture
def small() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 60)
    y = rng.binomial(1, p)
    weeks = np.repeat(["2024-W01", "2024-W02", "2024-W03"], 20)
    return y, p, weeks


# --- standard metrics agree with scikit-learn ----------------------------------------------------


@pytest.mark.parametrize("as_type", [np.asarray, list, pd.Series])
def test_standard_metrics_match_sklearn(small, as_type):
    y, p, weeks = small
    result = ev.score_metrics(as_type(y), as_type(p), as_type(weeks), capacity_per_week=5)
    assert result["roc_auc"] == metrics.roc_auc_score(y, p)
    assert result["pr_auc"] == metrics.average_precision_score(y, p)
    assert result["log_loss"] == metrics.log_loss(y, p)
    assert result["brier"] == metrics.brier_score_loss(y, p)
    assert result["base_rate"] == y.mean()
    assert result["leads"] == 60
    assert result["leads_worked"] == 15
    assert result["ece"] == ev.expected_calibration_error(y, p)


def test_score_metrics_keys(small):
    y, p, weeks = small
    assert set(ev.score_metrics(y, p, weeks, 5)) == {
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "ece",
        "calibration_slope",
        "calibration_intercept",
        "precision_at_capacity",
        "recall_at_capacity",
        "lift_at_capacity",
        "leads_worked",
        "base_rate",
        "leads",
    }


def test_log_loss_clips_certain_wrong_scores():
    result = ev.score_metrics([1, 0], [0.0, 0.0], [1, 1], 1)
    assert result["log_loss"] == pytest.approx(-(math.log(1e-6) + math.log(1 - 1e-6)) / 2)


@pytest.mark.parametrize("label", [0, 1])
def test_one_class_gives_nan_auc_not_an_error(label):
    result = ev.score_metrics([label] * 4, [0.1, 0.4, 0.6, 0.9], [1, 1, 2, 2], 1)
    assert math.isnan(result["roc_auc"])
    assert math.isnan(result["pr_auc"])
    assert math.isnan(result["calibration_slope"])
    assert math.isfinite(result["log_loss"])
    assert math.isfinite(result["brier"])


# --- calibration ---------------------------------------------------------------------------------


def test_ece_hand_example():
    # bins by score: {0.1, 0.2} observed 0 vs 0.15; {0.3, 0.4} observed 1 vs 0.35
    assert ev.expected_calibration_error([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], bins=2) == (
        pytest.approx(0.5 * 0.15 + 0.5 * 0.65)
    )


def test_ece_uses_equal_mass_bins_in_score_order():
    # unsorted input, 5 leads in 2 bins -> sizes 3 and 2 (np.array_split)
    p = [0.9, 0.1, 0.8, 0.2, 0.3]
    y = [1, 0, 0, 0, 1]
    low = abs(1 / 3 - (0.1 + 0.2 + 0.3) / 3)
    high = abs(1 / 2 - (0.8 + 0.9) / 2)
    assert ev.expected_calibration_error(y, p, bins=2) == pytest.approx(3 / 5 * low + 2 / 5 * high)


def test_ece_zero_when_each_bin_matches():
    assert ev.expected_calibration_error([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], bins=1) == 0


def test_calibrated_scores_have_slope_one_intercept_zero(known_truth):
    y, p = known_truth
    slope, intercept = ev.calibration_slope_intercept(y, p)
    assert slope == pytest.approx(1, abs=0.03)
    assert intercept == pytest.approx(0, abs=0.02)
    assert ev.expected_calibration_error(y, p) < 0.01


def test_over_confident_scores_have_slope_one_half(known_truth):
    y, p = known_truth
    slope, intercept = ev.calibration_slope_intercept(y, expit(2 * logit(p)))
    assert slope == pytest.approx(0.5, abs=0.02)
    assert intercept == pytest.approx(0, abs=0.02)


def test_under_predicting_scores_have_positive_intercept(known_truth):
    y, p = known_truth
    slope, intercept = ev.calibration_slope_intercept(y, expit(logit(p) - 0.7))
    assert slope == pytest.approx(1, abs=0.03)
    assert intercept == pytest.approx(0.7, abs=0.03)


def test_calibration_slope_survives_scores_of_zero_and_one():
    slope, intercept = ev.calibration_slope_intercept([0, 1, 0, 1, 1], [0.0, 1.0, 0.3, 0.6, 0.4])
    assert math.isfinite(slope)
    assert math.isfinite(intercept)


def test_calibration_curve_points_counts_and_wilson_interval():
    y = [0, 0, 0, 1, 1, 1, 1, 0]
    p = [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9]
    points = ev.calibration_curve_points(y, p, bins=2)
    assert list(points.columns) == [
        "mean_predicted",
        "observed",
        "leads",
        "sales_ready",
        "low",
        "high",
    ]
    assert points["leads"].tolist() == [4, 4]
    assert points["observed"].tolist() == [0.25, 0.75]
    assert points["mean_predicted"].tolist() == pytest.approx([0.25, 0.75])
    # Wilson 95% interval for 1 of 4, worked by hand
    z = 1.959963984540054
    centre = (0.25 + z**2 / 8) / (1 + z**2 / 4)
    half = z * math.sqrt(0.25 * 0.75 / 4 + z**2 / 64) / (1 + z**2 / 4)
    assert points.loc[0, "low"] == pytest.approx(centre - half)
    assert points.loc[0, "high"] == pytest.approx(centre + half)
    assert (points["low"] <= points["observed"]).all()
    assert (points["observed"] <= points["high"]).all()


def test_calibration_curve_points_fewer_leads_than_bins():
    points = ev.calibration_curve_points([0, 1, 1], [0.2, 0.5, 0.9], bins=10)
    assert points["leads"].tolist() == [1, 1, 1]
    assert points["low"].min() >= 0
    assert points["high"].max() <= 1


# --- sales capacity ------------------------------------------------------------------------------


def test_top_k_per_week_picks_k_per_week_and_all_of_a_short_week():
    p = [0.9, 0.1, 0.5, 0.7, 0.3, 0.2, 0.8, 0.6]
    weeks = [1, 1, 1, 1, 2, 2, 3, 1]
    worked = ev.top_k_per_week(p, weeks, capacity_per_week=2)
    assert worked.dtype == bool
    assert worked.tolist() == [True, False, False, True, True, True, True, False]


def test_top_k_per_week_breaks_ties_by_position():
    worked = ev.top_k_per_week([0.5, 0.5, 0.5, 0.9], ["w1", "w1", "w1", "w1"], 2)
    assert worked.tolist() == [True, False, False, True]


def test_top_k_per_week_with_period_labels():
    weeks = pd.Series(pd.period_range("2024-01-01", periods=3, freq="W")).repeat(10)
    p = np.linspace(0, 1, 30)
    worked = ev.top_k_per_week(p, weeks, 4)
    assert worked.sum() == 12
    assert pd.Series(worked).groupby(weeks.to_numpy()).sum().tolist() == [4, 4, 4]


def test_capacity_metrics_by_hand():
    y = [1, 0, 0, 1, 0, 1, 0, 0]
    p = [0.9, 0.8, 0.1, 0.2, 0.7, 0.6, 0.3, 0.05]
    weeks = [1, 1, 1, 1, 2, 2, 2, 2]
    # week 1 works leads 0 and 1 (1 sales-ready); week 2 works 4 and 5 (1 sales-ready)
    result = ev.capacity_metrics(y, p, weeks, capacity_per_week=2)
    assert result == pytest.approx(
        {
            "precision_at_capacity": 2 / 4,
            "recall_at_capacity": 2 / 3,
            "lift_at_capacity": (2 / 4) / (3 / 8),
            "leads_worked": 4,
        }
    )


def test_capacity_metrics_without_sales_ready_leads():
    result = ev.capacity_metrics([0, 0, 0], [0.2, 0.5, 0.9], [1, 1, 1], 1)
    assert result["precision_at_capacity"] == 0
    assert math.isnan(result["recall_at_capacity"])
    assert math.isnan(result["lift_at_capacity"])


@pytest.mark.parametrize("capacity", [1, 25, 100])
def test_threshold_from_capacity_gives_about_capacity_per_week(capacity):
    rng = np.random.default_rng(capacity)
    p = rng.uniform(0, 1, 5_000)
    weeks = rng.integers(0, 10, 5_000)
    threshold = ev.threshold_from_capacity(p, weeks, capacity)
    assert (p >= threshold).sum() == pytest.approx(capacity * 10, abs=1)


def test_threshold_from_capacity_beyond_all_leads_is_lowest_score():
    assert ev.threshold_from_capacity([0.3, 0.1, 0.7], [1, 1, 2], 5) == 0.1


@pytest.mark.parametrize("capacity", [0, -3, 2.5, True])
def test_bad_capacity_raises(capacity):
    with pytest.raises(ValueError, match="capacity_per_week"):
        ev.top_k_per_week([0.1, 0.2], [1, 1], capacity)
    with pytest.raises(ValueError, match="capacity_per_week"):
        ev.threshold_from_capacity([0.1, 0.2], [1, 1], capacity)


# --- bands ---------------------------------------------------------------------------------------


def test_assign_bands_edges_are_inclusive():
    p = [0.5, 0.4999, 0.25, 0.2, 0.1, 0.0999, 0.0, 1.0]
    assert ev.assign_bands(p, EDGES).tolist() == ["A", "B", "B", "C", "C", "D", "D", "A"]


def test_assign_bands_ignores_key_order():
    reordered = {"C": 0.1, "A": 0.5, "B": 0.25}
    assert ev.assign_bands([0.3], reordered).tolist() == ["B"]


@pytest.mark.parametrize(
    ("edges", "band"),
    [
        ({"A": 0.5, "B": 0.5, "C": 0.1}, "B"),
        ({"A": 0.5, "B": 0.25, "C": 0.3}, "C"),
        ({"A": 0.2, "B": 0.25, "C": 0.1}, "B"),
        ({"A": 0.5, "B": 0.25}, "C"),
        ({"A": 0.5, "B": 0.25, "C": 0.1, "E": 0.05}, "E"),
        ({"A": 1.5, "B": 0.25, "C": 0.1}, "A"),
        ({"A": 0.5, "B": 0.25, "C": -0.1}, "C"),
    ],
)
def test_invalid_edges_raise_naming_the_band(edges, band):
    with pytest.raises(ValueError, match=rf"\b{band}\b"):
        ev.assign_bands([0.3], edges)


def test_band_table_has_all_four_bands():
    y = [1, 1, 0, 0, 1]
    p = [0.9, 0.6, 0.3, 0.05, 0.01]
    table = ev.band_table(y, p, EDGES)
    assert table["band"].tolist() == ["A", "B", "C", "D"]
    assert table["leads"].tolist() == [2, 1, 0, 2]
    assert table["sales_ready"].tolist() == [2, 0, 0, 1]
    assert table["conversion"].tolist()[:2] == [1.0, 0.0]
    assert math.isnan(table.loc[2, "conversion"])
    assert math.isnan(table.loc[2, "mean_probability"])
    assert table.loc[3, "conversion"] == 0.5
    assert table.loc[0, "mean_probability"] == pytest.approx(0.75)


# --- gains ---------------------------------------------------------------------------------------


def test_gains_curve_by_hand():
    x, found = ev.gains_curve([0, 1, 0, 1], [0.1, 0.9, 0.4, 0.3])
    assert x.tolist() == [0, 0.25, 0.5, 0.75, 1]
    assert found.tolist() == [0, 0.5, 0.5, 1, 1]


def test_gains_curve_without_sales_ready_leads():
    _, found = ev.gains_curve([0, 0], [0.1, 0.9])
    assert found[0] == 0
    assert np.isnan(found[1:]).all()


# --- bad inputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: ev.expected_calibration_error([0, 1, 1], [0.1, 0.2]), "p"),
        (lambda: ev.calibration_slope_intercept([0, 1], [0.1, 0.2, 0.3]), "p"),
        (lambda: ev.score_metrics([0, 1], [0.1, 0.2], [1, 1, 1], 1), "weeks"),
        (lambda: ev.top_k_per_week([0.1, 0.2], [1], 1), "weeks"),
        (lambda: ev.threshold_from_capacity([0.1, 0.2], [1, 2, 3], 1), "weeks"),
        (lambda: ev.capacity_metrics([0], [0.1, 0.2], [1, 1], 1), "p"),
        (lambda: ev.band_table([0, 1, 0], [0.1, 0.2], EDGES), "p"),
        (lambda: ev.gains_curve([0, 1], [0.1]), "p"),
        (lambda: ev.calibration_curve_points([0], [0.1, 0.2]), "p"),
    ],
)
def test_mismatched_lengths_raise_naming_which(call, name):
    with pytest.raises(ValueError, match=rf"but {name} has \d+$"):
        call()


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1], [0.1, 1.2], "probabilities"),
        ([0, 1], [-0.1, 0.5], "probabilities"),
        ([0, 1], [0.1, float("nan")], "missing"),
        ([0, 2], [0.1, 0.5], "0/1"),
        (["no", "yes"], [0.1, 0.5], "0/1"),
        ([], [], "empty"),
        ([[0, 1]], [[0.1, 0.2]], "one-dimensional"),
    ],
)
def test_bad_values_raise(y, p, message):
    with pytest.raises(ValueError, match=message):
        ev.expected_calibration_error(y, p)


@pytest.mark.parametrize("bins", [0, -1, 2.5])
def test_bad_bins_raise(bins):
    with pytest.raises(ValueError, match="bins"):
        ev.expected_calibration_error([0, 1], [0.2, 0.8], bins=bins)


# --- plots ---------------------------------------------------------------------------------------


def _is_png(path) -> bool:
    return path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def curves() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    p = expit(rng.normal(-1.5, 1.0, 2_000))
    y = rng.binomial(1, p)
    rules = np.clip(np.round(p * 10) / 10 + 0.05, 0, 1)
    return {"leadml model": (y, p), "agreed rules": (y, rules)}


def test_calibration_plot_writes_png(tmp_path, curves):
    out = plots.calibration_plot(curves, tmp_path / "plots" / "calibration.png")
    assert out == tmp_path / "plots" / "calibration.png"
    assert _is_png(out)


def test_gains_plot_writes_png(tmp_path, curves):
    out = plots.gains_plot(curves, capacity_share=0.1, path=str(tmp_path / "gains.png"))
    assert _is_png(out)


def test_importance_plot_writes_png(tmp_path):
    importance = {"requested_demo": 0.4, "company_size": 0.1, "pages_viewed": 0.25}
    assert _is_png(plots.importance_plot(importance, tmp_path / "importance.png"))


def test_band_plot_writes_png_with_an_empty_band(tmp_path, curves):
    tables = {name: ev.band_table(y, p, EDGES) for name, (y, p) in curves.items()}
    tables["nobody in A"] = ev.band_table(*curves["leadml model"], {"A": 1.0, "B": 0.3, "C": 0.1})
    assert _is_png(plots.band_plot(tables, tmp_path / "bands.png"))


@pytest.mark.parametrize(
    "call",
    [
        lambda path: plots.calibration_plot({}, path),
        lambda path: plots.gains_plot({}, 0.1, path),
        lambda path: plots.gains_plot({"m": ([0, 1], [0.2, 0.8])}, 1.5, path),
        lambda path: plots.importance_plot({}, path),
        lambda path: plots.band_plot({}, path),
        lambda path: plots.band_plot({"m": pd.DataFrame({"band": ["A"]})}, path),
    ],
)
def test_plots_reject_nothing_to_plot(tmp_path, call):
    with pytest.raises(ValueError):
        call(tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
