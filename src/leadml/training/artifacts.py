"""What a training run leaves for people: plots, tables, a summary and the review page, in a
temporary folder that MLflow logs and the model card copies."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from leadml.data.check import CheckedLeads
from leadml.evaluation import plots
from leadml.evaluation.report import compare, write_report
from leadml.scoring.lead_model import LeadModel
from leadml.training.measure import WindowScores
from leadml.training.windows import Window


def write_artifacts(
    lead_model: LeadModel,
    scores: WindowScores,
    bands: dict[str, pd.DataFrame],
    audit: pd.DataFrame,
    test: Window,
    excluded: Mapping[str, int] | None = None,
) -> Path:
    """Plots, band and audit tables, `summary.json` and `compare.html`; returns the folder
    (the caller removes it). `excluded`: the leads training left out, by reason (still open)."""
    out = Path(tempfile.mkdtemp(prefix="leadml-"))
    curves = scores.curves()
    plots.calibration_plot(curves, out / "calibration.png")
    plots.gains_plot(curves, scores.worked_share, out / "gains_lift.png")
    plots.importance_plot(lead_model.scorer.importance(), out / "feature_importance.png")
    plots.band_plot(bands, out / "bands.png")
    audit.to_csv(out / "leakage_audit.csv", index=False)
    for who, table in bands.items():
        table.to_csv(out / f"bands_{who.split()[-1]}.csv", index=False)
    summary = json.dumps(lead_model.info.to_dict(), indent=2, default=str)
    (out / "summary.json").write_text(summary)
    title = f"{lead_model.info.name}, test window"
    notes = (f"Windows: {lead_model.info.split_words()}.",)
    comparison = compare(
        lead_model, CheckedLeads(test.frame, test.y), title, notes=notes, excluded=excluded or {}
    )
    write_report(comparison, out / "compare.html")
    return out
