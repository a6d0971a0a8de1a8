"""leadml: calibrated lead-qualification scores beside the agreed rules, tracked in MLflow.

Layers, each importing only those below it (`make lint` checks this):

    cli, compat                 the command line; the old `train(config, client=)` entry
    serving, cluster            the scoring API's core; the Dask engine
    registry                    MLflow runs, the model registry, promotion gates
    training                    windows, engines passed in, the training pipeline, model card
    evaluation                  metrics, capacity, leakage audit, plots, the review page
    scoring                     encoding, booster tables, calibration, bands, LeadModel
    rules                       the agreed points table and its one scoring engine
    data                        reading, checking and fingerprinting lead data
    spec                        the feature spec and training configs people review
    errors, runtime             user-facing errors; process settings
"""

from leadml import _moved

__version__ = "0.1.0"

_moved.install()
