"""What a trained model carries about itself: where it came from and how it measured.

`ModelInfo` is typed; the fingerprint and the windows stay JSON-shaped (they are logged to
MLflow and answered by the API as they are) and are typed as `TypedDict`s
(`leadml.data.fingerprint`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from leadml.data.fingerprint import DataFingerprint, WindowInfo


@dataclass
class ModelInfo:
    """How a model was trained and how it measured on its test window.

    `metrics` holds `test_model_*` and `test_rules_*` (each of `leadml.evaluation.METRIC_LABELS`
    and more), `threshold`, `best_iteration` and the calibrators' cross-validated log losses.
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

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelInfo:
        """From the dict models pickled before `ModelInfo` carried (unknown keys dropped)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """JSON-shaped, as logged with the run (`summary.json`)."""
        return dataclasses.asdict(self)

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
