"""Training: check spec and data, split by time, fit and calibrate, compare with the rules, log."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from leadml.data.check import CheckedLeads
from leadml.errors import ConfigError, DataError, SpecError
from leadml.evaluation import metrics as evaluate
from leadml.evaluation import plots
from leadml.evaluation.audit import leakage_audit
from leadml.evaluation.capacity import threshold_from_capacity, top_k_per_week
from leadml.rules.definition import load_rules
from leadml.scoring.calibration import fit_calibrator
from leadml.scoring.lead_model import LeadModel
from leadml.scoring.scorer import LeadScorer
from leadml.spec.config import TrainingConfig
from leadml.spec.features import load_spec
from leadml.training.engine import load_local, refuse_on_cluster
from leadml.training.windows import Window, capacity_of

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    lead_model: LeadModel
    metrics: dict[str, float]
    audit: pd.DataFrame
    windows: dict[str, dict[str, Any]]
    reviewed: bool
    artifacts: Path
    bands: dict[str, pd.DataFrame] = field(default_factory=dict)
    example: pd.DataFrame | None = None
    test: Window | None = None
    run_id: str | None = None
    version: str | None = None


def train(
    config: TrainingConfig,
    *,
    data: str | None = None,
    query: str | None = None,
    allow_unreviewed: bool = False,
    progress: Any = None,
    say: Any = lambda *_: None,
    client: Any = None,
) -> TrainResult:
    """Check, split, fit, calibrate and evaluate; MLflow logging is `tracking.log_training`.

    `say` receives progress messages (rich markup); plots and tables go to `result.artifacts`,
    a temporary folder the caller removes. With a Dask `client`, the history is read, checked
    and split on the cluster and the booster trains there (`leadml.cluster`).
    """
    spec = load_spec(config.spec)
    if spec.timestamp is None and config.capacity.share is None:
        raise ConfigError(
            f"{config.spec} has no timestamp, so there are no weeks: give the sales capacity "
            "as capacity.share (the share of leads sales can work) instead of leads_per_week"
        )
    rules = load_rules(config.rules, spec)
    problems = spec.training_problems()
    if problems and not allow_unreviewed:
        raise SpecError(
            f"{config.spec}: {len(problems)} feature problem(s) block training:\n"
            + "\n".join(f"  - {p}" for p in problems)
            + "\nFix the spec and collect both sign-offs, or run an experiment with "
            "--allow-unreviewed (it can never be promoted)."
        )
    for p in problems:
        say(f"[yellow]unreviewed:[/] {p}")

    cross_fit = config.model.calibration_data == "cross_fit"
    if client is not None:
        refuse_on_cluster(config)
    source = data or config.data.path
    if not source:
        raise ConfigError("no data: give --data or set data.path in the training config")
    if client is None:
        loaded = load_local(source, query or config.data.query, spec, config, say)
    else:
        if query or config.data.query or "://" in source:
            raise ConfigError("--engine dask reads files and folders, not database queries")
        from leadml.cluster.training import load_training

        loaded = load_training(client, source, spec, config, say)
    for reason, count in loaded.excluded.items():
        say(f"Excluded {count:,} lead(s): {reason}")
    positives = sum(w["sales_ready"] for w in loaded.windows.values())
    if positives < config.checks.min_sales_ready:
        raise DataError(
            f"only {positives} sales-ready lead(s) in {source}; training needs at least "
            f"{config.checks.min_sales_ready} (checks.min_sales_ready)"
        )
    cal_w, test_w = loaded.calibration, loaded.test
    for name, w in loaded.windows.items():
        if w["sales_ready"] in (0, w["leads"]):
            raise DataError(f"the {name} window ({w['leads']} leads) has only one outcome")

    audit = leakage_audit(loaded.audit_X, loaded.audit_y, spec, config.checks.leak_auc)
    for row in audit[audit.suspect].itertuples():
        say(
            f"[red]suspected leak:[/] {row.feature} alone reaches AUC {row.auc:.3f} "
            f"(bound {config.checks.leak_auc})"
        )

    scorer = LeadScorer(
        spec,
        params=config.model.params,
        calibration=config.model.calibration,
        num_boost_round=config.model.num_boost_round,
        early_stopping_rounds=config.model.early_stopping_rounds,
        calibration_folds=config.model.calibration_folds if cross_fit else None,
    )
    if cross_fit:
        say(
            f"After early stopping, {config.model.calibration_folds} more boosters of the same "
            "size score the training and calibration windows out of fold for the calibrator"
        )
    if client is None:
        scorer.fit(loaded.train_X, loaded.train_y, eval_set=(cal_w.X, cal_w.y), progress=progress)
    else:
        from leadml.cluster.training import fit_booster

        fit_booster(scorer, client, loaded.train_X, loaded.train_y, cal_w, progress, say)

    cal_points = rules.score(cal_w.frame, spec).points
    rules_calibrator = fit_calibrator(cal_points, cal_w.y, "isotonic")
    p_cal = scorer.predict_proba(cal_w.X)[:, 1]
    threshold = config.capacity.threshold or threshold_from_capacity(
        p_cal, cal_w.weeks, capacity_of(cal_w, config)
    )

    p_test = scorer.predict_proba(test_w.X)[:, 1]
    test_rules = rules.score(test_w.frame, spec)
    rp_test = rules_calibrator(test_rules.points)
    capacity = capacity_of(test_w, config)
    metrics: dict[str, float] = {}
    for who, p in (("model", p_test), ("rules", rp_test)):
        for k, v in evaluate.score_metrics(test_w.y, p, test_w.weeks, capacity).items():
            metrics[f"test_{who}_{k}"] = float(v)
    metrics["test_rules_verdict_precision"] = (
        float(test_w.y[test_rules.verdict].mean()) if test_rules.verdict.any() else float("nan")
    )
    metrics["threshold"] = float(threshold)
    metrics["best_iteration"] = float(scorer.best_iteration_)
    for m, loss in scorer.calibration_losses_.items():
        metrics[f"calibration_cv_log_loss_{m}"] = loss
    bands = {
        "leadml model": evaluate.band_table(test_w.y, p_test, config.bands),
        "agreed rules": evaluate.band_table(test_w.y, rp_test, config.bands),
    }
    for who, table in (("model", bands["leadml model"]), ("rules", bands["agreed rules"])):
        for band_row in table.itertuples():
            metrics[f"test_{who}_band_{band_row.band}_conversion"] = float(band_row.conversion)
            metrics[f"test_{who}_band_{band_row.band}_leads"] = float(band_row.leads)

    window_info = loaded.windows
    info = {
        "name": config.name,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "spec_hash": spec.content_hash,
        "rules_hash": rules.content_hash,
        "data": loaded.fingerprint,
        "windows": window_info,
        "calibration": scorer.calibrator_.method,
        "split": config.split.method,
        "calibration_data": config.model.calibration_data,
        "calibration_leads": scorer.calibration_leads_,
        "engine": "pandas" if client is None else "dask",
        "capacity": config.capacity.model_dump(),
        "metrics": metrics,
        "seen_categories": loaded.seen,
    }
    lead_model = LeadModel(
        scorer, rules, rules_calibrator, float(threshold), dict(config.bands), info
    )

    artifacts = Path(tempfile.mkdtemp(prefix="leadml-"))
    curves = {"leadml model": (test_w.y, p_test), "agreed rules": (test_w.y, rp_test)}
    share = min(1.0, float(top_k_per_week(p_test, test_w.weeks, capacity).mean()))
    plots.calibration_plot(curves, artifacts / "calibration.png")
    plots.gains_plot(curves, share, artifacts / "gains_lift.png")
    plots.importance_plot(scorer.importance(), artifacts / "feature_importance.png")
    plots.band_plot(bands, artifacts / "bands.png")
    audit.to_csv(artifacts / "leakage_audit.csv", index=False)
    for who, table in bands.items():
        table.to_csv(artifacts / f"bands_{who.split()[-1]}.csv", index=False)
    (artifacts / "summary.json").write_text(json.dumps(info, indent=2, default=str))
    from leadml.evaluation.report import compare, write_report

    page = compare(lead_model, CheckedLeads(test_w.frame, test_w.y), f"{config.name}, test window")
    write_report(page, artifacts / "compare.html")
    return TrainResult(
        lead_model=lead_model,
        metrics=metrics,
        audit=audit,
        windows=window_info,
        reviewed=not problems,
        artifacts=artifacts,
        bands=bands,
        example=loaded.example,
        test=test_w,
    )
