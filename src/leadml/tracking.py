"""MLflow: where runs go, the lead model as a pyfunc, the registry, aliases and promotion gates."""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.types.schema import AnyType, ColSpec, Schema

from leadml.runtime import configure
from leadml.scoring import LeadModel

CHAMPION, CHALLENGER = "champion", "challenger"
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


class LeadModelPyfunc(mlflow.pyfunc.PythonModel):
    """The MLflow face of a LeadModel: `predict` returns the scored leads frame."""

    def load_context(self, context) -> None:
        with open(context.artifacts["lead_model"], "rb") as fh:
            self.lead_model: LeadModel = pickle.load(fh)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        reasons = int((params or {}).get("reasons", 3))
        return self.lead_model.score(model_input, reasons=reasons)


def _requirements() -> list[str]:
    """leadml's own dependencies, pinned as installed (the scoring API's are not needed)."""
    import re

    runtime = [r for r in metadata.requires("leadml") or [] if "extra ==" not in r]
    names = [re.split(r"[<>=!~; \[]", r, maxsplit=1)[0] for r in runtime]
    skip = {"bentoml", "fastapi", "httpx", "orjson", "typer", "rich"}  # the CLI's and the API's
    return [f"{n}=={metadata.version(n)}" for n in names if n not in skip]


def input_schema(lead_model: LeadModel) -> Schema:
    """One optional column per spec feature (and the lead id), of any type.

    CRM exports type the same field differently (int, float, text); the lead model checks and
    casts every value by the spec with clear errors, so MLflow's own type check stays out.
    """
    spec = lead_model.spec
    columns = ([spec.lead_id] if spec.lead_id else []) + [f.source for f in spec.features]
    return Schema([ColSpec(AnyType(), name=c, required=False) for c in columns])


def log_lead_model(lead_model: LeadModel, input_example: pd.DataFrame) -> str:
    """Log the lead model as a pyfunc with signature and input example; returns its model URI."""
    output = lead_model.score(input_example)
    with warnings.catch_warnings():  # the inferred input schema is replaced below
        warnings.simplefilter("ignore", UserWarning)
        inferred = infer_signature(input_example, output, params={"reasons": 3})
    signature = ModelSignature(input_schema(lead_model), inferred.outputs, inferred.params)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lead_model.pkl"
        path.write_bytes(pickle.dumps(lead_model))
        info = mlflow.pyfunc.log_model(
            name="lead_model",
            python_model=str(Path(__file__).with_name("pyfunc_entry.py")),
            artifacts={"lead_model": str(path)},
            signature=signature,
            input_example=input_example,
            pip_requirements=_requirements(),
            code_paths=[str(Path(__file__).parent)],
        )
    return info.model_uri


def register(model_uri: str, name: str, tags: dict[str, str]) -> str:
    """Register a logged model and point the `challenger` alias at it; returns the version."""
    quiet = io.StringIO()  # MLflow prints "Successfully registered..."; leadml says it itself
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        version = mlflow.register_model(model_uri, name, tags=tags).version
    client().set_registered_model_alias(name, CHALLENGER, version)
    return str(version)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


def log_training(result, config, config_path: str | None) -> tuple[str, str]:
    """Log a finished training to MLflow and register its model as `challenger`.

    Returns (run id, registered version).
    """
    import json
    import math

    from leadml.registry import COMPARED_TAG, champion_on_test

    lead_model: LeadModel = result.lead_model
    info = lead_model.info
    spec = lead_model.spec
    name = config.tracking.registered_model
    champion_metrics, compared = champion_on_test(name, result, config)
    experiment_id = use_experiment(config.tracking.experiment)
    tags = {
        "reviewed": "true" if result.reviewed else "false",
        "spec_hash": info["spec_hash"],
        "rules_hash": info["rules_hash"],
        "data_hash": info["data"]["content_hash"],
        "calibration": info["calibration"],
        "engine": info.get("engine", "pandas"),
        "gates": json.dumps(config.gates.model_dump()),
        "leadml_version": metadata.version("leadml"),
        COMPARED_TAG: compared,
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=config.name) as run:
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
        mlflow.log_dict(info["data"], "data_fingerprint.json")
        mlflow.log_dict(info["windows"], "windows.json")
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
