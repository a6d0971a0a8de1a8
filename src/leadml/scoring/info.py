"""What a trained model carries about itself: where it came from and how it measured.

`ModelInfo` is typed; the fingerprint and the windows stay JSON-shaped (they are logged to
MLflow and answered by the API as they are) and are typed as `TypedDict`s
(`leadml.data.fingerprint`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml.data.check import ORDER
from leadml.data.fingerprint import DataFingerprint, WindowInfo, row_hashes
from leadml.spec.features import FeatureSpec


def lead_keys(frame: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """One 64-bit hash per checked lead that names it in any file: its lead id, or, when the
    spec has none (leads are numbered by row), its timestamp and feature values."""
    if spec.lead_id:
        return pd.util.hash_array(frame[spec.id_column].to_numpy(dtype=object))
    return row_hashes(frame.drop(columns=[spec.id_column, ORDER], errors="ignore"))


def key_words(spec: FeatureSpec) -> str:
    """How `lead_keys` matches leads, in words."""
    if spec.lead_id:
        return f"by lead id ({spec.lead_id})"
    return "by identical values (the spec has no lead id)"


@dataclass
class TrainedLeads:
    """The leads a model trained and was calibrated on, as sorted unique `lead_keys` (8 bytes
    a lead), so evaluation can say which leads of a file it has seen."""

    train: np.ndarray
    calibration: np.ndarray

    @classmethod
    def of(cls, train_keys: np.ndarray, calibration_keys: np.ndarray) -> TrainedLeads:
        return cls(np.unique(train_keys), np.unique(calibration_keys))

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per key: whether the model trained on that lead, and whether it calibrated on it."""
        return _isin_sorted(keys, self.train), _isin_sorted(keys, self.calibration)

    def summary(self) -> dict[str, int]:
        return {"train": len(self.train), "calibration": len(self.calibration)}

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, train=self.train, calibration=self.calibration)

    @classmethod
    def load(cls, path: str | Path) -> TrainedLeads:
        with np.load(path, allow_pickle=False) as saved:
            return cls(saved["train"], saved["calibration"])


def _isin_sorted(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


@dataclass
class ModelInfo:
    """How a model was trained and how it measured on its test window.

    `metrics` holds `test_model_*` and `test_rules_*` (each of `leadml.evaluation.METRIC_LABELS`
    and more), `test_capacity_binds` (1, or 0 when sales capacity covers nearly every test lead
    and the comparisons at capacity say nothing; absent in models trained before), with
    `test_worked_share` and `test_leads_per_week`, `threshold`, `best_iteration` and the
    calibrators' cross-validated log losses. `split_order` says what ordered a time split, and
    `trained_leads` which leads the model trained and was calibrated on.
    """

    name: str = "lead model"
    trained_at: str | None = None
    spec_hash: str | None = None
    rules_hash: str | None = None
    data: DataFingerprint | dict[str, Any] = field(default_factory=dict)
    windows: dict[str, WindowInfo] = field(default_factory=dict)
    calibration: str | None = None
    split: str = "time"
    calibration_data: str = "window"
    calibration_leads: int | None = None  # None: trained before it was recorded
    engine: str = "pandas"
    capacity: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    seen_categories: dict[str, list[str]] = field(default_factory=dict)
    # what ordered a time split: {"kind": "timestamp" | "column" | "file_order", "column": ...};
    # None: a random split, or a model trained before it was recorded
    split_order: dict[str, str] | None = None
    trained_leads: TrainedLeads | None = None  # None: trained before it was recorded
    # the training window's distribution per feature and the test window's scores, for drift
    # (`leadml.evaluation.drift.profile`); None: trained before it was recorded
    profile: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelInfo:
        """From the dict models pickled before `ModelInfo` carried (unknown keys dropped; the
        trained leads only as `TrainedLeads`, not the counts `to_dict` gives)."""
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(raw.get("trained_leads"), TrainedLeads):
            names.discard("trained_leads")
        return cls(**{k: v for k, v in raw.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """JSON-shaped, as logged with the run (`summary.json`); the trained leads as counts."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        leads = out.pop("trained_leads")
        out = dataclasses.asdict(ModelInfo(**out))
        out["trained_leads"] = None if leads is None else leads.summary()
        return out

    def split_words(self) -> str:
        """How the windows were cut, in words: what trains, calibrates and tests."""
        if self.split == "random":
            return "random split: the windows are exchangeable, none is newer"
        order = self.split_order or {}
        column = order.get("column", "")
        if order.get("kind") == "timestamp":
            return f"time split: oldest by {column} trains, next calibrates, newest tests"
        if order.get("kind") == "column":
            return (
                f"time split by {column} (split.order_by): lowest {column} trains, next "
                f"calibrates, highest tests"
            )
        if order.get("kind") == "file_order":
            return (
                "time split by the file's row order (declared in the config: split.order_by: "
                "file_order): the first rows train, the next calibrate, the last rows test"
            )
        return "time split: oldest trains, next calibrates, newest tests"  # before it was kept

    def metrics_of(self, who: str) -> dict[str, float]:
        """The test-window metrics of `model` or `rules`, without their prefix."""
        prefix = f"test_{who}_"
        return {k.removeprefix(prefix): v for k, v in self.metrics.items() if k.startswith(prefix)}

    # -- the dict access of models pickled before, for scripts written against it ----------
    def __getitem__(self, key: str) -> Any:
        return getattr(self, self._field(key))

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, self._field(key), value)

    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)]

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default) if key in self._names() else default

    @classmethod
    def _names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    def _field(self, key: str) -> str:
        if key not in self._names():
            raise KeyError(key)
        return key


class InfoField:
    """`LeadModel.info`: always a `ModelInfo`. A dict given to it (or found in a model pickled
    before `ModelInfo` existed) is read into one."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, objtype: type | None = None) -> ModelInfo:
        if obj is None:  # no class-level default: the dataclass field is required
            raise AttributeError(self.name)
        value = obj.__dict__.get(self.name)
        if not isinstance(value, ModelInfo):
            value = obj.__dict__[self.name] = ModelInfo.from_dict(dict(value or {}))
        return value

    def __set__(self, obj: object, value: ModelInfo | dict[str, Any]) -> None:
        info = value if isinstance(value, ModelInfo) else ModelInfo.from_dict(dict(value))
        obj.__dict__[self.name] = info
