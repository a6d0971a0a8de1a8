"""The booster as lookup tables: fast raw scores and exact reasons for trees of two features.

A tree that splits on at most two features is a function of those two features only, and so is
a sum of such trees. Binning each feature at every threshold the booster uses (plus rows for
other categories, zero-as-missing and NaN) turns each feature pair's trees into one small table
of summed leaf values, and, because path-dependent TreeSHAP is additive over trees, into two
tables of exact SHAP values. Scoring a lead is then one lookup per feature pair instead of a
walk through every tree: the demo model's ~2,000 depth-2 trees become about 150 lookups.
Raw scores equal `booster.predict(raw_score=True)` and contributions equal `pred_contrib=True`
to rounding; boosters with a tree on three or more features fall back to LightGBM itself.
"""

from __future__ import annotations

import bisect

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp

SMALL = 4  # up to this many leads, bins are found value by value
CHUNK = 256  # leads per block of table lookups
MAX_CELLS = 4_000_000  # table cells across all feature pairs (~100 MB; int32 cell indices)
PICKLED_BYTES = 8_000_000  # tables up to this size travel with a pickled model
FORMAT = 1  # the layout of the tables; pickles of another layout are rebuilt from the booster
_ZERO = 1e-35  # LightGBM's kZeroThreshold


def _children(node: dict) -> tuple[dict, dict]:
    return node["left_child"], node["right_child"]


def _count(node: dict) -> float:
    return float(node["internal_count"] if "split_index" in node else node.get("leaf_count", 0))


def _features(node: dict) -> set[int]:
    if "split_index" not in node:
        return set()
    left, right = _children(node)
    return {node["split_feature"]} | _features(left) | _features(right)


def _splits(node: dict) -> list[dict]:
    if "split_index" not in node:
        return []
    left, right = _children(node)
    return [node, *_splits(left), *_splits(right)]


def _expectation(node: dict, known: set[int], left: dict[int, np.ndarray]) -> np.ndarray | float:
    """E[tree | the features in `known`] on every table cell, path-dependent: an unknown
    feature's split averages its children by training counts (as TreeSHAP does)."""
    if "split_index" not in node:
        return float(node["leaf_value"])
    a, b = _children(node)
    ea, eb = _expectation(a, known, left), _expectation(b, known, left)
    if node["split_feature"] in known:
        return np.where(left[node["split_index"]], ea, eb)
    total = _count(a) + _count(b)
    wa = _count(a) / total if total > 0 else 0.5
    return wa * ea + (1.0 - wa) * eb


class PairTables:
    """A LightGBM booster compiled to lookup tables per feature pair (see the module docstring).

    `exact` is False when some tree reads three or more features (or the tables would be too
    big); `raw_score` and `contributions` then call LightGBM.
    """

    def __init__(self, booster: lgb.Booster, num_iteration: int, n_features: int):
        self.booster = booster
        self.num_iteration = num_iteration
        self.n_features = n_features
        trees = booster.dump_model(num_iteration=num_iteration)["tree_info"][:num_iteration]
        roots = [t["tree_structure"] for t in trees]
        groups: dict[tuple[int, int], list[dict]] = {}
        for root in roots:
            used = sorted(_features(root))
            if len(used) > 2:
                self.exact = False
                return
            a, b = [*used, n_features, n_features][:2]  # n_features: the always-0 bin column
            groups.setdefault((a, b), []).append(root)
        self.expected_value = float(sum(_expectation(r, set(), {}) for r in roots))
        nodes_on: list[list[dict]] = [[] for _ in range(n_features)]
        for root in roots:
            for node in _splits(root):
                nodes_on[node["split_feature"]].append(node)
        self._bins = [_decision_table(nodes) for nodes in nodes_on]
        self._scalar_bins = [
            (
                f,
                (
                    kind,
                    edges.tolist(),
                    table.shape[0] - 1,
                    table.shape[0] - 2 if kind == "numeric_zero" else None,
                ),
            )
            for f, (kind, edges, table) in enumerate(self._bins)
            if table.shape[1]
        ]
        width = [table.shape[0] for _, _, table in self._bins] + [1]
        cells = sum(width[a] * width[b] for a, b in groups)
        self.exact = cells <= MAX_CELLS
        if self.exact:
            self._compile(groups, nodes_on, width)

    @property
    def small(self) -> bool:
        """Small enough to pickle with the model (saves building them again where it is
        loaded). Inexact tables pickle as the few numbers that say to call LightGBM."""
        if not self.exact:
            return True
        arrays = [v for v in self.__dict__.values() if isinstance(v, np.ndarray)]
        arrays += [table for _, _, table in self._bins]
        return sum(a.nbytes for a in arrays) <= PICKLED_BYTES

    def __getstate__(self) -> dict:
        if self.exact:
            state = dict(self.__dict__)
            state.pop("booster")  # pickled once, by the model that holds both
        else:  # scoring calls LightGBM: no table is ever read
            state = {k: self.__dict__[k] for k in ("num_iteration", "n_features", "exact")}
        state["format"] = FORMAT
        return state

    def _compile(self, groups, nodes_on, width) -> None:
        column = {id(n): i for nodes in nodes_on for i, n in enumerate(nodes)}
        value, phi_a, phi_b, offset = [], [], [], []
        start = 0
        for (a, b), roots in groups.items():
            ia, ib = np.meshgrid(np.arange(width[a]), np.arange(width[b]), indexing="ij")
            cell_bin = {a: ia.ravel(), b: ib.ravel()}
            v = np.zeros(ia.size)
            pa, pb = np.zeros(ia.size), np.zeros(ia.size)
            for root in roots:
                left = {
                    n["split_index"]: self._bins[n["split_feature"]][2][
                        cell_bin[n["split_feature"]], column[id(n)]
                    ]
                    > 0.5
                    for n in _splits(root)
                }
                full = _expectation(root, {a, b}, left)
                none = _expectation(root, set(), left)
                only_a = _expectation(root, {a}, left)
                only_b = _expectation(root, {b}, left)
                v = v + full
                if b == self.n_features:  # one feature: it gets everything
                    pa = pa + (full - none)
                else:  # Shapley values of a two-player game
                    pa = pa + 0.5 * ((only_a - none) + (full - only_b))
                    pb = pb + 0.5 * ((only_b - none) + (full - only_a))
            value.append(np.broadcast_to(v, ia.size))
            phi_a.append(np.broadcast_to(pa, ia.size))
            phi_b.append(np.broadcast_to(pb, ia.size))
            offset.append(start)
            start += ia.size
        pairs = np.array(list(groups), dtype=np.intp)
        self._a, self._b = pairs[:, 0], pairs[:, 1]
        self._stride = np.array([width[b] for b in self._b], dtype=np.int32)
        self._offset = np.array(offset, dtype=np.int32)
        self._value = np.concatenate(value)
        self._phi_a, self._phi_b = np.concatenate(phi_a), np.concatenate(phi_b)
        g = len(pairs)
        # pair -> feature, for adding each pair's share into the feature's total
        self._to_a, self._to_b = (
            sp.csr_matrix(
                (
                    np.ones(int((f < self.n_features).sum())),
                    (np.flatnonzero(f < self.n_features), f[f < self.n_features]),
                ),
                shape=(g, self.n_features),
            )
            for f in (self._a, self._b)
        )

    def bins(self, X: np.ndarray) -> np.ndarray:
        """Each lead's bin per feature, and a last always-0 column for one-feature tables."""
        if len(X) <= SMALL:
            return self._bins_few(X)
        out = np.zeros((len(X), self.n_features + 1), dtype=np.int32)
        for f, (kind, edges, table) in enumerate(self._bins):
            if table.shape[1] == 0:
                continue
            x = X[:, f]
            nan = np.isnan(x)
            if kind == "categorical":
                other = len(edges)  # edges: the category codes 0..other-1 that splits name
                inside = (x >= 0) & (x < other)
                out[:, f] = np.where(inside, np.where(nan, 0.0, x), other).astype(np.int32)
            else:
                out[:, f] = np.searchsorted(edges, x, side="left")
                if kind == "numeric_zero":
                    out[np.abs(x) <= _ZERO, f] = table.shape[0] - 2
            out[nan, f] = table.shape[0] - 1
        return out

    def _bins_few(self, X: np.ndarray) -> np.ndarray:
        """`bins` for a few leads, value by value (numpy's per-call cost dominates there)."""
        rows = []
        for lead in X.tolist():
            row = [0] * (self.n_features + 1)
            for f, (kind, edges, last, zero_bin) in self._scalar_bins:
                x = lead[f]
                if x != x:  # NaN
                    row[f] = last
                elif kind == "categorical":
                    row[f] = int(x) if 0 <= x < len(edges) else len(edges)
                elif zero_bin is not None and abs(x) <= _ZERO:
                    row[f] = zero_bin
                else:
                    row[f] = bisect.bisect_left(edges, x)
            rows.append(row)
        return np.array(rows, dtype=np.int32).reshape(len(X), self.n_features + 1)

    def _cells(self, bins: np.ndarray) -> np.ndarray:
        """Each lead's cell in every feature pair's table, from its bins."""
        return self._offset + bins[:, self._a] * self._stride + bins[:, self._b]

    def raw_score(self, X: np.ndarray) -> np.ndarray:
        """The booster's raw score (log-odds) per lead."""
        if not self.exact:
            return np.asarray(
                self.booster.predict(X, raw_score=True, num_iteration=self.num_iteration)
            )
        bins = self.bins(X)
        out = np.empty(len(X))
        for start in range(0, len(X), CHUNK):  # blocks that stay in cache
            cells = self._cells(bins[start : start + CHUNK])
            out[start : start + CHUNK] = self._value.take(cells).sum(axis=1)
        return out

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP values per lead and feature, then the expected value (the bias),
        as `booster.predict(X, pred_contrib=True)` returns them."""
        if not self.exact:
            return np.asarray(
                self.booster.predict(X, pred_contrib=True, num_iteration=self.num_iteration)
            )
        cells = self._cells(self.bins(X))
        out = np.empty((len(X), self.n_features + 1))
        out[:, :-1] = self._phi_a.take(cells) @ self._to_a + self._phi_b.take(cells) @ self._to_b
        out[:, -1] = self.expected_value
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
