"""Training: split the history into windows, fit and calibrate on an engine the caller passes
in (`engine.LocalEngine`, or the Dask engine from `leadml.cluster`), measure beside the agreed
rules, and leave a model card.

Kept light: Dask workers import `engine` and `windows`, not the plots of `pipeline`.
"""
