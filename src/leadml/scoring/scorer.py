"""The lead scorer: LightGBM booster and calibrator over the spec's encoding, as one scikit-learn
estimator, with exact reasons from the booster's lookup tables."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold

from leadml.data.check import check_leads
from leadml.errors import ConfigError, DataError
from leadml.scoring.calibration import choose_calibrator
from leadml.scoring.encoding import LeadEncoder
from leadml.scoring.tables import FORMAT as TABLES_FORMAT
from leadml.scoring.tables import PairTables
from leadml.spec.features import FeatureSpec

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": "binary_logloss",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
    "max_cat_to_onehot": 8,
    # "advanced" can break the agreed directions (LightGBM issues #5358, #6155; seen here too)
    "monotone_constraints_method": "intermediate",
    "verbose": -1,
    "seed": 0,
    "deterministic": True,
    "force_row_wise": True,
}

# Below this many training leads, leaves and category groups shrink with the history (at and
# above it, DEFAULT_PARAMS as they are): a leaf of 100 leads in a 6k-lead history hides a
# yes/no feature whose leads convert at 16% against 40%. Early stopping guards the rounds.
FULL_SIZE_LEADS = 20_000
# `refit=None` (auto) refits when the training window holds fewer than FULL_SIZE_LEADS leads, or
# fewer than REFIT_BELOW of its rarer outcome (sales-ready leads, mostly): a history that small
# cannot spare the calibration window's leads for early stopping and the calibrator alone
# (bench/quality.py, part 3).
REFIT_BELOW = 2_000
# When refitting, the calibrator learns from the calibration window's leads in REFIT_FOLDS
# consecutive blocks, each scored by a booster of every older lead (expanding windows).
REFIT_FOLDS = 3


def size_params(leads: int) -> dict[str, Any]:
    """leadml's size-dependent LightGBM defaults for a booster trained on `leads` leads: a leaf
    needs about 0.5% of them (20 to 100), and a tree has up to about one leaf per 400 (7 to
    31), and so does a category group (LightGBM's min_data_per_group, 100 by default). From
    FULL_SIZE_LEADS up: nothing, i.e. DEFAULT_PARAMS and LightGBM's defaults as they are."""
    if leads >= FULL_SIZE_LEADS:
        return {}
    leaf = int(np.clip(round(leads / 200), 20, DEFAULT_PARAMS["min_data_in_leaf"]))
    leaves = int(np.clip(round(leads / 400), 7, DEFAULT_PARAMS["num_leaves"]))
    return {"min_data_in_leaf": leaf, "num_leaves": leaves, "min_data_per_group": leaf}


@dataclass(frozen=True)
class Reason:
    """One reason behind a lead's score, in the spec's words."""

    feature: str
    value: str
    contribution: float
    direction: str
    text: str


def _display(value: float, kind: str, allowed: list[str] | None) -> str:
    if np.isnan(value):
        return "missing"
    if kind == "categorical":
        return str((allowed or [])[int(value)])
    if kind == "boolean":
        return "yes" if value >= 0.5 else "no"
    return f"{value:g}"


class LeadScorer(ClassifierMixin, BaseEstimator):
    """From a raw lead to a calibrated probability of becoming sales-ready.

    `fit(X, y, eval_set=(X_cal, y_cal))` trains the booster on (X, y), early-stops on the
    calibration window and fits the calibrator there. Without `eval_set` the newest 20% of the
    given rows (in the given order) serve as the calibration window. With `calibration_folds`
    (exchangeable leads only, i.e. a random split) the calibrator learns instead from
    out-of-fold scores over both windows: that many boosters of the same size, each trained
    without one fold, score it, so the calibrator sees every lead, not one window's.

    LightGBM parameters: leadml's defaults (`DEFAULT_PARAMS`, with leaf sizes scaled to the
    training window by `size_params`), then `params`, then the spec's agreed directions; the
    ones a fit used are `effective_params_`. With `refit` (None: on small histories, see
    `fit`) the booster is trained again on both windows once early stopping has chosen its
    size; `refitted_` says whether it was, `stopping_iteration_` what early stopping chose.
    """

    calibration_folds: int | None = None  # models pickled before the parameter existed
    refit: bool | None = False  # models pickled before it: never refitted
    effective_params_: dict[str, Any] | None = None  # None: pickled before it was recorded
    refitted_: bool = False
    _tables: PairTables | None = None  # the booster as lookup tables, built on first use

    def __init__(
        self,
        spec: FeatureSpec,
        params: dict[str, Any] | None = None,
        calibration: str = "auto",
        num_boost_round: int = 2000,
        early_stopping_rounds: int = 100,
        calibration_folds: int | None = None,
        refit: bool | None = None,
    ):
        self.spec = spec
        self.params = params
        self.calibration = calibration
        self.num_boost_round = num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration_folds = calibration_folds
        self.refit = refit

    # -- encoding ---------------------------------------------------------------------------
    def _encode(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        if isinstance(X, np.ndarray):
            if X.ndim != 2 or X.shape[1] != len(self.spec.features):
                raise DataError(
                    f"expected encoded leads with {len(self.spec.features)} columns, got {X.shape}"
                )
            return X
        if not isinstance(X, pd.DataFrame):
            raise DataError(f"expected a DataFrame of leads, got {type(X).__name__}")
        checked = check_leads(X, self.spec, require_label=False, require_id=False, unseen={})
        return LeadEncoder(self.spec).transform(checked.frame)

    # -- fitting ----------------------------------------------------------------------------
    def fit(
        self,
        X: pd.DataFrame | np.ndarray,
        y: np.ndarray,
        *,
        eval_set: tuple[pd.DataFrame | np.ndarray, np.ndarray] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> LeadScorer:
        """Early-stop the booster on the calibration window, then calibrate (see the class).

        With `refit` (None: when the training window holds fewer than FULL_SIZE_LEADS leads or
        fewer than REFIT_BELOW of its rarer outcome) the booster is trained again on both
        windows, with the early-stopped number of rounds scaled by the leads it now has; its
        calibrator learns from out-of-fold scores made in the given (time) order: the
        calibration window in REFIT_FOLDS blocks, each scored by a booster of every older lead
        (or, with `calibration_folds`, the cross-fitted scores of both windows), so it never
        sees a booster's own training leads."""
        X_all = self._encode(X)
        y_all = np.asarray(y, dtype=np.float64)
        if eval_set is None:
            cut = int(len(X_all) * 0.8)
            X_fit, y_fit, X_cal, y_cal = X_all[:cut], y_all[:cut], X_all[cut:], y_all[cut:]
        else:
            X_fit, y_fit = X_all, y_all
            X_cal, y_cal = self._encode(eval_set[0]), np.asarray(eval_set[1], dtype=np.float64)
        for name, arr in (("training", y_fit), ("calibration", y_cal)):
            if len(np.unique(arr)) < 2:
                raise DataError(f"the {name} window has only one outcome; it needs both")

        params = self.booster_params(len(y_fit))
        booster, start = self._early_stopped(params, X_fit, y_fit, X_cal, y_cal, progress)
        best = int(booster.best_iteration or booster.current_iteration())
        refit = self.refits(y_fit)
        if not self.calibration_folds and not refit:
            return self.adopt(booster, best, X_cal, y_cal, params=params)
        X_both, y_both = np.vstack([X_fit, X_cal]), np.concatenate([y_fit, y_cal])
        if self.calibration_folds:
            margin = self._out_of_fold(X_both, y_both, best, progress, start=start, params=params)
            X_scored, y_scored = X_both, y_both
            start += best * int(self.calibration_folds)
            if not refit:
                return self.adopt(booster, best, X_both, y_both, margin=margin, params=params)
        else:
            X_scored, y_scored = X_cal, y_cal
            margin, start = self._time_ordered(
                X_both, y_both, len(y_fit), booster, best, params, progress, start
            )
        final_rounds = max(1, round(best * len(y_both) / len(y_fit)))
        final = self._train_rounds(
            params, X_both, y_both, final_rounds, progress, start, start + final_rounds
        )
        self.adopt(final, final_rounds, X_scored, y_scored, margin=margin, params=params)
        self.stopping_iteration_ = best
        self.refitted_ = True
        return self

    def refits(self, y_train: np.ndarray) -> bool:
        """Whether `fit` refits the booster on both windows (see `fit`)."""
        if self.refit is not None:
            return bool(self.refit)
        rarer = min(int(np.sum(y_train == 1)), int(np.sum(y_train != 1)))
        return len(y_train) < FULL_SIZE_LEADS or rarer < REFIT_BELOW

    def _early_stopped(
        self,
        params: dict[str, Any],
        X_fit: np.ndarray,
        y_fit: np.ndarray,
        X_cal: np.ndarray,
        y_cal: np.ndarray,
        progress: Callable[[int, int], None] | None,
    ) -> tuple[lgb.Booster, int]:
        """The booster early-stopped on the calibration window, and the rounds it reported."""
        train_set = self._dataset(X_fit, y_fit)
        cal_set = lgb.Dataset(X_cal, y_cal, reference=train_set)
        callbacks: list[Callable[..., Any]] = [
            lgb.early_stopping(self.early_stopping_rounds, verbose=False)
        ]
        reached = [0]

        def report(env: Any) -> None:
            reached[0] = env.iteration + 1
            if progress is not None:
                progress(env.iteration + 1, self.num_boost_round)

        callbacks.append(report)
        try:
            booster = lgb.train(
                params,
                train_set,
                num_boost_round=self.num_boost_round,
                valid_sets=[cal_set],
                valid_names=["calibration"],
                callbacks=callbacks,
            )
        except lgb.basic.LightGBMError as exc:
            raise ConfigError(f"model.params: LightGBM refused the parameters: {exc}") from None
        return booster, max(reached[0], booster.current_iteration())

    def _train_rounds(
        self,
        params: dict[str, Any],
        X: np.ndarray,
        y: np.ndarray,
        rounds: int,
        progress: Callable[[int, int], None] | None,
        done: int,
        total: int,
    ) -> lgb.Booster:
        """A booster of exactly `rounds` trees; `progress` hears (done + round, total)."""
        callbacks = []
        if progress is not None:
            callbacks.append(lambda env: progress(done + env.iteration + 1, total))
        return lgb.train(params, self._dataset(X, y), num_boost_round=rounds, callbacks=callbacks)

    def _time_ordered(
        self,
        X: np.ndarray,
        y: np.ndarray,
        first: int,
        booster: lgb.Booster,
        best: int,
        params: dict[str, Any],
        progress: Callable[[int, int], None] | None,
        start: int = 0,
    ) -> tuple[np.ndarray, int]:
        """Raw scores of the calibration window (the leads from `first` on, after `booster`'s
        training window) in REFIT_FOLDS consecutive blocks, each from a booster of every lead
        before it (expanding windows) with `best` rounds scaled by its leads; the first block's
        is `booster` itself, which trained on exactly those older leads. Returns the scores and
        the progress count reached (from `start`)."""
        cuts = np.linspace(first, len(y), REFIT_FOLDS + 1).round().astype(int)
        blocks = [(int(a), int(b)) for a, b in itertools.pairwise(cuts) if b > a]
        rounds = [max(1, round(best * a / first)) for a, _ in blocks]
        total = start + sum(rounds[1:]) + max(1, round(best * len(y) / first))
        margin = np.empty(len(y) - first, dtype=np.float64)
        for k, ((a, b), n) in enumerate(zip(blocks, rounds, strict=True)):
            if k > 0:
                booster = self._train_rounds(params, X[:a], y[:a], n, progress, start, total)
                start += n
            margin[a - first : b - first] = booster.predict(X[a:b], raw_score=True, num_iteration=n)
        return margin, start

    def _dataset(self, X: np.ndarray, y: np.ndarray) -> lgb.Dataset:
        enc = LeadEncoder(self.spec)
        return lgb.Dataset(
            X,
            y,
            feature_name=enc.names,
            categorical_feature=enc.categorical_index,
            free_raw_data=True,
        )

    @property
    def seed(self) -> int:
        """The seed of the booster and of everything random around it (folds, calibrators)."""
        return int(self.booster_params().get("seed", 0))

    def _out_of_fold(
        self,
        X: np.ndarray,
        y: np.ndarray,
        rounds: int,
        progress: Callable[[int, int], None] | None = None,
        start: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> np.ndarray:
        """Each lead's raw score from a booster of `rounds` trees that never saw it.

        `progress` continues the early-stopping count from `start` (the rounds early stopping
        ran; default `rounds`): (start + rounds done in the folds, start + rounds x folds), so
        a bar only moves forward and ends full."""
        folds = int(self.calibration_folds or 0)
        fewest = int(min(y.sum(), len(y) - y.sum()))
        if fewest < folds:
            raise DataError(
                f"model.calibration_folds is {folds}, but the training and calibration windows "
                f"hold only {fewest} lead(s) of one outcome; each fold needs both outcomes"
            )
        split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
        params = self.booster_params() if params is None else params
        margin = np.empty(len(y), dtype=np.float64)
        start = rounds if start is None else start
        total = start + rounds * folds
        for k, (fit_idx, held_idx) in enumerate(split.split(X, y)):
            callbacks = []
            if progress is not None:
                done = start + rounds * k
                callbacks.append(lambda env, done=done: progress(done + env.iteration + 1, total))
            fold_booster = lgb.train(
                params,
                self._dataset(X[fit_idx], y[fit_idx]),
                num_boost_round=rounds,
                callbacks=callbacks,
            )
            margin[held_idx] = fold_booster.predict(X[held_idx], raw_score=True)
        return margin

    def booster_params(self, leads: int | None = None) -> dict[str, Any]:
        """LightGBM parameters: the defaults (scaled to a booster of `leads` training leads when
        given, see `size_params`), the configured ones, the agreed directions."""
        sized = size_params(leads) if leads is not None else {}
        params = {**DEFAULT_PARAMS, **sized, **(self.params or {})}
        monotone = LeadEncoder(self.spec).monotone
        if any(monotone):
            params["monotone_constraints"] = monotone
        return params

    def adopt(
        self,
        booster: lgb.Booster,
        best_iteration: int,
        X_cal: np.ndarray,
        y_cal: np.ndarray,
        margin: np.ndarray | None = None,
        params: dict[str, Any] | None = None,
    ) -> LeadScorer:
        """Use `booster`'s first `best_iteration` trees and fit the calibrator to the leads
        (`X_cal`, `y_cal`): the calibration window (`fit` ends here; so does training on a
        cluster), or with `margin`, their raw scores from elsewhere (out-of-fold scores);
        without it, `booster`'s own on `X_cal`. `params`: what `booster` trained with
        (default `booster_params()`), kept as `effective_params_`."""
        names = LeadEncoder(self.spec).names
        self.booster_ = booster
        self.best_iteration_ = int(best_iteration)
        self.stopping_iteration_ = int(best_iteration)
        self.refitted_ = False
        self.effective_params_ = dict(self.booster_params() if params is None else params)
        y_cal = np.asarray(y_cal, dtype=np.float64)
        if margin is None:
            margin = np.asarray(
                booster.predict(X_cal, raw_score=True, num_iteration=self.best_iteration_)
            )
        margin_cal = np.asarray(margin, dtype=np.float64)
        self.calibration_leads_ = len(y_cal)
        self.calibrator_, self.calibration_losses_ = choose_calibrator(
            margin_cal, y_cal, self.calibration, seed=self.seed
        )
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = len(names)
        self.feature_names_ = list(names)
        self._tables = None
        return self

    # -- scoring ----------------------------------------------------------------------------
    @property
    def tables_(self) -> PairTables:
        """The booster as lookup tables (built on first use; pickled with the model when
        `PairTables.small`)."""
        tables: PairTables | None = getattr(self, "_tables", None)
        if tables is None:
            tables = PairTables(self.booster_, self.best_iteration_, len(self.feature_names_))
            self._tables = tables
        return tables

    def decision_function(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The booster's raw score (log-odds before calibration)."""
        return self.tables_.raw_score(self._encode(X))

    def probability(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The calibrated probability of becoming sales-ready, per lead."""
        return self.calibrator_(self.decision_function(X))

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        p = self.probability(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def importance(self) -> dict[str, float]:
        """Total gain per spec feature, as a share of all gain."""
        gain = self.booster_.feature_importance("gain", iteration=self.best_iteration_)
        total = gain.sum() or 1.0
        return {n: float(g / total) for n, g in zip(self.feature_names_, gain, strict=True)}

    def contributions(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Exact per-feature contributions to the raw score (TreeSHAP), plus the bias column,
        as LightGBM's `pred_contrib` gives them."""
        return self.tables_.contributions(self._encode(X))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # a copy: the live scorer keeps its tables
        tables = state.get("_tables")
        if tables is not None and not tables.small:
            state["_tables"] = None  # rebuilt from the booster on first use
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        tables = getattr(self, "_tables", None)
        if tables is None:
            return
        if tables.__dict__.pop("format", None) != TABLES_FORMAT:
            self._tables = None  # pickled by a leadml with another table layout
        else:
            tables.booster = self.booster_

    def top_contributions(
        self, X: pd.DataFrame | np.ndarray, top: int = 3
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per lead, the `top` features by absolute contribution: (encoded, index, contribution)."""
        encoded = self._encode(X)
        contrib = self.contributions(encoded)[:, :-1]
        order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top]
        return encoded, order, np.take_along_axis(contrib, order, axis=1)

    def reasons(self, X: pd.DataFrame | np.ndarray, top: int = 3) -> list[list[Reason]]:
        """The `top` largest contributions per lead, phrased with the spec's descriptions."""
        encoded, order, contrib = self.top_contributions(X, top)
        values, texts = self.describe(encoded, order, contrib)
        names = np.array(self.spec.names, dtype=object)[order].tolist()
        sizes = np.round(contrib, 4).tolist()
        return [
            [
                Reason(
                    names[i][k],
                    values[k][i],
                    sizes[i][k],
                    "raises" if sizes[i][k] > 0 else "lowers",
                    texts[k][i],
                )
                for k in range(order.shape[1])
            ]
            for i in range(len(encoded))
        ]

    def phrase(
        self, encoded: np.ndarray, order: np.ndarray, contrib: np.ndarray
    ) -> list[list[str]]:
        """Reason texts per rank (see `describe`)."""
        return self.describe(encoded, order, contrib)[1]

    def describe(
        self, encoded: np.ndarray, order: np.ndarray, contrib: np.ndarray
    ) -> tuple[list[list[str]], list[list[str]]]:
        """Per rank: each lead's reason value as shown, and its text. Built per feature and
        distinct value, not per lead, so large batches stay cheap."""
        features = self.spec.features
        values, texts = [], []
        for k in range(order.shape[1]):
            shown = np.empty(len(encoded), dtype=object)
            text = np.empty(len(encoded), dtype=object)
            for j in np.unique(order[:, k]):
                rows = np.flatnonzero(order[:, k] == j)
                f = features[j]
                distinct, inverse = np.unique(encoded[rows, j], return_inverse=True)
                show = [_display(v, f.kind, f.allowed) for v in distinct]
                phrases = {
                    verb: np.array(
                        [f"{f.name} = {v} {verb} the chance ({f.description})" for v in show],
                        dtype=object,
                    )
                    for verb in ("raises", "lowers")
                }
                shown[rows] = np.array(show, dtype=object)[inverse]
                up = contrib[rows, k] > 0
                text[rows] = np.where(up, phrases["raises"][inverse], phrases["lowers"][inverse])
            values.append(shown.tolist())
            texts.append(text.tolist())
        return values, texts
