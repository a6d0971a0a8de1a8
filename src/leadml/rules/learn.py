"""A points table learned from outcomes, in the agreed rules' own terms: one condition on one
feature per rule (`in`, `at_least`/`at_most`, `is`, `missing`), integer points that add up.

How (`learn_points`), on leads encoded by the spec (`leadml.scoring.LeadEncoder`):

1. Start from the current rules: each keeps its condition (and its wording, elsewhere) and has
   its weight fitted again; rules on features that may not train a model (not signed by both
   teams, still TODO, or known only after sales contact: `FeatureSpec.unusable`) are left out.
2. Add, one at a time, the condition that most improves the fit (the Newton step on the
   log-loss, as gradient boosting of one-rule stumps does: candidates are value sets of a
   categorical feature, thresholds at rounded quantiles of a number, yes or no, missing),
   `EXTRA` beyond the limit; after each, every weight is fitted again together (logistic
   regression on the rules' firing, L-BFGS-B).
3. Remove the rule with the least evidence (the smallest Wald statistic) until at most
   `max_rules` remain, then those that round to 0 points, then new rules without evidence
   (p >= 0.05; a current rule stays on the teams' word), fitting again after each.
4. Points: the weights in log-odds times a scale (`DOUBLE_ODDS` points double a lead's odds,
   less when the strongest rule would pass `MAX_POINTS`), rounded to a multiple of `step`.

An agreed direction (`direction: increasing` in the spec) bounds the sign of every weight on
that feature: `at_least` and `is: true` rules may only add points, `at_most` and `is: false`
rules only take them away (and the reverse for `decreasing`), so more of an increasing signal
never earns fewer points. Categorical value sets are the prefixes and suffixes of the values
ordered by their gradient ratio (Fisher's: the best binary split of a category for a convex
loss is among them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from leadml.rules.definition import AgreedRules, Rule
from leadml.spec.features import Feature, FeatureSpec

DOUBLE_ODDS = 20  # points that double a lead's odds, when no rule would pass MAX_POINTS
MAX_POINTS = 50
MIN_SHARE = 0.005  # a new rule fires on at least this share of the leads, and on at most 1 - it
CUTS = 32  # quantiles of a number tried as thresholds
EXTRA = 12  # rules added beyond the limit before the weakest are taken away again
L2 = 1e-4  # on the weights: keeps a rule on perfectly separated leads finite
HESSIAN_FLOOR = 1.0  # in the Newton gain's denominator: a rule on a handful of leads gains little
# the evidence a new rule needs (chi-square, 1 degree of freedom): to be added, against the
# hundreds of candidates tried (about p < 1e-5 for one); to stay, p < 0.05
ADD_CHI2, KEEP_CHI2 = 20.0, 3.84


@dataclass(frozen=True)
class Condition:
    """One rule's condition on the encoded leads' column `column` (`feature`'s)."""

    feature: str
    column: int
    op: str  # in, at_least, at_most, range, is, missing
    values: tuple[Any, ...] = ()  # in: category names; at_least/at_most: (bound,); range: (lo, hi)
    codes: tuple[int, ...] = ()  # in: the categories' indices in the spec's allowed list

    @classmethod
    def of_rule(cls, rule: Rule, spec: FeatureSpec) -> Condition:
        column = spec.names.index(rule.feature)
        if rule.in_ is not None:
            allowed = spec.feature(rule.feature).allowed or []
            codes = tuple(sorted(allowed.index(v) for v in dict.fromkeys(rule.in_)))
            return cls(rule.feature, column, "in", tuple(allowed[c] for c in codes), codes)
        if rule.is_ is not None:
            return cls(rule.feature, column, "is", (bool(rule.is_),))
        if rule.missing:
            return cls(rule.feature, column, "missing")
        if rule.at_least is not None and rule.at_most is not None:
            return cls(rule.feature, column, "range", (rule.at_least, rule.at_most))
        if rule.at_least is not None:
            return cls(rule.feature, column, "at_least", (rule.at_least,))
        return cls(rule.feature, column, "at_most", (rule.at_most,))

    def fires(self, X: np.ndarray) -> np.ndarray:
        x = X[:, self.column]
        with np.errstate(invalid="ignore"):
            if self.op == "missing":
                return np.isnan(x)
            if self.op == "in":
                return np.isin(x, self.codes)
            if self.op == "is":
                return x == float(self.values[0])
            if self.op == "at_least":
                return x >= self.values[0]
            if self.op == "at_most":
                return x <= self.values[0]
            return (x >= self.values[0]) & (x <= self.values[1])

    def fields(self) -> dict[str, Any]:
        """The condition as the rules file writes it."""
        if self.op == "in":
            return {"in": list(self.values)}
        if self.op == "is":
            return {"is": self.values[0]}
        if self.op == "missing":
            return {"missing": True}
        if self.op == "range":
            return {"at_least": self.values[0], "at_most": self.values[1]}
        return {self.op: self.values[0]}

    def sign(self, feature: Feature) -> int:
        """+1: the weight may only add points, -1: only take them away, 0: either (the
        feature's agreed direction; `missing` and ranges are not ordered by it)."""
        way = {"increasing": 1, "decreasing": -1}.get(feature.direction or "", 0)
        if self.op in ("at_least",) or (self.op == "is" and self.values[0]):
            return way
        if self.op == "at_most" or (self.op == "is" and not self.values[0]):
            return -way
        return 0

    def words(self) -> str:
        """The condition in words: 'at least 2', 'one of demo_request, contact_us'."""
        if self.op == "in":
            return ("is " if len(self.values) == 1 else "is one of ") + ", ".join(self.values)
        if self.op == "is":
            return "yes" if self.values[0] else "no"
        if self.op == "missing":
            return "not given"
        if self.op == "range":
            return f"from {self.values[0]:g} to {self.values[1]:g}"
        return f"{self.op.replace('_', ' ')} {self.values[0]:g}"


@dataclass
class Learned:
    """A learned points table: per rule its condition, weight (log-odds) and integer points, and
    the current rule it keeps (by name; None for a new rule)."""

    conditions: list[Condition]
    weights: np.ndarray
    points: np.ndarray
    intercept: float
    kept: list[str | None]
    scale: float  # points per unit of log-odds
    left_out: dict[str, str] = field(default_factory=dict)  # current rule -> why it went

    @property
    def points_to_double(self) -> float:
        return self.scale * math.log(2)

    def fires(self, X: np.ndarray) -> np.ndarray:
        """Leads x rules: which rules fire on each lead."""
        if not self.conditions:
            return np.zeros((len(X), 0), dtype=bool)
        return np.column_stack([c.fires(X) for c in self.conditions])


def learn_points(
    X: np.ndarray,
    y: np.ndarray,
    spec: FeatureSpec,
    current: AgreedRules,
    *,
    max_rules: int = 20,
    step: int = 5,
    progress: Callable[[str], None] | None = None,
) -> Learned:
    """Learn a points table on encoded leads `X` with outcomes `y` (see the module)."""
    if max_rules < 1:
        raise ValueError(f"max_rules must be at least 1, got {max_rules}")
    y = np.asarray(y, dtype=float)
    if not 0 < y.sum() < len(y):
        raise ValueError("the leads need both outcomes to learn points from")
    unusable = spec.unusable()
    features = {f.name: f for f in spec.features}
    left_out: dict[str, str] = {}
    chosen: list[Condition] = []
    kept: list[str | None] = []
    for rule in current.rules:
        if rule.feature in unusable:
            left_out[rule.name] = f"not usable: {unusable[rule.feature][0]}"
            continue
        condition = Condition.of_rule(rule, spec)
        if condition.op == "range" and features[rule.feature].direction:
            left_out[rule.name] = f"a range cannot follow the agreed direction of '{rule.feature}'"
            continue
        if condition in chosen:
            left_out[rule.name] = f"the same condition as '{kept[chosen.index(condition)]}'"
            continue
        chosen.append(condition)
        kept.append(rule.name)
    fit = _Fit(X, y, spec, [f for f in spec.features if f.name not in unusable])
    w, b = fit.refit(chosen, features)
    target = max(len(chosen), max_rules) + EXTRA
    while len(chosen) < target:
        found = fit.best(b + fit.matrix(chosen) @ w, chosen, features)
        if found is None:
            break
        chosen.append(found)
        kept.append(None)
        w, b = fit.refit(chosen, features, np.r_[w, 0.0], b)
        if progress is not None:
            progress(f"{len(chosen)} rules: + {found.feature} {found.words()}")
    for reference in fit.references(chosen):  # a full set of a category's values: one too many
        i = chosen.index(reference)
        if (name := kept[i]) is not None:
            left_out[name] = (
                f"'{reference.feature}' {reference.words()} is the baseline the other rules on "
                f"'{reference.feature}' are measured against"
            )
        del chosen[i], kept[i]
        w, b = fit.refit(chosen, features, np.delete(w, i), b)
    scale = _scale(w)
    while chosen:
        points = _points(w, scale, step)
        wald = fit.evidence(chosen, w, b)
        new = np.array([k is None for k in kept])
        if len(chosen) > max_rules:
            drop, why = int(np.argmin(wald)), f"the least evidence of more than {max_rules} rules"
        elif (points == 0).any():
            drop, why = int(np.argmin(np.where(points == 0, wald, np.inf))), "fits 0 points"
        elif (new & (wald < KEEP_CHI2)).any():  # a current rule stays on the teams' word
            drop, why = int(np.argmin(np.where(new, wald, np.inf))), ""
        else:
            break
        if (name := kept[drop]) is not None:
            left_out[name] = why
        del chosen[drop], kept[drop]
        w, b = fit.refit(chosen, features, np.delete(w, drop), b)
        scale = _scale(w)
    return Learned(chosen, w, _points(w, scale, step), b, kept, scale, left_out)


def _scale(w: np.ndarray) -> float:
    """Points per unit of log-odds: DOUBLE_ODDS points double the odds, unless the strongest
    rule would then pass MAX_POINTS."""
    strongest = float(np.abs(w).max()) if len(w) else 0.0
    scale = DOUBLE_ODDS / math.log(2)
    return min(scale, MAX_POINTS / strongest) if strongest > 0 else scale


def _points(w: np.ndarray, scale: float, step: int) -> np.ndarray:
    """Multiples of `step`, within MAX_POINTS (the largest multiple of `step` that is)."""
    bound = MAX_POINTS // step * step
    return np.clip(np.round(w * scale / step) * step, -bound, bound).astype(np.int64)


class _Fit:
    """The training leads, with each signed feature's candidate conditions laid out once."""

    def __init__(self, X: np.ndarray, y: np.ndarray, spec: FeatureSpec, usable: list[Feature]):
        self.X, self.y, self.n = X, y, len(y)
        self.usable = [(spec.names.index(f.name), f) for f in usable]
        self.cuts: dict[str, np.ndarray] = {}
        self._masks: dict[Condition, np.ndarray] = {}

    def matrix(self, conditions: list[Condition]) -> np.ndarray:
        if not conditions:
            return np.zeros((self.n, 0))
        return np.column_stack([self._mask(c) for c in conditions]).astype(float)

    def _mask(self, c: Condition) -> np.ndarray:
        if c not in self._masks:
            self._masks[c] = c.fires(self.X)
        return self._masks[c]

    def refit(
        self,
        conditions: list[Condition],
        features: dict[str, Feature],
        w0: np.ndarray | None = None,
        b0: float | None = None,
    ) -> tuple[np.ndarray, float]:
        """Every weight and the intercept fitted together (log-loss, a little L2), each weight
        within its sign bound."""
        M, y, n = self.matrix(conditions), self.y, self.n
        base = math.log(y.mean() / (1 - y.mean()))
        start = np.r_[base if b0 is None else b0, np.zeros(M.shape[1]) if w0 is None else w0]

        def loss(z: np.ndarray) -> tuple[float, np.ndarray]:
            eta = z[0] + M @ z[1:]
            r = (expit(eta) - y) / n
            value = np.mean(np.logaddexp(0, eta) - y * eta) + L2 * z[1:] @ z[1:]
            return value, np.r_[r.sum(), M.T @ r + 2 * L2 * z[1:]]

        signs = [c.sign(features[c.feature]) for c in conditions]
        bounds = [(None, None)] + [
            (0, None) if s > 0 else (None, 0) if s < 0 else (None, None) for s in signs
        ]
        start[1:] = [min(max(v, lo if lo is not None else v), hi if hi is not None else v)
                     for v, (lo, hi) in zip(start[1:], bounds[1:], strict=True)]  # fmt: skip
        found = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
        return found.x[1:], float(found.x[0])

    def references(self, conditions: list[Condition]) -> list[Condition]:
        """Per categorical feature whose chosen value sets split every training lead into
        exactly one of them (none missing), the set most leads fall in: a constant the other
        sets can be measured against (as the cut-off absorbs it)."""
        found = []
        for j, _ in self.usable:
            sets = [c for c in conditions if c.column == j and c.op == "in"]
            if len(sets) < 2 or np.isnan(self.X[:, j]).any():
                continue
            counts = self.matrix(sets).sum(axis=1)
            if (counts == 1).all():
                found.append(max(sets, key=lambda c: int(self._mask(c).sum())))
        return found

    def evidence(self, conditions: list[Condition], w: np.ndarray, b: float) -> np.ndarray:
        """Each rule's evidence, its Wald statistic w^2 / var(w) (the variance from the fitted
        log-loss's curvature): a rule others can stand in for has a large variance, one held
        at 0 by its direction none."""
        M = self.matrix(conditions)
        A = np.column_stack([np.ones(self.n), M])
        p = expit(b + M @ w)
        curvature = (A * (p * (1 - p))[:, None]).T @ A / self.n
        curvature[1:, 1:] += 2 * L2 * np.eye(len(w))
        variance = np.diag(np.linalg.pinv(curvature))[1:]
        return w * w / np.maximum(variance, 1e-300) * self.n  # the curvature is per lead

    def best(
        self, eta: np.ndarray, chosen: list[Condition], features: dict[str, Feature]
    ) -> Condition | None:
        """The condition not yet chosen with the largest Newton gain G^2 / (H + floor) whose
        step agrees with its feature's direction; None when none has the evidence to be added
        (its score statistic G^2 / H under ADD_CHI2) or none fires on enough leads."""
        p = expit(eta)
        g, h = p - self.y, p * (1 - p)
        best, best_gain = None, 0.0
        for condition, G, H, share in self._candidates(g, h):
            if not MIN_SHARE <= share <= 1 - MIN_SHARE or condition in chosen:
                continue
            step = -G / (H + HESSIAN_FLOOR)
            if condition.sign(features[condition.feature]) * step < 0:
                continue
            gain = G * G / (H + HESSIAN_FLOOR)
            if gain > best_gain and G * G / max(H, 1e-12) >= ADD_CHI2:
                best, best_gain = condition, gain
        return best

    def _candidates(self, g: np.ndarray, h: np.ndarray):
        """(condition, gradient sum, hessian sum, share of leads) for every candidate."""
        for j, f in self.usable:
            x = self.X[:, j]
            missing = np.isnan(x)
            if missing.any():
                gone = Condition(f.name, j, "missing")
                yield gone, g[missing].sum(), h[missing].sum(), missing.mean()
            if f.kind == "categorical":
                yield from self._category_sets(f, j, x, missing, g, h)
            elif f.kind == "boolean":
                for value in (True, False):
                    m = x == float(value)
                    yield Condition(f.name, j, "is", (value,)), g[m].sum(), h[m].sum(), m.mean()
            else:
                yield from self._thresholds(f, j, x, missing, g, h)

    def _category_sets(self, f: Feature, j: int, x, missing, g, h):
        allowed = f.allowed or []
        k = len(allowed)
        code = np.where(missing, k, x).astype(np.int64)
        G = np.bincount(code, g, k + 1)[:k]
        H = np.bincount(code, h, k + 1)[:k]
        N = np.bincount(code, None, k + 1)[:k]
        present = np.flatnonzero(N > 0)
        order = present[np.argsort(G[present] / (H[present] + 1e-12), kind="stable")]
        for size in range(1, len(order)):
            for part in (order[:size], order[size:]):
                codes = tuple(sorted(int(c) for c in part))
                names = tuple(allowed[c] for c in codes)
                yield (
                    Condition(f.name, j, "in", names, codes),
                    G[part].sum(),
                    H[part].sum(),
                    N[part].sum() / self.n,
                )

    def _thresholds(self, f: Feature, j: int, x, missing, g, h):
        cuts = self.cuts.get(f.name)
        if cuts is None:
            cuts = self.cuts[f.name] = _round_cuts(x[~missing])
        if not len(cuts):
            return
        seen = x[~missing]
        gs, hs = g[~missing], h[~missing]
        above = np.searchsorted(cuts, seen, side="right")  # cuts at or below the value
        below = np.searchsorted(cuts, seen, side="left")  # cuts below the value
        m = len(cuts) + 1
        up = [np.cumsum(np.bincount(above, w, m)[::-1])[::-1] for w in (gs, hs, None)]
        low = [np.cumsum(np.bincount(below, w, m)) for w in (gs, hs, None)]
        for i, cut in enumerate(cuts.tolist()):
            # at_least cut: the values with more than i cuts at or below them
            G, H, N = (a[i + 1] for a in up)
            yield Condition(f.name, j, "at_least", (cut,)), G, H, N / self.n
            # at_most cut: the values with at most i cuts below them
            G, H, N = (a[i] for a in low)
            yield Condition(f.name, j, "at_most", (cut,)), G, H, N / self.n


def _round_cuts(values: np.ndarray) -> np.ndarray:
    """Thresholds a person reads easily: the values' quantiles, their distance from the lowest
    value rounded to two significant digits (whole numbers for counts; a year stays a year),
    without repeats."""
    if not len(values):
        return np.zeros(0)
    lo, hi = float(values.min()), float(values.max())
    whole = bool(np.all(np.mod(values, 1) == 0))
    found = set()
    for q in np.quantile(values, np.linspace(0, 1, CUTS + 1)[1:-1]).tolist():
        step = float(f"{q - lo:.2g}")
        if whole:
            found.add(float(round(lo + step)))
        elif step > 0:  # to the digits the rounded distance has
            found.add(round(lo + step, 1 - math.floor(math.log10(step))))
    return np.array(sorted(v for v in found if lo < v <= hi))
