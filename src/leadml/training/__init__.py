"""Training: split the history into windows, fit and calibrate on an engine the caller passes
in, evaluate beside the agreed rules, and leave a model card."""

from leadml.evaluation.capacity import weeks_and_capacity
from leadml.training.engine import TrainingData, load_local, refuse_on_cluster
from leadml.training.pipeline import TrainResult, train
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
