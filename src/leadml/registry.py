"""The model registry: resolve aliases and versions, load lead models, promote through gates."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from typing import Any

import mlflow.pyfunc

from leadml.config import GatesConfig
from leadml.errors import RegistryError
from leadml.scoring import LeadModel
from leadml.tracking import CHALLENGER, CHAMPION, client, tracking_uri

HISTORY_TAG = "champion_history"
COMPARED_TAG = "champion_compared"  # the champion version scored on this run's test window


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
        mv = (
            c.get_model_version(name, ref)
            if ref.isdigit()
            else c.get_model_version_by_alias(name, ref)
        )
    except Exception as exc:
        what = "version" if ref.isdigit() else "alias"
        raise RegistryError(
            f"no model '{name}' {what} '{ref}' in the registry at {tracking_uri()} "
            f"({type(exc).__name__}). Train one with `leadml train`, or name the model with --name."
        ) from None
    return Resolved(name, str(mv.version), None if ref.isdigit() else ref, mv.run_id)


def current(name: str, alias: str) -> Resolved | None:
    """The version an alias points at, or None when the alias (or the model) does not exist."""
    try:
        return resolve(name, alias)
    except RegistryError:
        return None


def load_lead_model(name: str, ref: str) -> tuple[LeadModel, Resolved]:
    """Load the lead model pinned by alias or version (never 'latest')."""
    resolved = resolve(name, ref)
    # MLflow puts the model's copy of the leadml code first on sys.path; leadml is already
    # imported here, and worker processes started later (Dask) must import the same installed
    # code, not that copy
    saved_path = list(sys.path)
    try:
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{resolved.version}")
    except Exception as exc:
        raise RegistryError(
            f"model '{name}' version {resolved.version} could not load: {exc}"
        ) from None
    finally:
        sys.path[:] = saved_path
    return pyfunc.unwrap_python_model().lead_model, resolved


def run_metrics(run_id: str) -> tuple[dict[str, float], dict[str, str]]:
    run = client().get_run(run_id)
    return run.data.metrics, run.data.tags


def check_gates(
    metrics: dict[str, float],
    tags: dict[str, str],
    gates: dict[str, Any],
    champion: Resolved | None,
) -> list[tuple[str, bool, str]]:
    """Each promotion gate: (name, passed, what was compared)."""
    nan = float("nan")
    m = metrics.get
    auc, ece = m("test_model_roc_auc", nan), m("test_model_ece", nan)
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
        ml, rl = m("test_model_log_loss", nan), m("test_rules_log_loss", nan)
        out.append(("beats_rules_log_loss", ml < rl, f"log loss {ml:.4f} < rules {rl:.4f}"))
        mr, rr = m("test_model_recall_at_capacity", nan), m("test_rules_recall_at_capacity", nan)
        out.append(
            ("beats_rules_recall", mr >= rr, f"recall at capacity {mr:.4f} >= rules {rr:.4f}")
        )
    if gates.get("beat_champion", True) and champion is not None:
        ml, cl = m("test_model_log_loss", nan), m("test_champion_log_loss", nan)
        if tags.get(COMPARED_TAG) == champion.version and math.isfinite(cl):
            detail = f"log loss {ml:.4f} <= champion v{champion.version} {cl:.4f} (same leads)"
            out.append(("beats_champion", ml <= cl, detail))
        else:
            why = tags.get(COMPARED_TAG, "no champion at training time")
            detail = f"champion v{champion.version} not scored on this test window ({why})"
            out.append(("beats_champion", False, detail + "; retrain to compare"))
    return out


def promote(name: str, ref: str = CHALLENGER) -> tuple[Resolved, list[tuple[str, bool, str]]]:
    """Move `champion` to the model `ref` if every gate passes; returns the gate results."""
    candidate = resolve(name, ref)
    metrics, tags = run_metrics(candidate.run_id)
    gates = json.loads(tags["gates"]) if "gates" in tags else GatesConfig().model_dump()
    champion = current(name, CHAMPION)
    if champion is not None and champion.version == candidate.version:
        raise RegistryError(f"version {candidate.version} is already the champion")
    results = check_gates(metrics, tags, gates, champion)
    if all(ok for _, ok, _ in results):
        c = client()
        c.set_registered_model_alias(name, CHAMPION, candidate.version)
        c.set_registered_model_tag(
            name, HISTORY_TAG, ",".join([*_history(name), candidate.version])
        )
    return candidate, results


def champion_on_test(name: str, result, config) -> tuple[dict[str, float], str]:
    """Score the current champion on a new model's test window, so the gate compares like
    with like. Returns (`test_champion_*` metrics, the champion version or why not compared).
    """
    from leadml import evaluate
    from leadml.data import CheckedLeads
    from leadml.errors import LeadmlError
    from leadml.train import capacity_of

    champion = current(name, CHAMPION)
    if champion is None:
        return {}, "no champion at training time"
    try:
        model, _ = load_lead_model(name, champion.version)
        test = result.test
        scored = model.score_checked(CheckedLeads(test.frame, test.y), reasons=0)
        metrics = evaluate.score_metrics(
            test.y, scored["probability"].to_numpy(), test.weeks, capacity_of(test, config)
        )
    except (LeadmlError, KeyError, ValueError) as exc:
        return {}, f"champion v{champion.version} not comparable: {exc}"
    return {f"test_champion_{k}": float(v) for k, v in metrics.items()}, champion.version


def _history(name: str) -> list[str]:
    tags = client().get_registered_model(name).tags
    return [v for v in tags.get(HISTORY_TAG, "").split(",") if v]


def rollback(name: str) -> tuple[str, str]:
    """Move `champion` back to the version that held it before; returns (from, to).

    The rolled-back version also loses the `challenger` alias, so a routine `leadml promote`
    does not put it straight back.
    """
    c = client()
    history = _history(name)
    if len(history) < 2:
        raise RegistryError(f"'{name}' has no earlier champion to roll back to")
    was, previous = history[-1], history[-2]
    c.set_registered_model_alias(name, CHAMPION, previous)
    c.set_registered_model_tag(name, HISTORY_TAG, ",".join(history[:-1]))
    challenger = current(name, CHALLENGER)
    if challenger is not None and challenger.version == was:
        c.delete_registered_model_alias(name, CHALLENGER)
    return was, previous
