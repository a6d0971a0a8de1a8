"""The command line for programs and for people in the wrong folder: `--json` prints one JSON
document on stdout and nothing else; `features diff` exits 1 when the files differ, as `diff`
does; a default file that is not there names the option that names another; `leadml train`
says where its run is in MLflow's UI.

The `evaluate`, `promote` and run-address tests read the session's trained `registry` (real
MLflow on SQLite); `promote` acts on a copy of it, so the registry other tests read is unchanged.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from leadml.cli import app
from leadml.cli.app import DEFAULT_CONFIG, DEFAULT_RULES, DEFAULT_SPEC
from leadml.cli.train import run_address
from leadml.evaluation.metrics import score_metrics
from leadml.evaluation.seen import SEEN_REASON
from leadml.spec.features import load_spec

from ..conftest import RULES, SPEC, environ

runner = CliRunner()
NAME = "lead-qualifier"
# every metric `score_metrics` measures, as the JSON carries it for each side
METRIC_KEYS = set(score_metrics(np.array([0, 1, 0, 1]), np.linspace(0.2, 0.8, 4), np.zeros(4), 1))


def leadml(*args, code: int = 0):
    """Run leadml and check its exit code; the result keeps stdout and stderr apart."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}: {result.output}"
    return result


def document(result) -> dict:
    """stdout as one JSON document: json.loads refuses anything printed around it."""
    return json.loads(result.stdout)


@pytest.fixture
def unsigned(tmp_path):
    """The demo spec with marketing's sign-off of its first feature removed."""
    raw = yaml.safe_load(SPEC.read_text())
    raw["features"][0]["review"].pop("marketing")
    path = tmp_path / "unsigned.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


# -- features check ------------------------------------------------------------------------------
def test_check_json_describes_the_spec_and_its_rules():
    spec = load_spec(SPEC)
    out = document(leadml("features", "check", SPEC, "--rules", RULES, "--json"))
    assert out == {
        "file": str(SPEC),
        "features": len(spec.features),
        "spec_version": spec.spec_version,
        "hash": spec.content_hash,
        "rules": {"file": str(RULES), "rules": out["rules"]["rules"], "todo": []},
        "problems": [],
        "ok": True,
    }
    assert isinstance(out["rules"]["rules"], int) and out["rules"]["rules"] > 0
    assert document(leadml("features", "check", SPEC, "--json"))["rules"] is None


def test_check_json_with_problems_exits_1_and_still_prints_them(unsigned):
    result = leadml("features", "check", unsigned, "--json", code=1)
    out = document(result)
    assert out["ok"] is False
    assert any("lead_source: no sign-off from marketing" in p for p in out["problems"])
    assert (
        "lead_source: no sign-off from marketing"
        in leadml("features", "check", unsigned, code=1).stdout
    )


def test_check_json_of_an_invalid_spec_is_an_error_on_stderr_only(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("features: 3\n")
    result = leadml("features", "check", bad, "--json", code=2)
    assert result.stdout == ""
    assert "bad.yaml" in result.stderr


# -- features diff -------------------------------------------------------------------------------
def test_diff_of_a_file_with_itself_exits_0():
    assert "no differences" in leadml("features", "diff", SPEC, SPEC).stdout
    out = document(leadml("features", "diff", SPEC, SPEC, "--json"))
    assert out == {"old": str(SPEC), "new": str(SPEC), "differs": False, "changes": []}


def test_diff_of_changed_files_exits_1(unsigned):
    assert (
        "~ feature lead_source: review" in leadml("features", "diff", SPEC, unsigned, code=1).stdout
    )
    out = document(leadml("features", "diff", SPEC, unsigned, "--json", code=1))
    assert out["differs"] is True
    assert any(line.startswith("~ feature lead_source: review") for line in out["changes"])
    assert out["changes"][-1].startswith("! spec_version is still")


def test_diff_errors_exit_2_with_nothing_on_stdout(tmp_path):
    result = leadml("features", "diff", SPEC, RULES, "--json", code=2)
    assert result.stdout == ""
    assert "not the same kind of file" in result.stderr
    assert leadml("features", "diff", SPEC, tmp_path / "gone.yaml", code=2).stdout == ""


# -- default files that are not here -------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "missing", "option"),
    [
        (["features", "check"], DEFAULT_SPEC, "leadml features check PATH"),
        (["features", "check", "--json"], DEFAULT_SPEC, "leadml features check PATH"),
        (["rules", "score", "--data", "x.csv", "--out", "y.csv"], DEFAULT_SPEC, "--spec PATH"),
        (
            ["rules", "score", "--data", "x.csv", "--out", "y.csv", "--spec", str(SPEC)],
            DEFAULT_RULES,
            "--rules PATH",
        ),
        (["train"], DEFAULT_CONFIG, "leadml train --config PATH"),
    ],
)
def test_a_missing_default_file_names_the_option_for_another(
    tmp_path, monkeypatch, args, missing, option
):
    monkeypatch.chdir(tmp_path)  # no features/ or training/ here
    result = leadml(*args, code=2)
    assert result.stdout == ""
    assert f"{missing} not found (run from the project folder, or " in result.stderr
    assert option in result.stderr
    assert "`leadml init` drafts one" in result.stderr


def test_a_config_whose_spec_or_data_is_not_there_says_where_to_name_them(
    tmp_path, monkeypatch, make_config
):
    monkeypatch.chdir(tmp_path)
    config = make_config(tmp_path / "leads.csv", spec=str(tmp_path / "gone.yaml"))
    result = leadml("train", "--config", config, code=2)
    assert f"spec {tmp_path / 'gone.yaml'} not found" in result.stderr
    assert "`spec: PATH`" in result.stderr
    config = make_config(tmp_path / "leads.csv")
    result = leadml("train", "--config", config, code=2)
    assert f"data {tmp_path / 'leads.csv'} not found" in result.stderr
    assert "--data FILE" in result.stderr


# -- the run's address ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://mlflow.internal:5000", "http://mlflow.internal:5000/#/experiments/4/runs/abc"),
        (
            "https://ml.example.com/mlflow/",
            "https://ml.example.com/mlflow/#/experiments/4/runs/abc",
        ),
        (
            "sqlite:////srv/leads/mlflow.db",
            "ui --backend-store-uri sqlite:////srv/leads/mlflow.db`",
        ),
        ("file:///srv/mlruns", "ui --backend-store-uri file:///srv/mlruns`"),
        ("mlruns", "ui --backend-store-uri mlruns`"),
    ],
)
def test_the_run_address_opens_the_runs_view(uri, expected):
    said = run_address(uri, "4", "abc")
    assert expected in said
    if "://" not in expected:  # a local store: how to open it, then the run's page there
        assert said.endswith("then open http://127.0.0.1:5000/#/experiments/4/runs/abc")


@pytest.mark.parametrize("uri", ["postgresql://leadml:secret@db/mlflow", "databricks"])
def test_other_stores_get_the_ids_and_never_their_uri(uri):
    said = run_address(uri, "4", "abc")
    assert said == "The run in MLflow: experiment 4, run abc"


@pytest.mark.slow
def test_the_trained_run_has_its_experiment_in_the_address(registry):
    from leadml.cli.train import _run_link
    from leadml.registry.store import client

    with environ(MLFLOW_TRACKING_URI=registry):
        run_id = client().get_model_version_by_alias(NAME, "champion").run_id
        experiment_id = client().get_run(run_id).info.experiment_id
        said = _run_link(run_id)
    assert f"--backend-store-uri {registry}`" in said
    assert said.endswith(f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/{run_id}")


# -- evaluate ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mixed_leads(demo_frame, tmp_path_factory):
    """1,000 of the oldest demo leads (the model trained on them) and the newest 2,000."""
    import pandas as pd

    path = tmp_path_factory.mktemp("evaluate") / "mixed.parquet"
    pd.concat([demo_frame.head(1_000), demo_frame.tail(2_000)]).to_parquet(path)
    return path


@pytest.mark.slow
def test_evaluate_json_is_one_document_with_numbers(registry, mixed_leads):
    with environ(MLFLOW_TRACKING_URI=registry):
        result = leadml("evaluate", "--data", mixed_leads, "--json")
    out = document(result)
    assert (out["model"], out["version"], out["alias"]) == (NAME, "1", "champion")
    assert out["data"] == str(mixed_leads)
    assert set(out["metrics"]) == {"model", "rules"}
    for side in ("model", "rules"):
        assert set(out["metrics"][side]) == METRIC_KEYS
        assert out["metrics"][side]["leads"] == out["leads"]
    assert 0.5 < out["metrics"]["model"]["roc_auc"] <= 1.0
    assert out["leads"] + sum(out["excluded"].values()) == 3_000  # open outcomes left out
    assert out["excluded"] and all(isinstance(n, int) for n in out["excluded"].values())
    capacity = out["capacity"]
    assert set(capacity) == {"leads_per_week", "weeks", "leads_worked", "worked_share", "binds"}
    assert isinstance(capacity["leads_per_week"], int) and isinstance(capacity["binds"], bool)


@pytest.mark.slow
def test_evaluate_json_counts_the_leads_the_model_has_seen(registry, mixed_leads):
    """Said on stderr as text, counted in the document; and left out with --exclude-trained."""
    with environ(MLFLOW_TRACKING_URI=registry):
        result = leadml("evaluate", "--data", mixed_leads, "--json")
        excluding = leadml("evaluate", "--data", mixed_leads, "--exclude-trained", "--json")
    out = document(result)
    assert out["seen"] >= 1_000
    assert "--exclude-trained" in result.stderr
    out = document(excluding)
    assert out["seen"] == 0
    assert out["excluded"][SEEN_REASON] >= 1_000
    assert out["leads"] + sum(out["excluded"].values()) == 3_000


# -- promote -------------------------------------------------------------------------------------
@pytest.fixture
def registry_copy(registry, tmp_path):
    """A copy of the session's registry without a champion (its runs' artifacts stay where the
    original keeps them): promote may move aliases here without changing what other tests read."""
    from leadml.registry.store import client

    db = tmp_path / "mlflow.db"
    shutil.copy(registry.removeprefix("sqlite:///"), db)
    uri = f"sqlite:///{db}"
    with environ(MLFLOW_TRACKING_URI=uri):
        client().delete_registered_model_alias(NAME, "champion")
        yield uri


@pytest.mark.slow
def test_promote_json_lists_each_gate(registry_copy):
    with environ(MLFLOW_TRACKING_URI=registry_copy):
        result = leadml("promote", "--json")
    out = document(result)
    assert (out["model"], out["version"], out["promoted"]) == (NAME, "1", True)
    gates = {g["gate"]: g for g in out["gates"]}
    assert {"reviewed", "min_auc", "max_ece"} <= set(gates)
    assert all(g["passed"] is True and isinstance(g["detail"], str) for g in out["gates"])
    assert gates["min_auc"]["detail"].startswith("AUC ")


@pytest.mark.slow
def test_promote_json_when_a_gate_fails_exits_1_and_still_prints(registry_copy):
    from leadml.registry.store import client

    with environ(MLFLOW_TRACKING_URI=registry_copy):
        run_id = client().get_model_version(NAME, "1").run_id
        gates = json.loads(client().get_run(run_id).data.tags["gates"])
        client().set_tag(run_id, "gates", json.dumps({**gates, "min_auc": 0.999}))
        result = leadml("promote", "--json", code=1)
        assert client().get_registered_model(NAME).aliases.get("champion") is None
    out = document(result)
    assert out["promoted"] is False
    failed = [g for g in out["gates"] if not g["passed"]]
    assert [g["gate"] for g in failed] == ["min_auc"]
    assert "< 0.999" in failed[0]["detail"]
    assert "not promoted: version 1 failed min_auc" in result.stderr
