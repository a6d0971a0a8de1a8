"""The windows of a training run: the split order, window bounds, and encoded windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadml.data.check import CheckedLeads
from leadml.data.fingerprint import WindowInfo
from leadml.evaluation.capacity import weeks_and_capacity
from leadml.scoring.encoding import LeadEncoder
from leadml.spec.config import TrainingConfig
from leadml.spec.features import FeatureSpec


@dataclass
class Window:
    """One time window of checked leads, encoded once."""

    name: str
    frame: pd.DataFrame
    X: np.ndarray
    y: np.ndarray
    weeks: np.ndarray


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
    if leads.y is None:
        raise ValueError("split_windows takes leads checked with their outcomes")
    order = split_order(n, None if ts is None else ts.to_numpy(), config)
    out = {}
    for name, (start, stop) in window_bounds(n, config).items():
        idx = order[start:stop]
        out[name] = make_window(name, leads.frame.iloc[idx], leads.y[idx], config, encoder)
    return out


def window_info(w: Window) -> WindowInfo:
    """Leads, sales-ready leads and (with timestamps) the date range of a window."""
    info: WindowInfo = {"leads": len(w.y), "sales_ready": int(w.y.sum())}
    if "__timestamp__" in w.frame:
        info["from"] = str(w.frame["__timestamp__"].min())
        info["to"] = str(w.frame["__timestamp__"].max())
    return info


def capacity_of(window: Window, config: TrainingConfig) -> int:
    """Leads sales can work per 'week' in this window."""
    return weeks_and_capacity(window.frame, config.capacity)[1]


def seen_categories(X: np.ndarray, spec: FeatureSpec) -> dict[str, list[str]]:
    """Per categorical feature, the allowed values that occur in the encoded training leads."""
    encoder = LeadEncoder(spec)
    return encoder.category_names(encoder.seen_codes(X))
