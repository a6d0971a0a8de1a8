"""Training configuration (`training/*.yaml`): data, split, capacity, bands, model, gates."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from leadml.errors import ConfigError, format_validation_error
from leadml.spec.files import read_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    path: str | None = Field(None, description="CSV, Parquet, or an SQLAlchemy URL.")
    query: str | None = Field(None, description="SQL query when path is a database URL.")


FILE_ORDER = "file_order"  # `split.order_by` for "the file lists the oldest leads first"


class SplitConfig(_Strict):
    method: Literal["time", "random"] = "time"
    order_by: str | None = Field(
        None,
        description="What orders a time split, oldest first: a column of numbers that grow with "
        f"time (a lead number), or `{FILE_ORDER}` (the file lists the oldest leads first). "
        "Default: the spec's timestamp; without one, a time split needs this.",
    )
    calibration_share: float = Field(0.15, gt=0, lt=0.5)
    test_share: float = Field(0.15, gt=0, lt=0.5)
    seed: int = 0

    @model_validator(mode="after")
    def _order_for_time_only(self) -> SplitConfig:
        if self.order_by is not None and not self.order_by.strip():
            raise ValueError("split.order_by must name a column, or file_order")
        if self.order_by is not None and self.method == "random":
            raise ValueError(
                f"split.order_by ({self.order_by}) orders a time split; a random split has no "
                "order: remove it (in a config that extends another, set order_by: null)"
            )
        return self


class CapacityConfig(_Strict):
    """How many leads sales can work: per week, or as a share of leads for undated data."""

    leads_per_week: int | None = Field(200, gt=0)
    share: float | None = Field(None, gt=0, le=1)
    threshold: float | None = Field(
        None, gt=0, lt=1, description="Fix the sales-ready probability instead of deriving it."
    )

    @model_validator(mode="after")
    def _one(self) -> CapacityConfig:
        if self.share is not None:
            self.leads_per_week = None
        if self.leads_per_week is None and self.share is None:
            raise ValueError("give capacity as leads_per_week or as share")
        return self


CALIBRATION_DATA = {  # what each `model.calibration_data` fits the calibrator on, in words
    "window": "the calibration window",
    "cross_fit": "out-of-fold scores of the training and calibration windows",
}


class ModelConfig(_Strict):
    calibration: Literal["auto", "isotonic", "sigmoid", "none"] = "auto"
    calibration_data: Literal["window", "cross_fit"] = Field(
        "window",
        description="Fit the calibrator on the calibration window, or (random split only) on "
        "out-of-fold scores of `calibration_folds` boosters over the training and calibration "
        "windows together.",
    )
    calibration_folds: int = Field(5, ge=2, le=20)
    num_boost_round: int = Field(2000, gt=0)
    early_stopping_rounds: int = Field(100, gt=0)
    refit: bool | None = Field(
        None,
        description="Train the booster again on the training and calibration windows once early "
        "stopping has chosen its rounds (the calibrator then learns from scores made in time "
        "order). null: only for small histories (under 20,000 training leads or 2,000 of the "
        "rarer outcome).",
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="LightGBM parameters; unset ones are leadml's defaults, scaled with the "
        "training window (the run logs the ones used as lightgbm.*).",
    )


class ChecksConfig(_Strict):
    min_sales_ready: int = Field(200, ge=1)
    leak_auc: float = Field(0.9, gt=0.5, le=1.0)


class GatesConfig(_Strict):
    """What a challenger must pass before `leadml promote` makes it champion."""

    min_auc: float = 0.7
    max_ece: float = 0.02
    beat_rules: bool = True
    beat_champion: bool = True


class MonitorConfig(_Strict):
    """How `leadml monitor` watches the live scores."""

    label_window_days: int = Field(
        60,
        gt=0,
        description="Days after scoring by which a lead's outcome is known: a lead without one "
        "by then counts as not sales-ready; before then it is still maturing.",
    )
    segments: list[str] = Field(
        default_factory=list,
        description="Features whose values calibration is also shown by (e.g. lead_source).",
    )
    alpha: float = Field(
        0.01, gt=0, lt=0.5, description="The calibration alert's false-alarm rate over time."
    )
    min_leads: int = Field(
        200, ge=1, description="Matured leads a group needs before its drift or gap can alert."
    )


class TrackingConfig(_Strict):
    experiment: str = "leadml"
    registered_model: str = "lead-qualifier"


class TrainingConfig(_Strict):
    name: str = "leads"
    spec: str = "features/lead_features.yaml"
    rules: str = "features/scoring_rules.yaml"
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    capacity: CapacityConfig = Field(default_factory=CapacityConfig)
    bands: dict[str, float] = Field(default_factory=lambda: {"A": 0.5, "B": 0.25, "C": 0.1})
    model: ModelConfig = Field(default_factory=ModelConfig)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    gates: GatesConfig = Field(default_factory=GatesConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)

    @model_validator(mode="after")
    def _bands(self) -> TrainingConfig:
        if list(self.bands) != ["A", "B", "C"]:
            raise ValueError("bands must give the lower edges of A, B and C, in that order")
        edges = list(self.bands.values())
        if not all(0 < e < 1 for e in edges) or edges != sorted(edges, reverse=True):
            raise ValueError("band edges must be probabilities with A > B > C")
        if len(set(edges)) != 3:
            raise ValueError("band edges must differ")
        if self.model.calibration_data == "cross_fit" and self.split.method != "random":
            raise ValueError(
                "model.calibration_data: cross_fit needs split.method: random; under a time "
                "split the calibrator must learn from the newest leads (the calibration window)"
            )
        return self


def load_config(path: str | Path) -> TrainingConfig:
    """Read and validate a training config; errors name the file and the bad key.

    `extends: other.yaml` (beside the config) starts from that config: mappings merge key by
    key, anything else the extending config names replaces the base's value. An explicit empty
    mapping replaces too, so a child clears what the base set (`model: {params: {}}` trains
    with LightGBM's and leadml's defaults, not the base's parameters). Relative paths
    are found from the file that names them; an extending config gives its own `name` (its
    model card folder).
    """
    raw, bases = _read_extended(Path(path), ())
    source = str(path) + (f" (extends {', '.join(map(str, bases))})" if bases else "")
    fields = TrainingConfig.model_fields  # the default files, found from the config's folder
    defaults = {key: fields[key].default for key in ("spec", "rules")}
    raw = _merge(_locate_paths(defaults, Path(path).resolve().parent), raw)
    try:
        return TrainingConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def _read_extended(path: Path, seen: tuple[Path, ...]) -> tuple[dict[str, Any], list[Path]]:
    """The config at `path` merged over the configs it extends (and those, in a chain), with
    relative paths located from each file's folder; and the files it extends."""
    raw = _locate_paths(read_yaml(path, ConfigError), path.resolve().parent)
    if "extends" not in raw:
        return raw, []
    base_name = raw.pop("extends")
    if not isinstance(base_name, str) or not base_name:
        raise ConfigError(f"{path}: extends must name one config file")
    base_path = (path.parent / base_name).resolve()
    if base_path in (*seen, path.resolve()):
        raise ConfigError(f"{path}: extends {base_name} leads back to itself")
    if not base_path.is_file():
        raise ConfigError(f"{path}: extends {base_name}, but {base_path} does not exist")
    if "name" not in raw:
        raise ConfigError(
            f"{path}: a config that extends another gives its own name (its model card is "
            "written to models/<name>/)"
        )
    base, bases = _read_extended(base_path, (*seen, path.resolve()))
    return _merge(base, raw), [base_path, *bases]


def _locate_paths(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """`spec`, `rules` and `data.path` as found from `folder` (see `_locate`)."""
    out = dict(raw)
    for key in ("spec", "rules"):
        if isinstance(out.get(key), str):
            out[key] = _locate(out[key], folder)
    data = out.get("data")
    if isinstance(data, dict) and isinstance(data.get("path"), str) and "://" not in data["path"]:
        out["data"] = {**data, "path": _locate(data["path"], folder)}
    return out


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `base`: mappings merge key by key, except an empty one, which replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and value and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _locate(relative: str, base: Path) -> str:
    """A relative path from the current folder, else beside the config, else its parent folder."""
    candidate = Path(relative)
    if candidate.is_absolute() or candidate.exists():
        return relative
    for folder in (base, base.parent):
        if (folder / candidate).exists():
            return str(folder / candidate)
    return relative
