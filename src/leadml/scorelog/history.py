"""The score log as a history of leads with outcomes: each lead's first score and its latest
outcome once it has matured (`matured`), and those leads as an export reads
(`history_frame`): the spec's id and feature columns as the model scored them, the label from
the outcome, and the time scored as the spec's timestamp. `leadml monitor` measures them,
`leadml compare --from-log` reviews them and `leadml train --from-log` learns from them:
the features as they were when scored, joined with the outcomes that came back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from leadml.scorelog.rows import features_frame, in_time_order
from leadml.spec.features import FeatureSpec


@dataclass
class Matured:
    """The period's leads: `frame` holds the matured ones (one row each, with `y`)."""

    frame: pd.DataFrame
    scored: int
    maturing: int


def matured(
    scores: pd.DataFrame, outcomes: pd.DataFrame, window_days: int, now: datetime
) -> Matured:
    """Per lead, its first score and latest outcome. A lead counts once its outcome is known,
    or once `window_days` have passed since it was scored without one (then it is not
    sales-ready); the others are still maturing."""
    ordered = in_time_order(scores)
    if not outcomes["id"].is_monotonic_increasing:
        outcomes = outcomes.sort_values("id")
    # every lead id as one code (in order of first appearance: scores, then outcomes)
    n = len(ordered)
    ids = [frame["lead_id"].to_numpy(dtype=object) for frame in (ordered, outcomes)]
    codes, uniques = pd.factorize(np.concatenate(ids))
    scored, told = codes[:n], codes[n:]
    firsts = np.unique(scored, return_index=True)[1]  # each lead's first score
    latest = np.full(len(uniques), np.nan)
    if len(told):  # each lead's latest outcome: its last in the order received
        last = len(told) - 1 - np.unique(told[::-1], return_index=True)[1]
        latest[told[last]] = outcomes["outcome"].to_numpy(dtype=np.float64)[last]
    outcome = latest[scored[firsts]]
    when = ordered["scored_at"].iloc[firsts]
    due = (when + timedelta(days=window_days) <= pd.Timestamp(now)).to_numpy()
    ready = ~np.isnan(outcome) | due
    frame = ordered.iloc[firsts[ready]].reset_index(drop=True)  # one copy of the rows kept
    frame["outcome"] = outcome[ready]
    frame["y"] = np.nan_to_num(outcome[ready]).astype(np.int8)
    return Matured(frame, len(firsts), int((~ready).sum()))


@dataclass
class History:
    """Matured leads as an export: `frame`, and what was left out, by reason."""

    frame: pd.DataFrame
    rows: np.ndarray  # the score log's row ids used
    left_out: dict[str, int]
    source: str = "the score log"  # where the leads came from, in words


def history_frame(found: Matured, spec: FeatureSpec) -> History:
    """The matured leads as `spec` reads an export (see module). Leads scored under another
    spec (their features are in its order) and leads without an id are left out, counted."""
    frame = found.frame
    mine = (frame["spec_hash"] == spec.content_hash).to_numpy()
    named = (frame["lead_id"].astype(str) != "").to_numpy()
    left_out = {}
    if (~mine).any():
        left_out["scored under another feature spec"] = int((~mine).sum())
    if (mine & ~named).any():
        left_out["no lead id (named by row number when scored)"] = int((mine & ~named).sum())
    keep = frame[mine & named].reset_index(drop=True)
    out = features_frame(keep["features"], spec)
    out.insert(0, spec.lead_id or "lead_id", keep["lead_id"].astype(str).to_numpy())
    if spec.timestamp:
        stamps = keep["scored_at"].dt.tz_convert("UTC").dt.tz_localize(None)
        out[spec.timestamp] = stamps.dt.strftime(
            spec.timestamp_format or "%Y-%m-%d %H:%M:%S"
        ).to_numpy()
    label = spec.label
    out[label.column] = np.where(keep["y"] == 1, label.positive[0], label.negative[0])
    return History(out, keep["id"].to_numpy(), left_out)
