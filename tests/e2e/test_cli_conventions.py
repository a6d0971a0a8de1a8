"""The command line behaves as command lines do: --version, -h, and whole lines when piped."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from leadml.cli.app import (
    MODEL_NAME,
    PROJECT_FILE,
    _console,
    default_config,
    metrics_table,
    model_name,
    project_config,
)
from leadml.errors import LeadmlError
from leadml.evaluation.metrics import METRIC_LABELS

from ..conftest import ROOT

LEADML = [sys.executable, "-m", "leadml"]
METRICS = dict.fromkeys(METRIC_LABELS, 0.5)


def _run(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run(
        [*LEADML, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_version_prints_the_installed_version():
    done = _run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"leadml {version('leadml')}"


def test_dash_h_is_help_for_the_app_and_each_command():
    for args in (["-h"], ["features", "-h"], ["predict", "-h"]):
        done = _run(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert "Usage: leadml" in done.stdout


def test_output_read_by_a_program_is_not_wrapped(monkeypatch):
    """Piped, a table whose title names a long file path keeps the path whole on one line
    (rich would wrap at 80 columns and cut it in two)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    path = "exports/" + "a-very-long-folder-name-" * 5 + "leads.csv"
    piped = io.StringIO()
    _console(file=piped).print(metrics_table(f"lead-qualifier v3 on {path}", METRICS, METRICS))
    assert any(path in line for line in piped.getvalue().splitlines())


def test_a_terminal_still_wraps_at_its_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    path = "exports/" + "a-very-long-folder-name-" * 5 + "leads.csv"
    piped = io.StringIO()
    _console(file=piped).print(metrics_table(f"lead-qualifier v3 on {path}", METRICS, METRICS))
    assert max(map(len, piped.getvalue().splitlines())) <= 80


def _config(folder, name: str, model: str):
    """A training config in `folder` registering `model`, extending the demo config."""
    path = folder / name
    path.write_text(
        f"extends: {ROOT / 'training' / 'demo.yaml'}\nname: mine\n"
        f"tracking:\n  registered_model: {model}\n"
    )
    return path


def test_the_model_name_follows_the_config_then_the_project_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert model_name(None, None) == MODEL_NAME  # no project file: the demo's model
    assert model_name("given", None) == "given"
    mine = _config(tmp_path, "mine.yaml", "churn-leads")
    assert model_name(None, mine) == "churn-leads"
    (tmp_path / "project").mkdir()
    other = _config(tmp_path / "project", "other.yaml", "webinar-leads")
    (tmp_path / PROJECT_FILE).write_text("config: project/other.yaml\n")
    assert project_config() == tmp_path / "project" / "other.yaml"
    assert default_config() == tmp_path / "project" / "other.yaml"
    assert model_name(None, None) == "webinar-leads"
    assert model_name(None, mine) == "churn-leads"  # --config wins over the project file
    assert model_name("given", other) == "given"  # and --name over both


def test_a_project_file_naming_a_missing_config_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / PROJECT_FILE).write_text("config: training/gone.yaml\n")
    with pytest.raises(LeadmlError, match=r"leadml.yaml: config training/gone.yaml not found"):
        model_name(None, None)
    (tmp_path / PROJECT_FILE).write_text("name: nothing here\n")
    with pytest.raises(LeadmlError, match="needs `config: PATH`"):
        default_config()


@pytest.mark.parametrize("command", ["predict", "evaluate", "compare", "promote", "rollback"])
def test_model_commands_act_on_the_model_the_config_registers(tmp_path, command):
    mine = _config(tmp_path, "mine.yaml", "churn-leads")
    data = ["--data", str(ROOT / "tests" / "data" / "no-such.csv")]
    args = {
        "predict": [*data, "--out", str(tmp_path / "scores.csv")],
        "evaluate": data,
        "compare": [*data, "--out", str(tmp_path / "review.html")],
    }.get(command, [])
    env_db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = subprocess.run(
        [*LEADML, command, "--config", str(mine), *args],
        cwd=tmp_path,
        env={**os.environ, "MLFLOW_TRACKING_URI": env_db},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "churn-leads" in done.stderr, done.stderr
