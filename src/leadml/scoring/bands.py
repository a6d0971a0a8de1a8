"""Bands A-D: the letter each probability falls in, by the edges a training config sets."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

BANDS = ("A", "B", "C", "D")


EDGE_BANDS = BANDS[:-1]
FEW = 8  # up to this many leads, bands are found value by value


def as_vector(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: there are no leads to evaluate")
    return arr


def as_probabilities(p: Any, name: str = "p") -> np.ndarray:
    arr = as_vector(p, name)
    try:
        arr = arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold numbers (probabilities): {exc}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains missing or infinite values")
    if arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"{name} must be probabilities in [0, 1], got [{arr.min()}, {arr.max()}]")
    return arr


def _check_edges(edges: Mapping[str, float]) -> dict[str, float]:
    unknown = sorted(set(edges) - set(EDGE_BANDS), key=str)
    if unknown:
        raise ValueError(f"unknown band {unknown[0]!r} in band edges: expected A, B and C")
    checked: dict[str, float] = {}
    for band in EDGE_BANDS:
        if band not in edges:
            raise ValueError(f"band {band} has no edge: expected edges for A, B and C")
        edge = float(edges[band])
        if not 0 <= edge <= 1:
            raise ValueError(f"edge of band {band} must be a probability in [0, 1], got {edge}")
        if checked and edge >= min(checked.values()):
            above = list(checked)[-1]
            raise ValueError(
                f"edge of band {band} ({edge}) must be below the edge of band {above} "
                f"({checked[above]})"
            )
        checked[band] = edge
    return checked


def assign_bands(p: Any, edges: Mapping[str, float]) -> np.ndarray:
    """Band letter per lead: A if p >= edges["A"], else B if p >= edges["B"], ..., else D."""
    return np.array(BANDS, dtype=object)[band_codes(p, edges)]


def band_codes(p: Any, edges: Mapping[str, float]) -> np.ndarray:
    """Each lead's band as its index in BANDS (0 = A)."""
    return codes_at(as_probabilities(p), lower_edges(edges))


def lower_edges(edges: Mapping[str, float]) -> tuple[float, ...]:
    """The lower edges of A, B and C, in that order, checked (once per set of edges)."""
    return _lower_edges(tuple(sorted(edges.items())))


@functools.lru_cache(maxsize=64)
def _lower_edges(edges: tuple[tuple[str, float], ...]) -> tuple[float, ...]:
    checked = _check_edges(dict(edges))
    return tuple(checked[band] for band in EDGE_BANDS)


def codes_at(p: np.ndarray, lower: tuple[float, ...]) -> np.ndarray:
    """`band_codes` for probabilities and edges already checked (the scoring core's path:
    its probabilities come from a calibrator, its edges from training)."""
    if len(p) <= FEW:  # a few leads: numpy's per-call cost is most of the time
        return np.array([_code(x, lower) for x in p.tolist()], dtype=np.int8)
    codes = np.full(len(p), len(BANDS) - 1, dtype=np.int8)
    for k in reversed(range(len(EDGE_BANDS))):  # C, B, A: higher bands overwrite lower ones
        codes[p >= lower[k]] = k
    return codes


def _code(x: float, lower: tuple[float, ...]) -> int:
    return next((k for k, edge in enumerate(lower) if x >= edge), len(lower))
