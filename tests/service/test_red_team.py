"""Faults a red-team pass found in the scoring API, in-process over HTTP: deep JSON, lead ids that
are not text or whole numbers, a lead id given twice, the docs page, and the spec's own timestamp
and label columns."""

from __future__ import annotations

import copy
import json
import logging
import re
import uuid

import orjson
import pytest

from .conftest import http

pytestmark = pytest.mark.slow
BAD = 250  # the lead a change is made to, deep inside a batch read a field at a time


@pytest.fixture(scope="module")
def spec():
    from leadml.spec import load_spec

    from ..conftest import SPEC

    return load_spec(SPEC)


@pytest.fixture(scope="module")
def batch(demo_frame, spec) -> list[dict]:
    """300 demo leads as a CRM sends them: a body the columnar reader takes."""
    columns = ["lead_id"] + [f.source for f in spec.features]
    return json.loads(demo_frame[columns].head(300).to_json(orient="records"))


def _post(client, body: bytes, path: str = "/score"):
    return client.post(path, content=body, headers={"content-type": "application/json"})


# --- 1. JSON nested deeper than the parser allows -----------------------------------------------


@pytest.mark.parametrize("depth", [1_000, 20_000])
@pytest.mark.parametrize("where", ["lead", "top"])
def test_json_nested_too_deeply_is_a_400_and_no_log_line_holds_the_body(api, caplog, depth, where):
    marker = uuid.uuid4().hex[:12]  # where a log would show a body: its start or its end
    nested = "[" * depth + "]" * depth
    if where == "lead":
        text = f'{{"leads": [{{"lead_id": "L-1", "notes": {nested}}}], "tag": "{marker}"}}'
    else:
        text = f'{{"tag": "{marker}", "leads": {nested}}}'
    with caplog.at_level(logging.DEBUG):
        r = _post(api, text.encode())
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("the request body is not valid JSON: it is nested too deep")
    assert marker not in caplog.text and "[[[" not in caplog.text and "]]]" not in caplog.text
    assert api.post("/score", json={"leads": [{"web_visits": 1}]}).status_code == 200


# --- 4. a lead id is text or a whole number ------------------------------------------------------


@pytest.mark.parametrize("lead_id", [True, False, 2.0, 2.5, "x" * 257, [7], {"crm": 7}])
def test_a_lead_id_that_is_not_text_or_a_whole_number_is_a_422_naming_the_lead(api, leads, lead_id):
    r = api.post("/score", json={"leads": [leads[0], {**leads[1], "lead_id": lead_id}]})
    assert r.status_code == 422, r.text
    problems = r.json()["problems"]
    assert problems == [
        {
            "lead": 1,
            "field": "lead_id",
            "message": "a lead id is text (at most 256 characters) or a 64-bit whole number",
        }
    ]
    assert r.json()["error"].startswith("lead 1, field 'lead_id': a lead id is text")


def test_a_huge_lead_id_is_refused_and_never_echoed(api, leads):
    huge = "L" * 1_000_000
    r = api.post("/score", json={"leads": [{**leads[0], "lead_id": huge}, leads[1]]})
    assert r.status_code == 422 and len(r.content) < 1_000, r.text[:300]
    r = api.post("/rules", json={"leads": [{**leads[0], "lead_id": "L" * 256}]})
    assert r.status_code == 200 and r.json()["leads"][0]["lead_id"] == "L" * 256


@pytest.mark.parametrize("lead_id", [True, 2.0, "x" * 257])
def test_a_large_batch_with_a_bad_lead_id_gets_the_same_422(load_service, api, batch, lead_id):
    service = load_service()
    leads = copy.deepcopy(batch)
    leads[BAD]["lead_id"] = lead_id
    body = orjson.dumps({"leads": leads})
    assert service.core.read_request(service.ScoreRequest, body) is None  # the model decides
    r = _post(api, body)
    assert r.status_code == 422, r.text[:300]
    problems = r.json()["problems"]
    assert [(p["lead"], p["field"]) for p in problems] == [(BAD, "lead_id")]
    assert problems[0]["message"].startswith("a lead id is text") and "lead_id" not in problems[0]


# --- 5. a lead id given twice in one request ------------------------------------------------------


@pytest.mark.parametrize("path", ["/score", "/rules"])
def test_a_lead_id_given_twice_is_a_422_naming_both_leads(api, leads, path):
    twice = [leads[0], leads[1], leads[2], {**leads[3], "lead_id": leads[1]["lead_id"]}]
    r = api.post(path, json={"leads": twice})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["problems"] == [
        {
            "lead": 3,
            "field": "lead_id",
            "lead_id": leads[1]["lead_id"],
            "message": "the same lead id as lead 1: send each lead once per request",
        }
    ]
    assert body["error"].startswith("lead 3, field 'lead_id': the same lead id as lead 1")
    anonymous = [{"web_visits": 1}, {"web_visits": 1}]  # leads without an id are never the same
    assert api.post(path, json={"leads": anonymous}).status_code == 200


def test_a_large_batch_with_a_lead_id_given_twice_is_refused(load_service, api, batch):
    service = load_service()
    leads = copy.deepcopy(batch)
    leads[BAD]["lead_id"] = leads[7]["lead_id"]
    body = orjson.dumps({"leads": leads})
    assert service.core.read_request(service.ScoreRequest, body) is not None  # read columnar
    r = _post(api, body)
    assert r.status_code == 422, r.text[:300]
    assert [(p["lead"], p["lead_id"]) for p in r.json()["problems"]] == [(BAD, leads[7]["lead_id"])]
    assert "the same lead id as lead 7" in r.json()["error"]


# --- 6. the docs page --------------------------------------------------------------------------


def test_the_docs_page_answers_at_docs_with_nothing_from_elsewhere(load_service):
    with http(load_service(), key=None) as browser:  # a browser sends no key
        page = browser.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert not re.search(r"https?://|//[a-z]", page.text, re.IGNORECASE), page.text
        assert "googletagmanager" not in page.text.lower()
        assert "default-src 'none'" in page.headers["content-security-policy"]
        files = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert {"docs/swagger-ui-bundle.js", "docs/swagger-ui.css", "docs/docs.js"} <= set(files)
        for name in files:
            if not name.startswith("data:"):
                assert browser.get(f"/{name}").status_code == 200, name
        script = browser.get("/docs/docs.js").text
        assert "validatorUrl: null" in script and not re.search(r"https?://", script)
        start = browser.get("/", follow_redirects=False)
        assert start.status_code in (302, 307) and start.headers["location"] == "docs"
        assert browser.get("/model").status_code == 401  # what the page calls needs the key
        assert browser.get("/metrics").status_code == 401


def test_the_openapi_document_has_leadmls_title_and_the_bearer_scheme(load_service):
    with http(load_service(), key=None) as browser:
        doc = browser.get("/docs.json").json()
    assert doc["info"]["title"] == "leadml lead-scoring API"
    assert "BentoML" not in json.dumps(doc["info"]) + json.dumps(doc.get("tags", []))
    assert "Authorization: Bearer" in doc["info"]["description"]
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert doc["security"] == [{"bearer": []}]
    assert doc["paths"]["/livez"]["get"]["security"] == []  # health needs no key
    assert "security" not in doc["paths"]["/score"]["post"]  # the document's: the key
    assert not {"/docs", "/docs.json", "/"} & set(doc["paths"])


# --- 7. the spec's own timestamp and label columns ---------------------------------------------


def _record(spec, lead: dict, k: int) -> dict:
    """A lead as the CRM's whole record: with the spec's timestamp and label columns."""
    return {**lead, spec.timestamp: f"2026-11-{1 + k % 28:02d}T10:00:00Z", spec.label.column: k % 2}


def test_the_spec_timestamp_and_label_columns_are_accepted_and_ignored(api, leads, spec):
    assert (spec.timestamp, spec.label.column) == ("created_at", "sales_ready")
    plain = api.post("/score", json={"leads": leads[:5]})
    records = [_record(spec, lead, k) for k, lead in enumerate(leads[:5])]
    records[4][spec.label.column] = None  # an open outcome
    r = api.post("/score", json={"leads": records})
    assert r.status_code == 200, r.text
    assert r.json() == plain.json()
    assert api.post("/rules", json={"leads": records}).status_code == 200
    bad = api.post("/score", json={"leads": [{**records[0], spec.timestamp: {"at": 1}}]})
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == spec.timestamp
    unknown = api.post("/score", json={"leads": [{**records[0], "favourite_colour": "blue"}]})
    assert unknown.status_code == 422 and "unknown field" in unknown.json()["error"]


def test_a_large_batch_of_whole_records_is_read_as_the_request_model_reads_it(
    load_service, api, batch, spec
):
    service = load_service()
    records = [_record(spec, lead, k) for k, lead in enumerate(batch)]
    body = orjson.dumps({"leads": records, "explain": False})
    read = service.core.read_request(service.ScoreRequest, body)
    validated = service.ScoreRequest.model_validate_json(body)
    assert read is not None and read.leads == validated.leads
    r = _post(api, body)
    assert r.status_code == 200, r.text[:300]
    assert r.content == _post(api, orjson.dumps({"leads": batch, "explain": False})).content
    records[BAD][spec.timestamp] = [2026, 11, 2]  # not a scalar: left to the request model
    assert service.core.read_request(service.ScoreRequest, orjson.dumps({"leads": records})) is None


def test_record_columns_are_not_warned_as_unknown_when_unknown_fields_are_ignored(
    load_service, leads, spec
):
    with http(load_service(LEADML_UNKNOWN_FIELDS="ignore")) as svc:
        lead = {**_record(spec, leads[0], 0), "favourite_colour": "blue"}
        r = svc.post("/score", json={"leads": [lead]})
    assert r.status_code == 200, r.text
    assert "unknown fields ignored: favourite_colour" in r.json()["leads"][0]["warnings"]
