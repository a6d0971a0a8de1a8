"""Large batches take a faster road (read a field at a time, the response joined from shared
pieces); it must give exactly what the request model and `score` give, and leave every value it
does not plainly take to the request model, which coerces it or names the problem."""

from __future__ import annotations

import copy
import json

import numpy as np
import orjson
import pytest

from leadml.serving import LeadScoringAPI, Served

pytestmark = pytest.mark.slow
BAD = 250  # the lead a change is made to, deep inside the batch


@pytest.fixture(scope="module")
def service(load_service):
    return load_service()


@pytest.fixture(scope="module")
def complete(demo_frame) -> list[dict]:
    """300 demo leads as a CRM sends them, every field named (null when missing)."""
    from leadml.spec import load_spec

    from ..conftest import SPEC

    spec = load_spec(SPEC)
    columns = ["lead_id"] + [f.source for f in spec.features]
    return json.loads(demo_frame[columns].head(300).to_json(orient="records"))


@pytest.fixture(scope="module")
def batch(complete) -> list[dict]:
    """The same leads, some with fields left out rather than null."""
    leads = copy.deepcopy(complete)
    for i in range(0, 300, 7):
        leads[i].pop("email_opens")
        leads[i].pop("industry")
    return leads


def test_a_large_batch_is_read_as_the_request_model_reads_it(service, complete, batch):
    core, model = service.core, service.ScoreRequest
    for body in (
        {"leads": complete},
        {"leads": batch},
        {"leads": batch, "explain": False, "reasons": 2},
        {"leads": [{k: v for k, v in lead.items() if v is not None} for lead in batch]},
    ):
        raw = orjson.dumps(body)
        read, validated = core.read_request(model, raw), model.model_validate_json(raw)
        assert read is not None
        assert (read.explain, read.reasons) == (validated.explain, validated.reasons)
        assert read.leads == validated.leads
        np.testing.assert_array_equal(core.encode(read.leads), core.encode(list(validated.leads)))


def test_small_bodies_go_to_the_request_model(service, batch):
    assert (
        service.core.read_request(service.ScoreRequest, orjson.dumps({"leads": batch[:3]})) is None
    )


@pytest.mark.parametrize(
    "change",
    [
        {"employees": "12"},  # the model coerces these...
        {"newsletter_subscriber": 1},
        {"newsletter_subscriber": "yes"},
        {"lead_id": 3.0},
        {"employees": True},
        {"employees": 0},  # ... and rejects these
        {"web_visits": -1},
        {"web_visits": [3]},
        {"industry": "mining"},
        {"industry": ["software"]},
        {"industry": None, "favourite_colour": "blue"},
        {"lead_id": 2**63},
        {"lead_id": True},
        {"lead_id": {"crm": 7}},
    ],
)
def test_a_value_not_plainly_valid_is_left_to_the_request_model(
    api, service, complete, batch, change
):
    for some in (complete, batch):  # every field named, or some left out
        leads = copy.deepcopy(some)
        leads[BAD].update(change)
        _same_as_the_request_model(api, service, {"leads": leads, "explain": False})


@pytest.mark.parametrize(
    "top",
    [
        {"explain": "false"},
        {"explain": 0},
        {"reasons": 2.0},
        {"reasons": 0},
        {"verbose": True},
    ],
)
def test_request_settings_not_plainly_valid_are_left_to_the_request_model(api, service, batch, top):
    _same_as_the_request_model(api, service, {"leads": batch, **top})


@pytest.mark.parametrize(
    "body",
    [
        b'{"leads": [' + b'{"web_visits": 1}, ' * 600 + b'{"web_visits": NaN}]}',
        b'{"leads": [' + b'{"web_visits": 1}, ' * 600 + b'{"web_visits": 1e400}]}',
        b'{"leads": [' + b'{"web_visits": 1}, ' * 600 + b"17]}",
        b'{"leads": [' + b'{"web_visits": 1}, ' * 1000 + b"{}]}",
        b'{"leads": [' + b'{"web_visits": 1}, ' * 600 + b'{"lead_id": "\\ud800"}]}',
    ],
)
def test_bodies_the_reader_refuses_get_the_request_models_answer(api, service, body):
    assert service.core.read_request(service.ScoreRequest, body) is None
    r = api.post("/score", content=body, headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert r.json()["problems"][0]["message"]


def test_deeply_nested_unknown_fields_are_left_to_the_request_model(load_service, batch):
    """Ignored unknown fields are still parsed by the request model, which refuses deep nesting."""
    from .conftest import http

    module = load_service(LEADML_UNKNOWN_FIELDS="ignore")
    leads = copy.deepcopy(batch)
    leads[BAD]["notes"] = json.loads("[" * 300 + "]" * 300)
    body = json.dumps({"leads": leads}).encode()
    assert module.core.read_request(module.ScoreRequest, body) is None
    with http(module) as api:
        r = api.post("/score", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]


def _same_as_the_request_model(api, service, body: dict) -> None:
    """The API's answer to `body` equals the request model's: the scores of the leads it
    validated, or a 422 naming the lead, its id and the field."""
    core, model = service.core, service.ScoreRequest
    raw = orjson.dumps(body)
    assert len(raw) > 8192 and core.read_request(model, raw) is None
    r = api.post("/score", content=raw, headers={"content-type": "application/json"})
    try:
        validated = model.model_validate_json(raw)
    except ValueError:
        assert r.status_code == 422, r.text
        problem = r.json()["problems"][0]
        if problem["lead"] is not None:  # else a request setting, named by its field
            lead_id = body["leads"][BAD]["lead_id"]
            assert problem["lead"] == BAD and problem["field"]
            assert problem.get("lead_id") == (lead_id if isinstance(lead_id, str) else None)
        else:
            assert problem["field"] in body
        return
    assert r.status_code == 200, r.text
    assert r.content == core.score_json(validated.leads, validated.explain, validated.reasons)


@pytest.mark.parametrize("explain", [False, True])
def test_score_json_writes_what_score_returns(service, batch, explain):
    core = service.core
    model = copy.copy(core.model)  # public_sector never seen in training: a warning
    model.info = {**core.model.info}
    seen = dict(model.info["seen_categories"])
    seen["industry"] = [v for v in seen["industry"] if v != "public_sector"]
    model.info["seen_categories"] = seen
    leads = copy.deepcopy(batch)
    for i, lead_id in enumerate([7, -(2**63), 2**63 - 1, 'a "quoted", id', "é😀", None]):
        leads[3 * i]["lead_id"] = lead_id
        leads[3 * i + 1]["industry"] = "public_sector"
    for unknown in ("reject", "ignore"):
        api = LeadScoringAPI(model, Served("lead-qualifier", "1", "champion", "run"), unknown)
        if unknown == "ignore":
            leads[5]["favourite_colour"] = "blue"
        for some in (leads, leads[:2]):
            answer = api.score(some, explain=explain, reasons=2)
            assert api.score_json(some, explain=explain, reasons=2) == orjson.dumps(answer)
        texts = {w for one in answer["leads"] for w in one["warnings"]}
        assert any("never occurred in the training leads" in w for w in texts)
        assert any(w.startswith("not given, scored as missing: ") for w in texts)
