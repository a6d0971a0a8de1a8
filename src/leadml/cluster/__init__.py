"""The Dask engine: score and train partition by partition on a cluster (`connect` starts or
reaches one; `score_partitions` scores; `DaskEngine` is what training takes)."""

from leadml.cluster.connect import _memory_settings, connect, local_cluster, slow_settings
from leadml.cluster.scoring import BATCH_ROWS, ScoreSummary, score_file, score_partitions
from leadml.cluster.training import CalibrationStopper, DaskEngine, fit_booster, load_training

__all__ = [
    "BATCH_ROWS",
    "CalibrationStopper",
    "DaskEngine",
    "ScoreSummary",
    "_memory_settings",
    "connect",
    "fit_booster",
    "load_training",
    "local_cluster",
    "score_file",
    "score_partitions",
    "slow_settings",
]  # fmt: skip
