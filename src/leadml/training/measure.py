"""What training measures on the test window: the model and the agreed rules side by side."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadml.evaluation.capacity import CapacityUse, capacity_use, top_k_per_week, weeks_and_capacity
from leadml.evaluation.metrics import band_table, score_metrics
from leadml.scoring.lead_model import LeadModel
from leadml.spec.config import TrainingConfig
from leadml.training.windows import Window

WHO = {"model": "leadml model", "rules": "agreed rules"}  # metric prefix: name in tables


@dataclass
class WindowScores:
    """The test window's outcomes and both scorers' probabilities, with sales capacity."""

    y: np.ndarray
    model: np.ndarray
    rules: np.ndarray
    rules_verdict: np.ndarray
    weeks: np.ndarray
    capacity: int

    @property
    def worked_share(self) -> float:
        """The share of leads sales works at capacity (the gains plot's line)."""
        return min(1.0, float(top_k_per_week(self.model, self.weeks, self.capacity).mean()))

    @property
    def capacity_use(self) -> CapacityUse:
        """How much of the window sales capacity covers (does it bind?)."""
        return capacity_use(self.weeks, self.capacity)

    def curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {WHO["model"]: (self.y, self.model), WHO["rules"]: (self.y, self.rules)}


def score_test(lead_model: LeadModel, test: Window, config: TrainingConfig) -> WindowScores:
    """Both scorers on the test window, through the scoring core."""
    scores = lead_model.score_encoded(test.X, reasons=0)
    return WindowScores(
        y=test.y,
        model=scores.probability,
        rules=scores.rules_probability,
        rules_verdict=scores.rules.verdict,
        weeks=test.weeks,
        capacity=weeks_and_capacity(test.frame, config.capacity)[1],
    )


def band_tables(scores: WindowScores, bands: dict[str, float]) -> dict[str, pd.DataFrame]:
    """Leads and conversion per band A-D, for the model and the rules."""
    return {
        WHO["model"]: band_table(scores.y, scores.model, bands),
        WHO["rules"]: band_table(scores.y, scores.rules, bands),
    }


def window_metrics(scores: WindowScores, tables: dict[str, pd.DataFrame]) -> dict[str, float]:
    """`test_model_*` and `test_rules_*`: every metric of `score_metrics`, the rules verdict's
    precision, and each band's conversion and leads; and whether capacity binds on the window
    (`test_capacity_binds`, 1 or 0: at 0 the comparisons at capacity are not informative),
    with the share of leads worked and the leads per week."""
    y = scores.y
    metrics: dict[str, float] = {}
    for who, p in (("model", scores.model), ("rules", scores.rules)):
        for key, value in score_metrics(y, p, scores.weeks, scores.capacity).items():
            metrics[f"test_{who}_{key}"] = float(value)
    verdict = scores.rules_verdict
    metrics["test_rules_verdict_precision"] = (
        float(y[verdict].mean()) if verdict.any() else float("nan")
    )
    for who, name in WHO.items():
        for row in tables[name].itertuples():
            metrics[f"test_{who}_band_{row.band}_conversion"] = float(row.conversion)
            metrics[f"test_{who}_band_{row.band}_leads"] = float(row.leads)
    use = scores.capacity_use
    metrics["test_capacity_binds"] = float(use.binds)
    metrics["test_worked_share"] = use.worked_share
    metrics["test_leads_per_week"] = use.per_week
    return metrics
