"""The Dask engine: score and train partition by partition on a cluster.

Each partition (a Parquet or CSV file) is read, checked and scored on a worker by the same
`LeadModel` code the single-machine path and the service use, `BATCH_ROWS` leads at a time, so
a worker's memory does not grow with the data. Output parts go to a hidden folder that is moved
into place only when every part is written (`leadml.folders`).
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import operator
import os
import pickle
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from distributed.diagnostics.plugin import WorkerPlugin

from leadml import folders, runtime
from leadml.columns import text_hashes
from leadml.data import (
    CheckedLeads,
    check_leads,
    describe_data,
    partition_files,
    read_batches,
    read_leads,
    row_hashes,
)
from leadml.errors import ConfigError, DataError
from leadml.model import LeadEncoder, LeadScorer
from leadml.spec import FeatureSpec

if TYPE_CHECKING:  # the training modules (plots and all) load on the client only
    from distributed import Client

    from leadml.config import TrainingConfig
    from leadml.scoring import LeadModel
    from leadml.train import TrainingData, Window

BATCH_ROWS = 250_000  # leads a worker holds at once while scoring
Say = Callable[[str], None]


@contextmanager
def connect(scheduler: str | None = None, say: Say = lambda _: None) -> Iterator[Client]:
    """A client for the scheduler at `scheduler`, or for a local cluster sized to this machine
    (one single-threaded worker process per core), closed on exit."""
    from distributed import Client

    logging.getLogger("distributed").setLevel(logging.WARNING)  # not a line per worker event
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="15s")
        except (OSError, TimeoutError, ValueError) as exc:  # ValueError: not an address
            raise ConfigError(f"could not reach the Dask scheduler at {scheduler}: {exc}") from None
    else:
        cluster = local_cluster()
        client = Client(cluster)
    try:
        if cluster is not None:
            # LightGBM writes its network set-up lines straight to the workers' stdout, which
            # a local cluster shares with this terminal
            client.register_plugin(QuietStdout(), name="leadml-quiet-stdout")
        info = client.scheduler_info(n_workers=-1)
        where = f"{'local cluster' if cluster else scheduler}, {len(info['workers'])} worker(s)"
        served = "dashboard" in info.get("services", {})
        link = client.dashboard_link if served and (scheduler or _has_bokeh()) else None
        say(f"Dask: {where}" + (f"; dashboard {link}" if link else ""))
        slow = slow_settings(client)
        if slow:
            say(f"Dask: {slow}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def local_cluster(n_workers: int | None = None) -> Any:
    """A Dask cluster on this machine: `n_workers` single-threaded worker processes (default:
    one per core).

    Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536 (to hand memory back to the
    system sooner); that setting also stops glibc from reusing freed large blocks, and every
    numpy temporary then costs fresh pages: scoring ran 2.2x slower (bench/scale.py). These
    workers start without it; the other settings (one BLAS/OpenMP thread) stay, and leadml's
    process settings (`leadml.runtime.ENV`: Arrow's system pool, passive OpenMP waiting) are
    added, whether or not this process was configured. A nanny writes its settings into this
    process's environment, which later workers inherit: after a Dask cluster with the default
    settings in the same process, this one's workers trim too."""
    from distributed import LocalCluster

    import dask

    key = "distributed.nanny.pre-spawn-environ"
    environ = {k: v for k, v in dask.config.get(key).items() if k != "MALLOC_TRIM_THRESHOLD_"}
    environ.update(runtime.ENV)  # a variable already set in this process keeps its value
    with dask.config.set({key: environ}):
        return LocalCluster(
            n_workers=n_workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # a free port; its pages need bokeh
            silence_logs=logging.CRITICAL,  # task errors reach the client anyway
        )


def _memory_settings() -> dict[str, str | None]:
    """A worker's settings that decide how fast it scores (runs on the worker)."""
    return {
        "trim": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
        "arrow": pa.default_memory_pool().backend_name,
    }


def slow_settings(client: Client) -> str | None:
    """A note on workers whose memory settings slow scoring down (see `local_cluster`), or
    None when every worker is set up as leadml's local cluster sets its own."""
    found = list(client.run(_memory_settings).values())
    notes = []
    trim = sum(1 for s in found if s["trim"] is not None)
    if trim:
        notes.append(
            f"{trim} of {len(found)} worker(s) run with MALLOC_TRIM_THRESHOLD_ set (scoring "
            "about 2x slower)"
        )
    pools = [s["arrow"] for s in found if s["arrow"] != "system"]
    if pools:
        notes.append(
            f"{len(pools)} of {len(found)} use Arrow's {pools[0]} pool, not "
            "ARROW_DEFAULT_MEMORY_POOL=system (scoring about 1.2x slower)"
        )
    if not notes:
        return None
    return "; ".join(notes) + "; the README's 'Your own cluster' says how to start them"


def _has_bokeh() -> bool:
    return importlib.util.find_spec("bokeh") is not None


class QuietStdout(WorkerPlugin):
    """Worker plugin: the worker process's standard output goes to /dev/null."""

    def setup(self, worker: Any) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)


# -- scoring ----------------------------------------------------------------------------------
@dataclass
class ScoreSummary:
    """What a partitioned scoring job wrote."""

    out: Path
    rows: int
    parts: int
    sales_ready: int
    rules_sales_ready: int
    unseen: dict[str, int] = field(default_factory=dict)


def _input_columns(model: LeadModel) -> list[str]:
    spec = model.spec
    return [*([spec.lead_id] if spec.lead_id else []), *(f.source for f in spec.features)]


_LOADED: dict[str, LeadModel] = {}  # per worker process: the model of the job last run


def _loaded(model: LeadModel | bytes, job: str | None) -> LeadModel:
    """The job's model, unpickled once per worker process: `model` is the model or its pickle
    (what `score_partitions` sends, pickled once for all tasks)."""
    found = _LOADED.get(job) if job is not None else None
    if found is None:
        found = pickle.loads(model) if isinstance(model, bytes) else model
        if job is not None:
            _LOADED.clear()
            _LOADED[job] = found
    return found


def score_file(
    model: LeadModel | bytes,
    path: str,
    part: str,
    reasons: int,
    batch_rows: int = BATCH_ROWS,
    job: str | None = None,
    first_id: int = 0,
) -> dict[str, Any]:
    """Score one partition into one Parquet part, batch by batch (runs on a worker).

    `model` may come pickled; tasks of one `job` share the copy a worker unpickled first (with
    its scoring tables when they are small, `PairTables.small`). Without an id column, leads
    are numbered from `first_id` + 1 (the rows in the partitions before this one). Returns
    counts, unseen categories and the hashes of the lead ids (for the duplicate check across
    partitions). A partition that does not match the spec raises a DataError naming the file
    and its rows.
    """
    model = _loaded(model, job)
    writer: pq.ParquetWriter | None = None
    rows = ready = rules_ready = 0
    unseen: Counter[str] = Counter()
    hashes = []
    try:
        for batch in read_batches(Path(path), batch_rows, _input_columns(model)):
            if batch.empty:
                continue
            try:
                scored = model.score(
                    batch, reasons=reasons, first_row=rows, first_id=first_id + rows
                )
            except DataError as exc:
                raise DataError(f"{path}: {exc}") from None
            unseen.update(scored.attrs.get("unseen", {}))
            scored.attrs = {}
            table = pa.Table.from_pandas(scored, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(part, table.schema)
            writer.write_table(table.cast(writer.schema))
            hashes.append(text_hashes(scored["lead_id"]))
            rows += len(scored)
            ready += int(scored["sales_ready"].sum())
            rules_ready += int(scored["rules_sales_ready"].sum())
    finally:
        if writer is not None:
            writer.close()
    return {
        "rows": rows,
        "sales_ready": ready,
        "rules_sales_ready": rules_ready,
        "unseen": dict(unseen),
        "ids": np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64),
    }


KIND_SCORES = "lead scores"


def count_rows(path: Path) -> int:
    """The leads in one partition (Parquet: from its footer; CSV: by reading it)."""
    if path.name.lower().endswith((".parquet", ".pq")):
        return pq.ParquetFile(path).metadata.num_rows
    return sum(len(batch) for batch in read_batches(path, BATCH_ROWS))


def _first_ids(spec: FeatureSpec, files: list[Path], client: Client) -> list[int]:
    """Per partition, the rows before it: leads without an id column are numbered across the
    partitions as reading them all at once numbers them (zeros when the spec has ids). The
    workers count the rows, in parallel (a CSV file must be parsed for it)."""
    if spec.lead_id:
        return [0] * len(files)
    counts = client.gather(client.map(count_rows, [f.resolve() for f in files[:-1]], pure=False))
    return list(itertools.accumulate([0, *counts]))


def _check_out(out: Path, source: str, files: list[Path]) -> None:
    """The output folder must not hold, or lie inside, the data being scored."""
    target = out.resolve()
    inside = [target, *target.parents]
    folder = Path(source).resolve() if Path(source).is_dir() else None
    if (folder is not None and folder in inside) or any(
        target in f.resolve().parents or target == f.resolve() for f in files
    ):
        raise DataError(f"--out {out} overlaps the data it scores ({source}); choose another")


def _duplicates_across(files: list[Path], ids: list[np.ndarray]) -> str | None:
    """Lead ids (by hash) that occur in more than one place, named by file; None if none."""
    every = np.sort(np.concatenate(ids)) if ids else np.empty(0, dtype=np.uint64)
    twice = every[1:] == every[:-1]  # sorting, not np.unique: that took 10 s for 10M ids
    if not twice.any():
        return None
    repeated = np.unique(every[1:][twice])
    where = [str(f) for f, h in zip(files, ids, strict=True) if np.isin(h, repeated).any()]
    return (
        f"{len(repeated):,} lead id(s) occur more than once (in "
        f"{', '.join(where[:5])}{' and more' if len(where) > 5 else ''}); each lead must be "
        "scored once"
    )


def score_partitions(
    model: LeadModel,
    source: str,
    out: str | Path,
    client: Client,
    *,
    reasons: int = 3,
    info: dict[str, Any] | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> ScoreSummary:
    """Score every partition of `source` into a folder of Parquet parts at `out`, in order.

    `progress(parts_done, parts, leads_done)` is called as partitions finish. On any failure the
    remaining work is cancelled and nothing is left at `out`.
    """
    from distributed import as_completed

    files = partition_files(source)
    out = Path(out)
    _check_out(out, source, files)
    first_ids = _first_ids(model.spec, files, client)
    tmp = folders.staging(out, KIND_SCORES)
    futures = []
    try:
        token = uuid.uuid4().hex[:8]
        # the model (a few MB pickled) travels with each task rather than scattered once:
        # Dask's memory manager drops spare copies of scattered data, and the scheduler then
        # queued every partition on the one worker still holding it while the other idled.
        # It is pickled here once, with its scoring tables when small, so no worker builds them.
        model.scorer.tables_  # noqa: B018
        blob = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        futures = [
            client.submit(
                score_file,
                blob,
                str(path.resolve()),
                str((tmp / folders.part_name(i)).resolve()),
                reasons,
                job=token,
                first_id=first_ids[i],
                key=f"leadml-score-{token}-{i:05d}",
            )
            for i, path in enumerate(files)
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[dict[str, Any] | None] = [None] * len(files)
        done_rows = 0
        for k, fut in enumerate(as_completed(futures), start=1):
            res = fut.result()  # re-raises a worker's error, e.g. a DataError naming the file
            results[index[fut.key]] = res
            done_rows += res["rows"]
            if progress is not None:
                progress(k, len(files), done_rows)
        found = [r for r in results if r is not None]
        if not done_rows:
            raise DataError(f"{source}: the data has no rows")
        duplicated = _duplicates_across(files, [r["ids"] for r in found])
        if duplicated:
            raise DataError(duplicated)
        unseen: Counter[str] = Counter()
        for r in found:
            unseen.update(r["unseen"])
        summary = ScoreSummary(
            out=out,
            rows=done_rows,
            parts=sum(1 for p in tmp.iterdir() if p.name.startswith("part-")),
            sales_ready=sum(r["sales_ready"] for r in found),
            rules_sales_ready=sum(r["rules_sales_ready"] for r in found),
            unseen=dict(unseen),
        )
        folders.publish(
            tmp,
            out,
            {
                "kind": KIND_SCORES,
                "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "source": str(source),
                "files": len(files),
                "rows": summary.rows,
                "parts": summary.parts,
                "reasons": reasons,
                **(info or {}),
            },
        )
        return summary
    except BaseException:
        client.cancel(futures)
        folders.discard(tmp, settle=1.0)  # a task already running may still write a part
        raise


# -- training ---------------------------------------------------------------------------------
AUDIT_ROWS = 1_000_000  # the leakage audit's sample of a larger training window
STOPPING_ROWS = 250_000  # early stopping's sample of a larger calibration window


def check_part(
    path: str, spec: FeatureSpec, first_id: int = 0
) -> tuple[CheckedLeads, pd.DataFrame] | None:
    """Read and check one partition of history (runs on a worker); a DataError names the file.

    Returns the checked leads and the file's last five raw rows (the model's input example),
    or None for a partition without rows. Without an id column, leads are numbered from
    `first_id` + 1 (the rows in the partitions before this one)."""
    raw = read_leads(path)
    if raw.empty:
        return None
    try:
        return check_leads(raw, spec, require_label=True, first_id=first_id), raw.tail(5)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None


def part_summary(part: tuple[CheckedLeads, pd.DataFrame] | None) -> dict[str, Any] | None:
    """What the client needs to split the history: per lead its timestamp, outcome, row hash."""
    if part is None:
        return None
    leads, tail = part
    ts = leads.timestamps
    return {
        "ts": None if ts is None else ts.to_numpy(),
        "y": leads.y,
        "hashes": row_hashes(leads.frame),
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
    import dask.array as da

    from leadml.train import TrainingData, make_window, split_order, window_bounds, window_info

    files = partition_files(source)
    say(f"Checking {len(files)} partition(s) of {source} on the cluster")
    first_ids = _first_ids(spec, files, client)
    token = uuid.uuid4().hex[:8]
    parts = [
        client.submit(
            check_part, str(p.resolve()), spec, first, key=f"leadml-check-{token}-{i:05d}"
        )
        for i, (p, first) in enumerate(zip(files, first_ids, strict=True))
    ]
    found = client.gather(client.map(part_summary, parts, key=[f"{p.key}-summary" for p in parts]))
    parts = [p for p, s in zip(parts, found, strict=True) if s is not None]  # rows only
    summaries = [s for s in found if s is not None]
    sizes = [len(s["y"]) for s in summaries]
    n = sum(sizes)
    if n == 0:
        raise DataError(f"{source}: no leads with a known outcome")
    y_all = np.concatenate([s["y"] for s in summaries])
    has_ts = summaries[0]["ts"] is not None
    ts_all = np.concatenate([s["ts"] for s in summaries]) if has_ts else None
    excluded: Counter[str] = Counter()
    for s in summaries:
        excluded.update(s["excluded"])

    order = split_order(n, ts_all, config)
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

    offsets = np.cumsum([0, *sizes])
    splits = [
        client.submit(
            split_part,
            part,
            window[a:b],
            rank[a:b],
            audit[a:b],
            spec,
            key=f"leadml-split-{token}-{i:05d}",
        )
        for i, (part, (a, b)) in enumerate(zip(parts, itertools.pairwise(offsets), strict=True))
    ]
    del parts  # the checked partitions are released once split
    per_part_train = [int((window[a:b] == 0).sum()) for a, b in itertools.pairwise(offsets)]
    X_parts, y_parts = [], []
    for fut, rows in zip(splits, per_part_train, strict=True):
        if rows:
            X_parts.append(
                da.from_delayed(
                    client.submit(operator.getitem, fut, "X", key=f"{fut.key}-X"),
                    shape=(rows, len(spec.features)),
                    dtype=np.float64,
                )
            )
            y_parts.append(
                da.from_delayed(
                    client.submit(operator.getitem, fut, "y", key=f"{fut.key}-y"),
                    shape=(rows,),
                    dtype=np.float64,
                )
            )
    small = client.gather(
        client.map(without_arrays, splits, key=[f"{s.key}-small" for s in splits])
    )
    del splits

    encoder = LeadEncoder(spec)
    windows: dict[str, Window] = {}
    for name in ("calibration", "test"):
        frames, ys, ranks = zip(*(p[name] for p in small), strict=True)
        at = np.argsort(np.concatenate(ranks), kind="stable")
        frame = pd.concat(frames, ignore_index=True).iloc[at]
        windows[name] = make_window(name, frame, np.concatenate(ys)[at], config, encoder)
    train_rows = window == 0
    info: dict[str, Any] = {
        "leads": int(train_rows.sum()),
        "sales_ready": int(y_all[train_rows].sum()),
    }
    if ts_all is not None:
        info["from"] = str(pd.Timestamp(ts_all[train_rows].min()))
        info["to"] = str(pd.Timestamp(ts_all[train_rows].max()))
    seen: dict[str, set[int]] = {}
    for p in small:
        for name, codes in p["seen"].items():
            seen.setdefault(name, set()).update(codes)
    return TrainingData(
        calibration=windows["calibration"],
        test=windows["test"],
        train_X=da.concatenate(X_parts),
        train_y=da.concatenate(y_parts),
        audit_X=np.concatenate([p["audit"][0] for p in small]),
        audit_y=np.concatenate([p["audit"][1] for p in small]),
        windows={"train": info, **{k: window_info(w) for k, w in windows.items()}},
        seen=encoder.category_names(seen),
        fingerprint=describe_data(
            [s["hashes"] for s in summaries],
            y_all,
            dict(excluded),
            None if ts_all is None else (ts_all.min(), ts_all.max()),
        ),
        excluded=dict(excluded),
        example=summaries[-1]["tail"],
    )


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
            from distributed import get_worker

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
) -> LeadScorer:
    """Train the booster with LightGBM's Dask interface, early-stopped on the calibration
    window (`CalibrationStopper`), then calibrate there as `LeadScorer.fit` does."""
    from lightgbm.dask import DaskLGBMClassifier

    encoder = LeadEncoder(scorer.spec)
    topic = f"leadml-train-{uuid.uuid4().hex[:8]}"
    total = scorer.num_boost_round
    if progress is not None:
        client.subscribe_topic(topic, lambda event: progress(int(event[1]), total))
    params = scorer.booster_params()
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
    return scorer.adopt(booster, best, calibration.X, calibration.y)
