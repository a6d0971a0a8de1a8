"""Training: check spec and data, split by time, fit and calibrate, compare with the rules, log."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml import evaluate, plots
from leadml.audit import leakage_audit
from leadml.calibration import fit_calibrator
from leadml.config import CapacityConfig, TrainingConfig
from leadml.data import CheckedLeads, check_leads, fingerprint, read_leads
from leadml.errors import ConfigError, DataError, SpecError
from leadml.model import LeadEncoder, LeadScorer
from leadml.rules import load_rules
from leadml.scoring import LeadModel
from leadml.spec import FeatureSpec, load_spec

log = logging.getLogger(__name__)
WINDOWS = ("train", "calibration", "test")


@dataclass
class Window:
    """One time window of checked leads, encoded once."""

    name: str
    frame: pd.DataFrame
    X: np.ndarray
    y: np.ndarray
    weeks: np.ndarray


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


def split_windows(
    leads: CheckedLeads, config: TrainingConfig, encoder: LeadEncoder
) -> dict[str, Window]:
    """Oldest leads train, the next window early-stops and calibrates, the newest tests."""
    n = len(leads.frame)
    s = config.split
    if s.method == "time":
        ts = leads.timestamps
        order = np.argsort(ts.to_numpy(), kind="stable") if ts is not None else np.arange(n)
    else:
        order = np.random.default_rng(s.seed).permutation(n)
    n_test = round(n * s.test_share)
    n_cal = round(n * s.calibration_share)
    cuts = {
        "train": order[: n - n_cal - n_test],
        "calibration": order[n - n_cal - n_test : n - n_test],
        "test": order[n - n_test :],
    }
    out = {}
    for name, idx in cuts.items():
        frame = leads.frame.iloc[idx].reset_index(drop=True)
        weeks, _ = weeks_and_capacity(frame, config.capacity)
        out[name] = Window(name, frame, encoder.transform(frame), leads.y[idx], weeks)
    return out


def weeks_and_capacity(frame: pd.DataFrame, capacity: CapacityConfig) -> tuple[np.ndarray, int]:
    """Each lead's week and how many leads sales can work per week.

    Capacity given as a share (or leads without dates) makes the whole window one 'week'.
    """
    if capacity.share is not None or "__timestamp__" not in frame:
        per_week = round(capacity.share * len(frame)) if capacity.share else capacity.leads_per_week
        return np.zeros(len(frame), dtype=np.int64), max(1, int(per_week))
    return evaluate.week_of(frame["__timestamp__"]), int(capacity.leads_per_week)


def capacity_of(window: Window, config: TrainingConfig) -> int:
    """Leads sales can work per 'week' in this window."""
    return weeks_and_capacity(window.frame, config.capacity)[1]


def seen_categories(X: np.ndarray, spec: FeatureSpec) -> dict[str, list[str]]:
    """Per categorical feature, the allowed values that occur in the encoded training leads."""
    out = {}
    for j, f in enumerate(spec.features):
        if f.kind == "categorical":
            codes = np.unique(X[:, j][~np.isnan(X[:, j])]).astype(int)
            out[f.name] = [f.allowed[c] for c in codes]
    return out


def train(
    config: TrainingConfig,
    *,
    data: str | None = None,
    query: str | None = None,
    allow_unreviewed: bool = False,
    progress: Any = None,
    say: Any = lambda *_: None,
) -> TrainResult:
    """Check, split, fit, calibrate and evaluate; MLflow logging is `tracking.log_training`.

    `say` receives progress messages (rich markup); plots and tables go to `result.artifacts`,
    a temporary folder the caller removes.
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

    source = data or config.data.path
    if not source:
        raise ConfigError("no data: give --data or set data.path in the training config")
    say(f"Reading leads from {source}")
    raw = read_leads(source, query or config.data.query)
    leads = check_leads(raw, spec, require_label=True)
    for reason, count in leads.excluded.items():
        say(f"Excluded {count:,} lead(s): {reason}")
    positives = int(leads.y.sum())
    if positives < config.checks.min_sales_ready:
        raise DataError(
            f"only {positives} sales-ready lead(s) in {source}; training needs at least "
            f"{config.checks.min_sales_ready} (checks.min_sales_ready)"
        )
    encoder = LeadEncoder(spec)
    windows = split_windows(leads, config, encoder)
    train_w, cal_w, test_w = (windows[k] for k in WINDOWS)
    for w in windows.values():
        if len(np.unique(w.y)) < 2:
            raise DataError(f"the {w.name} window ({len(w.y)} leads) has only one outcome")

    audit = leakage_audit(train_w.X, train_w.y, spec, config.checks.leak_auc)
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
    )
    scorer.fit(train_w.X, train_w.y, eval_set=(cal_w.X, cal_w.y), progress=progress)

    cal_points = rules.score(cal_w.frame, spec).points
    rules_calibrator = fit_calibrator(cal_points, cal_w.y, "isotonic")
    p_cal = scorer.predict_proba(cal_w.X)[:, 1]
    threshold = config.capacity.threshold or evaluate.threshold_from_capacity(
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

    window_info = {
        w.name: {
            "leads": len(w.y),
            "sales_ready": int(w.y.sum()),
            **(
                {
                    "from": str(w.frame["__timestamp__"].min()),
                    "to": str(w.frame["__timestamp__"].max()),
                }
                if "__timestamp__" in w.frame
                else {}
            ),
        }
        for w in windows.values()
    }
    info = {
        "name": config.name,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "spec_hash": spec.content_hash,
        "rules_hash": rules.content_hash,
        "data": fingerprint(leads, spec),
        "windows": window_info,
        "calibration": scorer.calibrator_.method,
        "capacity": config.capacity.model_dump(),
        "metrics": metrics,
        "seen_categories": seen_categories(train_w.X, spec),
    }
    lead_model = LeadModel(
        scorer, rules, rules_calibrator, float(threshold), dict(config.bands), info
    )

    artifacts = Path(tempfile.mkdtemp(prefix="leadml-"))
    curves = {"leadml model": (test_w.y, p_test), "agreed rules": (test_w.y, rp_test)}
    share = min(1.0, float(evaluate.top_k_per_week(p_test, test_w.weeks, capacity).mean()))
    plots.calibration_plot(curves, artifacts / "calibration.png")
    plots.gains_plot(curves, share, artifacts / "gains_lift.png")
    plots.importance_plot(scorer.importance(), artifacts / "feature_importance.png")
    plots.band_plot(bands, artifacts / "bands.png")
    audit.to_csv(artifacts / "leakage_audit.csv", index=False)
    for who, table in bands.items():
        table.to_csv(artifacts / f"bands_{who.split()[-1]}.csv", index=False)
    (artifacts / "summary.json").write_text(json.dumps(info, indent=2, default=str))
    from leadml.report import compare, write_report  # the page imports this module

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
        example=raw.tail(5),
        test=test_w,
    )
