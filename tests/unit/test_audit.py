"""Leakage audit: single-feature AUC finds leaks, including a rare value of a flag."""

from __future__ import annotations

import numpy as np

from leadml.audit import leakage_audit, single_feature_auc
from leadml.spec import load_spec

from ..conftest import SPEC


def test_rare_flag_that_gives_the_outcome_away_is_seen():
    rng = np.random.default_rng(0)
    y = rng.random(20_000) < 0.1
    flag = np.where(y & (rng.random(20_000) < 0.3), 1.0, 0.0)  # rare, fires only for positives
    assert single_feature_auc(flag, y.astype(int), categorical=False) > 0.64


def test_noise_scores_about_one_half_and_missing_is_a_value():
    rng = np.random.default_rng(1)
    y = (rng.random(50_000) < 0.2).astype(int)
    noise = rng.normal(size=50_000)
    assert abs(single_feature_auc(noise, y, categorical=False) - 0.5) < 0.02
    missing_when_positive = np.where(y == 1, np.nan, rng.normal(size=50_000))
    assert single_feature_auc(missing_when_positive, y, categorical=False) > 0.99


def test_audit_flags_only_features_above_the_bound():
    spec = load_spec(SPEC)
    rng = np.random.default_rng(2)
    y = (rng.random(5_000) < 0.3).astype(int)
    X = rng.normal(size=(5_000, len(spec.features)))
    for j, f in enumerate(spec.features):
        if f.kind == "categorical":  # categoricals arrive as codes of the allowed values
            X[:, j] = rng.integers(0, len(f.allowed), size=5_000)
    X[:, 5] = y + rng.normal(scale=0.01, size=5_000)  # a copy of the outcome
    audit = leakage_audit(X, y, spec, bound=0.9)
    assert audit.loc[audit.suspect, "feature"].tolist() == [spec.features[5].name]
    assert audit["auc"].iloc[0] > 0.99
