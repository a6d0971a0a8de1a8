"""The scoring API and a spec with placeholder values (`missing_values`): a placeholder is
accepted (not a 422), scored exactly as a missing value, said in the lead's warnings, and never
a reason; the same through the request model, the columnar reader and `leadml predict`."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from leadml.serving import LeadScoringAPI, Served, request_models

from .conftest import environ

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api(registry):
    """The champion, its spec reading 'Select' as a missing industry and 'n/a' as missing
    anywhere."""
    from leadml.registry import load_lead_model

    with environ(MLFLOW_TRACKING_URI=registry):
        champion = load_lead_model("lead-qualifier", "champion")[0]
    raw = champion.spec.model_dump(mode="json")
    raw["missing_values"] = ["n/a"]
    for f in raw["features"]:
        if f["name"] == "industry":
            f["missing_values"] = ["Select"]
    model = copy.copy(champion)
    model.scorer = copy.copy(champion.scorer)
    model.scorer.spec = type(champion.spec).model_validate(raw)
    return LeadScoringAPI(model, Served("lead-qualifier", "1", "champion", "run"))


def _answers(api, leads: list[dict]) -> list[dict]:
    score, _ = request_models(api.spec)
    parsed = api.parse(score, json.dumps({"leads": leads}).encode())
    assert not hasattr(parsed, "status"), getattr(parsed, "payload", None)  # not a 4xx
    return json.loads(api.score_json(parsed.leads, explain=True, reasons=len(api.spec.names)))[
        "leads"
    ]


def test_a_placeholder_is_scored_as_missing_and_said_so(api, leads):
    lead = {**leads[0], "industry": "software"}
    three = [{**lead, "industry": "Select"}, {**lead, "industry": None}, lead]
    answers = _answers(api, [{**x, "lead_id": f"L{k}"} for k, x in enumerate(three)])
    select, missing, given = answers
    assert select["probability"] == missing["probability"] != given["probability"]
    assert select["reasons"] == missing["reasons"]
    assert any("scored as missing" in w and "industry" in w for w in select["warnings"])
    assert not any("Select" in r["text"] or r["value"] == "Select" for r in select["reasons"])


def test_a_spec_wide_placeholder_in_a_numeric_field(api, leads):
    lead = {**leads[1], "employees": 120}
    two = [
        {**lead, "employees": "n/a", "lead_id": "A"},
        {**lead, "employees": None, "lead_id": "B"},
    ]
    answers = _answers(api, two)
    assert answers[0]["probability"] == answers[1]["probability"]
    assert any("employees" in w for w in answers[0]["warnings"])


def test_a_large_batch_reads_placeholders_like_predict(api, leads):
    many = [
        {
            **lead,
            "lead_id": f"P{k}-{lead['lead_id']}",
            "industry": "Select" if k % 2 else lead["industry"],
        }
        for k in range(20)
        for lead in leads
    ]
    score, _ = request_models(api.spec)
    body = json.dumps({"leads": many}).encode()
    assert api.read_request(score, body) is not None  # the columnar reader, not the model
    answers = _answers(api, many)
    frame = pd.DataFrame(many)
    expected = api.model.score(frame, reasons=0)  # `leadml predict`'s path: check_leads
    np.testing.assert_allclose([a["probability"] for a in answers], expected["probability"])
