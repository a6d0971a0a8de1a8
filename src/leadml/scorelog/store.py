"""The score log's database: where it is (`log_url`), its schema brought up to date by Alembic,
and bulk writes (COPY on PostgreSQL, one executemany on SQLite) and reads."""

from __future__ import annotations

import contextlib
import fcntl  # POSIX: leadml runs on Linux and macOS
import functools
import itertools
import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import bindparam, create_engine, event, select, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)

from leadml.errors import LeadmlError
from leadml.runtime import no_gc
from leadml.scorelog.outcomes import ID, MAX_UNKNOWN, OutcomeCounts, changes
from leadml.scorelog.rows import ScoreBatch, in_time_order
from leadml.scorelog.schema import (
    JOB_COLUMNS,
    ROW_COLUMNS,
    SCORE_COLUMNS,
    discarded_jobs,
    jobs,
    outcomes,
    scores,
)
from leadml.spec.features import FeatureSpec

ENV = "LEADML_SCORE_LOG"
WRITES = "leadml_writes"  # an execution option: the transaction writes (`ScoreLog._writing`)
# PostgreSQL's types of ROW_COLUMNS, for COPY's binary format
COPY_TYPES = [
    "int8", "text", "timestamptz", "text", "float8", "text", "bool", "float8", "float8", "bool",
    "text", "bool",
]  # fmt: skip
assert len(COPY_TYPES) == len(ROW_COLUMNS), "COPY_TYPES: one type per ROW_COLUMNS column"
# an outcome as written, and its columns' types for COPY
OUTCOME_COLUMNS = [c.name for c in outcomes.columns if c.name != "id"]
OUTCOME_TYPES = ["text", "int2", "text", "timestamptz", "timestamptz", "text"]
assert len(OUTCOME_TYPES) == len(OUTCOME_COLUMNS), "OUTCOME_TYPES: one type per column"
OFF = "off"
DEFAULT_FILE = "scores.db"
MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's text form of a time on SQLite (UTC)
SQLITE_PARAMETERS = 999  # the most parameters one statement takes in every SQLite build
DISCARD_WAIT_S = 120  # how long giving up a job waits for a transaction still writing it
# PostgreSQL advisory locks: migrating, recording outcomes, and (with the job's name) writing a
# job's scores or giving it up
MIGRATE_LOCK, OUTCOMES_LOCK, JOB_LOCK = 4411, 4412, 4413
LOOKUP_ALL = 20_000  # outcomes for more leads than this read the lookup table whole


class ScoreLogError(LeadmlError):
    """The score log cannot be reached or written; the message names the database.
    `transient`: the database did not answer (trying again later may work), rather than
    refusing what was sent."""

    def __init__(self, message: str, transient: bool = True):
        super().__init__(message)
        self.transient = transient


# what a database that does not answer raises; anything else it raises refuses what was sent
TRANSIENT = (
    OperationalError,
    InterfaceError,
    TimeoutError,
    psycopg.OperationalError,
    sqlite3.OperationalError,
)


def log_url(tracking_uri: str | None = None, env: Mapping[str, str] = os.environ) -> str | None:
    """Where scores are recorded: `LEADML_SCORE_LOG` (a database URL, or `off` for nowhere);
    by default a SQLite file `scores.db` beside MLflow's SQLite file (`tracking_uri`), else in
    the current folder. `postgresql://` URLs use the psycopg driver."""
    given = env.get(ENV, "").strip()
    if given.lower() == OFF:
        return None
    if given:
        if given.startswith(("postgresql://", "postgres://")):
            given = "postgresql+psycopg://" + given.split("://", 1)[1]
        return given
    folder = Path.cwd()
    if tracking_uri and tracking_uri.startswith("sqlite:///"):
        folder = Path(tracking_uri.removeprefix("sqlite:///")).parent
    return f"sqlite:///{folder / DEFAULT_FILE}"


def shown(url: str) -> str:
    """A URL as it may be printed: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _masked(url)


def _masked(url: str) -> str:
    """`scheme://user:secret@host...` as `scheme://user:***@host...`, whatever else is wrong."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL: readers never block the writer; NORMAL sync is durable across a process crash. The
    driver's own transaction handling is off: SQLAlchemy's BEGIN (`_sqlite_begin`) makes a
    migration's DDL and a read of several tables one transaction each."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """A transaction that writes (`WRITES`) takes SQLite's write lock at once, waiting for it up
    to the busy timeout, so it never fails halfway for another writer; a read takes a snapshot."""
    writes = conn.get_execution_options().get(WRITES, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


@functools.cache
def _head() -> str:
    """The newest migration's revision."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head() or ""


class ScoreLog:
    """One score log database. `ScoreLog(url)` connects lazily; `open` also brings its schema
    to the newest migration (run once per process; safe when several start together)."""

    def __init__(self, url: str):
        self.url = url
        try:
            kind = make_url(url).get_backend_name()
        except (ArgumentError, ValueError):
            raise ScoreLogError(
                f"{ENV}: {_masked(url)!r} is not a database URL (sqlite:///PATH, "
                "postgresql://USER:PASSWORD@HOST/DATABASE, or off)",
                transient=False,
            ) from None
        if kind not in ("sqlite", "postgresql"):
            raise ScoreLogError(
                f"{ENV}: a {kind} database is not supported; use SQLite (sqlite:///PATH) or "
                "PostgreSQL (postgresql://USER:PASSWORD@HOST/DATABASE), or off",
                transient=False,
            )
        self.kind = kind
        self._jobs: dict[tuple, int] = {}  # each job's row in `jobs`, once written
        # a database that does not answer is given up on, not waited for (the API spools)
        connect_args = (
            {"connect_timeout": 5, "options": "-c statement_timeout=300000"}
            if kind == "postgresql"
            else {}
        )
        self.engine: Engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
        if kind == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)

    @classmethod
    def open(cls, url: str) -> ScoreLog:
        log = cls(url)
        log.upgrade()
        return log

    def __repr__(self) -> str:
        return f"ScoreLog({shown(self.url)!r})"

    def failure(self, doing: str, exc: Exception) -> ScoreLogError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ScoreLogError(
            f"score log {shown(self.url)}: {doing} failed: {first} ({ENV} names the database; "
            f"{ENV}=off records nothing)",
            transient=isinstance(getattr(exc, "orig", None) or exc, TRANSIENT)
            or isinstance(exc, TRANSIENT),
        )

    # -- schema ---------------------------------------------------------------------------------
    def revision(self) -> str | None:
        """The migration the database is at (None: no tables yet)."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def upgrade(self) -> None:
        """Create or migrate the tables to the newest revision (Alembic)."""
        if self.kind == "sqlite":
            Path(make_url(self.url).database or DEFAULT_FILE).parent.mkdir(
                parents=True, exist_ok=True
            )
        try:
            with self._one_writer():
                self._migrate()
        except SQLAlchemyError as exc:
            raise self.failure("creating its tables", exc) from None

    def _migrate(self) -> None:
        if self.revision() == _head():
            return
        with self._writing() as conn:
            if self.kind == "postgresql":  # two processes starting together: one migrates
                conn.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK})"))
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    @contextlib.contextmanager
    def _one_writer(self) -> Iterator[None]:
        """On SQLite, one process at a time (a lock file beside the database) for what reads
        and then writes: migrating, recording outcomes. PostgreSQL takes advisory locks."""
        if self.kind != "sqlite":
            yield
            return
        db = Path(make_url(self.url).database or DEFAULT_FILE)
        with open(db.with_name(db.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # -- scores ---------------------------------------------------------------------------------
    def write_scores(self, batches: list[ScoreBatch], spec: FeatureSpec) -> int:
        """Append the rows of scored batches (their features read by `spec`): COPY on
        PostgreSQL, the driver's executemany on SQLite, in one transaction. Returns the rows
        written."""
        with self.streaming(spec) as write:
            return sum(write(batch) for batch in batches)

    @contextlib.contextmanager
    def streaming(self, spec: FeatureSpec) -> Iterator[Callable[[ScoreBatch], int]]:
        """One transaction to write scored batches into as they come (`write(batch)` -> its
        rows), committed when the block ends, rolled back if it fails."""
        known: dict[tuple, int] = {}  # the job rows this transaction writes under

        def write(batch: ScoreBatch) -> int:
            if len(batch):
                job_id = self._job_id(conn, batch.job_key(), known)
                self._insert(conn, batch.rows(spec, job_id, self._stamp(batch.scored_at)))
            return len(batch)

        try:
            with self._writing() as conn:
                yield write
        except (SQLAlchemyError, psycopg.Error) as exc:  # COPY goes through psycopg itself
            raise self.failure("writing scores", exc) from None
        self._jobs.update(known)  # known once committed

    def _job_id(self, conn: Connection, key: tuple, known: dict[tuple, int]) -> int:
        """The `jobs` row of a job's scores, looked at once per transaction: the one this
        process wrote before, if it is still there, else a new one. A job given up
        (`discard_job`) takes no more scores: a task still running when its job failed would
        otherwise write them after the job's scores were removed."""
        if key in known:
            return known[key]
        job = key[0]
        if self.kind == "postgresql":  # a `discard_job` of this job waits for this transaction
            conn.execute(text(f"SELECT pg_advisory_xact_lock_shared({JOB_LOCK}, hashtext(:job))"),
                         {"job": job})  # fmt: skip
        given_up = conn.execute(
            select(discarded_jobs.c.discarded_at).where(discarded_jobs.c.job == job)
        ).first()
        if given_up is not None:
            raise ScoreLogError(
                f"score log {shown(self.url)}: job {job} was given up at "
                f"{utc(given_up[0]):%Y-%m-%d %H:%M:%S} UTC (its output never appeared): its "
                "scores are not recorded",
                transient=False,
            )
        found = self._jobs.get(key)
        if found is not None and conn.execute(select(jobs.c.id).where(jobs.c.id == found)).first():
            known[key] = found
            return found
        added = conn.execute(jobs.insert().values(dict(zip(JOB_COLUMNS, key, strict=True))))
        assert added.inserted_primary_key is not None
        known[key] = int(added.inserted_primary_key[0])
        return known[key]

    def _stamp(self, when: datetime) -> object:
        """A time as this database's driver takes it (SQLite: SQLAlchemy's text form, UTC)."""
        stamp = utc(when)
        return stamp.strftime(SQLITE_TIME) if self.kind == "sqlite" else stamp

    def _insert(self, conn: Connection, rows: list[tuple]) -> None:
        self._copy(conn, "scores", ROW_COLUMNS, COPY_TYPES, rows)

    def _copy(
        self, conn: Connection, table: str, columns: list[str], types: list[str], rows: list[tuple]
    ) -> None:
        """Append `rows` (tuples of `columns`, values as the driver takes them) to `table`:
        COPY on PostgreSQL (`types`: its columns' types), the driver's executemany on SQLite."""
        names = ", ".join(columns)
        if self.kind == "postgresql":
            driver = conn.connection.driver_connection  # psycopg's, in this transaction
            assert driver is not None
            # binary: half the client's work of the text format (psycopg's C dumpers)
            query = f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)"
            with driver.cursor().copy(query) as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
            return
        # SQLite: the driver's own executemany, no per-value processing, of statements of many
        # rows each (a fifth less work than a row a statement), as many as any build takes
        one = f"({', '.join('?' * len(columns))})"
        per = max(1, SQLITE_PARAMETERS // len(columns))
        whole = len(rows) - len(rows) % per
        flat = itertools.chain.from_iterable
        if whole:
            query = f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * per)}"
            chunks = [tuple(flat(rows[i : i + per])) for i in range(0, whole, per)]
            conn.exec_driver_sql(query, chunks)
        if whole < len(rows):
            rest = rows[whole:]
            query = f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * len(rest))}"
            conn.exec_driver_sql(query, tuple(flat(rest)))

    def _outcome_rows(self, new: pd.DataFrame, now: datetime, source: str) -> list[tuple]:
        """Outcome rows (`outcome_rows`) as `_copy` takes them, in OUTCOME_COLUMNS order."""
        decided = pd.to_datetime(new["decided_at"], utc=True)
        given = decided.notna().to_numpy()
        if self.kind == "sqlite":  # SQLAlchemy's text form of a time (`_stamp`)
            times = decided.dt.strftime(SQLITE_TIME).to_numpy(dtype=object)
        else:
            times = np.array(decided.dt.to_pydatetime(), dtype=object)
        times[~given] = None
        n = len(new)
        return list(
            zip(
                new[ID].tolist(),
                new["outcome"].astype(int).tolist(),
                new["value"].tolist(),
                times.tolist(),
                [self._stamp(now)] * n,
                [source] * n,
                strict=True,
            )
        )

    def discard_job(self, job: str) -> int:
        """Give up a failed job (a `leadml predict` whose output never appeared, on either
        engine): from now on none of its scores is taken (`_job_id`) nor read (`read_scores`),
        and the rows it wrote are removed, once a transaction still writing them is done
        (PostgreSQL: waited for up to DISCARD_WAIT_S)."""
        try:  # first, on its own: a writer that has not looked yet takes nothing more
            with self._writing() as conn:
                known = select(discarded_jobs.c.job).where(discarded_jobs.c.job == job)
                if not conn.execute(known).first():
                    given_up = {"job": job, "discarded_at": datetime.now(UTC)}
                    conn.execute(discarded_jobs.insert().values(given_up))
        except SQLAlchemyError as exc:
            doing = f"giving up job {job} (the rows it wrote stay in the score log)"
            raise self.failure(doing, exc) from None
        self._jobs = {k: v for k, v in self._jobs.items() if k[0] != job}
        named = select(jobs.c.id).where(jobs.c.job == job).scalar_subquery()
        try:
            with self._writing() as conn:  # SQLite: one writing transaction at a time
                if self.kind == "postgresql":  # after the writers that looked before
                    conn.execute(text(f"SET LOCAL lock_timeout = '{DISCARD_WAIT_S}s'"))
                    conn.execute(text(f"SELECT pg_advisory_xact_lock({JOB_LOCK}, hashtext(:job))"),
                                 {"job": job})  # fmt: skip
                gone = conn.execute(scores.delete().where(scores.c.job_id.in_(named)))
                conn.execute(jobs.delete().where(jobs.c.job == job))
        except SQLAlchemyError as exc:
            doing = f"removing the scores of job {job} (given up: they are never read)"
            raise self.failure(doing, exc) from None
        return int(gone.rowcount or 0)

    def give_up(self, job: str, warn: Callable[[str], None]) -> None:
        """`discard_job` for a job that failed: what the score log cannot do is said (`warn`),
        not raised; the job's own failure is what counts."""
        try:
            self.discard_job(job)
        except ScoreLogError as exc:
            warn(str(exc))

    def read_scores(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """Score rows scored in [since, until), oldest first (a job given up has none);
        `columns` (default all, besides `id` and `scored_at`, which always come) reads fewer."""
        where, params = [], {}
        if since is not None:
            where.append("s.scored_at >= :since")
            params["since"] = self._when(since)
        if until is not None:
            where.append("s.scored_at < :until")
            params["until"] = self._when(until)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        columns = SCORE_COLUMNS if columns is None else columns
        _check_columns(columns, SCORE_COLUMNS, "score log")
        wanted = dict.fromkeys(["id", "scored_at", *columns])
        own = [c for c in wanted if c not in JOB_COLUMNS]
        shared = [c for c in wanted if c in JOB_COLUMNS]
        # in the order written, sorted here if need be (`in_time_order`): cheaper than the
        # database's sort of a million rows (PostgreSQL's spills to disk)
        query = f"SELECT {', '.join(self._selected([*own, 'job_id'], 's'))} FROM scores s{clause}"
        # a job's columns are read once per job and spread over its rows here (a million rows do
        # not bring a million copies of the same names), from the jobs of exactly these rows; a
        # job given up is not one (`discard_job`)
        named_jobs = (
            f"SELECT {', '.join(['id', *shared])} FROM jobs "
            "WHERE job NOT IN (SELECT job FROM discarded_jobs)"
        )
        with self._snapshot("reading scores") as conn:
            frame = self._query(conn, query, params, ("scored_at",))
            named = self._query(conn, named_jobs, {}, ())
        at = pd.Index(named["id"]).get_indexer(frame.pop("job_id"))
        if (at < 0).any():  # rows of a job given up, or removed, written before it was
            frame, at = frame[at >= 0].reset_index(drop=True), at[at >= 0]
        for column in shared:
            frame[column] = named[column].to_numpy()[at]
        return in_time_order(frame[list(wanted)])

    def _when(self, value: datetime) -> datetime:
        """A bound as this database compares it: UTC (SQLite keeps times without a zone)."""
        stamp = utc(value)
        return stamp.replace(tzinfo=None) if self.kind == "sqlite" else stamp

    def count_scores(self) -> int:
        try:
            with self.engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM scores")).scalar_one())
        except SQLAlchemyError as exc:
            raise self.failure("counting scores", exc) from None

    # -- outcomes -------------------------------------------------------------------------------
    def record_outcomes(
        self, rows: pd.DataFrame, source: str, still_open: int = 0
    ) -> OutcomeCounts:
        """Record outcomes (`outcome_rows`): a lead's first outcome and each change are new
        rows, the same outcome again is counted unchanged; leads never scored are recorded
        and counted (the CRM may report leads scored before the log began)."""
        counts = OutcomeCounts(received=len(rows) + still_open, still_open=still_open)
        if rows.empty:
            return counts
        leads = list(dict.fromkeys(rows[ID]))
        now = datetime.now(UTC)
        try:
            with self._one_writer(), self._writing() as conn:
                if self.kind == "postgresql":  # one writer of outcomes at a time
                    conn.execute(text(f"SELECT pg_advisory_xact_lock({OUTCOMES_LOCK})"))
                last = dict(
                    self._lookup(conn, "SELECT lead_id, outcome FROM outcomes", "id", leads)
                )
                new = changes(rows, last)
                found = self._lookup(conn, "SELECT DISTINCT lead_id FROM scores", "lead_id", leads)
                scored = {lead for (lead,) in found}
                if len(new):
                    self._copy(conn, "outcomes", OUTCOME_COLUMNS, OUTCOME_TYPES,
                               self._outcome_rows(new, now, source))  # fmt: skip
        except (SQLAlchemyError, psycopg.Error) as exc:  # COPY goes through psycopg itself
            raise self.failure(f"recording {len(rows):,} outcome(s)", exc) from None
        unknown = [lead for lead in leads if lead not in scored]
        counts.recorded, counts.unchanged = len(new), len(rows) - len(new)
        counts.unknown, counts.unknown_ids = len(unknown), unknown[:MAX_UNKNOWN]
        return counts

    @staticmethod
    def _lookup(conn: Connection, query: str, order: str, leads: list[str]) -> list[tuple]:
        """`query`'s rows (their first column a lead id) for these leads, sorted by `order`:
        by `IN` lists for a few leads, else the whole table read and filtered here."""
        if len(leads) > LOOKUP_ALL:
            wanted = set(leads)
            found = conn.exec_driver_sql(f"{query} ORDER BY {order}").all()
            return [tuple(r) for r in found if r[0] in wanted]
        rows: list[tuple] = []
        for start in range(0, len(leads), 500):
            part = leads[start : start + 500]
            where = text(f"{query} WHERE lead_id IN :ids ORDER BY {order}").bindparams(
                bindparam("ids", expanding=True)
            )
            rows += [tuple(r) for r in conn.execute(where, {"ids": part}).all()]
        return rows

    def read_outcomes(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Outcome rows in the order received; `columns` (default all, besides `id`, which
        always comes) reads fewer."""
        known = [c.name for c in outcomes.columns]
        wanted = known if columns is None else list(dict.fromkeys(["id", *columns]))
        _check_columns(wanted, known, "outcomes")
        query = f"SELECT {', '.join(self._selected(wanted, 'o'))} FROM outcomes o ORDER BY id"
        dates = tuple(c for c in ("decided_at", "received_at") if c in wanted)
        return self._read(query, {}, "reading outcomes", dates)

    def _read(
        self, query: str, params: dict[str, Any], doing: str, dates: tuple[str, ...]
    ) -> pd.DataFrame:
        """A query's rows (`_query`) in a transaction of their own."""
        with self._snapshot(doing) as conn:
            return self._query(conn, query, params, dates)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A transaction that writes (on SQLite, holding the write lock from its start)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{WRITES: True})
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def _snapshot(self, doing: str) -> Iterator[Connection]:
        """A read-only transaction: every query in it sees the database as it was at its first
        (SQLite's WAL snapshot; PostgreSQL's repeatable read)."""
        try:
            with self.engine.connect() as conn:
                if self.kind == "postgresql":
                    conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    yield conn
        except (SQLAlchemyError, psycopg.Error, sqlite3.Error) as exc:
            raise self.failure(doing, exc) from None

    def _query(
        self, conn: Connection, query: str, params: dict[str, Any], dates: tuple[str, ...]
    ) -> pd.DataFrame:
        """A query's rows as the driver gives them, straight from its cursor (no per-value
        processing: a million rows in seconds), its time columns read as UTC at once.
        `query` names its parameters `:name`."""
        driver: Any = conn.connection.driver_connection
        if self.kind == "postgresql":  # psycopg's style; values in binary (a fifth less work)
            query = re.sub(r"(?<!:):([a-z_]+)", r"%(\1)s", query)
            cursor = driver.cursor(binary=True)
        else:
            cursor = driver.cursor()
        try:
            with no_gc():
                cursor.execute(query, params)
                names = [d[0] for d in cursor.description]
                frame = _frame(names, cursor.fetchall())
        finally:
            cursor.close()
        for column in dates:  # SQLite's text, or PostgreSQL's microseconds (`_selected`)
            values = frame[column]
            frame[column] = (
                pd.to_datetime(values, utc=True, unit="us")
                if pd.api.types.is_numeric_dtype(values)
                else _times(values)
            )
        return frame

    def _selected(self, columns: list[str], table: str) -> list[str]:
        """A SELECT list of `table`'s columns. PostgreSQL's times come as whole microseconds
        since 1970: a million datetime objects take seconds to convert, numbers none."""
        times = ("scored_at", "decided_at", "received_at")
        return [
            f"(EXTRACT(EPOCH FROM {table}.{c}) * 1000000)::bigint AS {c}"
            if self.kind == "postgresql" and c in times
            else f"{table}.{c}"
            for c in columns
        ]


def _times(values: pd.Series) -> pd.Series:
    """ISO 8601 text as UTC times, each distinct text read once (a job's or a request's scores
    share their time)."""
    codes, distinct = pd.factorize(values.to_numpy(dtype=object))
    if len(distinct) > len(values) // 2:
        return pd.to_datetime(values, utc=True, format="ISO8601")
    read = pd.DatetimeIndex(pd.to_datetime(distinct, utc=True, format="ISO8601"))
    return pd.Series(read.array.take(codes, allow_fill=True), index=values.index)  # -1: missing


def _check_columns(asked: list[str], known: list[str], table: str) -> None:
    unknown = sorted(set(asked) - set(known))
    if unknown:
        raise ValueError(f"no such {table} column(s): {unknown}")


def _frame(names: list[str], rows: list[tuple]) -> pd.DataFrame:
    """A query's rows as columns: numbers as numpy arrays, anything else (text, times) as Python
    objects (for a million rows, a third of the time pandas takes to make its own strings)."""
    if not rows:
        return pd.DataFrame(columns=names)
    data: dict[str, Any] = {}
    for name, values in zip(names, zip(*rows, strict=True), strict=True):
        first = next((v for v in values if v is not None), None)
        if isinstance(first, bool | int | float):
            column = np.array(values)
            data[name] = column if column.dtype != object else pd.to_numeric(pd.Series(column))
        else:
            data[name] = pd.Series(np.array(values, dtype=object), dtype=object)
    return pd.DataFrame(data, copy=False)


def utc(value: datetime) -> datetime:
    """A time in UTC (a time without a zone is taken as UTC)."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
