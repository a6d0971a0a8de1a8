"""The fast TreeSHAP tables give LightGBM's own pred_contrib, split rule by split rule."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from leadml.explain import TreeExplainer


def _data(seed: int, n: int = 3_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.normal(size=n),
            rng.integers(0, 6, size=n).astype(float),  # categorical codes
            rng.exponential(size=n) * (rng.random(n) < 0.7),  # many exact zeros
            rng.normal(size=n),
        ]
    )
    X[rng.random(n) < 0.15, 0] = np.nan
    X[rng.random(n) < 0.10, 1] = np.nan
    X[rng.random(n) < 0.05, 3] = np.nan
    logit = X[:, 0] * (X[:, 1] == 2) + np.nan_to_num(X[:, 2]) - 0.5 * np.nan_to_num(X[:, 3]) ** 2
    y = (rng.random(n) < 1 / (1 + np.exp(-np.nan_to_num(logit)))).astype(float)
    return X, y


@pytest.mark.parametrize("num_leaves", [2, 3, 5])
@pytest.mark.parametrize("zero_as_missing", [False, True])
@pytest.mark.parametrize("use_missing", [True, False])
def test_contributions_equal_pred_contrib(num_leaves, zero_as_missing, use_missing):
    X, y = _data(seed=num_leaves)
    params = {
        "objective": "binary",
        "num_leaves": num_leaves,
        "min_data_in_leaf": 20,
        "verbose": -1,
        "zero_as_missing": zero_as_missing,
        "use_missing": use_missing,
        "max_cat_to_onehot": 2,
    }
    booster = lgb.train(params, lgb.Dataset(X, y, categorical_feature=[1]), num_boost_round=60)
    explainer = TreeExplainer(booster, booster.current_iteration(), X.shape[1])
    assert explainer.exact_table
    X_new, _ = _data(seed=99, n=700)
    X_new[:5, 1] = [7.0, -1.0, 2.0, np.nan, 40.0]  # unseen and negative categories
    X_new[5:8, 2] = [0.0, -0.0, 1e-40]
    expected = booster.predict(X_new, pred_contrib=True)
    got = explainer.contributions(X_new)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


def test_big_trees_fall_back_to_lightgbm():
    X, y = _data(seed=1)
    params = {"objective": "binary", "num_leaves": 31, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=10)
    explainer = TreeExplainer(booster, 10, X.shape[1])
    assert not explainer.exact_table
    np.testing.assert_allclose(
        explainer.contributions(X[:50]), booster.predict(X[:50], pred_contrib=True)
    )
