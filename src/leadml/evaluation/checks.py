"""Checks on what the metrics take: outcomes 0/1, probabilities, lengths that match."""

from __future__ import annotations

from typing import Any

import numpy as np

from leadml.scoring.bands import as_probabilities, as_vector


def as_outcomes(y: Any) -> np.ndarray:
    arr = as_vector(y, "y")
    try:
        arr = arr.astype(float)
    except (TypeError, ValueError):
        raise ValueError("y must be 0/1 (sales-ready or not)") from None
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError("y must be 0/1 (sales-ready or not)")
    return arr.astype(np.int64)


def same_length(**arrays: np.ndarray) -> None:
    (first, ref), *rest = arrays.items()
    for name, arr in rest:
        if len(arr) != len(ref):
            raise ValueError(f"{first} has {len(ref)} leads but {name} has {len(arr)}")


def check_y_p(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    y_arr, p_arr = as_outcomes(y), as_probabilities(p)
    same_length(y=y_arr, p=p_arr)
    return y_arr, p_arr


def check_bins(bins: int) -> int:
    if isinstance(bins, bool) or int(bins) != bins or bins < 1:
        raise ValueError(f"bins must be a whole number of at least 1, got {bins!r}")
    return int(bins)
