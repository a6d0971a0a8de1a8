"""Training: check spec and data, split, fit and calibrate on the engine given, measure beside
the agreed rules. `train()` calls the steps in order; MLflow logging is `leadml.registry`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from leadml.data.fingerprint import WindowInfo
from leadml.errors import ConfigError, DataError, SpecError
from leadml.evaluation.audit import leakage_audit
from leadml.evaluation.capacity import capacity_use, threshold_from_capacity
from leadml.evaluation.drift import profile
from leadml.rules.definition import AgreedRules, load_rules
from leadml.scoring.calibration import Calibrator, fit_calibrator
from leadml.scoring.info import ModelInfo, TrainedLeads
from leadml.scoring.lead_model import LeadModel
from leadml.scoring.scorer import LeadScorer
from leadml.spec.config import TrainingConfig
from leadml.spec.features import FeatureSpec, load_spec
from leadml.training.artifacts import write_artifacts
from leadml.training.engine import (
    NO_BIND,
    SUSPECTED_LEAK,
    UNREVIEWED,
    LocalEngine,
    Progress,
    Say,
    TrainingData,
    TrainingEngine,
)
from leadml.training.measure import WindowScores, band_tables, score_test, window_metrics
from leadml.training.windows import Window, capacity_of, split_order_of


def _silent(message: str) -> None:
    """The default `say`: progress messages go nowhere."""


@dataclass
class TrainResult:
    lead_model: LeadModel
    metrics: dict[str, float]
    audit: pd.DataFrame
    windows: dict[str, WindowInfo]
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
    engine: TrainingEngine | None = None,
    data: str | None = None,
    query: str | None = None,
    allow_unreviewed: bool = False,
    allow_after_contact: bool = False,
    progress: Progress | None = None,
    say: Say = _silent,
) -> TrainResult:
    """Check, split, fit, calibrate and evaluate on `engine` (default: this process).

    `say` receives progress messages (rich markup); plots and tables go to `result.artifacts`,
    a temporary folder the caller removes.
    """
    engine = engine or LocalEngine()
    spec, rules, problems = check_inputs(config, allow_unreviewed, say, allow_after_contact)
    source = data or config.data.path
    if not source:
        raise ConfigError("no data: give --data or set data.path in the training config")
    engine.check(config, source, query or config.data.query)
    loaded = engine.load(source, query or config.data.query, spec, config, say)
    check_outcomes(loaded, config, source, say)
    audit = run_audit(loaded, spec, config, say)
    scorer = engine.fit(new_scorer(config, spec, say), loaded, progress, say)
    lead_model = assemble(scorer, rules, loaded, config, engine.name)
    scores = score_test(lead_model, loaded.test, config)
    warn_capacity(scores, loaded.calibration, lead_model.threshold, config, say)
    bands = band_tables(scores, config.bands)
    lead_model.info.metrics.update(window_metrics(scores, bands))
    return TrainResult(
        lead_model=lead_model,
        metrics=lead_model.info.metrics,
        audit=audit,
        windows=loaded.windows,
        reviewed=not problems,
        artifacts=write_artifacts(
            lead_model, scores, bands, audit, loaded.test, excluded=loaded.excluded
        ),
        bands=bands,
        example=loaded.example,
        test=loaded.test,
    )


def check_inputs(
    config: TrainingConfig, allow_unreviewed: bool, say: Say, allow_after_contact: bool = False
) -> tuple[FeatureSpec, AgreedRules, list[str]]:
    """The spec and the rules, checked; what blocks training raises, unless the experiment
    allows it (returned, and said: such a model can never be promoted). `allow_unreviewed`
    lets missing sign-offs and TODOs through; a feature known only after sales contact needs
    `allow_after_contact`."""
    spec = load_spec(config.spec)
    order = check_weeks_and_order(config, spec)
    rules = load_rules(config.rules, spec)
    review, after = spec.review_problems(), spec.after_contact_problems()
    blocked = ([] if allow_unreviewed else review) + ([] if allow_after_contact else after)
    if blocked:
        fixes = []
        if review and not allow_unreviewed:
            fixes.append(
                "finish the spec and collect both sign-offs (`leadml features sign`), or run an "
                "experiment with --allow-unreviewed"
            )
        if after and not allow_after_contact:
            fixes.append(
                "remove each feature known only after contact, or, if both teams confirm it is "
                "known before, change its known_at; an experiment with it needs "
                "--allow-after-contact (--allow-unreviewed does not admit it)"
            )
        raise SpecError(
            f"{config.spec}: {len(blocked)} feature problem(s) block training:\n"
            + "\n".join(f"  - {p}" for p in blocked)
            + "\nTo train: "
            + "; and ".join(fixes)
            + ". Such an experiment can never be promoted."
        )
    for p in review:
        say(f"{UNREVIEWED} {p}")
    for p in after:
        say(f"{SUSPECTED_LEAK} {p}")
    say(f"Windows: {ModelInfo(split=config.split.method, split_order=order).split_words()}")
    return spec, rules, review + after


def check_weeks_and_order(config: TrainingConfig, spec: FeatureSpec) -> dict[str, str] | None:
    """What orders the split (`split_order_of`); a spec without a timestamp needs capacity as
    a share, and a time split an order: both refused at once, with the fixes."""
    problems = []
    if spec.timestamp is None and config.capacity.share is None:
        problems.append(
            f"{config.spec} has no timestamp, so there are no weeks: give the sales capacity "
            "as capacity.share (the share of leads sales can work) instead of leads_per_week"
        )
    order = None
    try:
        order = split_order_of(config, spec)
    except ConfigError as exc:
        problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))
    return order


def check_outcomes(loaded: TrainingData, config: TrainingConfig, source: str, say: Say) -> None:
    """Enough sales-ready leads, and both outcomes in every window."""
    for reason, count in loaded.excluded.items():
        say(f"Excluded {count:,} lead(s): {reason}")
    positives = sum(w["sales_ready"] for w in loaded.windows.values())
    if positives < config.checks.min_sales_ready:
        raise DataError(
            f"only {positives} sales-ready lead(s) in {source}; training needs at least "
            f"{config.checks.min_sales_ready} (checks.min_sales_ready)"
        )
    for name, w in loaded.windows.items():
        if w["sales_ready"] in (0, w["leads"]):
            raise DataError(f"the {name} window ({w['leads']} leads) has only one outcome")


def warn_capacity(
    scores: WindowScores, calibration: Window, threshold: float, config: TrainingConfig, say: Say
) -> None:
    """Say when sales capacity covers (nearly) every lead of the test or calibration window:
    comparisons at capacity are then not informative (`test_capacity_binds` = 0), and a
    threshold derived from capacity falls to about the lowest score."""
    fix = (
        "Set capacity.leads_per_week (or capacity.share) to what sales really works, or "
        "measure with `leadml evaluate --capacity N`"
    )
    test = scores.capacity_use
    if not test.binds:
        say(
            f"{NO_BIND} {test.describe('the test window')}; recorded as "
            f"test_capacity_binds = 0, so beating the rules on recall at capacity proves "
            f"nothing. {fix}."
        )
    if config.capacity.threshold is not None:
        return
    cal = capacity_use(calibration.weeks, capacity_of(calibration, config))
    if not cal.binds:
        say(
            f"{NO_BIND} {cal.describe('the calibration window')}; the sales-ready "
            f"threshold derived there is {threshold:.3f}, so nearly every lead is called "
            f"sales-ready. {fix}, or fix capacity.threshold."
        )


def run_audit(
    loaded: TrainingData, spec: FeatureSpec, config: TrainingConfig, say: Say
) -> pd.DataFrame:
    """The leakage audit on the training window; suspected leaks are said."""
    audit = leakage_audit(loaded.audit_X, loaded.audit_y, spec, config.checks.leak_auc)
    for row in audit[audit.suspect].itertuples():
        say(
            f"{SUSPECTED_LEAK} {row.feature} alone reaches AUC {row.auc:.3f} "
            f"(bound {config.checks.leak_auc})"
        )
    return audit


def new_scorer(config: TrainingConfig, spec: FeatureSpec, say: Say) -> LeadScorer:
    """An unfitted scorer with the config's model settings."""
    cross_fit = config.model.calibration_data == "cross_fit"
    if cross_fit:
        say(
            f"After early stopping, {config.model.calibration_folds} more boosters of the same "
            "size score the training and calibration windows out of fold for the calibrator"
        )
    return LeadScorer(
        spec,
        params=config.model.params,
        calibration=config.model.calibration,
        num_boost_round=config.model.num_boost_round,
        early_stopping_rounds=config.model.early_stopping_rounds,
        calibration_folds=config.model.calibration_folds if cross_fit else None,
        refit=config.model.refit,
    )


def assemble(
    scorer: LeadScorer,
    rules: AgreedRules,
    loaded: TrainingData,
    config: TrainingConfig,
    engine: str,
) -> LeadModel:
    """The lead model: the fitted scorer, the rules with their calibrator, the sales-ready
    threshold (from capacity on the calibration window unless the config fixes it), the
    bands, and what the model records about its training."""
    cal = loaded.calibration
    rules_calibrator = rules_calibrator_on(rules, scorer.spec, cal)
    threshold = config.capacity.threshold or threshold_from_capacity(
        scorer.predict_proba(cal.X)[:, 1],
        cal.weeks,
        capacity_of(cal, config),
    )
    metrics = {"threshold": float(threshold), "best_iteration": float(scorer.best_iteration_)}
    for method, loss in scorer.calibration_losses_.items():
        metrics[f"calibration_cv_log_loss_{method}"] = loss
    info = ModelInfo(
        name=config.name,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        spec_hash=scorer.spec.content_hash,
        rules_hash=rules.content_hash,
        data=loaded.fingerprint,
        windows=loaded.windows,
        calibration=scorer.calibrator_.method,
        split=config.split.method,
        calibration_data=config.model.calibration_data,
        calibration_leads=scorer.calibration_leads_,
        engine=engine,
        capacity=config.capacity.model_dump(),
        metrics=metrics,
        seen_categories=loaded.seen,
        split_order=split_order_of(config, scorer.spec),
        trained_leads=learned_from(cal, scorer),
        profile=profile(scorer.spec, loaded.audit_X, scorer.probability(loaded.test.X)),
    )
    return LeadModel(scorer, rules, rules_calibrator, float(threshold), dict(config.bands), info)


def learned_from(calibration: Window, scorer: LeadScorer) -> TrainedLeads | None:
    """The leads the model learned from (`Window.trained`); a booster trained again on the
    training and calibration windows (`LeadScorer.refitted_`) trained on both."""
    seen = calibration.trained
    if seen is None or not scorer.refitted_:
        return seen
    return TrainedLeads(np.union1d(seen.train, seen.calibration), seen.calibration)


def rules_calibrator_on(rules: AgreedRules, spec: FeatureSpec, window: Window) -> Calibrator:
    """The agreed rules' points mapped to probabilities on the calibration window."""
    return fit_calibrator(rules.score_encoded(window.X, spec).points, window.y, "isotonic")
