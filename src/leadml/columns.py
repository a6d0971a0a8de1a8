"""Text columns for large output frames, built from codes without a Python object per row."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa


def labels_at(labels: Sequence[str], codes: np.ndarray) -> pd.arrays.ArrowStringArray:
    """`labels[codes]` as a pandas text column (dtype `str`).

    Taking from a short Arrow array is several times faster than filling an object array and
    letting pandas convert it, which is what a 1M-lead batch otherwise spends most time on.
    """
    taken = pa.array(list(labels), type=pa.large_string()).take(pa.array(codes))
    return pd.array(taken, dtype="str")
