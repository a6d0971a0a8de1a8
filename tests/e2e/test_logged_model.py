"""The lead model as logged to MLflow: it needs, and imports, only what scoring needs."""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import mlflow.artifacts
import pytest

from leadml.registry.aliases import load_lead_model
from leadml.registry.pyfunc import SCORING_REQUIREMENTS
from leadml.scoring.info import TrainedLeads

from ..conftest import environ

pytestmark = pytest.mark.slow

LOAD_AND_SCORE = """
import json, sys
from leadml.runtime import configure
configure()
import mlflow.pyfunc
import pandas as pd
model = mlflow.pyfunc.load_model("models:/lead-qualifier@champion")
out = model.predict(pd.read_parquet(sys.argv[1]).head(20), params={"reasons": 3})
print(json.dumps({"rows": len(out), "modules": sorted({k.split(".")[0] for k in sys.modules})}))
"""


def test_loading_and_scoring_imports_no_training_or_serving_packages(registry, demo_leads):
    with environ(MLFLOW_TRACKING_URI=registry):
        done = subprocess.run(
            [sys.executable, "-c", LOAD_AND_SCORE, str(demo_leads)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["rows"] == 20
    assert "lightgbm" in found["modules"] and "leadml" in found["modules"]
    for package in ("dask", "distributed", "matplotlib", "bentoml", "typer"):
        assert package not in found["modules"], package


def test_its_pip_requirements_are_the_scoring_packages_pinned(registry):
    with environ(MLFLOW_TRACKING_URI=registry):
        mlflow.set_tracking_uri(registry)  # an earlier test may have pointed MLflow elsewhere
        folder = mlflow.artifacts.download_artifacts("models:/lead-qualifier@champion")
    lines = (Path(folder) / "requirements.txt").read_text().splitlines()
    pinned = dict(line.split("==", 1) for line in lines if re.match(r"^[\w.\-]+==", line))
    assert set(pinned) == set(SCORING_REQUIREMENTS)
    assert "dask" not in pinned and "matplotlib" not in pinned and "bentoml" not in pinned


def test_the_leads_it_learned_from_ride_beside_the_model_not_in_it(registry):
    """Scoring loads the pickle only; evaluation asks for the trained leads (8 bytes a lead)."""
    with environ(MLFLOW_TRACKING_URI=registry):
        mlflow.set_tracking_uri(registry)
        folder = Path(mlflow.artifacts.download_artifacts("models:/lead-qualifier@champion"))
        served = pickle.loads((folder / "artifacts" / "lead_model.pkl").read_bytes())
        assert served.info.trained_leads is None
        beside = TrainedLeads.load(folder / "artifacts" / "trained_leads.npz")
        scoring, _ = load_lead_model("lead-qualifier", "champion")
        evaluating, _ = load_lead_model("lead-qualifier", "champion", trained_leads=True)
    assert scoring.info.trained_leads is None
    assert evaluating.info.trained_leads.summary() == beside.summary()
    windows = evaluating.info.windows
    assert beside.summary() == {
        "train": windows["train"]["leads"],
        "calibration": windows["calibration"]["leads"],
    }
