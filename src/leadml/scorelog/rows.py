"""Score log rows from scored leads, built a column at a time (a million leads in seconds)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from leadml.data.check import CheckedLeads
from leadml.scorelog.schema import SCORE_COLUMNS
from leadml.scoring.lead_model import LeadModel


@dataclass(frozen=True)
class ModelRef:
    """Which model handed the scores out: its registered name, version and the alias asked for."""

    name: str
    version: str
    alias: str | None = None


def new_job(source: str) -> str:
    """A name for one scoring job, unique across machines: its rows in the log carry it."""
    return f"{source}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def _json_lines(frame: pd.DataFrame) -> list[str]:
    """Each row of `frame` as one JSON object (missing values null), by pandas' own writer."""
    if len(frame.columns) == 0:  # (`frame.empty` is true here, whatever its rows)
        return ["{}"] * len(frame)
    if len(frame) == 0:
        return []
    text = frame.to_json(orient="records", lines=True, date_format="iso", double_precision=15)
    return text.rstrip("\n").split("\n")


def _reasons(scored: pd.DataFrame) -> list[str]:
    """Each lead's reasons as a JSON object {"reason_1": text, ...}, strongest first ({} when
    scored without reasons)."""
    return _json_lines(scored[[c for c in scored.columns if c.startswith("reason_")]])


def score_rows(
    lead_model: LeadModel,
    model: ModelRef,
    checked: CheckedLeads,
    scored: pd.DataFrame,
    *,
    source: str,
    job: str,
    holdout: np.ndarray | None = None,
    scored_at: datetime | None = None,
) -> pd.DataFrame:
    """The score log's rows for `scored` (`LeadModel.score_checked` of `checked`): one per lead,
    the columns of `leadml.scorelog.schema.scores` in order. `source` says what scored (api,
    predict), `job` which run of it (`new_job`), `holdout` which leads are in the holdout."""
    spec = lead_model.spec
    n = len(scored)
    when = scored_at or datetime.now(UTC)
    features = checked.frame[[f.source for f in spec.features]]
    rows = {
        "lead_id": checked.frame[spec.id_column].astype(str).to_numpy(),
        "scored_at": np.full(n, when, dtype=object),
        "source": np.full(n, source, dtype=object),
        "job": np.full(n, job, dtype=object),
        "model_name": np.full(n, model.name, dtype=object),
        "model_version": np.full(n, model.version, dtype=object),
        "model_alias": np.full(n, model.alias, dtype=object),
        "spec_hash": np.full(n, spec.content_hash, dtype=object),
        "rules_hash": np.full(n, lead_model.rules.content_hash, dtype=object),
        "features": _json_lines(features),
        "probability": scored["probability"].to_numpy(dtype=float),
        "band": scored["band"].astype(str).to_numpy(),
        "sales_ready": scored["sales_ready"].to_numpy(dtype=bool),
        "rules_points": scored["rules_points"].to_numpy(dtype=float),
        "rules_probability": scored["rules_probability"].to_numpy(dtype=float),
        "rules_sales_ready": scored["rules_sales_ready"].to_numpy(dtype=bool),
        "reasons": _reasons(scored),
        "holdout": np.zeros(n, dtype=bool) if holdout is None else np.asarray(holdout, bool),
    }
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)
