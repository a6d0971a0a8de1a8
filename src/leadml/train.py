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


@dataclass
class TrainingData:
    """Checked history split into windows. The booster trains on (`train_X`, `train_y`): arrays
    here, or Dask arrays spread over a cluster; `audit_X`/`audit_y` hold the training window (or,
    on a cluster, a sample of it) for the leakage audit."""

    calibration: Window
    test: Window
    train_X: Any
    train_y: Any
    audit_X: np.ndarray
    audit_y: np.ndarray
    windows: dict[str, dict[str, Any]]
    seen: dict[str, list[str]]
    fingerprint: dict[str, Any]
    excluded: dict[str, int]
    example: pd.DataFrame


def split_order(n: int, timestamps: np.ndarray | None, config: TrainingConfig) -> np.ndarray:
    """The leads' order for the split: oldest first (time) or shuffled by the seed (random)."""
    s = config.split
    if s.method == "time":
        return np.argsort(timestamps, kind="stable") if timestamps is not None else np.arange(n)
    return np.random.default_rng(s.seed).permutation(n)


def window_bounds(n: int, config: TrainingConfig) -> dict[str, tuple[int, int]]:
    """Each window's [start, stop) in the split order."""
    n_test = round(n * config.split.test_share)
    n_cal = round(n * config.split.calibration_share)
    return {
        "train": (0, n - n_cal - n_test),
        "calibration": (n - n_cal - n_test, n - n_test),
        "test": (n - n_test, n),
    }


def make_window(
    name: str, frame: pd.DataFrame, y: np.ndarray, config: TrainingConfig, encoder: LeadEncoder
) -> Window:
    frame = frame.reset_index(drop=True)
    weeks, _ = weeks_and_capacity(frame, config.capacity)
    return Window(name, frame, encoder.transform(frame), y, weeks)


def split_windows(
    leads: CheckedLeads, config: TrainingConfig, encoder: LeadEncoder
) -> dict[str, Window]:
    """Oldest leads train, the next window early-stops and calibrates, the newest tests."""
    n = len(leads.frame)
    ts = leads.timestamps
    order = split_order(n, None if ts is None else ts.to_numpy(), config)
    out = {}
    for name, (start, stop) in window_bounds(n, config).items():
        idx = order[start:stop]
        out[name] = make_window(name, leads.frame.iloc[idx], leads.y[idx], config, encoder)
    return out


def window_info(w: Window) -> dict[str, Any]:
    """Leads, sales-ready leads and (with timestamps) the date range of a window."""
    info: dict[str, Any] = {"leads": len(w.y), "sales_ready": int(w.y.sum())}
    if "__timestamp__" in w.frame:
        info["from"] = str(w.frame["__timestamp__"].min())
        info["to"] = str(w.frame["__timestamp__"].max())
    return info


def load_local(
    source: str, query: str | None, spec: FeatureSpec, config: TrainingConfig, say: Any
) -> TrainingData:
    """Read, check and split the history in this process."""
    say(f"Reading leads from {source}")
    raw = read_leads(source, query)
    leads = check_leads(raw, spec, require_label=True)
    windows = split_windows(leads, config, LeadEncoder(spec))
    train_w = windows["train"]
    return TrainingData(
        calibration=windows["calibration"],
        test=windows["test"],
        train_X=train_w.X,
        train_y=train_w.y,
        audit_X=train_w.X,
        audit_y=train_w.y,
        windows={w.name: window_info(w) for w in windows.values()},
        seen=seen_categories(train_w.X, spec),
        fingerprint=fingerprint(leads, spec),
        excluded=dict(leads.excluded),
        example=raw.tail(5),
    )


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
    encoder = LeadEncoder(spec)
    return encoder.category_names(encoder.seen_codes(X))


def refuse_on_cluster(config: TrainingConfig) -> None:
    """What the Dask engine cannot train, refused before anything starts."""
    if config.model.calibration_data == "cross_fit":
        raise ConfigError(
            "model.calibration_data: cross_fit trains its fold boosters in one process; "
            "use --engine pandas, or calibration_data: window on a cluster"
        )


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
        from leadml.cluster import load_training

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
        from leadml.cluster import fit_booster

        fit_booster(scorer, client, loaded.train_X, loaded.train_y, cal_w, progress, say)

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
        example=loaded.example,
        test=test_w,
    )
