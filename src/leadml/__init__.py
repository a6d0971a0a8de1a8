"""leadml: calibrated lead-qualification scores beside the agreed rules, tracked in MLflow."""

__version__ = "0.1.0"
