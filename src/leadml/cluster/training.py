"""The Dask engine for training: the history checked and split partition by partition on the
cluster, the booster trained there with LightGBM's Dask interface."""

from __future__ import annotations

import itertools
import operator
import uuid
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import lightgbm as lgb
import numpy as np
import pandas as pd
from distributed import Client, Future, get_worker
from lightgbm.dask import DaskLGBMClassifier

from leadml.cluster.scoring import Say, _first_ids
from leadml.data.check import CheckedLeads, check_leads
from leadml.data.fingerprint import DataFingerprint, WindowInfo, describe_data, row_hashes
from leadml.data.read import partition_files, read_leads
from leadml.errors import ConfigError, DataError
from leadml.scoring.encoding import LeadEncoder
from leadml.scoring.info import TrainedLeads, lead_keys
from leadml.scoring.scorer import LeadScorer
from leadml.spec.config import TrainingConfig
from leadml.spec.features import FeatureSpec
from leadml.training.engine import TrainingData
from leadml.training.windows import (
    Window,
    make_window,
    order_column,
    order_values,
    split_order,
    split_order_of,
    window_bounds,
    window_info,
)

# -- training ---------------------------------------------------------------------------------
AUDIT_ROWS = 1_000_000  # the leakage audit's sample of a larger training window


STOPPING_ROWS = 250_000  # early stopping's sample of a larger calibration window


def check_part(
    path: str, spec: FeatureSpec, first_id: int = 0, order_by: str | None = None
) -> tuple[CheckedLeads, pd.DataFrame] | None:
    """Read and check one partition of history (runs on a worker); a DataError names the file.

    Returns the checked leads and the file's last five raw rows (the model's input example),
    or None for a partition without rows. Without an id column, leads are numbered from
    `first_id` + 1 (the rows in the partitions before this one); `order_by` is the column a time
    split is ordered by, carried (`order_column`)."""
    raw = read_leads(path)
    if raw.empty:
        return None
    try:
        checked = check_leads(raw, spec, require_label=True, first_id=first_id, order_by=order_by)
        return checked, raw.tail(5)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None


def part_summary(
    part: tuple[CheckedLeads, pd.DataFrame] | None,
    path: str,
    spec: FeatureSpec,
    order: dict[str, str] | None,
) -> dict[str, Any] | None:
    """What the client needs to split the history (runs on a worker): per lead its timestamp,
    the value the split orders by (`order_values`; a DataError names the file), its outcome,
    row hash and key (`lead_keys`)."""
    if part is None:
        return None
    leads, tail = part
    ts = leads.timestamps
    by_time = order is not None and order["kind"] == "timestamp"  # the order is `ts`, sent once
    try:
        values = None if by_time else order_values(leads.frame, order, spec)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    return {
        "ts": None if ts is None else ts.to_numpy(),
        "order": values,
        "y": leads.y,
        "hashes": row_hashes(leads.frame),
        "keys": lead_keys(leads.frame, spec),
        "excluded": leads.excluded,
        "tail": tail,
    }


def split_part(
    part: tuple[CheckedLeads, pd.DataFrame],
    window: np.ndarray,
    rank: np.ndarray,
    audit: np.ndarray,
    spec: FeatureSpec,
) -> dict[str, Any]:
    """One partition split into its windows (runs on a worker): the training rows encoded for
    the booster, the calibration and test rows as checked leads, the audit sample."""
    leads = part[0]
    if leads.y is None:
        raise ValueError("split_part takes leads checked with their outcomes")
    X = LeadEncoder(spec).transform(leads.frame)
    train = window == 0
    out: dict[str, Any] = {
        "X": np.ascontiguousarray(X[train]),
        "y": leads.y[train].astype(np.float64),
        "audit": (X[audit], leads.y[audit]),
        "seen": LeadEncoder(spec).seen_codes(X[train]),
    }
    for name, code in (("calibration", 1), ("test", 2)):
        rows = window == code
        out[name] = (leads.frame.loc[rows], leads.y[rows], rank[rows])
    return out


def without_arrays(split: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in split.items() if k not in ("X", "y")}


def load_training(
    client: Client, source: str, spec: FeatureSpec, config: TrainingConfig, say: Say
) -> TrainingData:
    """Check and split the history partition by partition on the cluster.

    The training window stays on the workers as Dask arrays; the calibration and test windows,
    which are small, are collected. Windows, content hash, seen categories and the audit are
    the same as reading the partitions in order into one process would give (the audit uses a
    sample of AUDIT_ROWS leads when the training window is larger).
    """
    files = partition_files(source)
    say(f"Checking {len(files)} partition(s) of {source} on the cluster")
    token = uuid.uuid4().hex[:8]
    order = split_order_of(config, spec)
    parts, summaries = _check_parts(client, files, spec, order, token)
    by_time = order is not None and order["kind"] == "timestamp"
    history = _History.of(summaries, source, by_time)
    window, rank, audit = _assign_windows(history, config, source)
    train_X, train_y, small = _split_parts(client, parts, history, window, rank, audit, spec, token)
    del parts  # the checked partitions are released once split
    encoder = LeadEncoder(spec)
    windows = {name: _collect(small, name, config, encoder) for name in ("calibration", "test")}
    windows["calibration"].trained = TrainedLeads.of(
        history.keys[window == 0], history.keys[window == 1]
    )
    seen: dict[str, set[int]] = {}
    for part in small:
        for name, codes in part["seen"].items():
            seen.setdefault(name, set()).update(codes)
    return TrainingData(
        calibration=windows["calibration"],
        test=windows["test"],
        train_X=train_X,
        train_y=train_y,
        audit_X=np.concatenate([part["audit"][0] for part in small]),
        audit_y=np.concatenate([part["audit"][1] for part in small]),
        windows={"train": history.window_info(window == 0), **_infos(windows)},
        seen=encoder.category_names(seen),
        fingerprint=history.fingerprint(summaries),
        excluded=dict(history.excluded),
        example=summaries[-1]["tail"],
    )


def _check_parts(
    client: Client, files: list[Path], spec: FeatureSpec, order: dict[str, str] | None, token: str
) -> tuple[list[Future], list[dict[str, Any]]]:
    """Every partition checked on the workers (kept there), and what the client needs of
    each (`part_summary`); partitions without rows are left out of both."""
    first_ids = _first_ids(spec, files, client)
    parts = [
        client.submit(
            check_part,
            str(p.resolve()),
            spec,
            first,
            order_column(order),
            key=f"leadml-check-{token}-{i:05d}",
        )
        for i, (p, first) in enumerate(zip(files, first_ids, strict=True))
    ]
    paths = [str(p) for p in files]
    found = client.gather(
        client.map(
            part_summary,
            parts,
            paths,
            spec=spec,
            order=order,
            key=[f"{p.key}-summary" for p in parts],
        )
    )
    kept = [(part, s) for part, s in zip(parts, found, strict=True) if s is not None]
    return [part for part, _ in kept], [s for _, s in kept]


@dataclass
class _History:
    """The outcomes, timestamps, split order values and keys of every lead, in partition order,
    with what was excluded."""

    y: np.ndarray
    ts: np.ndarray | None
    order: np.ndarray | None  # None: the file's row order (or a random split)
    keys: np.ndarray
    sizes: list[int]
    excluded: Counter[str]

    @classmethod
    def of(cls, summaries: list[dict[str, Any]], source: str, by_time: bool) -> _History:
        """The partitions' summaries joined; `by_time`: the split orders by the timestamps."""
        if not summaries or not sum(len(s["y"]) for s in summaries):
            raise DataError(f"{source}: no leads with a known outcome")
        has_ts = summaries[0]["ts"] is not None
        has_order = summaries[0]["order"] is not None
        excluded: Counter[str] = Counter()
        for s in summaries:
            excluded.update(s["excluded"])
        ts = np.concatenate([s["ts"] for s in summaries]) if has_ts else None
        order = np.concatenate([s["order"] for s in summaries]) if has_order else None
        return cls(
            y=np.concatenate([s["y"] for s in summaries]),
            ts=ts,
            order=ts if by_time else order,
            keys=np.concatenate([s["keys"] for s in summaries]),
            sizes=[len(s["y"]) for s in summaries],
            excluded=excluded,
        )

    def spans(self) -> list[tuple[int, int]]:
        """Each partition's [start, stop) among all leads."""
        return list(itertools.pairwise(np.cumsum([0, *self.sizes]).tolist()))

    def window_info(self, rows: np.ndarray) -> WindowInfo:
        info: WindowInfo = {"leads": int(rows.sum()), "sales_ready": int(self.y[rows].sum())}
        if self.ts is not None:
            info["from"] = str(pd.Timestamp(self.ts[rows].min()))
            info["to"] = str(pd.Timestamp(self.ts[rows].max()))
        return info

    def fingerprint(self, summaries: list[dict[str, Any]]) -> DataFingerprint:
        dates = None if self.ts is None else (self.ts.min(), self.ts.max())
        return describe_data([s["hashes"] for s in summaries], self.y, dict(self.excluded), dates)


def _assign_windows(
    history: _History, config: TrainingConfig, source: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per lead: its window (0 train, 1 calibration, 2 test), its rank in the split order,
    and whether the leakage audit's sample holds it."""
    n = len(history.y)
    order = split_order(n, history.order, config)
    bounds = window_bounds(n, config)
    window = np.empty(n, dtype=np.int8)
    for code, name in enumerate(("train", "calibration", "test")):
        start, stop = bounds[name]
        window[order[start:stop]] = code
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    n_train = bounds["train"][1]
    if n_train == 0:
        raise DataError(f"{source}: the training window is empty ({n} leads in all)")
    in_audit = np.ones(n_train, dtype=bool)
    if n_train > AUDIT_ROWS:
        in_audit[:] = False
        rng = np.random.default_rng(config.split.seed)
        in_audit[rng.choice(n_train, AUDIT_ROWS, replace=False)] = True
    audit = (window == 0) & in_audit[np.minimum(rank, n_train - 1)]
    return window, rank, audit


def _split_parts(
    client: Client,
    parts: list[Future],
    history: _History,
    window: np.ndarray,
    rank: np.ndarray,
    audit: np.ndarray,
    spec: FeatureSpec,
    token: str,
) -> tuple[da.Array, da.Array, list[dict[str, Any]]]:
    """Each partition split on its worker: the training rows stay there as Dask arrays (X, y);
    the rest (calibration and test rows, audit sample, seen categories) is gathered."""
    spans = history.spans()
    splits = [
        client.submit(
            split_part, part, window[a:b], rank[a:b], audit[a:b], spec,
            key=f"leadml-split-{token}-{i:05d}",
        )
        for i, (part, (a, b)) in enumerate(zip(parts, spans, strict=True))
    ]  # fmt: skip
    X_parts, y_parts = [], []
    for fut, (a, b) in zip(splits, spans, strict=True):
        rows = int((window[a:b] == 0).sum())
        if rows:
            X_parts.append(_array(client, fut, "X", (rows, len(spec.features))))
            y_parts.append(_array(client, fut, "y", (rows,)))
    small = client.gather(
        client.map(without_arrays, splits, key=[f"{s.key}-small" for s in splits])
    )
    return da.concatenate(X_parts), da.concatenate(y_parts), small


def _array(client: Client, split: Future, name: str, shape: tuple[int, ...]) -> da.Array:
    """One array of a split partition, left on its worker, as a Dask array."""
    held = client.submit(operator.getitem, split, name, key=f"{split.key}-{name}")
    return da.from_delayed(held, shape=shape, dtype=np.float64)


def _collect(
    small: list[dict[str, Any]], name: str, config: TrainingConfig, encoder: LeadEncoder
) -> Window:
    """The calibration or test window from its rows in every partition, in the split order."""
    frames, ys, ranks = zip(*(part[name] for part in small), strict=True)
    at = np.argsort(np.concatenate(ranks), kind="stable")
    frame = pd.concat(frames, ignore_index=True).iloc[at]
    return make_window(name, frame, np.concatenate(ys)[at], config, encoder)


def _infos(windows: dict[str, Window]) -> dict[str, WindowInfo]:
    return {name: window_info(w) for name, w in windows.items()}


class CalibrationStopper:
    """LightGBM callback, run on every worker: early stopping on the calibration window.

    LightGBM's Dask interface has no early stopping: workers judging their own slices of the
    validation data can disagree about when to stop and hang (LightGBM issues #3712, #6351).
    Every worker here holds the same calibration leads and, in data-parallel training, the same
    trees, so all reach the same decision at the same iteration. Each tenth iteration is
    published under `topic` for the client's progress bar.
    """

    order = 30  # after LightGBM's own callbacks

    def __init__(self, X: np.ndarray, y: np.ndarray, patience: int, topic: str | None):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)
        self.patience = patience
        self.topic = topic

    def __call__(self, env: Any) -> None:
        i = env.iteration - env.begin_iteration
        if i == 0:
            self.raw = np.zeros(len(self.X))
            self.best, self.best_loss = 0, np.inf
        self.raw += env.model.predict(
            self.X, start_iteration=env.iteration, num_iteration=1, raw_score=True
        )
        loss = float(np.mean(np.logaddexp(0.0, self.raw) - self.y * self.raw))
        if loss < self.best_loss:
            self.best, self.best_loss = i, loss
        if self.topic and ((i + 1) % 10 == 0 or i + 1 == env.end_iteration):
            get_worker().log_event(self.topic, i + 1)
        if i - self.best >= self.patience or env.iteration == env.end_iteration - 1:
            # at the last round too, as LightGBM's own early stopping: the best trees are kept
            score = [("calibration", "binary_logloss", self.best_loss, False)]
            raise lgb.callback.EarlyStopException(self.best, score)


def fit_booster(
    scorer: LeadScorer,
    client: Client,
    X: Any,
    y: Any,
    calibration: Window,
    progress: Callable[[int, int], None] | None,
    say: Say,
    leads: int | None = None,
) -> LeadScorer:
    """Train the booster with LightGBM's Dask interface, early-stopped on the calibration
    window (`CalibrationStopper`), then calibrate there as `LeadScorer.fit` does; `leads` in
    the training window size the parameters as in one process (`LeadScorer.booster_params`)."""

    encoder = LeadEncoder(scorer.spec)
    topic = f"leadml-train-{uuid.uuid4().hex[:8]}"
    total = scorer.num_boost_round
    if progress is not None:
        client.subscribe_topic(topic, lambda event: progress(int(event[1]), total))
    params = scorer.booster_params(leads)
    X_cal, y_cal = calibration.X, calibration.y
    if len(X_cal) > STOPPING_ROWS:  # every worker holds these leads
        keep = np.sort(
            np.random.default_rng(scorer.seed).choice(len(X_cal), STOPPING_ROWS, replace=False)
        )
        X_cal, y_cal = X_cal[keep], y_cal[keep]
    stopper = CalibrationStopper(X_cal, y_cal, scorer.early_stopping_rounds, topic)
    workers = len(client.scheduler_info(n_workers=-1)["workers"])
    say(f"Training up to {total:,} trees on {workers} worker(s)")
    try:
        model = DaskLGBMClassifier(client=client, n_estimators=total, **params)
        with warnings.catch_warnings():  # one thread per worker is the cluster's own setting
            warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
            # every worker's stopper carries the calibration leads: a large task, on purpose
            warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
            model.fit(
                X,
                y,
                feature_name=encoder.names,
                categorical_feature=encoder.categorical_index,
                callbacks=[stopper],
            )
    except lgb.basic.LightGBMError as exc:
        raise ConfigError(f"model.params: LightGBM refused the parameters: {exc}") from None
    finally:
        if progress is not None:
            client.unsubscribe_topic(topic)
    booster = model.booster_
    best = int(booster.best_iteration or booster.current_iteration())
    return scorer.adopt(booster, best, calibration.X, calibration.y, params=params)


class DaskEngine:
    """`leadml.training.TrainingEngine` on a Dask cluster: the history is checked and split
    partition by partition (`load_training`) and the booster trains with LightGBM's Dask
    interface (`fit_booster`)."""

    name = "dask"

    def __init__(self, client: Client):
        self.client = client

    @staticmethod
    def refuse(config: TrainingConfig) -> None:
        """What this engine cannot train, refused before a cluster starts."""
        if config.model.calibration_data == "cross_fit":
            raise ConfigError(
                "model.calibration_data: cross_fit trains its fold boosters in one process; "
                "use --engine pandas, or calibration_data: window on a cluster"
            )
        if config.model.refit:
            raise ConfigError(
                "model.refit: true retrains the booster on both windows in one process; use "
                "--engine pandas (a history small enough to refit is small enough for it), or "
                "leave refit unset on a cluster"
            )

    def check(self, config: TrainingConfig, source: str, query: str | None) -> None:
        self.refuse(config)
        if query or "://" in source:
            raise ConfigError("--engine dask reads files and folders, not database queries")

    def load(
        self, source: str, query: str | None, spec: FeatureSpec, config: TrainingConfig, say: Say
    ) -> TrainingData:
        return load_training(self.client, source, spec, config, say)

    def fit(
        self,
        scorer: LeadScorer,
        data: TrainingData,
        progress: Callable[[int, int], None] | None,
        say: Say,
    ) -> LeadScorer:
        leads = data.windows["train"]["leads"]
        return fit_booster(
            scorer, self.client, data.train_X, data.train_y, data.calibration, progress, say, leads
        )
