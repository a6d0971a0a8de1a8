"""Exact per-feature contributions (TreeSHAP) for boosters of small trees, fast enough to serve.

LightGBM's `pred_contrib` walks every tree for every lead (about 0.15 ms a lead for the demo
model's ~2,000 trees). For a tree with k splits, a lead's path-dependent TreeSHAP values depend
only on which way the lead goes at each of those k splits (2**k patterns), so they can be worked
out once per pattern when the model loads. Scoring reasons is then: decide every split for every
lead (vectorised), look up each tree's pattern, and add the values up per feature. The result is
the same as `pred_contrib` to rounding; boosters with bigger trees fall back to `pred_contrib`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp

MAX_SPLITS = 4  # at most 16 patterns per tree: num_leaves <= 5
CHUNK = 128  # leads per block: keeps the per-split matrices in cache (512 is 2x slower)
_ZERO = 1e-35  # LightGBM's kZeroThreshold


@dataclass
class _Node:
    feature: int
    categorical: bool
    threshold: float
    categories: frozenset[int]
    default_left: bool
    missing_type: str  # "None", "Zero" or "NaN"
    left: dict
    right: dict


def _internal_nodes(tree: dict) -> list[dict]:
    """The tree's split nodes in depth-first order (the bit order of a pattern)."""
    out, stack = [], [tree]
    while stack:
        node = stack.pop()
        if "split_index" in node:
            out.append(node)
            stack.extend([node["right_child"], node["left_child"]])
    return out


def _count(node: dict) -> float:
    return float(node["internal_count"] if "split_index" in node else node.get("leaf_count", 0))


def _expectation(node: dict, players: frozenset[int], goes_left: dict[int, bool]) -> float:
    """E[tree | the features in `players` known], path-dependent (weights = training counts)."""
    if "split_index" not in node:
        return float(node["leaf_value"])
    if node["split_feature"] in players:
        child = node["left_child"] if goes_left[node["split_index"]] else node["right_child"]
        return _expectation(child, players, goes_left)
    left, right = node["left_child"], node["right_child"]
    total = _count(left) + _count(right)
    if total <= 0:
        return 0.5 * (
            _expectation(left, players, goes_left) + _expectation(right, players, goes_left)
        )
    return (
        _count(left) * _expectation(left, players, goes_left)
        + _count(right) * _expectation(right, players, goes_left)
    ) / total


def _shapley(tree: dict, features: list[int], goes_left: dict[int, bool]) -> list[float]:
    """Exact Shapley values of one tree's features for one decision pattern."""
    m = len(features)
    value: dict[frozenset[int], float] = {}
    for r in range(m + 1):
        for subset in itertools.combinations(features, r):
            s = frozenset(subset)
            value[s] = _expectation(tree, s, goes_left)
    out = []
    for f in features:
        others = [g for g in features if g != f]
        phi = 0.0
        for r in range(len(others) + 1):
            weight = math.factorial(r) * math.factorial(m - r - 1) / math.factorial(m)
            for subset in itertools.combinations(others, r):
                s = frozenset(subset)
                phi += weight * (value[s | {f}] - value[s])
        out.append(phi)
    return out


class TreeExplainer:
    """Per-lead feature contributions to a booster's raw score, equal to `pred_contrib`.

    `contributions(X)` returns leads x (features + 1), the last column the expected raw score,
    exactly as `booster.predict(X, pred_contrib=True)` does.
    """

    def __init__(self, booster: lgb.Booster, num_iteration: int, n_features: int):
        self.booster = booster
        self.num_iteration = num_iteration
        self.n_features = n_features
        trees = booster.dump_model(num_iteration=num_iteration)["tree_info"][:num_iteration]
        self.exact_table = bool(trees) and max(t["num_leaves"] - 1 for t in trees) <= MAX_SPLITS
        if self.exact_table:
            self._build(trees)

    def _build(self, trees: list[dict]) -> None:
        k = max(1, max(t["num_leaves"] - 1 for t in trees))
        n_trees, n_patterns = len(trees), 2**k
        splits: list[list[tuple[int, int, dict]]] = [[] for _ in range(self.n_features)]
        values = np.zeros((n_trees, n_patterns, k))
        self.expected_value = sum(_expectation(t["tree_structure"], frozenset(), {}) for t in trees)
        slot_feature = np.zeros((n_trees, k), dtype=np.intp)
        for t, tree in enumerate(trees):
            root = tree["tree_structure"]
            nodes = _internal_nodes(root)
            features = sorted({n["split_feature"] for n in nodes})
            slot_feature[t, : len(features)] = features
            for j, node in enumerate(nodes):
                splits[node["split_feature"]].append((t, j, node))
            for pattern in range(n_patterns if nodes else 0):
                goes_left = {n["split_index"]: bool(pattern >> j & 1) for j, n in enumerate(nodes)}
                values[t, pattern, : len(features)] = _shapley(root, features, goes_left)
        # Per feature: its value's bin (thresholds, categories, missing) -> every split on it.
        self._bins: list[tuple[str, np.ndarray]] = []
        self._tables: list[np.ndarray] = []
        rows, cols, bits = [], [], []
        column = 0
        for on_f in splits:
            kind, edges, table = _decision_table([node for _, _, node in on_f])
            self._bins.append((kind, edges))
            self._tables.append(table)
            for i, (t, j, _) in enumerate(on_f):
                rows.append(column + i)
                cols.append(t)
                bits.append(1 << j)
            column += len(on_f)
        # decisions (leads x splits, grouped by feature) @ bits -> each tree's pattern
        self._bits = sp.csr_matrix((bits, (rows, cols)), shape=(column, n_trees), dtype=np.float64)
        self._values = [np.ascontiguousarray(values[:, :, s].ravel()) for s in range(k)]
        self._tree_base = np.arange(n_trees, dtype=np.float64) * n_patterns
        # (tree, slot) -> the feature it belongs to; empty slots add zeros to feature 0
        self._spread = [
            sp.csr_matrix(
                (np.ones(n_trees), (np.arange(n_trees), slot_feature[:, s])),
                shape=(n_trees, self.n_features),
            )
            for s in range(k)
        ]

    def _decisions(self, X: np.ndarray) -> np.ndarray:
        """Whether LightGBM sends each lead left at each split (splits grouped by feature)."""
        parts = []
        for f, ((kind, edges), table) in enumerate(zip(self._bins, self._tables, strict=True)):
            if table.shape[1] == 0:
                continue
            x = X[:, f]
            if kind == "categorical":
                other = len(edges)  # edges: the categories seen in splits, 0..other-1
                bins = np.where((x >= 0) & (x < other), np.nan_to_num(x, nan=-1.0), other)
                bins = bins.astype(np.intp)
            else:
                bins = np.searchsorted(edges, x, side="left")
            bins[np.isnan(x)] = table.shape[0] - 1
            if kind == "numeric_zero":
                bins[np.abs(x) <= _ZERO] = table.shape[0] - 2
            parts.append(table[bins])
        return np.hstack(parts)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP values per lead and feature, then the expected value."""
        if not self.exact_table:
            return self.booster.predict(X, pred_contrib=True, num_iteration=self.num_iteration)
        out = np.empty((len(X), self.n_features + 1))
        out[:, -1] = self.expected_value
        for start in range(0, len(X), CHUNK):
            block = X[start : start + CHUNK]
            pattern = (self._decisions(block) @ self._bits + self._tree_base).astype(np.intp)
            total = np.zeros((len(block), self.n_features))
            for values, spread in zip(self._values, self._spread, strict=True):
                total += np.asarray(values.take(pattern) @ spread)
            out[start : start + CHUNK, :-1] = total
        return out


def _decision_table(nodes: list[dict]) -> tuple[str, np.ndarray, np.ndarray]:
    """How a feature's splits decide, as a table: (bin kind, bin edges, bins x splits -> left).

    Numeric: bin = how many split thresholds lie below the value (x <= t <=> bin <= rank of t),
    then a row for zero (only when a split treats zero as missing) and a last row for NaN.
    Categorical: bin = the category code, one row for any other code, a last row for NaN;
    LightGBM 4 sends NaN right whatever the missing type.
    Follows LightGBM's NumericalDecision and CategoricalDecision.
    """
    if not nodes:
        return "numeric", np.empty(0), np.zeros((1, 0), dtype=np.float64)
    if nodes[0]["decision_type"] == "==":
        sets = [frozenset(int(c) for c in str(n["threshold"]).split("||")) for n in nodes]
        width = 1 + max(max(c) for c in sets)
        table = np.zeros((width + 2, len(nodes)))
        for i, cats in enumerate(sets):
            table[sorted(cats), i] = 1.0  # other codes, negative codes and NaN go right
        return "categorical", np.arange(width, dtype=np.float64), table
    thresholds = np.array([float(n["threshold"]) for n in nodes])
    edges = np.unique(thresholds)
    rank = np.searchsorted(edges, thresholds)
    zero_missing = any(n["missing_type"] == "Zero" for n in nodes)
    table = np.zeros((len(edges) + 1 + zero_missing + 1, len(nodes)))
    table[: len(edges) + 1] = np.arange(len(edges) + 1)[:, None] <= rank[None, :]
    zero_bin = np.searchsorted(edges, 0.0, side="left")
    for i, node in enumerate(nodes):
        default = 1.0 if node["default_left"] else 0.0
        missing = node["missing_type"]
        table[-1, i] = default if missing != "None" else table[zero_bin, i]
        if zero_missing:
            table[-2, i] = default if missing == "Zero" else table[zero_bin, i]
    return ("numeric_zero" if zero_missing else "numeric"), edges, table
