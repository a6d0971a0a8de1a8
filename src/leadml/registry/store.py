"""The MLflow tracking store: where runs and models go, and a client for it."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import mlflow.pyfunc

from leadml.runtime import configure

DEFAULT_DB = "mlflow.db"


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI`, or a SQLite file `mlflow.db` in the current folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / DEFAULT_DB}"


def _artifact_root(uri: str) -> str | None:
    """Beside a SQLite tracking file, artifacts go to `mlartifacts/` next to it."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return (db.parent / "mlartifacts").resolve().as_uri()
    return None


def use_experiment(name: str) -> str:
    """Point MLflow at the tracking store and make sure the experiment exists; returns its id."""
    configure()
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    root = _artifact_root(uri)
    location = f"{root}/{name}" if root else None
    return mlflow.create_experiment(name, artifact_location=location)


def client():
    configure()
    mlflow.set_tracking_uri(tracking_uri())
    return mlflow.MlflowClient()


CHAMPION, CHALLENGER = "champion", "challenger"
