"""The whole loop, end to end, on SQLite and on a real PostgreSQL server: the API scores leads a
CRM sends and records them, the CRM posts the outcomes back, `leadml monitor` watches the scores
against them, and `leadml train --from-log` trains on the features as they were scored."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from typer.testing import CliRunner

from leadml.cli import app
from leadml.scorelog import ScoreLog

from ..conftest import ROOT, environ, write_config
from .conftest import http
from .test_score_log_api import _service, _written

pytestmark = pytest.mark.slow

LEADS, PER_REQUEST = 3_000, 500


def _leadml(*args, code: int = 0, **env):
    with environ(**env):
        result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def test_serve_score_outcomes_monitor_and_retrain(
    load_service, registry, demo_frame, log_url, tmp_path, monkeypatch
):
    from leadml.spec import load_spec

    spec = load_spec(ROOT / "features" / "lead_features.yaml")
    decided = demo_frame[demo_frame["sales_ready"].notna()].tail(LEADS)
    columns = ["lead_id"] + [f.source for f in spec.features]
    sent = json.loads(decided[columns].to_json(orient="records"))
    truth = dict(zip(decided["lead_id"], decided["sales_ready"].astype(int), strict=True))
    module = _service(load_service, log_url, tmp_path)

    # serve and score: every answer recorded as answered
    answered = []
    with http(module) as client:
        for start in range(0, LEADS, PER_REQUEST):
            body = {"leads": sent[start : start + PER_REQUEST], "explain": start == 0}
            r = client.post("/score", json=body)
            assert r.status_code == 200, r.text
            answered += r.json()["leads"]
        module.core.recorder.flush()
        assert _written(log_url, LEADS) == LEADS

        # the CRM posts the outcomes back, a lead at a time as they are decided, and again
        outcomes = [{"lead_id": lead, "outcome": int(y)} for lead, y in truth.items()]
        for start in range(0, LEADS, 1_000):
            r = client.post("/outcomes", json={"outcomes": outcomes[start : start + 1_000]})
            assert r.status_code == 200, r.text
            assert r.json()["recorded"] == 1_000 and r.json()["unknown_leads"] == 0
        again = client.post("/outcomes", json={"outcomes": outcomes[:10]}).json()
        assert again["recorded"] == 0 and again["unchanged"] == 10
    rows = ScoreLog(log_url).read_scores()
    assert rows["lead_id"].tolist() == [a["lead_id"] for a in answered]
    assert rows["probability"].tolist() == [a["probability"] for a in answered]

    # monitor: every lead matured by its outcome; the true outcomes raise no calibration alert
    env = {"MLFLOW_TRACKING_URI": registry, "LEADML_SCORE_LOG": log_url, "LEADML_HOLDOUT": "0.3"}
    with environ(**env):
        monitored = CliRunner().invoke(app, ["monitor", "--json"])
    assert monitored.exit_code in (0, 1), monitored.output
    report = json.loads(monitored.stdout)
    assert report["leads"] == {"scored": LEADS, "matured": LEADS, "maturing": 0}
    assert not report["calibration"]["sequential_test"]["alert"]
    assert monitored.exit_code == bool(report["alerts"])  # 1 exactly when an alert fires
    observed = report["calibration"]["observed"]
    assert observed == int(sum(truth.values()))
    held = report["holdout"]
    assert held["leads"] == sum(a["holdout"] for a in answered) > 0

    # retrain from the record: the features as scored, the outcomes that came back
    monkeypatch.chdir(tmp_path)
    copy = tmp_path / "mlflow.db"
    shutil.copy(registry.removeprefix("sqlite:///"), copy)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{copy}"
    config = write_config(tmp_path, tmp_path / "unused.parquet", model={"num_boost_round": 40})
    trained = _leadml("train", "--config", config, "--from-log", **env)
    assert f"Training on {LEADS:,} leads of the score log" in trained.output
    run_id = re.search(r"run ([0-9a-f]{32})", trained.output).group(1)
    from leadml.registry.store import client

    with environ(MLFLOW_TRACKING_URI=env["MLFLOW_TRACKING_URI"]):
        tags = client().get_run(run_id).data.tags
    assert tags["score_log_rows"] == f"{LEADS:,} rows in 1 id ranges"
