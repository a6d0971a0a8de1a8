"""Promotion gates: what a challenger must pass, and the champion scored on its test window."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from leadml.data.check import CheckedLeads
from leadml.errors import LeadmlError
from leadml.evaluation.capacity import weeks_and_capacity
from leadml.evaluation.metrics import score_metrics
from leadml.registry.aliases import Resolved, current, load_lead_model
from leadml.registry.failures import store_errors
from leadml.registry.store import CHAMPION, client
from leadml.spec.config import TrainingConfig

if TYPE_CHECKING:  # for types only: the pipeline brings plotting, which scoring never needs
    from leadml.training.pipeline import TrainResult


def run_metrics(run_id: str) -> tuple[dict[str, float], dict[str, str]]:
    with store_errors(f"reading training run {run_id}"):
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


def champion_on_test(
    name: str, result: TrainResult, config: TrainingConfig
) -> tuple[dict[str, float], str]:
    """Score the current champion on a new model's test window, so the gate compares like
    with like. Returns (`test_champion_*` metrics, the champion version or why not compared).
    """
    champion = current(name, CHAMPION)
    if champion is None:
        return {}, "no champion at training time"
    test = result.test
    if test is None:
        return {}, "no test window to compare on"
    try:
        model, _ = load_lead_model(name, champion.version)
        scored = model.score_checked(CheckedLeads(test.frame, test.y), reasons=0)
        metrics = score_metrics(
            test.y,
            scored["probability"].to_numpy(),
            test.weeks,
            weeks_and_capacity(test.frame, config.capacity)[1],
        )
    except (LeadmlError, KeyError, ValueError) as exc:
        return {}, f"champion v{champion.version} not comparable: {exc}"
    return {f"test_champion_{k}": float(v) for k, v in metrics.items()}, champion.version


COMPARED_TAG = "champion_compared"  # the champion version scored on this run's test window
