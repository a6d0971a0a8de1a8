"""The commands that write files (`predict`, `rules score`, `compare`, `synth`): an output that is
an input is refused, an existing one needs --force, both before any work; a failed write leaves
nothing behind; messages keep the brackets in what they quote; a killed job's unfinished output
folder is removed by the next run, which says so."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from leadml.cli import app
from leadml.data import folders, synth

from ..conftest import RULES, SPEC, environ

runner = CliRunner()
SPEC_AND_RULES = ["--spec", str(SPEC), "--rules", str(RULES)]
DEAD_PID = 2**31 - 1  # above any kernel's pid_max: no such process can run


def leadml(*args, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}: {result.output}"
    return result


@pytest.fixture
def leads(tmp_path, monkeypatch) -> Path:
    """200 demo leads as CSV in a fresh working folder (with an empty MLflow store: a command
    that reached its model would fail with 'no model')."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    synth.write(200, seed=4, out=tmp_path / "leads.csv")
    return Path("leads.csv")


def _unchanged(path: Path, before: bytes) -> bool:
    return path.read_bytes() == before


# -- 12: outputs that are inputs, or exist -----------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        ["predict", "--data", "leads.csv", "--out", "leads.csv"],
        ["predict", "--data", "leads.csv", "--out", "./leads.csv", "--force"],
        ["rules", "score", "--data", "leads.csv", "--out", "leads.csv", "--force"],
        ["compare", "--data", "leads.csv", "--out", "leads.html", "--csv", "leads.csv"],
    ],
    ids=["predict", "predict-force", "rules-score", "compare-csv"],
)
def test_an_output_that_is_the_input_is_refused(leads, command):
    before = leads.read_bytes()
    result = leadml(*command, code=2)
    assert "is the data being read" in result.output and "no model" not in result.output
    assert _unchanged(leads, before) and not Path("leads.html").exists()


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (["predict", "--data", "leads.csv", "--out", "scores.json"], "unknown output type"),
        (["predict", "--data", "leads.csv", "--out", "old.csv"], "exists; add --force"),
        (["rules", "score", "--data", "leads.csv", "--out", "old.csv"], "exists; add --force"),
        (["compare", "--data", "leads.csv", "--out", "old.csv"], "--out and --csv both name"),
        (["compare", "--data", "leads.csv", "--out", "r.html", "--csv", "old.csv"], "exists"),
        (["synth", "--rows", "10", "--out", "old.csv"], "exists; add --force"),
    ],
    ids=["predict-json", "predict", "rules-score", "compare-same", "compare-csv", "synth"],
)
def test_outputs_are_checked_before_any_work(leads, command, words):
    Path("old.csv").write_text("keep me\n")
    result = leadml(*command, code=2)
    assert words in result.output and "no model" not in result.output
    assert Path("old.csv").read_text() == "keep me\n" and not Path("r.html").exists()


def test_force_overwrites_an_earlier_output(leads):
    Path("old.csv").write_text("keep me\n")
    leadml("rules", "score", "--data", leads, "--out", "old.csv", "--force", *SPEC_AND_RULES)
    assert len(pd.read_csv("old.csv")) == 200
    leadml("synth", "--rows", 10, "--out", "old.csv", "--force")
    assert len(pd.read_csv("old.csv")) == 10


def test_the_dask_engine_checks_its_output_folder_before_any_work(leads):
    Path("mine").mkdir()
    Path("mine/notes.txt").write_text("keep")
    result = leadml("predict", "--engine", "dask", "--data", leads, "--out", "mine", code=2)
    assert "not a leadml output folder" in result.output and "no model" not in result.output
    assert Path("mine/notes.txt").read_text() == "keep"


# -- 14: messages keep their brackets ----------------------------------------------------------
def test_a_bad_feature_name_is_printed_with_its_pattern_and_how_to_fix_it(leads):
    raw = yaml.safe_load(SPEC.read_text())
    raw["features"][0]["name"] = "Lead Source"
    Path("spec.yaml").write_text(yaml.safe_dump(raw))
    result = leadml("features", "check", "spec.yaml", code=2)
    assert "String should match pattern '^*$'" not in result.output
    assert "(pattern ^[a-z][a-z0-9_]*$)" in result.output
    assert "name: lead_source with column: 'Lead Source'" in result.output


def test_paths_and_values_are_printed_as_written(leads):
    result = leadml("synth", "--rows", 10, "--out", "demo[eu].csv")
    assert "Wrote 10 leads to demo[eu].csv" in result.output
    data = "exports[bold]/x.csv"
    result = leadml("rules", "score", "--data", data, "--out", "s.csv", *SPEC_AND_RULES, code=2)
    assert "exports[bold]/x.csv: no files match" in result.output
    raw = yaml.safe_load(SPEC.read_text())
    raw["features"][0]["description"] = "Where the lead came from [see :warning: wiki]"
    Path("new.yaml").write_text(yaml.safe_dump(raw))
    result = leadml("features", "diff", SPEC, "new.yaml", code=1)
    assert "[see :warning: wiki]" in result.output


# -- 15: a killed job's unfinished folder -------------------------------------------------------
def _left_by_a_killed_run(out: Path) -> Path:
    tmp = out.parent / f".{out.name}.tmp-deadbeef"
    tmp.mkdir()
    (tmp / "part-00000.parquet").write_text("half a part")
    writer = {"host": socket.gethostname(), "pid": DEAD_PID, "started": "yesterday"}
    (tmp / folders.WRITER).write_text(json.dumps(writer))
    return tmp


def test_synth_removes_a_killed_runs_folder_and_says_so(leads):
    left = _left_by_a_killed_run(Path("parts"))
    result = leadml("synth", "--rows", 30, "--out", "parts", "--partition-rows", 10)
    assert "removed 1 unfinished output folder from an earlier run" in result.output
    assert not left.exists() and len(list(Path("parts").glob("part-*.parquet"))) == 3


# -- with a trained model ------------------------------------------------------------------------
@pytest.fixture
def outcomes(registry, demo_frame, tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    demo_frame.tail(2000).to_parquet("outcomes.parquet")
    return Path("outcomes.parquet")


@pytest.mark.slow
def test_predict_overwrites_only_with_force(registry, outcomes):
    Path("scores.csv").write_text("earlier scores\n")
    with environ(MLFLOW_TRACKING_URI=registry):
        leadml("predict", "--data", outcomes, "--out", "scores.csv", code=2)
        assert Path("scores.csv").read_text() == "earlier scores\n"
        leadml("predict", "--data", outcomes, "--out", "scores.csv", "--force")
    assert len(pd.read_csv("scores.csv")) == 2000
    assert sorted(os.listdir()) == ["outcomes.parquet", "scores.csv"]


@pytest.mark.slow
def test_compare_writes_page_and_csv_together_or_neither(registry, outcomes, monkeypatch):
    def disk_full(self, path, *args, **kwargs):
        Path(path).write_text("lead_id\nL1\n")
        raise OSError(28, "No space left on device")

    with environ(MLFLOW_TRACKING_URI=registry), monkeypatch.context() as patch:
        patch.setattr(pd.DataFrame, "to_csv", disk_full)
        result = leadml("compare", "--data", outcomes, "--out", "review.html", code=2)
    assert "No space left on device" in result.output
    assert sorted(os.listdir()) == ["outcomes.parquet"]  # no page, no CSV, no temporary file
    with environ(MLFLOW_TRACKING_URI=registry):
        leadml("compare", "--data", outcomes, "--out", "review.html")
        leadml("compare", "--data", outcomes, "--out", "review.html", code=2)
        leadml("compare", "--data", outcomes, "--out", "review.html", "--force")
    assert sorted(os.listdir()) == ["outcomes.parquet", "review.csv", "review.html"]


@pytest.mark.slow
def test_dask_predict_removes_a_killed_jobs_folder_and_says_so(registry, demo_frame, tmp_path):
    from distributed import Client

    from leadml.cluster import local_cluster

    parts = tmp_path / "parts"
    synth.write_partitioned(2_000, seed=11, out=parts, partition_rows=1_000)
    out = tmp_path / "scores"
    left = _left_by_a_killed_run(out)
    with local_cluster(n_workers=1) as cluster, Client(cluster) as client:
        address = client.scheduler.address
        with environ(MLFLOW_TRACKING_URI=registry):
            result = leadml(
                "predict", "--engine", "dask", "--scheduler", address,
                "--data", parts, "--out", out, "--reasons", 0,
            )  # fmt: skip
    assert "removed 1 unfinished output folder from an earlier run" in result.output
    assert not left.exists() and len(pd.read_parquet(out)) == 2_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts", "scores"]
