"""Scoring on a Dask cluster: each partition read, checked and scored on a worker.

Each partition (a Parquet or CSV file) is read, checked and scored on a worker by the same
`LeadModel` code the single-machine path and the service use, `BATCH_ROWS` leads at a time, so
a worker's memory does not grow with the data. Output parts go to a hidden folder that is moved
into place only when every part is written (`leadml.data.folders`, which also removes such
folders that a killed job left behind).
"""

from __future__ import annotations

import functools
import itertools
import pickle
import queue
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import Client, Future, as_completed

from leadml.data import folders
from leadml.data.columns import text_hashes
from leadml.data.read import partition_files, read_batches
from leadml.errors import DataError
from leadml.scorelog import ModelRef, ScoreBatch, ScoreLog
from leadml.scorelog.holdout import Holdout
from leadml.scorelog.rows import logged_ids
from leadml.scoring.lead_model import LeadModel, as_exported
from leadml.spec.features import FeatureSpec

BATCH_ROWS = 250_000  # leads a worker holds at once while scoring
Say = Callable[[str], None]


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
    logged: int = 0  # scores recorded in the score log


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


@dataclass(frozen=True)
class LogTarget:
    """Where a scoring job records its scores: the score log's URL, the model, the job's name
    (its rows carry it: a failed job's rows are removed) and the holdout."""

    url: str
    model: ModelRef
    job: str
    holdout: Holdout
    hashes: tuple[str, str]  # the spec's and the rules' content hashes


@functools.cache
def _opened_log(url: str) -> ScoreLog:
    """One connection pool per worker process and score log (the schema is made already)."""
    return ScoreLog(url)


def score_file(
    model: LeadModel | bytes,
    path: str,
    part: str,
    reasons: int,
    batch_rows: int = BATCH_ROWS,
    job: str | None = None,
    first_id: int = 0,
    log: LogTarget | None = None,
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
    rows = ready = rules_ready = logged = 0
    # the partition's scores, written by a thread while the next batch is scored
    recording = None if log is None else _PartRecording(_opened_log(log.url), model.spec)
    unseen: Counter[str] = Counter()
    hashes = []
    try:
        for batch in read_batches(Path(path), batch_rows, _input_columns(model)):
            if batch.empty:
                continue
            try:
                checked, found = model.check(batch, first_row=rows, first_id=first_id + rows)
            except DataError as exc:
                raise DataError(f"{path}: {exc}") from None
            X, s, scored = model.score_parts(checked, reasons)
            unseen.update(found)
            ids = logged_ids(model.spec, scored["lead_id"])
            flags = log.holdout.flags(ids) if log is not None else None
            if log is not None and log.holdout.share:
                scored["holdout"] = flags
            table = pa.Table.from_pandas(as_exported(scored, model.spec), preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(part, table.schema)
            writer.write_table(table.cast(writer.schema))
            if recording is not None and log is not None:
                recording.put(
                    ScoreBatch.of(
                        model, log.model, ids, X, s, source="predict", job=log.job,
                        holdout=flags, hashes=log.hashes,
                    )
                )  # fmt: skip
            hashes.append(text_hashes(scored["lead_id"]))
            rows += len(scored)
            ready += int(scored["sales_ready"].sum())
            rules_ready += int(scored["rules_sales_ready"].sum())
        if recording is not None:  # the partition's rows committed once its part is whole
            logged, recording = recording.finish(), None
    finally:
        if recording is not None:
            recording.abandon()
        if writer is not None:
            writer.close()
    return {
        "rows": rows,
        "sales_ready": ready,
        "rules_sales_ready": rules_ready,
        "unseen": dict(unseen),
        "ids": np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64),
        "logged": logged,
    }


class _PartRecording:
    """A partition's scores written to the score log by a thread of the worker, in one
    transaction: on PostgreSQL while the worker scores the next batch (the database's work and
    much of the driver's happen outside the GIL); on SQLite, which lets one transaction write at
    a time, all at the end. `put` each batch, then `finish` (commit; the rows) or `abandon`
    (roll back)."""

    _ABANDON = object()

    def __init__(self, score_log: ScoreLog, spec: FeatureSpec):
        self.rows = 0
        self.error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=2)  # a batch or two ahead, no more
        self._thread = threading.Thread(
            target=self._run, args=(score_log, spec), name="leadml-part-log", daemon=True
        )
        self._thread.start()

    def _run(self, score_log: ScoreLog, spec: FeatureSpec) -> None:
        try:
            if score_log.kind == "sqlite":  # one writer at a time: a short transaction at the end
                batches = list(self._batches())
                self.rows = score_log.write_scores(batches, spec)
                return
            with score_log.streaming(spec) as write:
                for batch in self._batches():
                    self.rows += write(batch)
        except _Abandoned:
            pass
        except BaseException as exc:  # raised in the worker's thread by put or finish
            self.error = exc

    def _batches(self) -> Iterator[ScoreBatch]:
        for batch in iter(self._queue.get, None):
            if batch is self._ABANDON:
                raise _Abandoned
            yield batch

    def put(self, batch: ScoreBatch | None) -> None:
        while True:
            self._raise()
            try:
                self._queue.put(batch, timeout=0.5)
                return
            except queue.Full:
                continue

    def finish(self) -> int:
        self.put(None)  # the end: commit
        self._thread.join()
        self._raise()
        return self.rows

    def abandon(self) -> None:
        if self._thread.is_alive():
            self._queue.put(self._ABANDON)
            self._thread.join()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error


class _Abandoned(Exception):
    """The partition failed: its transaction is rolled back."""


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


def check_target(source: str, out: str | Path) -> None:
    """Before any work: `out` may receive the scores of `source` (it does not overlap the data,
    and is absent, empty or earlier lead scores)."""
    out = Path(out)
    _check_out(out, source, partition_files(source))
    folders.check_replaceable(out, KIND_SCORES)


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
    say: Say | None = None,
    log: LogTarget | None = None,
) -> ScoreSummary:
    """Score every partition of `source` into a folder of Parquet parts at `out`, in order.

    `progress(parts_done, parts, leads_done)` is called as partitions finish; `say` hears of
    unfinished output folders of earlier, killed jobs that were removed. With `log`, each
    worker records its partition's scores in the score log. On any failure the remaining work
    is cancelled and nothing is left at `out`, nor in the log.
    """
    files = partition_files(source)
    out = Path(out)
    _check_out(out, source, files)
    first_ids = _first_ids(model.spec, files, client)
    tmp = folders.staging(out, KIND_SCORES, say=say)
    futures: list[Future] = []
    try:
        futures = _submit(client, model, files, first_ids, tmp, reasons, log)
        found = _gather(futures, progress)
        summary = _summarise(found, files, source, out, tmp)
        manifest = {
            "kind": KIND_SCORES,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": str(source),
            "files": len(files),
            "rows": summary.rows,
            "parts": summary.parts,
            "reasons": reasons,
            **(info or {}),
        }
        folders.publish(tmp, out, manifest)
        return summary
    except BaseException:
        client.cancel(futures)
        folders.discard(tmp, settle=1.0)  # a task already running may still write a part
        if log is not None:  # after the settle: a running task's batch may have landed
            ScoreLog(log.url).give_up(log.job, lambda m: say and say(f"warning: {m}"))
        raise


def _submit(
    client: Client,
    model: LeadModel,
    files: list[Path],
    first_ids: list[int],
    tmp: Path,
    reasons: int,
    log: LogTarget | None = None,
) -> list[Future]:
    """One `score_file` task per partition, each writing its part into `tmp`.

    The model (a few MB pickled) travels with each task rather than scattered once: Dask's
    memory manager drops spare copies of scattered data, and the scheduler then queued every
    partition on the one worker still holding it while the other idled. It is pickled here
    once, with its scoring tables when small, so no worker builds them.
    """
    token = uuid.uuid4().hex[:8]
    model.scorer.tables_  # noqa: B018
    blob = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    return [
        client.submit(
            score_file,
            blob,
            str(path.resolve()),
            str((tmp / folders.part_name(i)).resolve()),
            reasons,
            job=token,
            first_id=first_ids[i],
            log=log,
            key=f"leadml-score-{token}-{i:05d}",
        )
        for i, path in enumerate(files)
    ]


def _gather(
    futures: list[Future], progress: Callable[[int, int, int], None] | None
) -> list[dict[str, Any]]:
    """Each partition's result, in partition order, reporting progress as they finish; a
    worker's error (e.g. a DataError naming the file) is raised here."""
    index = {f.key: i for i, f in enumerate(futures)}
    results: list[dict[str, Any]] = [{}] * len(futures)
    done_rows = 0
    for k, fut in enumerate(as_completed(futures), start=1):
        res = fut.result()
        results[index[fut.key]] = res
        done_rows += res["rows"]
        if progress is not None:
            progress(k, len(futures), done_rows)
    return results


def _summarise(
    found: list[dict[str, Any]], files: list[Path], source: str, out: Path, tmp: Path
) -> ScoreSummary:
    """What the parts hold together; no rows at all, or a lead id in two places, stops the job."""
    rows = sum(r["rows"] for r in found)
    if not rows:
        raise DataError(f"{source}: the data has no rows")
    duplicated = _duplicates_across(files, [r["ids"] for r in found])
    if duplicated:
        raise DataError(duplicated)
    unseen: Counter[str] = Counter()
    for r in found:
        unseen.update(r["unseen"])
    return ScoreSummary(
        out=out,
        rows=rows,
        parts=sum(1 for p in tmp.iterdir() if p.name.startswith("part-")),
        sales_ready=sum(r["sales_ready"] for r in found),
        rules_sales_ready=sum(r["rules_sales_ready"] for r in found),
        unseen=dict(unseen),
        logged=sum(r["logged"] for r in found),
    )
