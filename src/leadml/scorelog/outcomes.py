"""Outcomes coming back from the CRM (`POST /outcomes`, `leadml outcomes load`): checked against
the spec's label definition, then recorded once each (the same outcome again is not a new row; a
changed outcome is, with its time)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadml.data.check import label_outcomes, rows_named
from leadml.errors import DataError
from leadml.scorelog.rows import MAX_ID_LENGTH
from leadml.spec.features import FeatureSpec

ID, OUTCOME, DECIDED = "lead_id", "outcome", "decided_at"  # the API's keys
MAX_UNKNOWN = 20  # unknown lead ids named in an answer


@dataclass
class OutcomeCounts:
    """What recording a batch of outcomes did."""

    received: int = 0
    recorded: int = 0  # new rows: a lead's first outcome, or a changed one
    unchanged: int = 0  # the lead's latest outcome already says so
    still_open: int = 0  # values the label definition calls open: not an outcome yet
    unknown: int = 0  # recorded for leads the score log has never scored
    unknown_ids: list[str] = field(default_factory=list)  # the first MAX_UNKNOWN of them

    def as_dict(self) -> dict[str, object]:
        return {
            "received": self.received,
            "recorded": self.recorded,
            "unchanged": self.unchanged,
            "still_open": self.still_open,
            "unknown_leads": self.unknown,
            "unknown_lead_ids": self.unknown_ids,
        }


def outcome_rows(
    raw: pd.DataFrame,
    spec: FeatureSpec,
    *,
    id_column: str,
    value_column: str,
    decided_column: str | None = None,
) -> tuple[pd.DataFrame, int]:
    """(rows, still open): each outcome as lead_id, outcome (1 sales-ready, 0 not), value (as
    written) and decided_at (UTC, or missing); values the label calls open are left out and
    counted. One DataError lists every problem, naming the rows."""
    missing = [c for c in (id_column, value_column, decided_column) if c and c not in raw]
    if missing:
        raise DataError(
            f"the outcomes lack column(s) {', '.join(missing)} (columns: "
            f"{', '.join(map(str, raw.columns))})"
        )
    frame = raw.reset_index(drop=True)
    named = spec.model_copy(update={"lead_id": id_column})  # rows named by this id column
    labelled = frame.rename(columns={value_column: spec.label.column})
    problems: list[str] = []
    ids = frame[id_column].astype(object).where(frame[id_column].notna())
    text = ids.map(lambda v: str(v).strip() if v is not None else "")
    if (text == "").any():
        problems.append(f"column '{id_column}' has empty lead ids: " + _where(frame, named, text))
    long = (text.str.len() > MAX_ID_LENGTH).to_numpy()
    if long.any():
        problems.append(
            f"column '{id_column}' has lead ids longer than the score log keeps "
            f"({MAX_ID_LENGTH} characters): " + rows_named(frame, named, long)
        )
    y, still = label_outcomes(labelled, named, problems)
    decided = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    if decided_column:
        given = frame[decided_column].notna() & (
            frame[decided_column].astype(str).str.strip() != ""
        )
        parsed = pd.to_datetime(
            frame[decided_column].where(given), errors="coerce", utc=True, format="ISO8601"
        )
        bad = (given & parsed.isna()).to_numpy()
        if bad.any():
            problems.append(
                f"column '{decided_column}' must hold ISO 8601 times (2026-11-29T10:00:00Z): "
                + rows_named(frame, named, bad, frame[decided_column])
            )
        decided = parsed
    if problems:
        raise DataError(
            f"the outcomes do not match the label definition ({len(problems)} problem(s)):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    keep = ~still
    rows = pd.DataFrame(
        {
            ID: text[keep].to_numpy(),
            OUTCOME: y[keep].astype(np.int16),
            "value": frame[value_column][keep].astype(str).to_numpy(),
            DECIDED: decided[keep].to_numpy(),
        }
    )
    return rows, int(still.sum())


def _where(frame: pd.DataFrame, spec: FeatureSpec, text: pd.Series) -> str:
    return rows_named(frame, spec.model_copy(update={"lead_id": None}), (text == "").to_numpy())


def changes(rows: pd.DataFrame, latest: dict[str, int]) -> pd.DataFrame:
    """The rows that change what is known: per lead, each outcome that differs from the one
    before it (the recorded `latest`, then the batch in order)."""
    if rows.empty:
        return rows
    before = rows.groupby(ID, sort=False)[OUTCOME].shift(1)
    first = before.isna()
    known = rows[ID].map(latest)
    previous = before.where(~first, known)
    return rows[previous.isna() | (previous != rows[OUTCOME])]
