"""Models already in a registry are pickles that name leadml's module paths as they were: a model
pickled by leadml before its layered packages (`tests/data/pickled_model/`, made by `make.py`
there at commit d5dfab3) loads with today's code and scores its leads exactly as it did then."""

from __future__ import annotations

import pickle

import pandas as pd

from leadml.data import read_leads
from leadml.scoring import LeadModel
from leadml.scoring.info import ModelInfo

from ..conftest import ROOT

PICKLED = ROOT / "tests" / "data" / "pickled_model"


def _old_model() -> LeadModel:
    return pickle.loads((PICKLED / "lead_model.pkl").read_bytes())


def test_an_old_pickle_names_the_old_module_paths():
    blob = (PICKLED / "lead_model.pkl").read_bytes()
    for path in (b"leadml.scoring", b"leadml.model", b"leadml.rules", b"leadml.explain"):
        assert path in blob
    assert b"leadml.scoring.lead_model" not in blob  # made before the packages


def test_a_model_pickled_before_the_packages_scores_as_it_did():
    model = _old_model()
    assert isinstance(model, LeadModel)
    expected = pd.read_parquet(PICKLED / "scored.parquet")
    scored = model.score(read_leads(PICKLED / "leads.csv"), reasons=3)
    pd.testing.assert_frame_equal(scored, expected)


def test_its_metadata_reads_as_model_info():
    info = _old_model().info
    assert isinstance(info, ModelInfo)
    assert info.name == "pickled" and info.engine == "pandas"
    assert info.metrics["test_model_roc_auc"] > 0.7
    assert info["spec_hash"] == info.spec_hash  # the old dict access still answers


def test_pickled_again_by_todays_code_it_scores_the_same():
    model = _old_model()
    leads = read_leads(PICKLED / "leads.csv")
    again = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(again.score(leads), model.score(leads))
    assert isinstance(again.info, ModelInfo)
