"""A fingerprint of training data (rows, dates, positive rate, a content hash) and of each of its
windows."""

from __future__ import annotations

import hashlib
from typing import NotRequired, TypedDict

import numpy as np
import pandas as pd

from leadml.data.check import CheckedLeads
from leadml.spec.features import FeatureSpec


class DataFingerprint(TypedDict):
    """The training data in a few numbers: what `describe_data` gives."""

    rows: int
    content_hash: str
    excluded: dict[str, int]
    positive_rate: NotRequired[float]
    sales_ready: NotRequired[int]
    date_from: NotRequired[str]
    date_to: NotRequired[str]


WindowInfo = TypedDict(
    "WindowInfo",
    {"leads": int, "sales_ready": int, "from": NotRequired[str], "to": NotRequired[str]},
)


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per row of checked leads (the content hash is built from these)."""
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def fingerprint(leads: CheckedLeads, spec: FeatureSpec) -> DataFingerprint:
    """Rows, date range, positive rate and a content hash of the training data."""
    ts = leads.timestamps
    return describe_data(
        [row_hashes(leads.frame)],
        leads.y,
        leads.excluded,
        None if ts is None else (ts.min(), ts.max()),
    )


def describe_data(
    hashes: list[np.ndarray],
    y: np.ndarray | None,
    excluded: dict[str, int],
    dates: tuple[object, object] | None,
) -> DataFingerprint:
    """`fingerprint` from the row hashes of the data's parts, in order (the same content
    hash whether the leads were checked at once or partition by partition)."""
    digest = hashlib.sha256()
    for part in hashes:
        digest.update(part.tobytes())
    if y is not None:
        digest.update(y.tobytes())
    info: DataFingerprint = {
        "rows": sum(len(h) for h in hashes),
        "content_hash": digest.hexdigest()[:16],
        "excluded": dict(excluded),
    }
    if y is not None:
        info["positive_rate"] = round(float(y.mean()), 6)
        info["sales_ready"] = int(y.sum())
    if dates is not None:
        info["date_from"] = str(pd.Timestamp(dates[0]))
        info["date_to"] = str(pd.Timestamp(dates[1]))
    return info
