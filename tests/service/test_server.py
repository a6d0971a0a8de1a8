"""The real thing: `/score` equals `leadml predict`, and `leadml serve` starts a real BentoML
server process that scores leads over HTTP and stops cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadml.process import free_port, running
from leadml.scorelog import ScoreLog

from .conftest import KEY, environ

pytestmark = pytest.mark.slow
LEADML = str(Path(sys.executable).with_name("leadml"))


def test_score_equals_batch_predict(api, registry, demo_frame, tmp_path):
    from leadml.cli import app
    from leadml.spec import load_spec

    from ..conftest import SPEC

    spec = load_spec(SPEC)
    columns = ["lead_id"] + [f.source for f in spec.features]
    frame = demo_frame[columns].sample(300, random_state=3).reset_index(drop=True)
    data, out = tmp_path / "leads.parquet", tmp_path / "scored.parquet"
    frame.to_parquet(data)
    with environ(MLFLOW_TRACKING_URI=registry):
        result = CliRunner().invoke(
            app, ["predict", "--model", "champion", "--data", str(data), "--out", str(out)]
        )
    assert result.exit_code == 0, result.output
    batch = pd.read_parquet(out)

    leads = [
        {k: (None if pd.isna(v) else v) for k, v in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]
    served = api.post("/score", json={"leads": leads}).json()["leads"]
    assert [s["lead_id"] for s in served] == batch["lead_id"].tolist()
    assert [s["probability"] for s in served] == batch["probability"].tolist()  # exactly
    assert [s["band"] for s in served] == batch["band"].tolist()
    assert [s["sales_ready"] for s in served] == batch["sales_ready"].tolist()
    assert [s["reasons"][0]["text"] for s in served] == batch["reason_1"].tolist()
    assert [s["rules"]["points"] for s in served] == batch["rules_points"].tolist()
    assert [s["rules"]["probability"] for s in served] == batch["rules_probability"].tolist()
    assert [s["agreement"] for s in served] == batch["agreement"].tolist()


def test_leadml_serve_runs_a_real_server(registry, leads, tmp_path):
    env = {"MLFLOW_TRACKING_URI": registry, "LEADML_API_KEYS": KEY, "LEADML_INSECURE_DEV": ""}
    env["BENTOML_HOME"] = str(tmp_path / "bentoml")
    command = [LEADML, "serve", "--model", "champion", "--port", "{port}"]
    with running(command, env=env, cwd=tmp_path, log=tmp_path / "server.log") as base:
        assert httpx.get(f"{base}/readyz").status_code == 200
        auth = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
            r = client.post("/score", json={"leads": leads[:3]})
            assert r.status_code == 200, r.text
            assert [x["lead_id"] for x in r.json()["leads"]] == [x["lead_id"] for x in leads[:3]]
            bad = client.post("/score", json={"leads": [{"employees": -1}]})
            assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "employees"
            assert httpx.post(f"{base}/score", json={"leads": leads[:1]}).status_code == 401
            assert client.get("/model").json()["alias"] == "champion"
            metrics = client.get("/metrics").text
            assert "bentoml_service_request_total" in metrics and 'endpoint="/score"' in metrics


def test_a_model_that_cannot_load_stops_the_start(registry, tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry, "LEADML_INSECURE_DEV": "1"}
    env["LEADML_MODEL"] = "99"
    service_dir = Path(__file__).resolve().parents[2] / "service"
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    done = subprocess.run(
        [bentoml, "serve", "service:LeadService", "--port", str(free_port())],
        cwd=service_dir,
        env={**env, "BENTOML_HOME": str(tmp_path / "bentoml")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "the scoring API cannot start: no model 'lead-qualifier' version '99'" in done.stderr
    cli = subprocess.run(
        [LEADML, "serve", "--model", "challenger"],
        cwd=tmp_path,
        env={k: v for k, v in env.items() if not k.startswith("LEADML_")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 2 and "no API key configured" in cli.stderr


def test_bentoml_build_packages_the_service(registry, tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": registry,
        "LEADML_INSECURE_DEV": "1",
        "BENTOML_HOME": str(tmp_path / "bentoml"),
    }
    wheel_dir = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheel_dir), str(root)],
        check=True,
        timeout=300,
        env=env,
    )
    # the bentofile names dist/ in the project folder: build from a copy of what it includes
    ctx = tmp_path / "ctx"
    (ctx / "service").mkdir(parents=True)
    for rel in ("service/service.py", "service/bentofile.yaml", "requirements.lock"):
        (ctx / rel).write_bytes((root / rel).read_bytes())
    (ctx / "dist").mkdir()
    for wheel in wheel_dir.glob("leadml-*.whl"):
        (ctx / "dist" / wheel.name).write_bytes(wheel.read_bytes())
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    done = subprocess.run(
        [bentoml, "build", "-f", "service/bentofile.yaml", "-o", "tag", "."],
        cwd=ctx,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    bentos = list((tmp_path / "bentoml" / "bentos" / "lead_qualifier").glob("*/bento.yaml"))
    assert len(bentos) == 1
    bento = bentos[0].parent
    assert (bento / "src" / "service" / "service.py").is_file()
    assert list((bento / "env" / "python" / "wheels").glob("leadml-*.whl"))
    assert "/score" in (bento / "apis" / "openapi.yaml").read_text()


def test_sigterm_writes_every_queued_score(registry, leads, tmp_path):
    """Scores queued for the score log when the server is stopped are written before it exits
    (written only at shutdown here: every 10 minutes otherwise)."""
    log = f"sqlite:///{tmp_path / 'scores.db'}"
    env = {
        "MLFLOW_TRACKING_URI": registry,
        "LEADML_API_KEYS": KEY,
        "LEADML_INSECURE_DEV": "",
        "LEADML_SCORE_LOG": log,
        "LEADML_SCORE_LOG_FLUSH_MS": "600000",
        "BENTOML_HOME": str(tmp_path / "bentoml"),
    }
    command = [LEADML, "serve", "--model", "champion", "--port", "{port}"]
    with running(command, env=env, cwd=tmp_path, log=tmp_path / "server.log") as base:
        auth = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
            for k in range(5):
                batch = [{**lead, "lead_id": f"{k}-{lead['lead_id']}"} for lead in leads]
                assert client.post("/score", json={"leads": batch}).status_code == 200
            metrics = client.get("/metrics").text
        assert 'leadml_score_log_rows_total{state="queued"} 100.0' in metrics
        assert ScoreLog(log).count_scores() == 0  # still queued
    assert ScoreLog(log).count_scores() == 100
