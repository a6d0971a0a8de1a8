"""The red-team fixes that need no model or server: the short-key message names what exists,
malformed-HTTP warnings are summarised, unknown paths are one metrics label, duplicate ids and
deep JSON are named."""

from __future__ import annotations

import logging

import pytest
from pydantic import BaseModel, ValidationError

from leadml.errors import ConfigError
from leadml.serving import duplicate_leads, request_problems
from leadml.serving.gate import load_api_keys
from leadml.serving.logs import OncePerPeriod, summarise_client_mistakes
from leadml.serving.metrics import OTHER, KnownEndpoints

INVALID = "Invalid HTTP request received."


def test_a_short_key_names_the_options_that_exist():
    with pytest.raises(ConfigError) as raised:
        load_api_keys({"LEADML_API_KEYS": "short"})
    message = str(raised.value)
    assert "shorter than 16 characters" in message and "--new-key" not in message
    assert "--dev-key" in message and "LEADML_API_KEYS" in message and "secrets" in message


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, message, None, None)


def test_malformed_request_warnings_pass_once_a_period_with_a_count():
    now = [100.0]
    once = OncePerPeriod(period=10, clock=lambda: now[0])
    passed = []
    for _ in range(5_000):
        now[0] += 0.001
        record = _record(INVALID)
        if once.filter(record):
            passed.append(record.getMessage())
    assert passed == [INVALID]
    assert once.filter(_record("Started server process")) is True  # others untouched
    now[0] += 10
    record = _record(INVALID)
    assert once.filter(record)
    assert record.getMessage() == f"{INVALID} (4,999 more like it since the last one logged)"
    assert not once.filter(_record(INVALID))


def test_the_summary_is_installed_once_on_the_servers_logger():
    logger = logging.getLogger("uvicorn.error")
    first = summarise_client_mistakes()
    assert summarise_client_mistakes() is first
    assert sum(isinstance(f, OncePerPeriod) for f in logger.filters) == 1


class _Metric:
    def __init__(self):
        self.seen = []

    def labels(self, **labels):
        self.seen.append(labels)
        return self


def test_unknown_paths_are_labelled_as_one_endpoint():
    metric = _Metric()
    known = KnownEndpoints(metric, frozenset({"/score"}))
    known.labels(endpoint="/score", http_response_code=200)
    known.labels(endpoint="/x0123", http_response_code=401)
    assert [m["endpoint"] for m in metric.seen] == ["/score", OTHER]
    assert known.seen is metric.seen  # everything else is the metric's own


def test_a_lead_id_given_twice_names_both_leads():
    leads = [{"lead_id": "A"}, {}, {"lead_id": 7}, {}, {"lead_id": "A"}, {"lead_id": 7}]
    refused = duplicate_leads(leads, "lead_id")
    assert refused is not None and refused.status == 422
    assert [(p["lead"], p["lead_id"]) for p in refused.payload["problems"]] == [(4, "A"), (5, 7)]
    assert refused.payload["error"] == (
        "lead 4, field 'lead_id': the same lead id as lead 0: send each lead once per request "
        "(and 1 more problem(s))"
    )
    assert duplicate_leads([{"lead_id": 1}, {"lead_id": "1"}, {}, {}], "lead_id") is None


class _Body(BaseModel):
    leads: list


def test_json_nested_too_deeply_is_named_without_reading_the_body_again():
    body = b'{"leads": [' + b"[" * 50_000 + b"]" * 50_000 + b"]}"
    with pytest.raises(ValidationError) as raised:
        _Body.model_validate_json(body)
    status, payload = request_problems(raised.value, body)
    assert status == 400
    assert payload["error"].startswith("the request body is not valid JSON: it is nested too deep")
