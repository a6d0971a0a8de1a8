"""The model card: what a trained model leaves in `models/<name>/` for people to read."""

from __future__ import annotations

import shutil
from pathlib import Path

from leadml.evaluation import metrics as evaluate
from leadml.scoring.info import ModelInfo
from leadml.scoring.scorer import LeadScorer
from leadml.spec.config import CALIBRATION_DATA
from leadml.training.pipeline import TrainResult

AT_CAPACITY = ("precision_at_capacity", "recall_at_capacity", "lift_at_capacity")
PLOTS = {
    "calibration.png": "Does a predicted 30% convert at 30%? Model and agreed rules",
    "gains_lift.png": "How many sales-ready leads each finds for the leads worked",
    "bands.png": "Conversion per band A-D",
    "feature_importance.png": "What drives the model",
}


def write_model_card(result: TrainResult, out_dir: Path) -> Path:
    """Copy the evaluation plots and write README.md with the side-by-side metrics."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for item in result.artifacts.iterdir():
        shutil.copy2(item, out_dir / item.name)
    path = out_dir / "README.md"
    path.write_text(card_text(result))
    return path


def card_text(result: TrainResult) -> str:
    """The card's README.md: windows, the side-by-side metrics, the plots (files beside it),
    the leakage audit."""
    info, m = result.lead_model.info, result.metrics
    test = result.windows["test"]
    lines = [
        f"# Lead model card: {info.name}",
        "",
        f"Trained {info.trained_at} on {info.data['rows']:,} leads "
        f"(data hash `{info.data['content_hash']}`), spec hash `{info.spec_hash}`, "
        f"rules hash `{info.rules_hash}`. Calibration: {_calibration(info)}."
        + _refit_words(result.lead_model.scorer),
        f"Registered version: {result.version or 'not registered'}; "
        f"run: {result.run_id or '-'}; spec fully reviewed: {result.reviewed}.",
        "",
        "## Windows (" + info.split_words() + ")",
        "",
        "| window | leads | sales-ready | from | to |",
        "|---|---:|---:|---|---|",
    ]
    for name, w in result.windows.items():
        lines.append(
            f"| {name} | {w['leads']:,} | {w['sales_ready']:,} | {w.get('from', '')} "
            f"| {w.get('to', '')} |"
        )
    lines += [
        "",
        f"## Test window: model vs agreed rules ({test['leads']:,} leads)",
        "",
        "| metric | leadml model | agreed rules |",
        "|---|---:|---:|",
    ]
    binds = m.get("test_capacity_binds", 1.0) == 1.0
    for key, label in evaluate.METRIC_LABELS.items():
        note = "" if binds or key not in AT_CAPACITY else " (not informative)"
        lines.append(
            f"| {label}{note} | {m[f'test_model_{key}']:.4f} | {m[f'test_rules_{key}']:.4f} |"
        )
    lines += ["", f"Sales-ready threshold: probability >= {m['threshold']:.3f}."]
    if not binds:
        lines += [
            "",
            f"**Sales capacity does not bind on the test window**: sales would work "
            f"{m['test_worked_share']:.0%} of its leads (about {m['test_leads_per_week']:,.0f} "
            "a week, or per window without dates), so recall and lift at capacity are about 1.0 "
            "for both scorers and compare nothing. Set the capacity sales really has.",
        ]
    lines.append("")
    lines += ["## Plots", ""]
    for file, caption in PLOTS.items():
        lines += [f"### {caption}", "", f"![{caption}]({file})", ""]
    suspects = result.audit[result.audit.suspect]
    lines += ["## Leakage audit", ""]
    lines.append(
        "No feature alone separates the outcome suspiciously well."
        if suspects.empty
        else "Suspected leaks: "
        + ", ".join(f"{r.feature} (AUC {r.auc:.3f})" for r in suspects.itertuples())
    )
    return "\n".join(lines) + "\n"


def _refit_words(scorer: LeadScorer) -> str:
    """How the booster was trained, when it was trained again on the calibration window."""
    if not scorer.refitted_:
        return ""
    return (
        f" Booster: early stopping chose {scorer.stopping_iteration_} rounds on the calibration "
        "window, then it was "
        f"trained again on the training and calibration windows ({scorer.best_iteration_} rounds);"
        " the calibrator learned from "
        + (
            "both windows scored out of fold"
            if scorer.calibration_folds
            else "the calibration window scored by boosters of the leads before it"
        )
        + ", never in-sample."
    )


def _calibration(info: ModelInfo) -> str:
    leads = info.calibration_leads
    if leads is None:  # models trained before calibration_data existed
        return str(info.calibration)
    where = CALIBRATION_DATA[info.calibration_data]
    return f"{info.calibration}, fitted on {leads:,} leads ({where})"
