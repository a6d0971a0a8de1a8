"""Shared fixtures: demo leads made by the project's own generator, MLflow on SQLite in tmp."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Before any test module imports LightGBM or MLflow: no telemetry, no spinning threads."""
    from leadml.runtime import configure

    configure()


SPEC = ROOT / "features" / "lead_features.yaml"
RULES = ROOT / "features" / "scoring_rules.yaml"


@pytest.fixture(scope="session")
def demo_leads(tmp_path_factory):
    """30,000 demo leads (fixed seed) written once as Parquet; returns the path."""
    from leadml import synth

    path = tmp_path_factory.mktemp("data") / "leads.parquet"
    synth.write(30_000, seed=11, out=path)
    return path


@pytest.fixture(scope="session")
def demo_frame(demo_leads):
    import pandas as pd

    return pd.read_parquet(demo_leads)


def valid_leads(spec, n: int = 8, *, dates_as_text: bool = True):
    """`n` valid leads built from the spec (each category in turn, yes/no alternating, small
    numbers from the range's lower bound), one a day from 2025-01-01 (ISO text, or timestamps),
    outcomes alternating 0, 1."""
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"lead_id": [f"L{i}" for i in range(n)]})
    dates = pd.date_range("2025-01-01", periods=n, freq="D")
    frame["created_at"] = dates.strftime("%Y-%m-%d") if dates_as_text else dates
    for f in spec.features:
        if f.kind == "categorical":
            frame[f.source] = [f.allowed[i % len(f.allowed)] for i in range(n)]
        elif f.kind == "boolean":
            frame[f.source] = [bool(i % 2) for i in range(n)]
        else:
            frame[f.source] = np.arange(n, dtype=float) % 8 + (f.range[0] or 0 if f.range else 0)
    frame["sales_ready"] = [0, 1] * (n // 2)
    return frame


@pytest.fixture
def mlflow_tmp(tmp_path, monkeypatch):
    """A fresh MLflow tracking store (SQLite) in tmp_path; the project's own store is untouched."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri


def write_config(tmp_path: Path, data: Path, **overrides) -> Path:
    """A small, fast training config pointing at the shipped spec and rules."""
    import yaml

    config = {
        "name": "test",
        "spec": str(SPEC),
        "rules": str(RULES),
        "data": {"path": str(data)},
        "capacity": {"leads_per_week": 40},
        "model": {
            "num_boost_round": 400,
            "early_stopping_rounds": 30,
            "params": {"learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 50},
        },
        "checks": {"min_sales_ready": 100},
        "gates": {"min_auc": 0.7, "max_ece": 0.05},
        "tracking": {"experiment": "leadml-test", "registered_model": "lead-qualifier"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    path = tmp_path / f"config_{len(list(tmp_path.glob('config_*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def make_config(tmp_path):
    """Write a small training config into tmp_path: make_config(data, **overrides) -> path."""
    return lambda data, **overrides: write_config(tmp_path, data, **overrides)


def _apply(values: dict[str, str | None]) -> None:
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@contextmanager
def environ(**values: str | None):
    """Set (or, with None, remove) environment variables for the block."""
    saved = {k: os.environ.get(k) for k in values}
    _apply(values)
    try:
        yield
    finally:
        _apply(saved)


@pytest.fixture(scope="session")
def registry(tmp_path_factory, demo_leads):
    """MLflow on SQLite with a demo model (depth-2 trees, as training/demo.yaml) as champion."""
    from leadml.cli import app

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    config = write_config(
        root,
        demo_leads,
        model={
            "num_boost_round": 600,
            "early_stopping_rounds": 50,
            "params": {"learning_rate": 0.1, "num_leaves": 3, "min_data_in_leaf": 100},
        },
    )
    from typer.testing import CliRunner

    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(root)
    try:
        with environ(MLFLOW_TRACKING_URI=uri):
            for args in (["train", "--config", str(config)], ["promote"]):
                result = runner.invoke(app, args)
                assert result.exit_code == 0, result.output
    finally:
        os.chdir(cwd)
    return uri


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session (`tests/postgres.py`)."""
    from leadml.scorelog.local_postgres import postgres_server

    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request, tmp_path) -> str:
    """A new, empty score log database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'scores.db'}"
    return request.getfixturevalue("postgres").new_database()
