"""Process settings for leadml's entry points: no telemetry, threads that do not spin, and
Arrow on the system allocator.

Call `configure()` before pyarrow, LightGBM, MLflow or BentoML are imported (the CLI, the
service, the tests and the benchmarks do); nothing here runs at import time. Processes started
from this one (a local Dask cluster's workers) inherit the settings.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator

ENV = {
    # nothing leaves the machine: MLflow and BentoML usage telemetry off
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "BENTOML_DO_NOT_TRACK": "True",
    # LightGBM's OpenMP threads otherwise busy-wait between parallel regions; on a shared
    # 2-core machine that made a 2 s training take 90 s (bench/train_scale.py)
    "OMP_WAIT_POLICY": "PASSIVE",
    # Arrow's default pool here is mimalloc, which hands freed pages back sooner; reading,
    # converting and writing 250,000 leads then faults fresh pages batch after batch. With the
    # system allocator, scoring 1M leads took 0.80x the time with pandas and 0.82x on a local
    # Dask cluster (medians of 8 runs taking turns), at the same peak memory. Arrow reads this
    # once, when it loads.
    "ARROW_DEFAULT_MEMORY_POOL": "system",
}


def configure() -> None:
    """Set the defaults above for this process, keeping anything the user set explicitly."""
    for key, value in ENV.items():
        os.environ.setdefault(key, value)


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """The cyclic garbage collector paused: while millions of new tuples are made (database rows
    written or read), it would walk them again and again for no garbage."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
