"""The current champion scored on a new model's test window, so the gate compares like with like;
and whether the champion had already seen those leads (its training or calibration window
overlaps the new test window), which favours it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from leadml.data.check import CheckedLeads
from leadml.errors import LeadmlError
from leadml.evaluation.capacity import weeks_and_capacity
from leadml.evaluation.metrics import score_metrics
from leadml.registry.aliases import current, load_lead_model
from leadml.registry.store import CHAMPION
from leadml.scoring.info import ModelInfo, key_words, lead_keys
from leadml.spec.config import TrainingConfig
from leadml.spec.features import FeatureSpec

if TYPE_CHECKING:  # for types only: the pipeline brings plotting, which scoring never needs
    from leadml.training.pipeline import TrainResult
    from leadml.training.windows import Window

COMPARED_TAG = "champion_compared"  # the champion version scored on this run's test window
OVERLAP_TAG = "champion_overlap"  # whether that champion trained or calibrated on those leads
SEEN_WINDOWS = ("train", "calibration")  # the champion's windows whose leads it learned from


@dataclass
class ChampionComparison:
    """`test_champion_*` metrics, the champion version scored (or why none was), and the
    overlap of its training and calibration windows with the test window, in words."""

    metrics: dict[str, float] = field(default_factory=dict)
    compared: str = "no champion at training time"
    overlap: str = ""


def champion_on_test(name: str, result: TrainResult, config: TrainingConfig) -> ChampionComparison:
    """Score the current champion on a new model's test window."""
    champion = current(name, CHAMPION)
    if champion is None:
        return ChampionComparison()
    test = result.test
    if test is None:
        return ChampionComparison(compared="no test window to compare on")
    try:
        model, _ = load_lead_model(name, champion.version, trained_leads=True)
        scored = model.score_checked(CheckedLeads(test.frame, test.y), reasons=0)
        metrics = score_metrics(
            test.y,
            scored["probability"].to_numpy(),
            test.weeks,
            weeks_and_capacity(test.frame, config.capacity)[1],
        )
    except (LeadmlError, KeyError, ValueError) as exc:
        return ChampionComparison(compared=f"champion v{champion.version} not comparable: {exc}")
    return ChampionComparison(
        {f"test_champion_{k}": float(v) for k, v in metrics.items()},
        champion.version,
        champion_overlap(model.info, model.spec, test),
    )


def champion_overlap(info: ModelInfo, spec: FeatureSpec, test: Window) -> str:
    """Whether the champion (its `info` and `spec`) trained or calibrated on the test window's
    leads: counted lead by lead when it records them (`ModelInfo.trained_leads`) by lead id,
    else judged by dates (the test leads dated within its training or calibration window).
    Starts with "no overlap", "overlap" or "overlap unknown"."""
    # by lead id only: without one, leads are keyed by their values, and a spec that changed
    # since (a feature added) would match none of them
    if info.trained_leads is not None and spec.lead_id:
        try:
            keys = lead_keys(test.frame, spec)
        except KeyError:  # its spec names leads by a column this window lacks: by dates
            pass
        else:
            train, calibration = info.trained_leads.find(keys)
            return _counted(int((train | calibration).sum()), len(keys), spec)
    return _by_dates(info, test)


def _counted(seen: int, total: int, spec: FeatureSpec) -> str:
    matched = key_words(spec)
    if not seen:
        return f"no overlap: none of these {total:,} test leads is one it learned from ({matched})"
    return (
        f"overlap: {seen:,} of these {total:,} test leads are leads it trained or was "
        f"calibrated on ({matched}), so its log loss there favours it"
    )


def _by_dates(info: ModelInfo, test: Window) -> str:
    found = [_span(info.windows.get(w, {})) for w in SEEN_WINDOWS]
    spans = [span for span in found if span is not None]
    if len(spans) < len(found):
        return "overlap unknown: the champion's windows record no dates"
    if "__timestamp__" not in test.frame:
        return "overlap unknown: this test window has no timestamps"
    try:
        stamps = pd.to_datetime(test.frame["__timestamp__"])
        inside = pd.Series(False, index=stamps.index)
        for start, end in spans:
            inside |= stamps.between(start, end)
    except (TypeError, ValueError) as exc:  # e.g. dates with and without a time zone
        return f"overlap unknown: dates not comparable ({exc})"
    first, last = min(s for s, _ in spans), max(e for _, e in spans)
    seen = f"the champion's training and calibration windows ({_day(first)} to {_day(last)})"
    if not inside.any():
        return (
            f"no overlap: this test window ({_day(stamps.min())} to {_day(stamps.max())}) lies "
            f"outside {seen}"
        )
    return (
        f"overlap: {int(inside.sum()):,} of these {len(stamps):,} test leads are dated within "
        f"{seen}, so it may have trained or calibrated on them and its log loss there favours it"
    )


def _span(window: object) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """A window's (from, to) as timestamps, None when it records no dates."""
    if not isinstance(window, dict) or not window.get("from") or not window.get("to"):
        return None
    return pd.Timestamp(window["from"]), pd.Timestamp(window["to"])


def _day(stamp: pd.Timestamp) -> str:
    return str(pd.Timestamp(stamp).date())
