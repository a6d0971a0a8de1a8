"""Keep MLflow and BentoML off the network: no usage telemetry leaves this machine."""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "BENTOML_DO_NOT_TRACK": "True",
}


def offline() -> None:
    """Switch off library telemetry for this process (call before the libraries start work)."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
