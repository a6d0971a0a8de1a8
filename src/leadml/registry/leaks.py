"""The leak gate: a feature whose single-feature AUC on the training window is above
`checks.leak_auc` (a suspected leak) blocks promotion unless both teams reviewed its audit
(`leak_reviewed` in the spec) at an AUC no lower than observed, less a small tolerance."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from leadml.spec.features import REQUIRED_SIGNOFFS, FeatureSpec

LEAK_TAG = "leak_audit"  # the run's audit against the bound, with each suspect's review
GATE = "leak_review"
TOLERANCE = 0.01  # a review at AUC 0.92 still covers an observed 0.93; 0.94 needs a new one
MAX_TAG = 7500  # MLflow keeps tag values up to 8,000 characters


def leak_record(
    audit: pd.DataFrame, spec: FeatureSpec, bound: float, spec_path: str
) -> dict[str, Any]:
    """What the leak gate needs from a training: the bound, the feature with the highest AUC,
    and each suspected leak with the review the spec records for it (None: not reviewed)."""
    features = {f.name: f for f in spec.features}
    audited = audit[audit.auc.map(math.isfinite)].sort_values("auc", ascending=False)
    suspects = []
    for row in audited[audited.auc > bound].itertuples():
        review = features[row.feature].leak_reviewed if row.feature in features else None
        suspects.append(
            {
                "feature": row.feature,
                "auc": float(row.auc),
                "review": None if review is None else review.model_dump(mode="json"),
            }
        )
    best = audited.iloc[0] if len(audited) else None
    return {
        "bound": bound,
        "spec": spec_path,
        "best": None if best is None else [best.feature, float(best.auc)],
        "suspects": suspects,
        "more": 0,
    }


def record_tag(record: dict[str, Any]) -> str:
    """The record as a tag value: suspects that do not fit are counted in `more` (and fail)."""
    record = dict(record, suspects=list(record["suspects"]))
    text = json.dumps(record)
    while len(text) > MAX_TAG and record["suspects"]:
        record["suspects"].pop()
        record["more"] += 1
        text = json.dumps(record)
    return text


def record_from_metrics(metrics: dict[str, float], bound: float) -> dict[str, Any]:
    """For a run logged before the leak gate: the audit from its `leak_auc_*` metrics, and no
    review known (the spec's reviews were not recorded with the run)."""
    aucs = {k.removeprefix("leak_auc_"): v for k, v in metrics.items() if k.startswith("leak_auc_")}
    ranked = sorted(aucs.items(), key=lambda item: -item[1])
    return {
        "bound": bound,
        "spec": "the spec",
        "best": list(ranked[0]) if ranked else None,
        "suspects": [
            {"feature": f, "auc": auc, "review": None, "unrecorded": True}
            for f, auc in ranked
            if auc > bound
        ],
        "more": 0,
    }


def leak_gates(record: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """One gate line per suspected leak (pass only when reviewed at a high enough AUC), or one
    passing line naming the highest single-feature AUC."""
    bound = record["bound"]
    if not record["suspects"] and not record["more"]:
        best = record.get("best")
        top = f": highest {best[0]} {best[1]:.4f} <= {bound}" if best else ""
        return [(GATE, True, f"no feature alone reaches AUC above {bound} (checks.leak_auc){top}")]
    out = [(GATE, *_suspect(s, bound, record["spec"])) for s in record["suspects"]]
    if record["more"]:
        more = f"{record['more']} more suspected leak(s), not listed: see leakage_audit.json"
        out.append((GATE, False, more))
    return out


def _suspect(suspect: dict[str, Any], bound: float, spec: str) -> tuple[bool, str]:
    feature, auc, review = suspect["feature"], suspect["auc"], suspect["review"]
    seen = f"{feature} alone reaches AUC {auc:.4f} > {bound} (checks.leak_auc)"
    record = (
        f"if sales and marketing agree it is known before sales contact, record under "
        f"{feature} in {spec}: `leak_reviewed: {{by: {{sales: NAME, marketing: NAME}}, "
        f"when: YYYY-MM-DD, auc: {auc:.4f}}}`, then retrain"
    )
    if suspect.get("unrecorded"):
        return False, f"{seen}; the run predates leak reviews: {record}"
    if review is None:
        return False, f"{seen}, and no leak review: {record}"
    teams = sorted(review["by"], key=lambda team: (_rank(team), team))
    who = ", ".join(f"{team}: {review['by'][team]}" for team in teams)
    reviewed = f"reviewed by {who} on {review['when']} at AUC {review['auc']:.4f}"
    if review["auc"] >= auc - TOLERANCE:
        return True, f"{seen}; {reviewed} >= {auc:.4f} - {TOLERANCE}"
    return False, f"{seen}; {reviewed} < {auc:.4f} - {TOLERANCE}: review again; {record}"


def _rank(team: str) -> int:
    """Sales, then marketing, then any other team."""
    return REQUIRED_SIGNOFFS.index(team) if team in REQUIRED_SIGNOFFS else len(REQUIRED_SIGNOFFS)
