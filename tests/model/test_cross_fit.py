"""Cross-fitted calibration (random splits): every lead is scored by a booster that never saw it,
and the calibrator learns from all of them."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from leadml.config import load_config
from leadml.data import check_leads
from leadml.errors import ConfigError, DataError
from leadml.model import LeadEncoder, LeadScorer
from leadml.spec import load_spec
from leadml.train import train
from leadml.training.engine import LocalEngine

from ..conftest import ROOT


@pytest.mark.slow
def test_out_of_fold_scores_never_see_their_own_lead(demo_frame):
    """Labels that are pure noise: a booster that memorises them ranks its own training leads
    well, but its out-of-fold scores must rank them no better than chance."""
    spec = load_spec(load_config(ROOT / "training" / "demo.yaml").spec)
    decided = demo_frame[demo_frame["sales_ready"].notna()].head(6000)
    X = LeadEncoder(spec).transform(check_leads(decided, spec, require_label=True).frame)
    y = np.random.default_rng(0).integers(0, 2, len(X)).astype(float)
    scorer = LeadScorer(
        spec,
        params={"num_leaves": 63, "min_data_in_leaf": 2, "learning_rate": 0.3, "lambda_l2": 0.0},
        calibration_folds=4,
    )
    heard = []
    margin = scorer._out_of_fold(X, y, rounds=60, progress=lambda i, n: heard.append((i, n)))
    assert [i for i, _ in heard] == list(range(61, 61 + 4 * 60))  # continues early stopping
    assert {n for _, n in heard} == {60 * 5}
    in_sample = lgb.train(scorer.booster_params(), lgb.Dataset(X, y), num_boost_round=60)
    assert roc_auc_score(y, in_sample.predict(X, raw_score=True)) > 0.7
    assert abs(roc_auc_score(y, margin) - 0.5) < 0.03


@pytest.fixture(scope="module")
def both(demo_leads):
    """The same random split calibrated on the calibration window and on out-of-fold scores."""
    results = {}
    for how in ("window", "cross_fit"):
        config = load_config(ROOT / "training" / "demo.yaml")
        config.split.method = "random"
        config.model.calibration = "isotonic"
        config.model.calibration_data = how
        config.model.params.update({"learning_rate": 0.1, "num_leaves": 15})
        config.capacity.leads_per_week = 40
        config.checks.min_sales_ready = 100
        results[how] = train(config, data=str(demo_leads), say=lambda *a: None)
    yield results
    for r in results.values():
        shutil.rmtree(r.artifacts, ignore_errors=True)


@pytest.mark.slow
def test_cross_fit_calibrates_on_both_windows(both):
    windows = both["cross_fit"].windows
    info = both["cross_fit"].lead_model.info
    assert info["calibration_data"] == "cross_fit"
    assert info["calibration_leads"] == windows["train"]["leads"] + windows["calibration"]["leads"]
    assert both["window"].lead_model.info["calibration_leads"] == windows["calibration"]["leads"]
    # the same booster: only the calibrator differs
    assert both["window"].metrics["best_iteration"] == both["cross_fit"].metrics["best_iteration"]


@pytest.mark.slow
def test_cross_fit_lands_closer_to_the_true_probability(both, demo_frame):
    truth = demo_frame.set_index("lead_id")["true_probability"]
    errors = {}
    for how, result in both.items():
        test = result.test
        p = result.lead_model.scorer.predict_proba(test.X)[:, 1]
        true_p = truth.loc[test.frame["lead_id"]].to_numpy()
        errors[how] = float(np.abs(p - true_p).mean())
    assert errors["cross_fit"] < errors["window"], errors


def test_cross_fit_needs_the_pandas_engine(demo_leads):
    config = load_config(ROOT / "training" / "bank_marketing_random.yaml")
    with pytest.raises(ConfigError, match="use --engine pandas"):
        train(config, data=str(demo_leads), client=object())


def test_too_few_outcomes_for_the_folds(demo_frame):
    spec = load_spec(load_config(ROOT / "training" / "demo.yaml").spec)
    decided = demo_frame[demo_frame["sales_ready"].notna()].head(500)
    X = LeadEncoder(spec).transform(check_leads(decided, spec, require_label=True).frame)
    y = np.zeros(len(X))
    y[:3] = 1.0
    with pytest.raises(DataError, match="only 3 lead"):
        LeadScorer(spec, calibration_folds=5)._out_of_fold(X, y, rounds=5)


@pytest.mark.parametrize(
    ("folds", "learned"),
    [
        (3, "both windows scored out of fold"),
        (None, "the calibration window scored by boosters of the leads before it"),
    ],
)
def test_a_refitted_booster_says_what_its_calibrator_learned_from(demo_frame, folds, learned):
    spec = load_spec(load_config(ROOT / "training" / "demo.yaml").spec)
    decided = demo_frame[demo_frame["sales_ready"].notna()].head(3000)
    X = LeadEncoder(spec).transform(check_leads(decided, spec, require_label=True).frame)
    y = decided["sales_ready"].astype(float).to_numpy()
    windows = SimpleNamespace(
        train_X=X[:2000], train_y=y[:2000], calibration=SimpleNamespace(X=X[2000:], y=y[2000:])
    )
    scorer = LeadScorer(spec, {"learning_rate": 0.3}, calibration_folds=folds, refit=True)
    said: list[str] = []
    LocalEngine().fit(scorer, windows, None, said.append)  # type: ignore[arg-type]
    assert len(said) == 1 and said[0].startswith("Small history: early stopping chose")
    assert said[0].endswith(f"the calibrator learned from {learned}")
