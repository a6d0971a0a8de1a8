"""The booster's lookup tables give LightGBM's own raw scores and pred_contrib, split rule by
split rule (missing values, zero as missing, unseen and negative categories)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from leadml.explain import PairTables


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


def _new_leads() -> np.ndarray:
    X, _ = _data(seed=99, n=700)
    X[:5, 1] = [7.0, -1.0, 2.0, np.nan, 40.0]  # unseen and negative categories
    X[5:8, 2] = [0.0, -0.0, 1e-40]
    return X


@pytest.mark.parametrize("num_leaves", [2, 3])
@pytest.mark.parametrize("zero_as_missing", [False, True])
@pytest.mark.parametrize("use_missing", [True, False])
def test_tables_equal_lightgbm(num_leaves, zero_as_missing, use_missing):
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
    tables = PairTables(booster, booster.current_iteration(), X.shape[1])
    assert tables.exact
    X_new = _new_leads()
    np.testing.assert_allclose(
        tables.raw_score(X_new), booster.predict(X_new, raw_score=True), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        tables.contributions(X_new), booster.predict(X_new, pred_contrib=True), rtol=0, atol=1e-12
    )


def test_deep_trees_on_two_features_are_tables_too():
    X, y = _data(seed=5)
    X = X[:, [0, 1]]
    params = {"objective": "binary", "num_leaves": 15, "verbose": -1, "min_data_in_leaf": 10}
    booster = lgb.train(params, lgb.Dataset(X, y, categorical_feature=[1]), num_boost_round=30)
    tables = PairTables(booster, 30, 2)
    assert tables.exact
    X_new = _new_leads()[:, [0, 1]]
    np.testing.assert_allclose(
        tables.contributions(X_new), booster.predict(X_new, pred_contrib=True), atol=1e-12
    )


def test_a_lead_scores_the_same_alone_and_in_a_batch():
    X, y = _data(seed=3)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 3, "verbose": -1}, lgb.Dataset(X, y), 200
    )
    tables = PairTables(booster, 200, X.shape[1])
    X_new = _new_leads()
    batch = tables.raw_score(X_new)
    alone = np.array([tables.raw_score(X_new[i : i + 1])[0] for i in range(len(X_new))])
    assert np.array_equal(batch, alone)


def test_trees_on_three_features_fall_back_to_lightgbm():
    X, y = _data(seed=1)
    params = {"objective": "binary", "num_leaves": 31, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=10)
    tables = PairTables(booster, 10, X.shape[1])
    assert not tables.exact
    np.testing.assert_allclose(
        tables.contributions(X[:50]), booster.predict(X[:50], pred_contrib=True)
    )
    np.testing.assert_allclose(tables.raw_score(X[:50]), booster.predict(X[:50], raw_score=True))


def test_which_tables_travel_in_a_pickle(monkeypatch):
    """Exact tables up to PICKLED_BYTES travel (without the booster, which the model pickles);
    inexact ones pickle as the few numbers that say to call LightGBM."""
    import pickle

    X, y = _data(seed=2)
    params = {"objective": "binary", "num_leaves": 3, "verbose": -1}
    exact = PairTables(lgb.train(params, lgb.Dataset(X, y), 40), 40, X.shape[1])
    assert exact.exact and exact.small
    state = pickle.loads(pickle.dumps(exact)).__dict__
    assert "booster" not in state and "_value" in state
    monkeypatch.setattr("leadml.explain.PICKLED_BYTES", 1000)
    assert not exact.small

    params["num_leaves"] = 31
    inexact = PairTables(lgb.train(params, lgb.Dataset(X, y), 10), 10, X.shape[1])
    assert not inexact.exact and inexact.small
    assert set(pickle.loads(pickle.dumps(inexact)).__dict__) == {
        "num_iteration", "n_features", "exact", "format"
    }  # fmt: skip
