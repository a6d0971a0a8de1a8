"""Promotion gates: what a challenger must pass. Each gate line shows the observed comparison,
with the operator that holds for the values (`calibration error 0.0571 > 0.02` on a failure)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from leadml.registry.aliases import Resolved
from leadml.registry.champion import COMPARED_TAG, OVERLAP_TAG
from leadml.registry.failures import store_errors
from leadml.registry.leaks import LEAK_TAG, leak_gates, record_from_metrics
from leadml.registry.store import client
from leadml.spec.config import ChecksConfig

Gate = tuple[str, bool, str]  # (name, passed, what was compared)
NAN = float("nan")
# the operator that holds when a comparison fails
NEGATED = {"<": ">=", "<=": ">", ">=": "<", ">": "<="}


@dataclass
class RunRecord:
    """What promotion reads from a training run."""

    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def run_record(run_id: str) -> RunRecord:
    with store_errors(f"reading training run {run_id}"):
        run = client().get_run(run_id)
    return RunRecord(dict(run.data.metrics), dict(run.data.tags), dict(run.data.params))


def compare(
    what: str, value: float, op: str, limit: float, against: str | None = None
) -> tuple[bool, str]:
    """Whether `value op limit` holds, and the comparison as observed: `what value OP against`
    (default: the limit as written) with the operator that is true; NaN is not measured."""
    right = str(limit) if against is None else against
    if not (math.isfinite(value) and math.isfinite(limit)):
        return False, f"{what} {value:.4f} vs {right}: not measured"
    ok = {"<": value < limit, "<=": value <= limit, ">=": value >= limit, ">": value > limit}[op]
    return ok, f"{what} {value:.4f} {op if ok else NEGATED[op]} {right}"


def check_gates(run: RunRecord, gates: dict[str, Any], champion: Resolved | None) -> list[Gate]:
    """Each promotion gate of the run, in order: reviewed spec, AUC, calibration error,
    suspected leaks, the agreed rules, the champion."""
    m, tags = run.metrics.get, run.tags
    reviewed = tags.get("reviewed") == "true"
    detail = f"spec fully reviewed: {tags.get('reviewed')}"
    out: list[Gate] = [("reviewed", reviewed, detail)]
    out.append(("min_auc", *compare("AUC", m("test_model_roc_auc", NAN), ">=", gates["min_auc"])))
    ece = m("test_model_ece", NAN)
    out.append(("max_ece", *compare("calibration error", ece, "<=", gates["max_ece"])))
    out += leak_gates(_leak_record(run))
    if gates.get("beat_rules", True):
        out += _rules_gates(run)
    if gates.get("beat_champion", True) and champion is not None:
        out.append(_champion_gate(run, champion))
    return out


def _leak_record(run: RunRecord) -> dict[str, Any]:
    """The leak audit the run recorded; for older runs, rebuilt from its metrics."""
    if LEAK_TAG in run.tags:
        record: dict[str, Any] = json.loads(run.tags[LEAK_TAG])
        return record
    bound = float(run.params.get("checks.leak_auc", ChecksConfig().leak_auc))
    return record_from_metrics(run.metrics, bound)


def _rules_gates(run: RunRecord) -> list[Gate]:
    m = run.metrics.get
    ml, rl = m("test_model_log_loss", NAN), m("test_rules_log_loss", NAN)
    out: list[Gate] = [
        ("beats_rules_log_loss", *compare("log loss", ml, "<", rl, f"rules {rl:.4f}"))
    ]
    mr, rr = m("test_model_recall_at_capacity", NAN), m("test_rules_recall_at_capacity", NAN)
    ok, detail = compare("recall at capacity", mr, ">=", rr, f"rules {rr:.4f}")
    if not m("test_capacity_binds", 1.0):
        ok, detail = False, f"{detail}, but {_capacity_does_not_bind(run)}"
    out.append(("beats_rules_recall", ok, detail))
    return out


def _capacity_does_not_bind(run: RunRecord) -> str:
    """Why recall at capacity compares nothing, with the numbers the run recorded."""
    per_week = run.metrics.get("test_leads_per_week", NAN)
    worked = run.metrics.get("test_worked_share", NAN)
    capacity = run.params.get("capacity.leads_per_week", "None")
    share = run.params.get("capacity.share", "None")
    covers = f"covers {worked:.0%} of the test window's leads" if math.isfinite(worked) else ""
    if share != "None":
        numbers = f"capacity.share {share} {covers}".strip()
    elif capacity != "None" and math.isfinite(per_week):
        numbers = f"capacity {capacity} leads/week"
        if float(capacity) >= per_week:
            numbers += f" >= {per_week:,.0f} leads/week in the test window"
        else:
            numbers += f" {covers} (about {per_week:,.0f} a week)"
    else:
        numbers = "sales can work (nearly) every lead of the test window"
    return (
        f"capacity does not bind ({numbers}): recall at capacity is 1.0 for both; lower "
        "capacity.leads_per_week or compare on a share"
    )


def _champion_gate(run: RunRecord, champion: Resolved) -> Gate:
    m, tags = run.metrics.get, run.tags
    ml, cl = m("test_model_log_loss", NAN), m("test_champion_log_loss", NAN)
    if tags.get(COMPARED_TAG) == champion.version and math.isfinite(cl):
        against = f"champion v{champion.version} {cl:.4f}"
        ok, detail = compare("log loss", ml, "<=", cl, against)
        overlap = tags.get(OVERLAP_TAG) or "overlap unknown: not recorded at training"
        return "beats_champion", ok, f"{detail} (same leads); {overlap}"
    why = tags.get(COMPARED_TAG, "no champion at training time")
    detail = f"champion v{champion.version} not scored on this test window ({why})"
    return "beats_champion", False, detail + "; retrain to compare"
