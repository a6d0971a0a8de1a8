"""Recording the API's scores in the score log without making a request wait on the database.

A request only queues what it scored (`ScoreRecorder.record`: a list append). A background
thread turns the queue into rows every `interval` seconds and writes them in one batch. When the
database is down or slow, batches go to a spool on local disk (Parquet segments, written to a
temporary name and renamed when complete), bounded by `max_spool_bytes`; they are written,
oldest first, when the database answers again, also by the next process that starts. A batch
that finds the spool full is dropped, counted and logged as an error. `stop` (on shutdown)
writes what is queued, or spools it: nothing is lost on a clean shutdown.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from leadml.scorelog import ScoreLog
from leadml.scorelog.store import ScoreLogError, shown

log = logging.getLogger("leadml.score_log")

STATES = ("queued", "written", "spooled", "dropped")
Rows = Callable[[], pd.DataFrame]  # builds a request's rows, on the recorder's thread
Count = Callable[[str, int], None]  # (state, rows): for /metrics
SEGMENT = ".parquet"


class ScoreRecorder:
    """Queue, spool and write the API's score rows (see the module)."""

    def __init__(
        self,
        score_log: ScoreLog,
        spool: Path,
        *,
        max_spool_bytes: int = 512 << 20,
        interval: float = 0.25,
        retry_after: float = 2.0,
        count: Count | None = None,
    ):
        self.log = score_log
        self.spool = Path(spool)
        self.max_spool_bytes = max_spool_bytes
        self.interval = interval
        self.retry_after = retry_after
        self.counts = dict.fromkeys(STATES, 0)
        self._count = count
        self._queue: deque[Rows] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._down_since: float | None = None
        self._retry_at = 0.0

    # -- the request's side: never waits ------------------------------------------------------
    def record(self, rows: Rows, n: int) -> None:
        """Queue a request's `n` scores (`rows` builds them later, off the request)."""
        self._queue.append(rows)
        self._add("queued", n)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> ScoreRecorder:
        self.spool.mkdir(parents=True, exist_ok=True)
        self._reclaim()
        self._thread = threading.Thread(target=self._run, name="leadml-score-log", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Write (or spool) everything queued, then stop the thread."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def flush(self) -> None:
        """Deliver what is queued now, on the caller's thread (tests; the thread does it too)."""
        self._deliver(self._drain())

    @property
    def spooled_bytes(self) -> int:
        return sum(p.stat().st_size for p in self._segments())

    # -- the recorder's thread --------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self._deliver(self._drain())
            except Exception:  # never let the thread die: the API would stop recording
                log.exception("score log: recording failed")
        try:
            self._deliver(self._drain(), final=True)
        except Exception:
            log.exception("score log: the last rows could not be written or spooled")

    def _drain(self) -> pd.DataFrame | None:
        parts = []
        while self._queue:
            build = self._queue.popleft()
            try:
                parts.append(build())
            except Exception:
                log.exception("score log: a request's rows could not be built; dropped")
        parts = [p for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True) if parts else None

    def _deliver(self, rows: pd.DataFrame | None, final: bool = False) -> None:
        """Write the spool's segments, oldest first, then `rows`; what the database does not
        take is spooled."""
        if time.monotonic() < self._retry_at and not final:
            self._to_spool(rows)
            return
        try:
            for segment in self._segments():
                self._write_segment(segment)
            if rows is not None:
                self.log.write_scores(rows)
                self._add("written", len(rows))
        except ScoreLogError as exc:
            self._outage(exc)
            self._to_spool(rows)
            return
        if self._down_since is not None:
            log.warning(
                "score log %s: writing again after %.0f s; the spool is written",
                shown(self.log.url),
                time.monotonic() - self._down_since,
            )
            self._down_since = None

    def _outage(self, exc: Exception) -> None:
        now = time.monotonic()
        self._retry_at = now + self.retry_after
        if self._down_since is None:
            self._down_since = now
            log.error("%s; spooling scores to %s until it answers", exc, self.spool)

    def _write_segment(self, segment: Path) -> None:
        claimed = segment.with_name(f"{segment.name}.writing-{os.getpid()}")
        try:
            segment.rename(claimed)  # another process may have taken it
        except FileNotFoundError:
            return
        try:
            rows = pd.read_parquet(claimed)
            self.log.write_scores(rows)
        except BaseException:
            claimed.rename(segment)
            raise
        claimed.unlink()
        self._add("written", len(rows))

    def _to_spool(self, rows: pd.DataFrame | None) -> None:
        if rows is None or not len(rows):
            return
        used = self.spooled_bytes
        if used >= self.max_spool_bytes:
            self._add("dropped", len(rows))
            log.error(
                "score log %s: DROPPED %d scores: the database is not answering and the spool "
                "%s is full (%d bytes; LEADML_SCORE_LOG_SPOOL_MB)",
                shown(self.log.url),
                len(rows),
                self.spool,
                used,
            )
            return
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:6]}{SEGMENT}"
        tmp = self.spool / f".{name}.tmp"
        rows.to_parquet(tmp, index=False)
        tmp.rename(self.spool / name)
        self._add("spooled", len(rows))

    def _segments(self) -> list[Path]:
        return sorted(self.spool.glob(f"*{SEGMENT}"))

    def _reclaim(self) -> None:
        """Segments a process that died was writing go back to the spool (its rows may have
        reached the database just before it died: then they are written twice)."""
        for claimed in self.spool.glob(f"*{SEGMENT}.writing-*"):
            pid = int(claimed.name.rsplit("-", 1)[1])
            if not _alive(pid):
                claimed.rename(claimed.with_name(claimed.name.split(".writing-")[0]))
        for tmp in self.spool.glob(f".*{SEGMENT}.tmp"):  # cut short by a process that died
            if not _alive(int(tmp.name.split("-")[1])):
                tmp.unlink(missing_ok=True)

    def _add(self, state: str, n: int) -> None:
        self.counts[state] += n
        if self._count is not None:
            self._count(state, n)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
