"""A registered version whose files were deleted: every command that loads it (`leadml serve`,
`predict`, `evaluate`, `compare`) names the model, the version and the missing paths, and
`leadml serve` says so before any "Serving..." banner.

MLflow runs for real on a SQLite file in tmp_path; the model is the session's trained champion,
logged and registered there the way `leadml train` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import mlflow
import pytest
from typer.testing import CliRunner

from leadml.cli import app
from leadml.errors import RegistryError
from leadml.process import free_port
from leadml.registry import (
    check_artifacts,
    client,
    load_lead_model,
    log_lead_model,
    register,
    resolve,
    use_experiment,
)

from ..conftest import environ

pytestmark = pytest.mark.slow
LEADML = str(Path(sys.executable).with_name("leadml"))
LOST = "model 'lead-qualifier' version 1 has lost its artifacts (deleted or moved?): missing"


@pytest.fixture
def model_folder(registry, demo_frame, mlflow_tmp) -> Path:
    """Version 1 (challenger) of lead-qualifier in a fresh store; returns its artifact folder."""
    with environ(MLFLOW_TRACKING_URI=registry):
        lead_model, _ = load_lead_model("lead-qualifier", "champion")
    spec = lead_model.spec
    example = demo_frame[[spec.lead_id] + [f.source for f in spec.features]].head(5)
    with mlflow.start_run(experiment_id=use_experiment("leadml-test")):
        register(log_lead_model(lead_model, example), "lead-qualifier", {})
    check_artifacts(resolve("lead-qualifier", "challenger"))  # all there now
    uri = client().get_model_version_download_uri("lead-qualifier", "1")
    folder = Path(unquote(urlparse(uri).path))
    assert folder.is_relative_to(Path(mlflow_tmp.removeprefix("sqlite:///")).parent)
    return folder


def missing(folder: Path) -> str:
    return f"{LOST} {folder}/MLmodel, {folder}/artifacts/lead_model.pkl."


@pytest.mark.parametrize("command", ["predict", "evaluate", "compare"])
def test_scoring_commands_name_the_missing_artifacts(model_folder, demo_leads, tmp_path, command):
    shutil.rmtree(tmp_path / "mlartifacts")
    args = [command, "--model", "challenger", "--data", str(demo_leads)]
    if command != "evaluate":
        args += ["--out", str(tmp_path / ("scored.csv" if command == "predict" else "page.html"))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert missing(model_folder) in result.output
    assert "No such artifact" not in result.output and "Traceback" not in result.output


def test_serve_names_the_missing_artifacts_before_any_banner(model_folder, mlflow_tmp, tmp_path):
    shutil.rmtree(tmp_path / "mlartifacts")
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_tmp}
    env["BENTOML_HOME"] = str(tmp_path / "bentoml")
    command = [LEADML, "serve", "--model", "challenger", "--insecure-dev"]
    done = subprocess.run(
        [*command, "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Serving" not in done.stdout + done.stderr
    assert missing(model_folder) in done.stderr


def test_a_lost_model_file_is_named(model_folder):
    (model_folder / "artifacts" / "lead_model.pkl").unlink()
    with pytest.raises(RegistryError) as lost:
        load_lead_model("lead-qualifier", "challenger")
    assert f"{LOST} {model_folder}/artifacts/lead_model.pkl." in str(lost.value)
