"""How good a lead score is: metrics (ranking, calibration), sales capacity, the leakage audit,
plots, and the review page that puts the model beside the agreed rules."""

from leadml.evaluation.capacity import (
    CapacityUse,
    capacity_metrics,
    capacity_use,
    threshold_from_capacity,
    top_k_per_week,
    week_of,
    weeks_and_capacity,
)
from leadml.evaluation.metrics import (
    CLIP,
    METRIC_LABELS,
    WILSON_Z,
    band_table,
    calibration_curve_points,
    calibration_slope_intercept,
    expected_calibration_error,
    gains_curve,
    score_metrics,
)
from leadml.scoring.bands import BANDS, EDGE_BANDS, assign_bands, band_codes

__all__ = [
    "BANDS", "CLIP", "EDGE_BANDS", "METRIC_LABELS", "WILSON_Z", "CapacityUse", "assign_bands",
    "band_codes", "band_table", "calibration_curve_points", "calibration_slope_intercept",
    "capacity_metrics", "capacity_use",
    "expected_calibration_error", "gains_curve", "score_metrics", "threshold_from_capacity",
    "top_k_per_week", "week_of", "weeks_and_capacity",
]  # fmt: skip
