"""The old `leadml.train` module, for scripts and notebooks written against it.

`train(config, client=...)` chooses the engine from the client (none: this process; a Dask
client: `DaskEngine`); new code builds the engine and calls `leadml.training.pipeline.train`.
The old module's other names are re-exported from their homes.
"""

from __future__ import annotations

from typing import Any

from leadml.cluster.training import DaskEngine
from leadml.evaluation.capacity import weeks_and_capacity
from leadml.spec.config import TrainingConfig
from leadml.training.engine import LocalEngine, Progress, Say, TrainingData, load_local
from leadml.training.pipeline import TrainResult, _silent
from leadml.training.pipeline import train as train_on
from leadml.training.windows import (
    Window,
    capacity_of,
    make_window,
    seen_categories,
    split_order,
    split_windows,
    window_bounds,
    window_info,
)

__all__ = [
    "TrainResult", "TrainingData", "Window", "capacity_of", "load_local", "make_window",
    "refuse_on_cluster", "seen_categories", "split_order", "split_windows", "train",
    "weeks_and_capacity", "window_bounds", "window_info",
]  # fmt: skip

refuse_on_cluster = DaskEngine.refuse


def train(
    config: TrainingConfig,
    *,
    data: str | None = None,
    query: str | None = None,
    allow_unreviewed: bool = False,
    progress: Progress | None = None,
    say: Say = _silent,
    client: Any = None,
) -> TrainResult:
    """`leadml.training.pipeline.train` on this process, or with a Dask `client` on its
    cluster."""
    engine = LocalEngine() if client is None else DaskEngine(client)
    return train_on(
        config,
        engine=engine,
        data=data,
        query=query,
        allow_unreviewed=allow_unreviewed,
        allow_after_contact=allow_unreviewed,  # as this function always did
        progress=progress,
        say=say,
    )
