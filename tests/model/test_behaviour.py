"""Behaviour of a trained lead model: invariances, agreed directions, calibration against truth."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pandas as pd
import pytest

from leadml.config import load_config
from leadml.explain import PairTables
from leadml.model import LeadEncoder
from leadml.train import train

from ..conftest import ROOT

pytestmark = pytest.mark.slow  # every test uses the `trained` model


@pytest.fixture(scope="module")
def trained(demo_leads, tmp_path_factory):
    config = load_config(ROOT / "training" / "demo.yaml")
    config.model.params.update({"learning_rate": 0.1, "num_leaves": 15})
    config.capacity.leads_per_week = 40
    config.checks.min_sales_ready = 100
    result = train(config, data=str(demo_leads), say=lambda *a: None)
    yield result
    shutil.rmtree(result.artifacts, ignore_errors=True)


@pytest.fixture(scope="module")
def newest(demo_frame):
    """The newest 4,000 decided leads, raw, as a CRM would send them."""
    decided = demo_frame[demo_frame["sales_ready"].notna()]
    return decided.tail(4000).reset_index(drop=True)


def test_lead_id_changes_nothing(trained, newest):
    model = trained.lead_model
    renamed = newest.assign(lead_id=[f"other-{i}" for i in range(len(newest))])
    a, b = model.score(newest), model.score(renamed)
    np.testing.assert_array_equal(a["probability"], b["probability"])
    assert b["lead_id"].iloc[0] == "other-0"


def test_row_order_changes_nothing(trained, newest):
    model = trained.lead_model
    shuffled = newest.sample(frac=1.0, random_state=3)
    a = model.score(newest).set_index("lead_id")["probability"]
    b = model.score(shuffled).set_index("lead_id")["probability"]
    pd.testing.assert_series_equal(a.sort_index(), b.sort_index())


DIRECTIONS = {
    "web_visits": (1, [0, 1, 3, 8, 20, 60]),
    "pricing_page_views": (1, [0, 1, 2, 5, 12]),
    "email_clicks": (1, [0, 1, 3, 10]),
    "days_since_last_activity": (-1, [0, 3, 14, 45, 120, 365]),
    "existing_customer": (1, [False, True]),
}


@pytest.mark.parametrize("feature", sorted(DIRECTIONS))
def test_agreed_direction_is_respected(trained, newest, feature):
    sign, values = DIRECTIONS[feature]
    spec = trained.lead_model.spec
    assert spec.feature(feature).direction == ("increasing" if sign > 0 else "decreasing")
    leads = newest.head(300)
    probs = []
    for v in values:
        varied = leads.copy()
        varied[feature] = pd.Series([v] * len(varied), dtype=object)
        probs.append(trained.lead_model.scorer.predict_proba(varied)[:, 1])
    steps = np.diff(np.vstack(probs), axis=0) * sign
    assert (steps >= -1e-12).all(), f"{feature} moved the probability against its direction"
    assert (steps > 0).any(), f"{feature} never moved the probability at all"


def test_demo_request_never_lowers_the_score(trained, newest):
    leads = newest.head(500)
    scorer = trained.lead_model.scorer
    base = scorer.predict_proba(leads.assign(capture_form="whitepaper_download"))[:, 1]
    demo = scorer.predict_proba(leads.assign(capture_form="demo_request"))[:, 1]
    assert (demo >= base).mean() > 0.99


def test_calibrated_against_the_known_truth(trained, newest):
    p = trained.lead_model.score(newest, reasons=0)["probability"].to_numpy()
    truth = newest["true_probability"].to_numpy()
    assert np.abs(p - truth).mean() < 0.03
    assert abs(p.mean() - truth.mean()) < 0.02
    assert trained.metrics["test_model_ece"] < 0.03


def test_reasons_are_exact_contributions_in_spec_words(trained, newest):
    scorer = trained.lead_model.scorer
    leads = newest.head(50)
    contrib = scorer.contributions(leads)
    np.testing.assert_allclose(contrib.sum(axis=1), scorer.decision_function(leads), atol=1e-9)
    reasons = scorer.reasons(leads, top=3)
    spec = trained.lead_model.spec
    for i, lead in enumerate(reasons):
        sizes = [abs(r.contribution) for r in lead]
        assert sizes == sorted(sizes, reverse=True)
        top = np.abs(contrib[i, :-1]).max()
        assert sizes[0] == pytest.approx(top, abs=1e-4)
        for r in lead:
            assert r.direction == ("raises" if r.contribution > 0 else "lowers")
            assert spec.feature(r.feature).description in r.text


def test_raw_frame_and_encoded_rows_score_the_same(trained, newest):
    scorer = trained.lead_model.scorer
    from leadml.data import check_leads

    checked = check_leads(newest, scorer.spec, require_label=False)
    encoded = LeadEncoder(scorer.spec).transform(checked.frame)
    np.testing.assert_array_equal(scorer.predict_proba(newest), scorer.predict_proba(encoded))


def test_unseen_category_scores_as_missing_with_a_count(trained, newest):
    model = trained.lead_model
    leads = newest.head(3).copy()
    missing = leads.assign(industry=None)
    leads.loc[:, "industry"] = "space_mining"
    scored = model.score(leads)
    assert scored.attrs["unseen"] == {"industry": 3}
    np.testing.assert_array_equal(scored["probability"], model.score(missing)["probability"])


def test_pickle_round_trip_scores_identically(trained, newest):
    model = trained.lead_model
    again = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(model.score(newest.head(200)), again.score(newest.head(200)))


def test_threshold_follows_capacity(trained, demo_frame):
    """About 40 leads a week (the capacity) score above the threshold on the calibration window."""
    from leadml.data import check_leads
    from leadml.train import split_windows

    model = trained.lead_model
    config = load_config(ROOT / "training" / "demo.yaml")
    leads = check_leads(demo_frame, model.spec, require_label=True)
    cal = split_windows(leads, config, LeadEncoder(model.spec))["calibration"]
    above = (model.scorer.predict_proba(cal.X)[:, 1] >= model.threshold).sum()
    weeks = len(np.unique(cal.weeks))
    assert above / weeks == pytest.approx(40, rel=0.05)


def test_model_beats_rules_and_audit_is_clean(trained):
    m = trained.metrics
    assert m["test_model_log_loss"] < m["test_rules_log_loss"]
    assert m["test_model_roc_auc"] > 0.8
    assert not trained.audit.suspect.any()


def test_a_pickled_model_carries_its_lookup_tables(trained, newest, monkeypatch):
    """Where the model is unpickled (a Dask worker, the service) it scores without first
    compiling the booster again."""
    model = trained.lead_model
    expected = model.score(newest.head(300))
    blob = pickle.dumps(model)

    def compile_again(*args):
        raise AssertionError("the tables were built again after unpickling")

    monkeypatch.setattr("leadml.model.PairTables", compile_again)
    restored = pickle.loads(blob)
    pd.testing.assert_frame_equal(restored.score(newest.head(300)), expected)


def test_tables_of_another_layout_are_built_again(trained, newest, monkeypatch):
    model = trained.lead_model
    expected = model.score(newest.head(300))
    blob = pickle.dumps(model)
    monkeypatch.setattr("leadml.model.TABLES_FORMAT", -1)  # as if leadml's layout had changed
    restored = pickle.loads(blob)
    assert restored.scorer._tables is None
    pd.testing.assert_frame_equal(restored.score(newest.head(300)), expected)


def test_big_tables_stay_behind_without_leaving_the_live_model(trained, newest, monkeypatch):
    model = trained.lead_model
    expected = model.score(newest.head(300))
    live = model.scorer.tables_
    monkeypatch.setattr(PairTables, "small", property(lambda self: False))  # as if big
    restored = pickle.loads(pickle.dumps(model))
    assert model.scorer._tables is live, "pickling must not take the tables from the model"
    assert restored.scorer._tables is None
    pd.testing.assert_frame_equal(restored.score(newest.head(300)), expected)


def test_a_model_pickled_before_tables_and_cross_fitting_still_scores(trained, newest):
    """Pickles from earlier leadml versions lack the tables, calibration_folds and
    calibration_leads_; they load, score the same, and show their parameters."""
    model = pickle.loads(pickle.dumps(trained.lead_model))
    for name in ("_tables", "calibration_folds", "calibration_leads_"):
        model.scorer.__dict__.pop(name, None)
    old = pickle.loads(pickle.dumps(model))
    assert old.scorer.get_params()["calibration_folds"] is None
    pd.testing.assert_frame_equal(
        old.score(newest.head(300)), trained.lead_model.score(newest.head(300))
    )
