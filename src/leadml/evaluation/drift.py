"""Drift of the leads a model scores from the leads it learned from: the training window's
distribution of each feature and the test window's scores, recorded with the model
(`profile`), and the population stability index (PSI) of live leads against them (`psi`).

PSI = sum over bins of (live - train) * ln(live / train), shares floored at FLOOR. Common reading:
below 0.1 stable, 0.1-0.25 a moderate shift, above 0.25 a major shift (SHIFT)."""

from __future__ import annotations

from typing import Any

import numpy as np

from leadml.spec.features import FeatureSpec

BINS = 10  # numeric features and scores: deciles of the training window (plus "missing")
FLOOR = 1e-4  # a bin's smallest share: an empty bin does not make PSI infinite
SHIFT = 0.25  # a PSI above this is a major shift


def _numeric(values: np.ndarray) -> dict[str, Any]:
    known = values[~np.isnan(values)]
    cuts = np.quantile(known, np.linspace(0, 1, BINS + 1)[1:-1]) if len(known) else []
    edges = [float(e) for e in np.unique(cuts)]
    return {"edges": edges, "shares": _shares(values, edges, None)}


def _shares(values: np.ndarray, edges: list[float], categories: int | None) -> list[float]:
    """Shares per bin: numeric bins by `edges` (or category codes 0..categories-1), then
    missing last."""
    missing = np.isnan(values)
    known = values[~missing]
    if categories is None:
        counts = np.bincount(np.searchsorted(edges, known, side="right"), minlength=len(edges) + 1)
    else:
        counts = np.bincount(known.astype(np.int64), minlength=categories)[:categories]
    total = max(len(values), 1)
    return [float(c) / total for c in counts] + [float(missing.sum()) / total]


def profile(spec: FeatureSpec, X: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """The training window's distribution of each feature (encoded leads `X`) and the test
    window's distribution of `scores`, JSON-shaped (`ModelInfo.profile`)."""
    features = {}
    for j, f in enumerate(spec.features):
        col = X[:, j]
        if f.kind == "numeric":
            features[f.name] = {"kind": "numeric", **_numeric(col)}
        else:
            n = len(f.allowed or []) if f.kind == "categorical" else 2
            features[f.name] = {"kind": f.kind, "shares": _shares(col, [], n)}
    return {"leads": len(X), "features": features, "score": _numeric(np.asarray(scores, float))}


def psi(expected: list[float], actual: list[float]) -> float:
    e = np.maximum(np.asarray(expected, float), FLOOR)
    a = np.maximum(np.asarray(actual, float), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def feature_psi(spec: FeatureSpec, recorded: dict[str, Any], X: np.ndarray) -> dict[str, float]:
    """PSI of each feature of live leads (`X`, encoded) against the recorded `profile`."""
    out = {}
    for j, f in enumerate(spec.features):
        entry = recorded.get("features", {}).get(f.name)
        if entry is None:
            continue
        col = X[:, j]
        if entry["kind"] == "numeric":
            live = _shares(col, entry["edges"], None)
        else:
            live = _shares(col, [], len(entry["shares"]) - 1)
        out[f.name] = psi(entry["shares"], live)
    return out


def score_psi(recorded: dict[str, Any], scores: np.ndarray) -> float | None:
    entry = recorded.get("score")
    if not entry:
        return None
    return psi(entry["shares"], _shares(np.asarray(scores, float), entry["edges"], None))
