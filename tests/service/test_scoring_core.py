"""The framework-free scoring core: warnings, and the same numbers as the lead model itself."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from leadml.serving import LeadScoringAPI, Served, request_models

from .conftest import environ

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def champion(registry):
    from leadml.registry import load_lead_model

    with environ(MLFLOW_TRACKING_URI=registry):
        return load_lead_model("lead-qualifier", "champion")[0]


def test_a_category_the_training_leads_never_had_is_scored_as_unknown(champion, leads):
    model = copy.copy(champion)
    model.info = {**champion.info}
    seen = dict(champion.info["seen_categories"])
    assert "public_sector" in seen["industry"]
    seen["industry"] = [v for v in seen["industry"] if v != "public_sector"]
    model.info["seen_categories"] = seen
    api = LeadScoringAPI(model, Served("lead-qualifier", "1", "champion", "run"))
    out = api.score([{**leads[0], "industry": "public_sector"}, leads[1]], explain=False)
    warning = "industry = public_sector never occurred in the training leads"
    assert any(w.startswith(warning) for w in out["leads"][0]["warnings"])
    assert not any(w.startswith(warning) for w in out["leads"][1]["warnings"])
    alone = api.score([{**leads[0], "industry": "public_sector"}], explain=False)
    assert alone["leads"][0] == out["leads"][0]  # the single-lead path says the same


def test_the_core_scores_like_the_lead_model(champion, leads):
    api = LeadScoringAPI(champion, Served("lead-qualifier", "1", "champion", "run"))
    score_request, _ = request_models(champion.spec)
    validated = score_request.model_validate({"leads": leads}).leads
    out = api.score(validated, explain=True, reasons=3)["leads"]
    frame = pd.DataFrame(leads)
    expected = champion.score(frame, reasons=3)
    np.testing.assert_array_equal([x["probability"] for x in out], expected["probability"])
    assert [x["reasons"][2]["text"] for x in out] == expected["reason_3"].tolist()
    assert [x["rules"]["points"] for x in out] == expected["rules_points"].tolist()
