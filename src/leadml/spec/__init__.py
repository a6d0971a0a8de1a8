"""The reviewed definitions people edit and sign: the feature spec and the training configs.

The bottom layer of leadml (above `errors` and `runtime`): nothing here imports another layer.
"""

from leadml.spec.config import (
    CALIBRATION_DATA,
    CapacityConfig,
    ChecksConfig,
    DataConfig,
    GatesConfig,
    ModelConfig,
    SplitConfig,
    TrackingConfig,
    TrainingConfig,
    load_config,
)
from leadml.spec.features import (
    FALSE_WORDS,
    REQUIRED_SIGNOFFS,
    TRUE_WORDS,
    Direction,
    Feature,
    FeatureSpec,
    Kind,
    KnownAt,
    Label,
    SignOff,
    diff_specs,
    load_spec,
    norm_value,
    parse_spec,
)
from leadml.spec.files import diff_records, read_yaml

__all__ = [
    "CALIBRATION_DATA", "FALSE_WORDS", "REQUIRED_SIGNOFFS", "TRUE_WORDS", "CapacityConfig",
    "ChecksConfig", "DataConfig", "Direction", "Feature", "FeatureSpec", "GatesConfig", "Kind",
    "KnownAt", "Label", "ModelConfig", "SignOff", "SplitConfig", "TrackingConfig",
    "TrainingConfig", "diff_records", "diff_specs", "load_config", "load_spec", "norm_value",
    "parse_spec", "read_yaml",
]  # fmt: skip
