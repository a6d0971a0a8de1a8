"""MLflow: where runs go, the lead model as a pyfunc, the registry, aliases and promotion gates."""

from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow.models import infer_signature

from leadml.errors import RegistryError
from leadml.scoring import LeadModel
from leadml.tracking_env import offline

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "champion_history"
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
    offline()
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    root = _artifact_root(uri)
    location = f"{root}/{name}" if root else None
    return mlflow.create_experiment(name, artifact_location=location)


def client():
    offline()
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
    names = ["lightgbm", "scikit-learn", "pandas", "numpy", "pydantic", "pyyaml", "mlflow"]
    return [f"{n}=={metadata.version(n)}" for n in names]


def log_lead_model(lead_model: LeadModel, input_example: pd.DataFrame) -> str:
    """Log the lead model as a pyfunc with signature and input example; returns its model URI."""
    output = lead_model.score(input_example)
    signature = infer_signature(input_example, output, params={"reasons": 3})
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
        )
    return info.model_uri


def register(model_uri: str, name: str, tags: dict[str, str]) -> str:
    """Register a logged model and point the `challenger` alias at it; returns the version."""
    version = mlflow.register_model(model_uri, name, tags=tags).version
    client().set_registered_model_alias(name, CHALLENGER, version)
    return str(version)


@dataclass
class Resolved:
    name: str
    version: str
    alias: str | None
    run_id: str


def resolve(name: str, ref: str) -> Resolved:
    """A registry reference: an alias (`champion`, `challenger`) or a version number."""
    c = client()
    try:
        if ref.isdigit():
            mv = c.get_model_version(name, ref)
            alias = None
        else:
            mv = c.get_model_version_by_alias(name, ref)
            alias = ref
    except Exception as exc:
        raise RegistryError(
            f"no model '{name}' {'version' if ref.isdigit() else 'alias'} '{ref}' in the registry "
            f"at {tracking_uri()} ({type(exc).__name__}). Train one with `leadml train`."
        ) from None
    return Resolved(name, str(mv.version), alias, mv.run_id)


def load_lead_model(name: str, ref: str) -> tuple[LeadModel, Resolved]:
    """Load the lead model pinned by alias or version (never 'latest')."""
    resolved = resolve(name, ref)
    try:
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{resolved.version}")
    except Exception as exc:
        raise RegistryError(
            f"model '{name}' version {resolved.version} could not load: {exc}"
        ) from None
    return pyfunc.unwrap_python_model().lead_model, resolved


def run_metrics(run_id: str) -> tuple[dict[str, float], dict[str, str]]:
    run = client().get_run(run_id)
    return run.data.metrics, run.data.tags


def _history(name: str) -> list[str]:
    tags = client().get_registered_model(name).tags
    return [v for v in tags.get(HISTORY_TAG, "").split(",") if v]


def check_gates(
    metrics: dict[str, float],
    tags: dict[str, str],
    gates: dict[str, Any],
    champion: dict[str, float] | None,
) -> list[tuple[str, bool, str]]:
    """Each promotion gate: (name, passed, what was compared)."""
    m = metrics.get
    auc, ece = m("test_model_roc_auc", float("nan")), m("test_model_ece", float("nan"))
    out = [
        (
            "reviewed",
            tags.get("reviewed") == "true",
            f"spec fully reviewed: {tags.get('reviewed')}",
        ),
        ("min_auc", auc >= gates["min_auc"], f"AUC {auc:.4f} >= {gates['min_auc']}"),
        ("max_ece", ece <= gates["max_ece"], f"calibration error {ece:.4f} <= {gates['max_ece']}"),
    ]
    if gates.get("beat_rules", True):
        ml, rl = m("test_model_log_loss", float("inf")), m("test_rules_log_loss", float("nan"))
        out.append(("beats_rules_log_loss", ml < rl, f"log loss {ml:.4f} < rules {rl:.4f}"))
        mr = m("test_model_recall_at_capacity", float("nan"))
        rr = m("test_rules_recall_at_capacity", float("nan"))
        out.append(
            ("beats_rules_recall", mr >= rr, f"recall at capacity {mr:.4f} >= rules {rr:.4f}")
        )
    if gates.get("beat_champion", True) and champion is not None:
        ml, cl = m("test_model_log_loss", float("inf")), champion.get("test_model_log_loss", 0)
        out.append(("beats_champion", ml <= cl, f"log loss {ml:.4f} <= champion {cl:.4f}"))
    return out


def promote(name: str, ref: str = CHALLENGER) -> tuple[Resolved, list[tuple[str, bool, str]]]:
    """Move `champion` to the model `ref` if every gate passes; returns the gate results."""
    import json

    c = client()
    candidate = resolve(name, ref)
    metrics, tags = run_metrics(candidate.run_id)
    gates = json.loads(tags.get("gates", "{}")) or {
        "min_auc": 0.7,
        "max_ece": 0.02,
        "beat_rules": True,
        "beat_champion": True,
    }
    champion_metrics = None
    try:
        current = c.get_model_version_by_alias(name, CHAMPION)
    except Exception:
        current = None
    if current is not None:
        if str(current.version) == candidate.version:
            raise RegistryError(f"version {candidate.version} is already the champion")
        champion_metrics, _ = run_metrics(current.run_id)
    results = check_gates(metrics, tags, gates, champion_metrics)
    if all(ok for _, ok, _ in results):
        history = _history(name)
        c.set_registered_model_alias(name, CHAMPION, candidate.version)
        c.set_registered_model_tag(name, HISTORY_TAG, ",".join([*history, candidate.version]))
    return candidate, results


def rollback(name: str) -> tuple[str, str]:
    """Move `champion` back to the version that held it before; returns (from, to)."""
    c = client()
    history = _history(name)
    if len(history) < 2:
        raise RegistryError(f"'{name}' has no earlier champion to roll back to")
    current, previous = history[-1], history[-2]
    c.set_registered_model_alias(name, CHAMPION, previous)
    c.set_registered_model_tag(name, HISTORY_TAG, ",".join(history[:-1]))
    return current, previous


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

    from leadml.spec import load_spec

    lead_model: LeadModel = result.lead_model
    info = lead_model.info
    spec = load_spec(config.spec)
    experiment_id = use_experiment(config.tracking.experiment)
    tags = {
        "reviewed": "true" if result.reviewed else "false",
        "spec_hash": info["spec_hash"],
        "rules_hash": info["rules_hash"],
        "data_hash": info["data"]["content_hash"],
        "calibration": info["calibration"],
        "gates": json.dumps(config.gates.model_dump()),
        "leadml_version": metadata.version("leadml"),
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=config.name) as run:
        mlflow.set_tags(tags)
        mlflow.log_params(_flatten(config.model_dump(mode="json")))
        mlflow.log_metrics({k: v for k, v in result.metrics.items() if math.isfinite(v)})
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
    version = register(model_uri, config.tracking.registered_model, tags)
    return run_id, version


def _input_example(lead_model: LeadModel, result) -> pd.DataFrame:
    spec = lead_model.spec
    frame = result.example.copy()
    cols = [spec.id_column, *(f.source for f in spec.features)]
    return frame[cols].head(5).reset_index(drop=True)
