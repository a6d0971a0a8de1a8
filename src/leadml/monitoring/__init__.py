"""Watching the live scores (`leadml monitor`): matured leads from the score log, calibration
by week, band and segment with a sequential test, drift against the training window, and the
model's lift over the agreed rules on the holdout."""

from leadml.monitoring.monitor import MonitorReport, matured, monitor, sequential_calibration

__all__ = ["MonitorReport", "matured", "monitor", "sequential_calibration"]
