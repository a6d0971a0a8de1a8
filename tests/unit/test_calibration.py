"""Calibration on known-truth data: both methods recover the truth; auto picks by held-out loss."""

from __future__ import annotations

import numpy as np
import pytest

from leadml.calibration import choose_calibrator, fit_calibrator


def known_truth(n=40_000, seed=0, scale=0.5, shift=-1.5):
    """Raw scores whose true probability is a logistic function of them (over-confident scores)."""
    rng = np.random.default_rng(seed)
    score = rng.normal(size=n) * 2.0
    truth = 1 / (1 + np.exp(-(scale * score + shift)))
    y = (rng.random(n) < truth).astype(int)
    return score, truth, y


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_recovers_the_true_probability(method):
    score, truth, y = known_truth()
    calibrator = fit_calibrator(score, y, method)
    p = calibrator(score)
    assert np.abs(p - truth).mean() < 0.012
    assert abs(p.mean() - y.mean()) < 0.005
    assert np.all(np.diff(calibrator(np.sort(score))) >= 0), "calibration must keep the order"


def test_sigmoid_finds_the_true_slope_and_intercept():
    score, _, y = known_truth(n=200_000)
    c = fit_calibrator(score, y, "sigmoid")
    assert c.slope == pytest.approx(0.5, abs=0.02)
    assert c.intercept == pytest.approx(-1.5, abs=0.03)


def test_auto_prefers_sigmoid_on_logistic_truth_and_isotonic_on_a_step():
    score, _, y = known_truth(n=20_000)
    chosen, losses = choose_calibrator(score, y, "auto")
    assert set(losses) == {"isotonic", "sigmoid", "none"}
    assert chosen.method == "sigmoid"

    rng = np.random.default_rng(4)
    step_truth = np.where(score > 1.0, 0.7, 0.05)  # not a logistic shape
    y_step = (rng.random(len(score)) < step_truth).astype(int)
    chosen, losses = choose_calibrator(score, y_step, "auto")
    assert chosen.method == "isotonic" and losses["isotonic"] < losses["sigmoid"]


@pytest.mark.parametrize("seed", range(6))
def test_auto_keeps_scores_that_are_already_calibrated(seed):
    """A calibrator fitted to noise can win by a hair on held-out loss; it must win by more
    than the paired standard error to replace the booster's own probabilities."""
    score, truth, y = known_truth(n=20_000, seed=seed, scale=1.0, shift=0.0)  # true log-odds
    chosen, losses = choose_calibrator(score, y, "auto")
    assert chosen.method == "none", losses
    np.testing.assert_allclose(chosen(score), np.clip(truth, 1e-4, 1 - 1e-4))


def test_probabilities_stay_inside_zero_and_one():
    score, _, y = known_truth(n=2_000)
    p = fit_calibrator(score, y, "isotonic")(np.array([-1e9, 1e9]))
    assert 0 < p[0] < p[1] < 1


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="use auto, isotonic, sigmoid or none"):
        fit_calibrator(np.zeros(4), np.array([0, 1, 0, 1]), "platt")
