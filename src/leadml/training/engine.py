"""Training engines: where the history is read, checked and split, and where the booster trains.

`train()` takes an engine and calls only the operations of `TrainingEngine`; the caller chooses
it. `LocalEngine` works in this process; the Dask engine (`leadml.cluster.DaskEngine`) offers the
same operations on a cluster, and this package never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from leadml.data.check import check_leads
from leadml.data.fingerprint import DataFingerprint, WindowInfo, fingerprint
from leadml.data.read import read_leads
from leadml.scoring.encoding import LeadEncoder
from leadml.scoring.scorer import LeadScorer
from leadml.spec.config import TrainingConfig
from leadml.spec.features import FeatureSpec
from leadml.training.windows import (
    Window,
    order_column,
    seen_categories,
    split_order_of,
    split_windows,
    window_info,
)

Say = Callable[[str], None]
# what a line training says may start with, for the caller to show (`leadml train` colours them)
UNREVIEWED, SUSPECTED_LEAK, NO_BIND = "unreviewed:", "suspected leak:", "capacity does not bind:"
Progress = Callable[[int, int], None]


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
    windows: dict[str, WindowInfo]
    seen: dict[str, list[str]]
    fingerprint: DataFingerprint
    excluded: dict[str, int]
    example: pd.DataFrame


def load_local(
    source: str, query: str | None, spec: FeatureSpec, config: TrainingConfig, say: Say
) -> TrainingData:
    """Read, check and split the history in this process."""
    say(f"Reading leads from {source}")
    raw = read_leads(source, query)
    order_by = order_column(split_order_of(config, spec))
    leads = check_leads(raw, spec, require_label=True, order_by=order_by)
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


class TrainingEngine(Protocol):
    """Where training reads the history and fits the booster."""

    name: str  # recorded with the model and tagged on its run: "pandas", "dask"

    def check(self, config: TrainingConfig, source: str, query: str | None) -> None:
        """Refuse what this engine cannot train (a ConfigError), before any work starts."""

    def load(
        self, source: str, query: str | None, spec: FeatureSpec, config: TrainingConfig, say: Say
    ) -> TrainingData:
        """Read, check and split the history into windows."""

    def fit(
        self, scorer: LeadScorer, data: TrainingData, progress: Progress | None, say: Say
    ) -> LeadScorer:
        """Train the booster on the training window, early-stopped and calibrated on the
        calibration window; returns the fitted scorer."""


class LocalEngine:
    """The history and the booster in this process (pandas and LightGBM)."""

    name = "pandas"

    def check(self, config: TrainingConfig, source: str, query: str | None) -> None:
        """Everything a config allows trains here."""

    def load(
        self, source: str, query: str | None, spec: FeatureSpec, config: TrainingConfig, say: Say
    ) -> TrainingData:
        return load_local(source, query, spec, config, say)

    def fit(
        self, scorer: LeadScorer, data: TrainingData, progress: Progress | None, say: Say
    ) -> LeadScorer:
        cal = data.calibration
        scorer.fit(data.train_X, data.train_y, eval_set=(cal.X, cal.y), progress=progress)
        if scorer.refitted_:
            learned = (  # never a booster's own training leads (`LeadScorer.fit`)
                "both windows scored out of fold"
                if scorer.calibration_folds
                else "the calibration window scored by boosters of the leads before it"
            )
            say(
                f"Small history: early stopping chose {scorer.stopping_iteration_} trees; the "
                f"booster was trained again on the training and calibration windows "
                f"({scorer.best_iteration_} trees), and the calibrator learned from {learned}"
            )
        return scorer
