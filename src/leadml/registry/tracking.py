"""A training run in MLflow: its config, data fingerprint, metrics, plots and model, registered as
`challenger` beside the current champion scored on the same test window."""

from __future__ import annotations

import contextlib
import io
import json
import math
from importlib import metadata
from typing import TYPE_CHECKING, Any

import mlflow
import mlflow.pyfunc
import pandas as pd

from leadml.registry.failures import move_alias, store_errors
from leadml.registry.gates import COMPARED_TAG, champion_on_test
from leadml.registry.pyfunc import log_lead_model
from leadml.registry.runs import owned_run
from leadml.registry.store import CHALLENGER, use_experiment
from leadml.scoring.lead_model import LeadModel
from leadml.spec.config import TrainingConfig

if TYPE_CHECKING:  # for types only: the pipeline brings plotting, which scoring never needs
    from leadml.training.pipeline import TrainResult


def register(model_uri: str, name: str, tags: dict[str, str]) -> str:
    """Register a logged model and point the `challenger` alias at it; returns the version.

    Another `leadml train` may register and move `challenger` at the same moment: the alias
    move is retried (the last training to finish holds it), and either step's failure is one
    line naming it and the tracking URI.
    """
    quiet = io.StringIO()  # MLflow prints "Successfully registered..."; leadml says it itself
    with (
        store_errors(f"registering a new version of model '{name}' from {model_uri}"),
        contextlib.redirect_stdout(quiet),
        contextlib.redirect_stderr(quiet),
    ):
        version = str(mlflow.register_model(model_uri, name, tags=tags).version)
    move_alias(name, CHALLENGER, version)
    return version


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


def log_training(
    result: TrainResult, config: TrainingConfig, config_path: str | None
) -> tuple[str, str]:
    """Log a finished training to MLflow and register its model as `challenger`.

    Returns (run id, registered version).
    """
    lead_model: LeadModel = result.lead_model
    info = lead_model.info
    spec = lead_model.spec
    name = config.tracking.registered_model
    champion_metrics, compared = champion_on_test(name, result, config)
    experiment = config.tracking.experiment
    with store_errors(f"opening experiment '{experiment}'"):
        experiment_id = use_experiment(experiment)
    tags = {
        "reviewed": "true" if result.reviewed else "false",
        "spec_hash": str(info.spec_hash),
        "rules_hash": str(info.rules_hash),
        "data_hash": info.data["content_hash"],
        "calibration": str(info.calibration),
        "engine": info.engine,
        "gates": json.dumps(config.gates.model_dump()),
        "leadml_version": metadata.version("leadml"),
        COMPARED_TAG: compared,
    }
    with (
        store_errors(f"logging the training run to experiment '{experiment}'"),
        owned_run(experiment_id, config.name) as run,
    ):
        mlflow.set_tags(tags)
        mlflow.log_params(_flatten(config.model_dump(mode="json")))
        mlflow.log_metrics({k: v for k, v in result.metrics.items() if math.isfinite(v)})
        mlflow.log_metrics({k: v for k, v in champion_metrics.items() if math.isfinite(v)})
        mlflow.log_metrics(
            {
                f"leak_auc_{r.feature}": r.auc
                for r in result.audit.itertuples()
                if math.isfinite(r.auc)
            }
        )
        mlflow.log_dict(dict(info.data), "data_fingerprint.json")
        mlflow.log_dict(dict(info.windows), "windows.json")
        mlflow.log_dict(spec.signoffs(), "spec/signoffs.json")
        mlflow.log_dict(
            {"suspected_leaks": result.audit[result.audit.suspect].feature.tolist()},
            "leakage_audit.json",
        )
        mlflow.log_artifacts(str(result.artifacts), "evaluation")
        mlflow.log_artifact(config.spec, "spec")
        mlflow.log_artifact(config.rules, "spec")
        if config_path:
            mlflow.log_artifact(config_path, "config")
        example = _input_example(lead_model, result)
        model_uri = log_lead_model(lead_model, example)
        run_id = run.info.run_id
    version = register(model_uri, name, tags)
    return run_id, version


def _input_example(lead_model: LeadModel, result) -> pd.DataFrame:
    """Five raw leads as the CRM sent them: the id (if the spec has one) and the features."""
    spec = lead_model.spec
    cols = ([spec.lead_id] if spec.lead_id else []) + [f.source for f in spec.features]
    return result.example[cols].tail(5).reset_index(drop=True)
