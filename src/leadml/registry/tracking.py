"""A training run in MLflow: its config, data fingerprint, metrics, plots and model, registered as
`challenger` beside the current champion scored on the same test window."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import re
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import yaml

from leadml.registry.champion import COMPARED_TAG, OVERLAP_TAG, champion_on_test
from leadml.registry.failures import move_alias, retried, store_errors
from leadml.registry.leaks import LEAK_TAG, leak_record, record_tag
from leadml.registry.pyfunc import log_lead_model
from leadml.registry.runs import owned_run
from leadml.registry.store import CHALLENGER, client, use_experiment
from leadml.scoring.lead_model import LeadModel
from leadml.scoring.scorer import LeadScorer
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
    result: TrainResult,
    config: TrainingConfig,
    config_path: str | None,
    *,
    data: str | None = None,
    query: str | None = None,
    log_rows: np.ndarray | None = None,
) -> tuple[str, str]:
    """Log a finished training to MLflow and register its model as `challenger`, with its model
    card as the version's description.

    `data` and `query` are what the training read when the caller overrode the config (`--data`,
    `--query`): the run's params and logged config name them, not the config's. `log_rows`: the
    score log's row ids it trained on (`train --from-log`), tagged as a count and logged as id
    ranges. Returns (run id, registered version).
    """
    lead_model: LeadModel = result.lead_model
    info = lead_model.info
    name = config.tracking.registered_model
    champion = champion_on_test(name, result, config)
    used = data_used(config, data, query)
    experiment = config.tracking.experiment
    with store_errors(f"opening experiment '{experiment}'"):
        experiment_id = use_experiment(experiment)
    leaks = leak_record(result.audit, lead_model.spec, config.checks.leak_auc, config.spec)
    tags = {
        "reviewed": "true" if result.reviewed else "false",
        "spec_hash": str(info.spec_hash),
        "rules_hash": str(info.rules_hash),
        "data_hash": info.data["content_hash"],
        "data_source": _masked(str(used.data.path)),
        "calibration": str(info.calibration),
        "engine": info.engine,
        "gates": json.dumps(config.gates.model_dump()),
        "leadml_version": metadata.version("leadml"),
        COMPARED_TAG: champion.compared,
        OVERLAP_TAG: champion.overlap,
        LEAK_TAG: record_tag(leaks),
    }
    with (
        store_errors(f"logging the training run to experiment '{experiment}'"),
        owned_run(experiment_id, config.name) as run,
    ):
        mlflow.set_tags(tags)
        mlflow.log_params({**_params(used), **_booster_params(lead_model.scorer)})
        mlflow.log_metrics({k: v for k, v in result.metrics.items() if math.isfinite(v)})
        mlflow.log_metrics({k: v for k, v in champion.metrics.items() if math.isfinite(v)})
        _log_files(result, config, used, config_path, leaks)
        if log_rows is not None:
            ranges = id_ranges(log_rows)
            mlflow.set_tag("score_log_rows", f"{len(log_rows):,} rows in {len(ranges):,} id ranges")
            mlflow.log_text("\n".join(ranges) + "\n", "score_log_rows.txt")
        example = _input_example(lead_model, result)
        model_uri = log_lead_model(lead_model, example)
        run_id = run.info.run_id
    version = register(model_uri, name, tags)
    log_card(result, name, run_id, version)
    return run_id, version


def id_ranges(ids: np.ndarray) -> list[str]:
    """Sorted row ids as ranges, one a line: '17-4090', '4095'."""
    ids = np.unique(np.asarray(ids, dtype=np.int64))
    if not len(ids):
        return []
    breaks = np.flatnonzero(np.diff(ids) != 1)
    starts = np.r_[ids[0], ids[breaks + 1]]
    ends = np.r_[ids[breaks], ids[-1]]
    return [f"{a}-{b}" if a != b else f"{a}" for a, b in zip(starts, ends, strict=True)]


def data_used(config: TrainingConfig, data: str | None, query: str | None) -> TrainingConfig:
    """The config as the training ran: the data path and query it read (as the pipeline picks
    them: `--data` over `data.path`, `--query` over `data.query`)."""
    path, sql = data or config.data.path, query or config.data.query
    if (path, sql) == (config.data.path, config.data.query):
        return config
    return config.model_copy(
        update={"data": config.data.model_copy(update={"path": path, "query": sql})}
    )


def _params(config: TrainingConfig) -> dict[str, Any]:
    params = _flatten(config.model_dump(mode="json"))
    if params.get("data.path"):
        params["data.path"] = _masked(str(params["data.path"]))
    return params


def _booster_params(scorer: LeadScorer) -> dict[str, Any]:
    """What the booster actually trained with (the config's params over leadml's defaults,
    scaled with the training window), and whether it was refitted on the calibration window."""
    params: dict[str, Any] = {
        f"lightgbm.{k}": v for k, v in sorted((scorer.effective_params_ or {}).items())
    }
    params["model.refitted"] = bool(scorer.refitted_)
    params["model.stopping_iteration"] = int(scorer.stopping_iteration_)
    return params


def _masked(source: str) -> str:
    """A database URL without its password (`postgresql://ann:***@host/crm`)."""
    return re.sub(r"^([\w+.-]+://[^:/@]+):[^@/]*@", r"\1:***@", source)


def _log_files(
    result: TrainResult,
    config: TrainingConfig,
    used: TrainingConfig,
    config_path: str | None,
    leaks: dict[str, Any],
) -> None:
    """The run's files: fingerprint, windows, sign-offs, leakage audit, plots, spec, rules and
    the config as the training ran."""
    info = result.lead_model.info
    mlflow.log_metrics(
        {f"leak_auc_{r.feature}": r.auc for r in result.audit.itertuples() if math.isfinite(r.auc)}
    )
    mlflow.log_dict(dict(info.data), "data_fingerprint.json")
    mlflow.log_dict(dict(info.windows), "windows.json")
    mlflow.log_dict(result.lead_model.spec.signoffs(), "spec/signoffs.json")
    mlflow.log_dict(
        {
            "suspected_leaks": [s["feature"] for s in leaks["suspects"]],
            "bound": leaks["bound"],
            "reviews": {s["feature"]: s["review"] for s in leaks["suspects"]},
            "features": {r.feature: r.auc for r in result.audit.itertuples()},
        },
        "leakage_audit.json",
    )
    mlflow.log_artifacts(str(result.artifacts), "evaluation")
    mlflow.log_artifact(config.spec, "spec")
    mlflow.log_artifact(config.rules, "spec")
    if used is not config:
        file = Path(config_path).name if config_path else f"{config.name}.yaml"
        mlflow.log_text(_config_as_run(config, used, config_path), f"config/{file}")
    elif config_path:
        mlflow.log_artifact(config_path, "config")


def _config_as_run(config: TrainingConfig, used: TrainingConfig, config_path: str | None) -> str:
    """The whole config as the training ran (`extends:` resolved), saying what was overridden."""
    written = config.data.path, config.data.query
    header = [
        f"# The training config as run: {config_path or config.name}, with its data overridden",
        f"# on the command line (the file says data.path: {_masked(str(written[0]))}, "
        f"data.query: {written[1]}).",
    ]
    raw = used.model_dump(mode="json")
    raw["data"]["path"] = _masked(str(raw["data"]["path"]))
    return "\n".join(header) + "\n" + yaml.safe_dump(raw, sort_keys=False)


MAX_DESCRIPTION = 5000  # what MLflow's stores keep of a model version's description


def log_card(result: TrainResult, name: str, run_id: str, version: str) -> None:
    """Write the model card of `result`, registered as `version` from `run_id`, log it with its
    run (`model_card/README.md`) and make it the version's description, so each version keeps
    its own card."""
    # imported here: the logged model imports leadml.registry to load, and the card brings the
    # training pipeline's plotting, which scoring never needs
    from leadml.training.card import card_text

    card = card_text(dataclasses.replace(result, run_id=run_id, version=version))
    with store_errors(f"logging the model card to run {run_id}"):
        client().log_text(run_id, card, "model_card/README.md")
    describe_version(name, version, card)


def describe_version(name: str, version: str, card: str) -> None:
    """Set a registered version's description to its model card (cut at a line to what the
    store keeps, saying where the whole card is)."""
    text = card
    if len(text) > MAX_DESCRIPTION:
        note = "\n\n(Card shortened; the whole card is the run's artifact model_card/README.md.)"
        cut = text.rfind("\n", 0, MAX_DESCRIPTION - len(note))
        text = text[: max(cut, 0)] + note
    retried(
        f"describing version {version} of model '{name}'",
        lambda: client().update_model_version(name, version, description=text),
    )


def _input_example(lead_model: LeadModel, result) -> pd.DataFrame:
    """Five raw leads as the CRM sent them: the id (if the spec has one) and the features."""
    spec = lead_model.spec
    cols = ([spec.lead_id] if spec.lead_id else []) + [f.source for f in spec.features]
    return result.example[cols].tail(5).reset_index(drop=True)
