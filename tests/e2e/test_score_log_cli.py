"""`leadml predict` records every score it hands out, and `leadml outcomes load` feeds outcomes
back, on SQLite and on a real PostgreSQL server; the holdout flag is stable per lead; a score log
that cannot be reached stops predict before any work, and `off` records nothing."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadml.cli import app
from leadml.scorelog import ScoreLog

from ..conftest import environ, write_config

pytestmark = pytest.mark.slow  # reads the trained `registry`

runner = CliRunner()


def leadml(registry: str, log: str | None, *args, code: int = 0, **env):
    with environ(MLFLOW_TRACKING_URI=registry, LEADML_SCORE_LOG=log, **env):
        result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def leads(demo_frame, tmp_path):
    path = tmp_path / "leads.csv"
    demo_frame.tail(500).drop(columns=["sales_ready"]).to_csv(path, index=False)
    return path


def test_predict_records_every_score_and_outcomes_come_back(registry, log_url, leads, tmp_path):
    out = tmp_path / "scores.csv"
    result = leadml(
        registry, log_url, "predict", "--data", leads, "--out", out, LEADML_HOLDOUT="0.2"
    )
    assert "Recorded 500 scores in the score log" in result.output
    scored = pd.read_csv(out)
    log = ScoreLog(log_url)
    rows = log.read_scores()
    assert len(rows) == 500 and rows["lead_id"].tolist() == scored["lead_id"].tolist()
    np.testing.assert_allclose(rows["probability"], scored["probability"], atol=1e-12)
    assert rows["holdout"].astype(bool).tolist() == scored["holdout"].tolist()
    assert 0.12 < scored["holdout"].mean() < 0.28  # about a fifth
    assert set(rows["model_alias"]) == {"champion"} and set(rows["source"]) == {"predict"}

    # scored again: a new row each, and every lead stays in or out of the holdout
    leadml(
        registry, log_url, "predict", "--data", leads, "--out", out, "--force", LEADML_HOLDOUT="0.2"
    )
    again = log.read_scores()
    assert len(again) == 1000 and again["job"].nunique() == 2
    assert (again.groupby("lead_id")["holdout"].nunique() == 1).all()

    # outcomes from the CRM's export: checked, recorded once, leads never scored counted
    outcomes = pd.DataFrame(
        {
            "lead_id": [*scored["lead_id"].head(3), "L-unknown"],
            "sales_ready": [1, 0, 1, 0],
            "decided_at": ["2026-11-01T10:00:00Z", "2026-11-02", "", "2026-11-03"],
        }
    )
    outcomes.to_csv(tmp_path / "outcomes.csv", index=False)
    loaded = leadml(
        registry, log_url, "outcomes", "load", "--data", tmp_path / "outcomes.csv", "--json"
    )
    counts = json.loads(loaded.stdout)
    assert counts["received"] == 4 and counts["recorded"] == 4 and counts["unchanged"] == 0
    assert counts["unknown_leads"] == 1 and counts["unknown_lead_ids"] == ["L-unknown"]
    again = leadml(registry, log_url, "outcomes", "load", "--data", tmp_path / "outcomes.csv")
    assert "4 outcomes from" in again.output and "0 recorded, 4 already known" in again.output
    recorded = log.read_outcomes()
    assert len(recorded) == 4 and recorded["outcome"].tolist() == [1, 0, 1, 0]

    # the CRM's own database, by URL and query: a changed outcome is recorded with its time
    crm = tmp_path / "crm.db"
    outcomes.assign(sales_ready=[0, 0, 1, 0]).to_sql("won_lost", f"sqlite:///{crm}", index=False)
    query = "select lead_id, sales_ready from won_lost"
    loaded = leadml(
        registry, log_url, "outcomes", "load", "--data", f"sqlite:///{crm}", "--query", query
    )
    assert "Read 4 outcomes from" in loaded.output
    assert "1 recorded, 3 already known" in loaded.output
    recorded = log.read_outcomes()
    assert recorded["outcome"].tolist() == [1, 0, 1, 0, 0]
    assert recorded["lead_id"].iloc[-1] == scored["lead_id"].iloc[0]


def test_a_wrong_outcome_names_its_row_and_records_nothing(registry, tmp_path):
    log = f"sqlite:///{tmp_path / 'scores.db'}"
    bad = tmp_path / "outcomes.csv"
    pd.DataFrame({"lead_id": ["L1", "L2"], "sales_ready": [1, "maybe"]}).to_csv(bad, index=False)
    result = leadml(registry, log, "outcomes", "load", "--data", bad, code=2)
    assert "row 2 (lead L2): 'maybe'" in result.output and "Traceback" not in result.output
    assert ScoreLog(log).read_outcomes().empty


def test_off_records_nothing_and_an_unreachable_log_stops_predict_first(registry, leads, tmp_path):
    out = tmp_path / "s.csv"
    result = leadml(registry, "off", "predict", "--data", leads, "--out", out)
    assert "score log" not in result.output and out.exists()
    down = "postgresql://leadml:secret@127.0.0.1:9/none?connect_timeout=2"
    refused = leadml(
        registry, down, "predict", "--data", leads, "--out", tmp_path / "t.csv", code=2
    )
    assert "score log postgresql+psycopg://leadml:***@127.0.0.1:9/none" in refused.output
    assert "LEADML_SCORE_LOG=off records nothing" in refused.output
    assert not (tmp_path / "t.csv").exists() and "secret" not in refused.output


def test_monitor_watches_calibration_drift_and_the_holdout(registry, demo_frame, tmp_path):
    """Scores recorded by predict, outcomes loaded back. With the true outcomes calibration
    raises no alert, but the demo world drifts by design (free e-mail leads grow over time) and
    the newest leads set off the drift alert (exit 1); outcomes far above the scores fire the
    calibration alert too."""
    decided = demo_frame[demo_frame["sales_ready"].notna()].tail(4_000)
    leads = tmp_path / "leads.csv"
    decided.drop(columns=["sales_ready"]).to_csv(leads, index=False)
    truth = tmp_path / "truth.csv"
    decided[["lead_id", "sales_ready"]].to_csv(truth, index=False)
    env = {"LEADML_HOLDOUT": "0.2"}
    for name in ("calibrated", "miscalibrated"):
        log = f"sqlite:///{tmp_path / name}.db"
        out = tmp_path / f"{name}.csv"
        leadml(registry, log, "predict", "--data", leads, "--out", out, "--reasons", 0, **env)
        if name == "miscalibrated":  # a third of the leads the model doubts turn out ready
            scored = pd.read_csv(out)
            wrong = decided[["lead_id", "sales_ready"]].copy()
            doubted = scored.set_index("lead_id").loc[wrong["lead_id"], "probability"].to_numpy()
            wrong.loc[(doubted < 0.2) & (np.arange(len(wrong)) % 3 == 0), "sales_ready"] = 1
            wrong.to_csv(truth, index=False)
        leadml(registry, log, "outcomes", "load", "--data", truth)
        result = leadml(registry, log, "monitor", "--json", code=1, **env)
        report = json.loads(result.stdout)
        assert report["leads"] == {"scored": 4_000, "matured": 4_000, "maturing": 0}
        test = report["calibration"]["sequential_test"]
        if name == "calibrated":
            assert not test["alert"] and len(report["alerts"]) == 1
            assert report["alerts"][0].startswith("drift: email_domain_kind PSI")
            assert report["drift"]["recorded"] and report["drift"]["score_psi"] < 0.25
            held = report["holdout"]
            assert 600 < held["leads"] < 1_000 and held["model"]["picked"] > 0
            assert {r["group"] for r in report["calibration"]["by_band"]} <= {"A", "B", "C", "D"}
        else:
            assert test["alert"] and test["observed_minus_expected"] > 0
            assert report["alerts"][0].startswith("calibration: 4,000 matured leads brought")
    page = tmp_path / "monitor.html"
    text = leadml(registry, log, "monitor", "--out", page, code=1, **env).output
    assert "Calibration:" in text and "ALERT" in text and "Holdout (" in text
    shown = page.read_text()
    assert "<h2>Alerts</h2>" in shown and "calibration: 4,000 matured leads" in shown
    assert "data:image/png;base64," in shown and "http://" not in shown and "https://" not in shown
    assert 'alt="Observed conversion per week' in shown
    assert 'alt="Observed conversion per band against its mean score"' in shown


def test_compare_and_train_from_the_log(registry, demo_frame, tmp_path, monkeypatch):
    """Production's own history: the review page from the scores handed out and the outcomes
    that came back, and a model trained on the features as they were when scored."""
    import mlflow

    from leadml.registry.store import client

    monkeypatch.chdir(tmp_path)
    shutil.copy(registry.removeprefix("sqlite:///"), tmp_path / "mlflow.db")  # trains a version
    registry = f"sqlite:///{tmp_path / 'mlflow.db'}"
    decided = demo_frame[demo_frame["sales_ready"].notna()].tail(6_000)
    leads, truth = tmp_path / "leads.csv", tmp_path / "truth.csv"
    decided.drop(columns=["sales_ready"]).to_csv(leads, index=False)
    decided[["lead_id", "sales_ready"]].to_csv(truth, index=False)
    log = f"sqlite:///{tmp_path / 'scores.db'}"
    leadml(registry, log, "predict", "--data", leads, "--out", "s.csv", "--reasons", 0)
    leadml(registry, log, "outcomes", "load", "--data", truth)

    page = leadml(registry, log, "compare", "--from-log", "--out", "review.html")
    assert "6,000 leads: at capacity" in page.output
    per_lead = pd.read_csv(tmp_path / "review.csv")
    assert len(per_lead) == 6_000 and set(per_lead["lead_id"]) == set(decided["lead_id"])
    refused = leadml(registry, log, "compare", "--from-log", "--data", leads, code=2)
    assert "--data FILE, or review production with --from-log" in refused.output

    config = write_config(tmp_path, tmp_path / "unused.parquet", model={"num_boost_round": 50})
    trained = leadml(registry, log, "train", "--config", config, "--from-log")
    assert "Training on 6,000 leads of the score log" in trained.output
    with environ(MLFLOW_TRACKING_URI=registry):
        mlflow.set_tracking_uri(registry)
        run = client().get_run(re.search(r"run ([0-9a-f]{32})", trained.output).group(1))
        ranges = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/score_log_rows.txt")
    assert run.data.tags["score_log_rows"] == "6,000 rows in 1 id ranges"
    assert run.data.tags["data_source"].startswith("the score log sqlite:///")
    assert ranges.strip() == "1-6000"


def test_a_predict_stopped_by_sigterm_leaves_no_output_nor_scores(registry, demo_frame, tmp_path):
    """A scheduler's timeout mid-job: the job's parts already written are removed, the rest are
    never written, and no output appears."""
    import os
    import signal
    import subprocess
    import sys
    import time

    big = pd.concat([demo_frame.assign(lead_id=demo_frame["lead_id"] + f"-{k}") for k in range(8)])
    leads = tmp_path / "leads.parquet"
    big.drop(columns=["sales_ready"]).to_parquet(leads)
    log, out, spools = f"sqlite:///{tmp_path / 'scores.db'}", tmp_path / "out.csv", tmp_path / "t"
    spools.mkdir()
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry, "LEADML_SCORE_LOG": log,
           "TMPDIR": str(spools)}  # fmt: skip
    command = [sys.executable, "-m", "leadml", "predict", "--data", str(leads), "--out", str(out)]
    job = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(spools.glob("leadml-scores-*/*.scores*")) and time.monotonic() < deadline:
        assert job.poll() is None, job.communicate()
        time.sleep(0.05)
    job.send_signal(signal.SIGTERM)
    assert job.wait(60) == 128 + signal.SIGTERM
    assert not out.exists() and not list(spools.glob("leadml-scores-*"))
    time.sleep(1.0)  # a writer that went on would have written by now
    assert ScoreLog(log).count_scores() == 0
