"""Process settings for leadml's entry points: no telemetry, and threads that do not spin.

Call `configure()` before LightGBM, MLflow or BentoML are imported (the CLI, the tests and the
benchmarks do); nothing here runs at import time.
"""

from __future__ import annotations

import os

ENV = {
    # nothing leaves the machine: MLflow and BentoML usage telemetry off
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "BENTOML_DO_NOT_TRACK": "True",
    # LightGBM's OpenMP threads otherwise busy-wait between parallel regions; on a shared
    # 2-core machine that made a 2 s training take 90 s (bench/train_scale.py)
    "OMP_WAIT_POLICY": "PASSIVE",
}


def configure() -> None:
    """Set the defaults above for this process, keeping anything the user set explicitly."""
    for key, value in ENV.items():
        os.environ.setdefault(key, value)
