"""The scoring API in-process over HTTP: every endpoint, every client mistake, auth on and off."""

from __future__ import annotations

import pytest

from .conftest import KEY, OTHER_KEY, http

pytestmark = pytest.mark.slow


def test_score_returns_each_lead_in_order(api, leads):
    r = api.post("/score", json={"leads": leads})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "lead-qualifier" and body["alias"] == "champion"
    assert body["version"] == "1" and len(body["spec_hash"]) == 16
    threshold = body["threshold"]
    assert 0 < threshold < 1
    assert [x["lead_id"] for x in body["leads"]] == [x["lead_id"] for x in leads]
    for one in body["leads"]:
        p = one["probability"]
        assert 0 < p < 1
        assert one["sales_ready"] == (p >= threshold)
        edges = {"A": 0.5, "B": 0.25, "C": 0.1}
        band = next((b for b, lo in edges.items() if p >= lo), "D")
        assert one["band"] == band
        assert len(one["reasons"]) == 3
        sizes = [abs(x["size"]) for x in one["reasons"]]
        assert sizes == sorted(sizes, reverse=True)
        for reason in one["reasons"]:
            assert reason["direction"] == ("raises" if reason["size"] > 0 else "lowers")
            assert reason["text"].startswith(f"{reason['feature']} = {reason['value']} ")
        rules = one["rules"]
        assert set(rules) == {"points", "fired", "sales_ready", "probability"}
        assert rules["sales_ready"] == (rules["points"] >= 40)
        expected = {
            (True, True): "both",
            (True, False): "model_only",
            (False, True): "rules_only",
            (False, False): "neither",
        }[(one["sales_ready"], rules["sales_ready"])]
        assert one["agreement"] == expected
        assert isinstance(one["warnings"], list)


def test_explain_false_leaves_reasons_out_and_scores_the_same(api, leads):
    with_reasons = api.post("/score", json={"leads": leads[:5], "reasons": 2}).json()
    without = api.post("/score", json={"leads": leads[:5], "explain": False}).json()
    assert all(len(x["reasons"]) == 2 for x in with_reasons["leads"])
    assert all(x["reasons"] is None for x in without["leads"])
    assert [x["probability"] for x in with_reasons["leads"]] == [
        x["probability"] for x in without["leads"]
    ]


def test_a_lead_alone_scores_as_in_a_batch(api, leads):
    batch = api.post("/score", json={"leads": leads}).json()["leads"]
    for i in (0, 7, 19):
        alone = api.post("/score", json={"leads": [leads[i]]}).json()["leads"][0]
        assert alone == batch[i]


def test_missing_fields_are_scored_as_missing_with_a_warning(api):
    r = api.post("/score", json={"leads": [{"lead_id": "L-1", "web_visits": 4}]})
    assert r.status_code == 200, r.text
    one = r.json()["leads"][0]
    assert 0 < one["probability"] < 1
    assert one["warnings"][0].startswith("not given, scored as missing: lead_source,")
    assert "web_visits" not in one["warnings"][0]


def test_rules_endpoint_matches_the_agreed_rules(api, leads):
    from leadml.rules import load_rules
    from leadml.spec import load_spec

    from ..conftest import RULES, SPEC

    spec = load_spec(SPEC)
    agreed = load_rules(RULES, spec)
    r = api.post("/rules", json={"leads": leads})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sales_ready_points"] == agreed.sales_ready_points
    for lead, got in zip(leads, body["leads"], strict=True):
        by_name = {f.name: lead.get(f.source) for f in spec.features}
        points, fired, verdict = agreed.score_lead(by_name, spec)
        assert (got["points"], got["fired"], got["sales_ready"]) == (points, fired, verdict)
        assert got["lead_id"] == lead["lead_id"] and 0 < got["probability"] < 1


def test_model_endpoint_describes_what_is_served(api):
    r = api.get("/model")
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["version"] == "1" and info["alias"] == "champion"
    assert len(info["run_id"]) == 32 and info["trained_at"].startswith("20")
    assert info["metrics"]["model"]["roc_auc"] > 0.7
    assert info["metrics"]["rules"]["roc_auc"] > 0.5
    assert set(info["bands"]) == {"A", "B", "C"}
    assert info["training_data"]["rows"] > 0 and "date_from" in info["training_data"]
    signoffs = info["spec"]["signoffs"]["capture_form"]
    assert set(signoffs) == {"sales", "marketing"}
    assert info["rules"]["sales_ready_points"] == 40


# --- client mistakes: 4xx naming the lead and the field, and the service keeps serving -------


def _first(r) -> dict:
    body = r.json()
    assert "error" in body, body
    return body["problems"][0]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"employees": "many"}, "employees", "valid number"),
        ({"employees": 0}, "employees", "greater than or equal to 1"),
        ({"industry": "mining"}, "industry", "Input should be 'software'"),
        ({"newsletter_subscriber": "perhaps"}, "newsletter_subscriber", "valid boolean"),
        ({"favourite_colour": "blue"}, "favourite_colour", "unknown field"),
        ({"web_visits": [3]}, "web_visits", "valid number"),
    ],
)
def test_bad_lead_values_name_the_lead_and_the_field(api, leads, change, field, words):
    bad = [leads[0], {**leads[1], **change}]
    r = api.post("/score", json={"leads": bad})
    assert r.status_code == 422, r.text
    problem = _first(r)
    assert problem["lead"] == 1 and problem["field"] == field
    assert problem["lead_id"] == leads[1]["lead_id"]
    assert words in problem["message"]
    assert r.json()["error"].startswith(f"lead 1, field '{field}'")
    assert api.post("/score", json={"leads": leads[:1]}).status_code == 200  # still serving


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"leads": []}, 422, "at least 1 item"),
        ({}, 422, "needs a 'leads' list"),
        ({"leads": "L-1"}, 422, "valid array"),
        ({"leads": [17]}, 422, "lead 0: Input should be an object"),
        ({"leads": [{}], "explain": "sometimes"}, 422, "valid boolean"),
        ({"leads": [{}], "reasons": 0}, 422, "greater than or equal to 1"),
        ({"leads": [{}], "verbose": True}, 422, "unknown field"),
    ],
)
def test_bad_request_bodies(api, body, status, words):
    r = api.post("/score", json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]


def test_too_many_leads(load_service, leads):
    with http(load_service(LEADML_MAX_BATCH="5")) as small:
        r = small.post("/score", json={"leads": leads[:6]})
        assert r.status_code == 422
        assert "at most 5 items" in r.json()["error"]
        assert small.post("/score", json={"leads": leads[:5]}).status_code == 200


def test_malformed_json_non_json_and_oversized_bodies(load_service, leads):
    with http(load_service(LEADML_MAX_BODY_BYTES="4096")) as svc:
        r = svc.post("/score", content=b'{"leads": [', headers={"content-type": "application/json"})
        assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
        r = svc.post(
            "/score", content=b"lead_id,web_visits\nL1,3\n", headers={"content-type": "text/csv"}
        )
        assert r.status_code == 415 and "application/json" in r.json()["error"]
        r = svc.post("/score", json={"leads": leads * 3})
        assert r.status_code == 413 and "4,096 bytes" in r.json()["error"]

        def chunks():
            yield b'{"leads": ['
            for _ in range(500):
                yield b'{"web_visits": 1},'
            yield b"{}]}"

        r = svc.post("/score", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413  # a chunked body without a length is bounded too
        r = svc.post("/score", content=b'{"leads": [{"web_visits": NaN}]}',
                     headers={"content-type": "application/json"})  # fmt: skip
        assert r.status_code in (400, 422)
        assert svc.post("/score", json={"leads": leads[:2]}).status_code == 200


def test_unknown_fields_can_be_ignored_with_a_warning(load_service, leads):
    with http(load_service(LEADML_UNKNOWN_FIELDS="ignore")) as svc:
        r = svc.post("/score", json={"leads": [{**leads[0], "favourite_colour": "blue"}]})
        assert r.status_code == 200, r.text
        assert "unknown fields ignored: favourite_colour" in r.json()["leads"][0]["warnings"]


# --- security ----------------------------------------------------------------------------------


def test_api_keys_are_required_except_for_health(load_service, leads):
    module = load_service()
    with http(module, key=None) as anonymous:
        for method, path in (("POST", "/score"), ("POST", "/rules"), ("GET", "/model")):
            r = anonymous.request(method, path, json={"leads": leads[:1]})
            assert r.status_code == 401, (path, r.text)
            assert "Bearer" in r.json()["error"] and "Bearer" in r.headers["www-authenticate"]
        assert anonymous.get("/livez").status_code == 200
        assert anonymous.get("/readyz").status_code == 200
    with http(module, key="wrong-key-" + "z" * 20) as wrong:
        assert wrong.post("/score", json={"leads": leads[:1]}).status_code == 401
    with http(module, key=OTHER_KEY) as rotated:  # both configured keys work during rotation
        assert rotated.post("/score", json={"leads": leads[:1]}).status_code == 200
    with http(module, key=KEY) as current:
        assert current.get("/model").status_code == 200


def test_keys_from_a_file(load_service, tmp_path, leads):
    keys = tmp_path / "keys"
    keys.write_text("# rotated 2026-11\nfile-key-" + "f" * 20 + "\n\n")
    module = load_service(LEADML_API_KEYS=None, LEADML_API_KEYS_FILE=str(keys))
    with http(module, key="file-key-" + "f" * 20) as svc:
        assert svc.post("/score", json={"leads": leads[:1]}).status_code == 200
    with http(module, key=KEY) as svc:
        assert svc.post("/score", json={"leads": leads[:1]}).status_code == 401


def test_insecure_development_mode_needs_no_key(load_service, leads):
    module = load_service(LEADML_API_KEYS=None, LEADML_INSECURE_DEV="1")
    with http(module, key=None) as svc:
        assert svc.post("/score", json={"leads": leads[:1]}).status_code == 200


def test_openapi_documents_every_lead_field(api):
    from leadml.spec import load_spec

    from ..conftest import SPEC

    doc = api.get("/docs.json").json()
    assert {"/score", "/rules", "/model", "/livez", "/readyz", "/metrics"} <= set(doc["paths"])
    lead = doc["components"]["schemas"]["Lead"]
    spec = load_spec(SPEC)
    for f in spec.features:
        prop = lead["properties"][f.source]
        assert f.description in prop["description"]
        if f.kind == "categorical":
            assert prop["anyOf"][0]["enum"] == f.allowed
    assert lead["additionalProperties"] is False
    employees = lead["properties"]["employees"]["anyOf"][0]
    assert employees["type"] == "number" and employees["minimum"] == 1
    assert doc["components"]["schemas"]["ScoreRequest"]["properties"]["leads"]["maxItems"] == 1000


def test_a_lead_id_beyond_64_bits_is_a_client_error(api):
    r = api.post("/score", json={"leads": [{"lead_id": -(2**63) - 1}]})
    assert r.status_code == 422 and r.json()["problems"][0]["field"].startswith("lead_id")
    r = api.post("/score", json={"leads": [{"lead_id": 2**63 - 1}]})
    assert r.status_code == 200 and r.json()["leads"][0]["lead_id"] == 2**63 - 1
