"""Training engines: where the history is read and the booster trains. The single-machine
engine lives here; the Dask engine (`leadml.cluster`) offers the same operations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadml.data.check import check_leads
from leadml.data.fingerprint import fingerprint
from leadml.data.read import read_leads
from leadml.errors import ConfigError
from leadml.scoring.encoding import LeadEncoder
from leadml.spec.config import TrainingConfig
from leadml.spec.features import FeatureSpec
from leadml.training.windows import Window, seen_categories, split_windows, window_info


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


def refuse_on_cluster(config: TrainingConfig) -> None:
    """What the Dask engine cannot train, refused before anything starts."""
    if config.model.calibration_data == "cross_fit":
        raise ConfigError(
            "model.calibration_data: cross_fit trains its fold boosters in one process; "
            "use --engine pandas, or calibration_data: window on a cluster"
        )
