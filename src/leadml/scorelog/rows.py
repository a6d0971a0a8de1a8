"""Score log rows. A scored batch is kept as `ScoreBatch`: the encoded leads and the scores as
arrays, cheap to keep and to pickle, so the API hands it over without building a row per lead;
`ScoreBatch.rows` turns it into the database's rows (one tuple per lead) wherever the writing
happens. `features` is a JSON array of the values the model scored, in the order of the spec
the row's `spec_hash` names (categories by name, yes/no as 1/0, missing as null: a third of the
size of an object repeating the names, in a log of millions of rows; `features_frame` reads them
back by the spec); `reasons` is a JSON object {feature: contribution in log-odds}, strongest
first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import orjson
import pandas as pd

from leadml.errors import DataError
from leadml.runtime import no_gc
from leadml.scoring.bands import BANDS
from leadml.spec.features import FeatureSpec

if TYPE_CHECKING:  # the writer process imports this module: it has no need of the model's
    from leadml.scoring.lead_model import LeadModel, Scores


MAX_ID_LENGTH = 256  # characters of a lead id the score log keeps (`schema.scores.lead_id`)


@dataclass(frozen=True)
class ModelRef:
    """Which model handed the scores out: its registered name, version and the alias asked for."""

    name: str
    version: str
    alias: str | None = None


def logged_ids(spec: FeatureSpec, lead_ids: pd.Series) -> list[str]:
    """The lead ids a batch job logs: the spec's lead ids; empty for leads named by their row
    number (a row number names no lead beyond its file: an outcome could not find it). An id
    longer than the log keeps (MAX_ID_LENGTH) is a DataError naming it."""
    if spec.lead_id is None:
        return [""] * len(lead_ids)
    ids = lead_ids.astype(str).tolist()
    check_id_lengths(ids, f"column '{spec.lead_id}'")
    return ids


def check_id_lengths(ids: Sequence[str], where: str) -> None:
    """A DataError naming the first lead ids longer than MAX_ID_LENGTH characters."""
    long = [v for v in ids if len(v) > MAX_ID_LENGTH]
    if long:
        named = "; ".join(f"lead {v[:40]!r}... ({len(v):,} characters)" for v in long[:5])
        more = f" and {len(long) - 5:,} more" if len(long) > 5 else ""
        raise DataError(
            f"{where}: the score log keeps lead ids of at most {MAX_ID_LENGTH} characters: "
            f"{named}{more}"
        )


def new_job(source: str) -> str:
    """A name for one scoring job, unique across machines: its rows in the log carry it."""
    return f"{source}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


@dataclass
class ScoreBatch:
    """Leads scored together, as arrays: who (`lead_ids`), what the model saw (`X`, encoded by
    the spec), what it and the rules said, and the holdout flags."""

    lead_ids: Sequence[str]
    X: np.ndarray
    probability: np.ndarray
    band: np.ndarray  # indices into BANDS
    sales_ready: np.ndarray
    rules_points: np.ndarray
    rules_probability: np.ndarray
    rules_sales_ready: np.ndarray
    reason_feature: np.ndarray | None  # leads x ranks, indices into the spec's features
    reason_size: np.ndarray | None
    holdout: np.ndarray
    scored_at: datetime
    source: str
    job: str
    model: ModelRef
    spec_hash: str
    rules_hash: str

    @classmethod
    def of(
        cls,
        lead_model: LeadModel,
        model: ModelRef,
        lead_ids: Sequence[str],
        X: np.ndarray,
        s: Scores,
        *,
        source: str,
        job: str,
        holdout: np.ndarray | Sequence[bool] | None = None,
        scored_at: datetime | None = None,
        hashes: tuple[str, str] | None = None,
    ) -> ScoreBatch:
        """The batch of `s` (`LeadModel.score_encoded(X)`), its leads named by `lead_ids`;
        `hashes`: the spec's and the rules' content hashes, when the caller keeps them (they
        cost more than a lead's score to work out)."""
        reasons = s.reasons
        spec_hash, rules_hash = hashes or (
            lead_model.spec.content_hash,
            lead_model.rules.content_hash,
        )
        return cls(
            lead_ids=lead_ids,
            X=X,
            probability=s.probability,
            band=s.band,
            sales_ready=s.sales_ready,
            rules_points=s.rules.points,
            rules_probability=s.rules_probability,
            rules_sales_ready=s.rules.verdict,
            reason_feature=None if reasons is None else reasons.feature,
            reason_size=None if reasons is None else reasons.size,
            holdout=np.zeros(len(X), dtype=bool) if holdout is None else np.asarray(holdout, bool),
            scored_at=scored_at or datetime.now(UTC),
            source=source,
            job=job,
            model=model,
            spec_hash=spec_hash,
            rules_hash=rules_hash,
        )

    def __len__(self) -> int:
        return len(self.probability)

    def rows(self, spec: FeatureSpec, job_id: int, when: object = None) -> list[tuple]:
        """One tuple per lead, in `leadml.scorelog.schema.ROW_COLUMNS` order, naming the job's
        row in `jobs` by `job_id`; `when` is the scored_at value as the database takes it
        (default: the datetime)."""
        with no_gc():
            return self._rows(spec, job_id, self.scored_at if when is None else when)

    def job_key(self) -> tuple:
        """What the batch's rows share, in `leadml.scorelog.schema.JOB_COLUMNS` order."""
        m = self.model
        return (self.job, self.source, m.name, m.version, m.alias, self.spec_hash, self.rules_hash)

    def _rows(self, spec: FeatureSpec, job_id: int, when: object) -> list[tuple]:
        n = len(self)
        dumps = orjson.dumps
        features = [dumps(v).decode() for v in _values(spec, self.X)]
        return list(
            zip(
                [job_id] * n,
                [str(i) for i in self.lead_ids],
                [when] * n,
                features,
                self.probability.tolist(),
                [BANDS[b] for b in self.band.tolist()],
                self.sales_ready.tolist(),
                self.rules_points.astype(float).tolist(),
                self.rules_probability.tolist(),
                self.rules_sales_ready.tolist(),
                self._reasons(spec),
                self.holdout.tolist(),
                strict=True,
            )
        )

    def _reasons(self, spec: FeatureSpec) -> list[str]:
        if self.reason_feature is None or self.reason_size is None:
            return ["{}"] * len(self)
        names = np.array(spec.names, dtype=object)[self.reason_feature].tolist()
        sizes = self.reason_size.tolist()
        dumps = orjson.dumps
        return [
            dumps(dict(zip(f, z, strict=True))).decode() for f, z in zip(names, sizes, strict=True)
        ]


def _values(spec: FeatureSpec, X: np.ndarray) -> list[tuple]:
    """Per lead, its features as scored: numbers (NaN, written as null), 1/0 flags, category
    names (None when missing)."""
    columns = []
    for j, f in enumerate(spec.features):
        col = X[:, j]
        if f.kind == "categorical":
            names = np.array([*(f.allowed or []), None], dtype=object)
            missing = np.isnan(col)
            codes = np.where(missing, len(names) - 1, np.nan_to_num(col)).astype(np.int64)
            columns.append(names[codes].tolist())
        else:
            columns.append(col.tolist())  # orjson writes NaN as null
    return list(zip(*columns, strict=True)) if columns else [() for _ in range(len(X))]


def in_time_order(scores: pd.DataFrame) -> pd.DataFrame:
    """Score rows sorted by (scored_at, id), as the log reads them; sorted here only when they
    are not (rows in the order written mostly are: one check, no copy)."""
    if len(scores) < 2:
        return scores
    when = pd.DatetimeIndex(scores["scored_at"]).asi8
    ids = scores["id"].to_numpy()
    later = when[1:] > when[:-1]
    if np.all(later | ((when[1:] == when[:-1]) & (ids[1:] > ids[:-1]))):
        return scores
    return scores.iloc[np.lexsort((ids, when))].reset_index(drop=True)


def features_frame(features: Sequence[str], spec: FeatureSpec) -> pd.DataFrame:
    """Logged `features` (JSON arrays in `spec`'s order) as a frame of the spec's columns, as a
    CRM export names them."""
    names = [f.source for f in spec.features]
    if not len(features):
        return pd.DataFrame(columns=names)
    values = orjson.loads("[" + ",".join(features) + "]")  # one parse for them all
    return pd.DataFrame(values, columns=names)
