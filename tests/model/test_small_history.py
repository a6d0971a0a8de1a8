"""Small histories: leadml's own LightGBM defaults scale with the leads, the parameters a fit
used are kept, and a small history refits its booster on both windows with a calibrator that
only sees out-of-fold scores made in time order."""

from __future__ import annotations

import pickle

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from leadml.config import load_config
from leadml.data import check_leads
from leadml.model import LeadEncoder, LeadScorer
from leadml.scoring.scorer import DEFAULT_PARAMS, FULL_SIZE_LEADS, REFIT_BELOW, size_params
from leadml.spec import load_spec

from ..conftest import ROOT

DEMO_TUNING = {"num_leaves": 3, "min_data_in_leaf": 400, "lambda_l2": 10.0, "max_bin": 63}


@pytest.fixture(scope="module")
def spec():
    return load_spec(load_config(ROOT / "training" / "demo.yaml").spec)


@pytest.fixture(scope="module")
def history(demo_frame, spec):
    """9,000 decided demo leads, encoded, with their outcomes (in time order)."""
    decided = demo_frame[demo_frame["sales_ready"].notna()].head(9000)
    X = LeadEncoder(spec).transform(check_leads(decided, spec, require_label=True).frame)
    return X, decided["sales_ready"].to_numpy(dtype=np.float64)


@pytest.mark.parametrize("leads", [FULL_SIZE_LEADS, 200_000, 10_000_000])
def test_large_histories_keep_the_defaults(leads, spec):
    assert size_params(leads) == {}
    assert LeadScorer(spec).booster_params(leads) == LeadScorer(spec).booster_params()


@pytest.mark.parametrize("leads", [500, 3_000, 6_000, 12_000, FULL_SIZE_LEADS - 1])
def test_small_histories_get_smaller_leaves(leads):
    sized = size_params(leads)
    assert 20 <= sized["min_data_in_leaf"] <= DEFAULT_PARAMS["min_data_in_leaf"]
    assert 7 <= sized["num_leaves"] <= DEFAULT_PARAMS["num_leaves"]
    assert sized["min_data_in_leaf"] * sized["num_leaves"] <= max(leads, 20 * 7)


def test_configured_parameters_win_over_the_scaled_defaults(spec):
    params = LeadScorer(spec, params={"min_data_in_leaf": 400}).booster_params(6_000)
    assert params["min_data_in_leaf"] == 400
    assert params["num_leaves"] == size_params(6_000)["num_leaves"]


@pytest.mark.slow
def test_a_rare_yes_no_feature_gets_splits_with_the_defaults(history, spec):
    """The 9k-lead export's trap: a yes/no feature held by a few hundred leads, converting at
    40% against 16%, got no split under the demo's tuning (400 leads a leaf)."""
    X, _ = history
    j = LeadEncoder(spec).names.index("existing_customer")
    yes, no = np.flatnonzero(X[:, j] == 1), np.flatnonzero(X[:, j] == 0)
    rng = np.random.default_rng(0)
    rows = np.sort(np.concatenate([no, rng.choice(yes, 350, replace=False)]))
    X = X[rows]
    y = (rng.random(len(rows)) < np.where(X[:, j] == 1, 0.40, 0.16)).astype(float)
    cut = 6000
    splits = {}
    for name, params in (("defaults", None), ("demo tuning", DEMO_TUNING)):
        scorer = LeadScorer(spec, params=params, refit=False)
        scorer.fit(X[:cut], y[:cut], eval_set=(X[cut:], y[cut:]))
        used = scorer.booster_.feature_importance("split", iteration=scorer.best_iteration_)
        splits[name] = int(used[j])
    assert splits["demo tuning"] == 0  # the trap, reproduced
    assert splits["defaults"] > 0


@pytest.mark.slow
def test_a_fit_keeps_the_parameters_it_used(history, spec):
    X, y = history
    scorer = LeadScorer(spec, params={"learning_rate": 0.1}, refit=False)
    scorer.fit(X[:6000], y[:6000], eval_set=(X[6000:], y[6000:]))
    used = scorer.effective_params_
    assert used == scorer.booster_params(6000)
    assert used["min_data_in_leaf"] == size_params(6000)["min_data_in_leaf"]
    assert used["learning_rate"] == 0.1
    assert scorer.booster_.params["min_data_in_leaf"] == used["min_data_in_leaf"]
    assert not scorer.refitted_ and scorer.stopping_iteration_ == scorer.best_iteration_


def test_refit_decided_by_the_leads_and_the_rarer_outcome(spec):
    y = np.zeros(50_000)
    y[: REFIT_BELOW - 1] = 1
    assert LeadScorer(spec).refits(y)
    assert LeadScorer(spec).refits(1 - y)  # the rarer outcome, whichever it is
    y[:REFIT_BELOW] = 1
    assert not LeadScorer(spec).refits(y)
    assert LeadScorer(spec, refit=True).refits(y)
    balanced = np.arange(FULL_SIZE_LEADS) % 2.0
    assert LeadScorer(spec).refits(balanced[:-1])  # few leads, however balanced
    assert not LeadScorer(spec).refits(balanced)
    assert not LeadScorer(spec, refit=False).refits(np.array([0.0, 1.0]))


@pytest.mark.slow
def test_a_small_history_refits_on_both_windows(history, spec):
    X, y = history
    heard: list[tuple[int, int]] = []
    scorer = LeadScorer(spec, early_stopping_rounds=30)
    scorer.fit(
        X[:6000], y[:6000], eval_set=(X[6000:], y[6000:]), progress=lambda *a: heard.append(a)
    )
    assert scorer.refitted_
    assert scorer.best_iteration_ == round(scorer.stopping_iteration_ * 9000 / 6000)
    assert scorer.booster_.current_iteration() == scorer.best_iteration_
    assert scorer.calibration_leads_ == 3000  # the calibration window, scored out of fold
    assert scorer.effective_params_ == scorer.booster_params(6000)
    done = [i for i, _ in heard]
    assert done == sorted(done) and heard[-1][0] == heard[-1][1]  # forward, and ends full
    # scores like a booster of both windows: the same trees as LightGBM's own, fitted there
    again = lgb.train(
        scorer.effective_params_,
        scorer._dataset(X, y),
        num_boost_round=scorer.best_iteration_,
    )
    np.testing.assert_allclose(
        scorer.decision_function(X[:200]), again.predict(X[:200], raw_score=True), atol=1e-9
    )


@pytest.mark.slow
def test_time_ordered_scores_never_see_their_own_lead(history, spec):
    """Labels that are pure noise: boosters that memorise them rank their own training leads
    well, but the calibration window's out-of-fold scores no better than chance."""
    X, _ = history
    y = np.random.default_rng(0).integers(0, 2, len(X)).astype(float)
    scorer = LeadScorer(
        spec,
        params={"num_leaves": 63, "min_data_in_leaf": 2, "learning_rate": 0.3, "lambda_l2": 0.0},
    )
    params = scorer.booster_params()
    first = 6000
    booster = lgb.train(params, scorer._dataset(X[:first], y[:first]), num_boost_round=60)
    margin, _ = scorer._time_ordered(X, y, first, booster, 60, params, None)
    assert len(margin) == len(X) - first
    assert roc_auc_score(y[:first], booster.predict(X[:first], raw_score=True)) > 0.7
    assert abs(roc_auc_score(y[first:], margin) - 0.5) < 0.04


@pytest.mark.slow
def test_refit_off_and_large_histories_fit_as_before(history, spec):
    """`refit=False` trains, stops and calibrates exactly as a scorer of the cluster path does
    (`adopt` on the early-stopped booster), and records the same parameters."""
    X, y = history
    scorer = LeadScorer(spec, refit=False).fit(X[:6000], y[:6000], eval_set=(X[6000:], y[6000:]))
    params = scorer.booster_params(6000)
    booster = lgb.train(
        params,
        scorer._dataset(X[:6000], y[:6000]),
        num_boost_round=scorer.best_iteration_,
    )
    adopted = LeadScorer(spec, params=params).adopt(
        booster, scorer.best_iteration_, X[6000:], y[6000:]
    )
    np.testing.assert_allclose(adopted.probability(X), scorer.probability(X), atol=1e-12)
    assert adopted.effective_params_ == adopted.booster_params()
    assert scorer.calibration_leads_ == adopted.calibration_leads_ == 3000


@pytest.mark.slow
def test_a_scorer_pickled_before_refit_reads_as_not_refitted(history, spec):
    X, y = history
    scorer = LeadScorer(spec, refit=False).fit(X[:6000], y[:6000], eval_set=(X[6000:], y[6000:]))
    for name in ("refit", "refitted_", "effective_params_", "stopping_iteration_"):
        scorer.__dict__.pop(name, None)
    old = pickle.loads(pickle.dumps(scorer))
    assert old.refitted_ is False and old.effective_params_ is None
    assert old.get_params()["refit"] is False
    np.testing.assert_array_equal(old.probability(X[:100]), scorer.probability(X[:100]))
