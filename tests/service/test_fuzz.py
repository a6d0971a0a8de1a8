"""Schemathesis against the service's own OpenAPI document: generated requests, valid and
invalid, never get a 5xx, and the service keeps serving."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

pytestmark = pytest.mark.slow
EXAMPLES = 40  # per operation and mode: bounded, so the suite stays fast


def test_generated_requests_never_get_a_server_error(api, leads):
    doc = api.get("/docs.json").json()
    schema = schemathesis.openapi.from_dict(doc)
    operations = [op.ok() for op in schema.get_all_operations()]
    paths = {(op.method.upper(), op.path) for op in operations}
    assert {("POST", "/score"), ("POST", "/rules"), ("GET", "/model")} <= paths
    seen: dict[int, int] = {}

    for op in operations:
        if op.path == "/metrics":
            continue  # Prometheus text, no input
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=op.as_strategy(generation_mode=mode))
            def send(case):
                kwargs = case.as_transport_kwargs(base_url=str(api.base_url))
                kwargs["headers"] = {**api.headers, **kwargs.get("headers", {})}
                r = api.request(**kwargs)
                seen[r.status_code] = seen.get(r.status_code, 0) + 1
                assert r.status_code < 500, (case.method, case.formatted_path, case.body, r.text)

            try:
                send()
            except Unsatisfiable:  # no input to break (GET /model, health): nothing to send
                assert mode is GenerationMode.NEGATIVE
    assert api.post("/score", json={"leads": leads[:2]}).status_code == 200
    assert seen.get(200, 0) > 0 and seen.get(422, 0) > 0, seen  # both kinds were generated
