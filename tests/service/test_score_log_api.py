"""The API records every score it hands out without waiting on the database, on SQLite and on a
real PostgreSQL server; the CRM posts outcomes back; the holdout flag rides in the response and
the log; a database that goes down and comes back mid-load loses no row (counted)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from leadml.scorelog import ScoreLog
from leadml.scorelog.local_postgres import postgres_server
from leadml.scorelog.rows import features_frame

from .conftest import http

pytestmark = pytest.mark.slow


def _written(url: str, n: int, timeout: float = 60) -> int:
    """The score log's rows once it holds `n` (the writer process writes the spool)."""
    log = ScoreLog(url)
    deadline = time.monotonic() + timeout
    while (found := log.count_scores()) < n and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def _service(load_service, url: str, tmp_path, **env):
    return load_service(
        LEADML_SCORE_LOG=url,
        LEADML_SCORE_LOG_SPOOL=str(tmp_path / "spool"),
        LEADML_HOLDOUT="0.3",
        **env,
    )


def test_every_score_is_recorded_as_answered(load_service, log_url, leads, tmp_path):
    module = _service(load_service, log_url, tmp_path)
    many = [{**lead, "lead_id": f"{lead['lead_id']}-{k}"} for k in range(40) for lead in leads]
    with http(module) as client:
        one = client.post("/score", json={"leads": leads[:1]}).json()["leads"]
        batch = client.post("/score", json={"leads": many}).json()["leads"]  # columnar reader
        module.core.recorder.flush()
        assert _written(log_url, 801) == 801
    answered = one + batch
    rows = (
        ScoreLog(log_url).read_scores().set_index("lead_id").loc[[a["lead_id"] for a in answered]]
    )
    assert len(rows) == len(answered) == 801
    assert rows["probability"].tolist() == [a["probability"] for a in answered]  # exactly
    assert rows["band"].tolist() == [a["band"] for a in answered]
    assert rows["holdout"].astype(bool).tolist() == [a["holdout"] for a in answered]
    assert 0.2 < np.mean([a["holdout"] for a in batch]) < 0.4
    assert rows["rules_points"].tolist() == [a["rules"]["points"] for a in answered]
    reasons = json.loads(rows["reasons"].iloc[0])  # {feature: size}, strongest first
    assert list(reasons.items()) == [(r["feature"], r["size"]) for r in one[0]["reasons"]]
    spec = module.core.spec
    sent = features_frame(rows["features"].iloc[:1], spec).iloc[0].to_dict()
    given = {f.source: leads[0].get(f.source) for f in spec.features}
    for f in spec.features:
        if given[f.source] is None:
            assert sent[f.source] is None, f.source
        elif f.kind == "boolean":
            assert sent[f.source] == float(given[f.source]), f.source
        else:
            assert sent[f.source] == given[f.source], f.source
    assert set(rows["source"]) == {"api"} and set(rows["model_alias"]) == {"champion"}


def test_outcomes_are_posted_back(load_service, log_url, leads, tmp_path):
    module = _service(load_service, log_url, tmp_path)
    with http(module) as client:
        client.post("/score", json={"leads": leads[:3]})
        module.core.recorder.flush()
        assert _written(log_url, 3) == 3
        ids = [lead["lead_id"] for lead in leads[:3]]
        body = {
            "outcomes": [
                {"lead_id": ids[0], "outcome": 1, "decided_at": "2026-11-20T09:00:00Z"},
                {"lead_id": ids[1], "outcome": False},
                {"lead_id": "never-scored", "outcome": "0"},
            ]
        }
        r = client.post("/outcomes", json=body)
        assert r.status_code == 200, r.text
        assert r.json() == {
            "received": 3,
            "recorded": 3,
            "unchanged": 0,
            "still_open": 0,
            "unknown_leads": 1,
            "unknown_lead_ids": ["never-scored"],
        }
        again = client.post("/outcomes", json=body).json()  # the same outcomes: one each
        assert again["recorded"] == 0 and again["unchanged"] == 3
        changed = client.post("/outcomes", json={"outcomes": [{"lead_id": ids[0], "outcome": 0}]})
        assert changed.json()["recorded"] == 1
        bad = client.post(
            "/outcomes",
            json={
                "outcomes": [
                    {"lead_id": ids[2], "outcome": 1},
                    {"lead_id": ids[2], "outcome": "maybe"},
                ]
            },
        )
        assert bad.status_code == 422
        problem = bad.json()["problems"][0]
        assert problem["outcome"] == 1 and problem["lead_id"] == ids[2]
        assert "'maybe' is not an outcome" in problem["message"]
        shape = client.post("/outcomes", json={"outcomes": [{"lead_id": "x"}]})
        assert shape.status_code == 422 and shape.json()["problems"][0]["field"] == "outcome"
        assert client.post("/outcomes", content=b"{").status_code == 400
        far = {
            "outcomes": [{"lead_id": ids[0], "outcome": 1, "decided_at": "9999-12-31T00:00:00Z"}]
        }
        late = client.post("/outcomes", json=far)
        assert late.status_code == 422 and late.json()["problems"][0]["field"] == "decided_at"
        assert client.post("/outcomes", json={"outcomes": []}).status_code == 422
    with http(module, key=None) as anonymous:
        assert anonymous.post("/outcomes", json=body).status_code == 401
    recorded = ScoreLog(log_url).read_outcomes()
    assert len(recorded) == 4 and recorded["source"].eq("api").all()  # nothing of the refused


def test_a_database_down_mid_load_loses_no_row(load_service, leads, tmp_path):
    """The database stops while leads are scored: answers keep coming, rows are spooled to
    disk, and once it is back every row is written, once."""
    with postgres_server() as server:
        url = server.new_database()
        module = _service(load_service, url, tmp_path, LEADML_SCORE_LOG_FLUSH_MS="50")
        sent, waited = 0, []
        spool = tmp_path / "spool"
        with http(module) as client:
            recorder = module.core.recorder
            for round_ in range(3):
                if round_ == 1:
                    server.stop()
                if round_ == 2:
                    waited = sorted(spool.glob("*.scores"))  # kept on disk while it was down
                    server.restart()
                for k in range(10):
                    batch = [
                        {**lead, "lead_id": f"r{round_}-{k}-{lead['lead_id']}"} for lead in leads
                    ]
                    started = time.perf_counter()
                    r = client.post("/score", json={"leads": batch})
                    assert r.status_code == 200 and time.perf_counter() - started < 2.0
                    sent += len(batch)
                time.sleep(0.3)
            assert _written(url, sent) == sent  # the writer, once the database is back
            counts = dict(recorder.counts)
        assert counts["queued"] == sent == counts["spooled"] and counts["dropped"] == 0
        assert waited  # segments waited in the spool while the database was down
        log = ScoreLog(url)
        assert log.count_scores() == sent and log.read_scores()["lead_id"].is_unique
        assert not list(spool.glob("*.scores*"))  # all written, none left
