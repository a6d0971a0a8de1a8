"""The score log's spool: recording the API's scores without making a request wait on the
database, or on the work of turning scores into rows.

A request only queues what it scored (`ScoreRecorder.record`: a `ScoreBatch` of arrays, one list
append). A thread of the worker writes the queue every `interval` seconds to the spool on local
disk: one segment file a turn (pickled batches, written to a temporary name and renamed when
complete), while the spool holds less than `max_spool_bytes`; beyond that a turn's scores are
dropped, counted and logged as an error. A writer process (`run_writer`, one per worker, in a
session of its own so a signal to the server's process group does not cut it short) takes
the segments oldest first, turns them into rows and writes them to the database, removing each
segment once its rows are committed; while the database does not answer, segments wait on disk
and the writer tries again every `retry_after` seconds. The writer runs at a lower priority
(`WRITER_NICE`): on a machine whose cores are all busy answering requests, the scores wait in
the spool and are written as soon as there is time, rather than slowing the answers. Segments
left by a process that stopped are written by the next one. `stop` (on shutdown) spools what is
queued and lets the writer write everything spooled, or leave it on disk if the database does
not answer: nothing is lost on a clean shutdown.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path

from leadml.scorelog.rows import ScoreBatch
from leadml.scorelog.store import ScoreLog, ScoreLogError, shown
from leadml.spec.features import FeatureSpec, parse_spec

log = logging.getLogger("leadml.score_log")

STATES = ("queued", "spooled", "dropped", "written")  # and set_aside: segments refused
# /metrics' count of rows by state: the worker counts queued/spooled/dropped, the writer the rest
ROWS_METRIC = ("leadml_score_log_rows", "Scores for the score log, by state.", ["state"])
Count = Callable[[str, int], None]  # (state, rows): for /metrics
SEGMENT = ".scores"
WRITER_LOG = "writer.log"
SET_ASIDE = "set-aside"  # segments the database refuses (not for want of answering)
FINISH = b"finish\n"  # on the writer's stdin: write what is spooled, then stop
WRITER_NICE = 10  # added to the writer process's niceness: answering requests comes first


class ScoreRecorder:
    """Queue and spool the API's scores; a writer process writes them (see the module). `spec`
    reads the scores; it may be given after `start`, before the first `record`."""

    def __init__(
        self,
        url: str,
        spec: FeatureSpec | None,
        spool: Path,
        *,
        max_spool_bytes: int = 512 << 20,
        interval: float = 0.25,
        retry_after: float = 2.0,
        count: Count | None = None,
        job: bool = False,
    ):
        self.url = url
        self.job = job  # a batch job's recorder: its writer writes nothing more if it is gone
        self.spec = spec
        self.spool = Path(spool)
        self.max_spool_bytes = max_spool_bytes
        self.interval = interval
        self.retry_after = retry_after
        self.counts = dict.fromkeys(STATES, 0)  # this process's: the writer counts `written`
        self._count = count
        self._queue: deque[ScoreBatch] = deque()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._writer: subprocess.Popen | None = None
        self._spooled_bytes = 0
        self._measured_at = 0.0
        self._spec_json: str | None = None  # of `spec`, which may be set after `start`

    # -- the request's side: never waits ------------------------------------------------------
    def record(self, batch: ScoreBatch) -> None:
        """Queue a request's scores."""
        self._queue.append(batch)
        self._add("queued", len(batch))

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> ScoreRecorder:
        self.spool.mkdir(parents=True, exist_ok=True)
        # the writer: a process of its own (`python -m leadml.scorelog.spool`) in a session of
        # its own, SIGTERM and SIGINT ignored from its first instruction (the shell's `trap`,
        # kept over `exec`): a stop of the server signals every process it started. It reads its
        # settings from its stdin (the database URL stays off the command line); closing that
        # pipe (or this process ending) tells it to write what is spooled and stop. It logs to a
        # file of its own: the server's output may be gone before it finishes.
        command = f"trap '' TERM INT; exec {shlex.quote(sys.executable)} -m leadml.scorelog.spool"
        with (self.spool / WRITER_LOG).open("ab") as out:
            self._writer = subprocess.Popen(
                ["/bin/sh", "-c", command],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        settings = {
            "url": self.url,
            "spool": str(self.spool),
            "interval": self.interval,
            "retry_after": self.retry_after,
            "job": self.job,
        }
        assert self._writer.stdin is not None
        self._writer.stdin.write(json.dumps(settings).encode() + b"\n")
        self._writer.stdin.flush()
        self._thread = threading.Thread(target=self._run, name="leadml-score-spool", daemon=True)
        self._thread.start()
        log.info(
            "score log: recording to %s (spool %s, writer process %d)",
            shown(self.url),
            self.spool,
            self._writer.pid,
        )
        return self

    def stop(self, timeout: float | None = 60.0) -> None:
        """Spool everything queued, then let the writer write the spool and stop."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:  # what came after the thread's last turn
            self._spool_queue()
        except Exception:
            self._add("dropped", sum(len(b) for b in self._queue))
            log.exception("score log: the last scores could not be spooled; DROPPED")
        if self._writer is not None and self._writer.stdin is not None:
            try:  # the writer writes what is spooled, then stops
                self._writer.stdin.write(FINISH)
                self._writer.stdin.close()
            except BrokenPipeError:  # it is gone already: the spool keeps what it did not write
                log.error("score log: the writer process had stopped; see %s", WRITER_LOG)
            try:
                self._writer.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("score log: the writer did not finish in %.0f s; stopping it", timeout)
                self._writer.kill()
        log.info("score log: stopped (%s)", ", ".join(f"{k} {v}" for k, v in self.counts.items()))

    def writer_gone(self) -> bool:
        """Whether the writer process has stopped (before `stop`: it died)."""
        return self._writer is not None and self._writer.poll() is not None

    def abandon(self) -> None:
        """Stop at once: the queue is forgotten and the writer killed (its open transaction is
        rolled back; what it committed stays)."""
        self._stopping.set()
        self._queue.clear()
        if self._thread is not None:
            self._thread.join()
        if self._writer is not None:
            self._writer.kill()
            self._writer.wait()

    def flush(self) -> None:
        """Spool what is queued now (the thread does it every `interval`)."""
        self._spool_queue()

    # -- the worker's thread ------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self._spool_queue()
            except Exception:  # never let the thread die: the API would stop recording
                log.exception("score log: spooling failed; the scores stay queued")
        try:
            self._spool_queue()
        except Exception:
            log.exception("score log: spooling failed; the scores stay queued")

    def _spool_queue(self) -> None:
        batches = []
        while self._queue:
            batches.append(self._queue.popleft())
        if not batches:
            return
        try:
            self._spool_batches(batches)
        except BaseException:  # back to the front of the queue, in order: tried again later
            self._queue.extendleft(reversed(batches))
            raise

    def _spool_batches(self, batches: list[ScoreBatch]) -> None:
        rows = sum(len(b) for b in batches)
        if self._spool_full():
            self._add("dropped", rows)
            log.error(
                "score log %s: DROPPED %d scores: the database is not keeping up and the spool "
                "%s is full (%d bytes; LEADML_SCORE_LOG_SPOOL_MB)",
                shown(self.url),
                rows,
                self.spool,
                self._spooled_bytes,
            )
            return
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:6]}{SEGMENT}"
        tmp = self.spool / f".{name}.tmp"
        segment = {"spec": self._spec_text(), "batches": batches}  # decoded by their own spec
        data = pickle.dumps(segment, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.write_bytes(data)
        tmp.rename(self.spool / name)
        self._spooled_bytes += len(data)
        self._add("spooled", rows)

    def _spec_text(self) -> str:
        if self.spec is None:
            raise ValueError("the recorder has no spec to read its scores by")
        if self._spec_json is None:
            self._spec_json = self.spec.model_dump_json(by_alias=True)
        return self._spec_json

    def _spool_full(self) -> bool:
        """Whether the spool holds `max_spool_bytes` (measured again at least every second)."""
        now = time.monotonic()
        if now - self._measured_at > 1.0:
            self._spooled_bytes = sum(_size(p) for p in segments(self.spool, True))
            self._measured_at = now
        return self._spooled_bytes >= self.max_spool_bytes

    def _add(self, state: str, n: int) -> None:
        self.counts[state] += n
        if self._count is not None:
            self._count(state, n)


# -- the writer process ---------------------------------------------------------------------------
def run_writer() -> None:
    """The writer process: its settings on stdin's first line (JSON: url, spool, interval,
    retry_after, job); then write the spool's segments to the score log, oldest first, every
    `interval` seconds until stdin closes, then once more (what is left waits on disk if the
    database does not answer). A batch job's writer whose job went without saying `FINISH`
    (killed) writes nothing more: the job's output never appeared, so neither do its scores
    (a server's writer writes its spool whatever happened to the server)."""
    from leadml.runtime import configure

    _ignore_stop_signals()  # (already, when started by a recorder)
    os.nice(WRITER_NICE)
    configure()
    settings = json.loads(sys.stdin.buffer.readline())
    stop, said = threading.Event(), list[bytes]()
    threading.Thread(target=_stop_at_eof, args=(stop, said), daemon=True).start()
    spool = Path(settings["spool"])
    writer = _Writer(ScoreLog(settings["url"]), spool, settings["retry_after"], _written_counter())
    writer.reclaim()
    while True:
        stopping = stop.wait(settings["interval"])
        if stopping and settings.get("job") and FINISH not in said:
            log.error("score log: the job is gone; its spooled scores are not written")
            return
        writer.write_spool(final=stopping)
        if stopping:
            return


def _ignore_stop_signals() -> None:
    """The writer finishes the spool when its worker closes the pipe, never halfway: a stop
    of the server signals every process it started."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_at_eof(stop: threading.Event, said: list[bytes]) -> None:
    said.extend(sys.stdin.buffer.read().splitlines(keepends=True))
    stop.set()


def _written_counter() -> Count:
    """Rows written, for the service's /metrics: the same series the worker counts the other
    states in (`leadml_score_log_rows_total`), in Prometheus' multiprocess files when the
    service keeps them; nowhere otherwise."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return lambda state, n: None
    import prometheus_client

    rows = prometheus_client.Counter(*ROWS_METRIC)
    return lambda state, n: rows.labels(state).inc(n)


class _Writer:
    def __init__(self, score_log: ScoreLog, spool: Path, retry_after: float, count: Count):
        self.log, self.spool = score_log, spool
        self.retry_after = retry_after
        self.count = count
        self.down_since: float | None = None
        self.retry_at = 0.0
        self.migrated = False
        self.specs: dict[str, FeatureSpec] = {}

    def write_spool(self, final: bool = False) -> None:
        if time.monotonic() < self.retry_at and not final:
            return
        try:
            if not self.migrated:  # the service may have started while the database was down
                self.log.upgrade()
                self.migrated = True
            for segment in segments(self.spool):
                self._write(segment)
        except ScoreLogError as exc:  # the database does not answer: the segments wait
            now = time.monotonic()
            self.retry_at = now + self.retry_after
            if self.down_since is None:
                self.down_since = now
                log.error("%s; scores wait in %s until it answers", exc, self.spool)
            return
        if self.down_since is not None:
            log.warning(
                "score log %s: writing again after %.0f s",
                shown(self.log.url),
                time.monotonic() - self.down_since,
            )
            self.down_since = None

    def _write(self, segment: Path) -> None:
        claimed = segment.with_name(f"{segment.name}.writing-{os.getpid()}")
        try:
            segment.rename(claimed)  # another writer may have taken it
        except FileNotFoundError:
            return
        try:
            found = pickle.loads(claimed.read_bytes())
            written = self.log.write_scores(found["batches"], self._spec(found["spec"]))
        except ScoreLogError as exc:
            if exc.transient:
                claimed.rename(segment)
                raise
            self._set_aside(claimed, segment, exc)
            return
        except Exception as exc:  # a segment that cannot be read or written as it is
            self._set_aside(claimed, segment, exc)
            return
        except BaseException:
            claimed.rename(segment)
            raise
        claimed.unlink()
        self.count("written", written)

    def _spec(self, text: str) -> FeatureSpec:
        if text not in self.specs:
            self.specs[text] = parse_spec(json.loads(text), "a spooled segment's spec")
        return self.specs[text]

    def _set_aside(self, claimed: Path, segment: Path, exc: Exception) -> None:
        """Keep a segment the database refuses as it is (never again in the way of the others)."""
        aside = self.spool / SET_ASIDE
        aside.mkdir(exist_ok=True)
        claimed.rename(aside / segment.name)
        log.error(
            "score log: could not write %s (%s: %s); kept in %s, the next segments go on",
            segment.name,
            type(exc).__name__,
            exc,
            aside,
        )
        self.count("set_aside", 1)

    def reclaim(self) -> None:
        """Segments a writer that died was writing go back to the spool (its rows may have
        been committed just before it died: then they are written twice); temporary files of a
        process that died are removed (never complete)."""
        for claimed in self.spool.glob(f"*{SEGMENT}.writing-*"):
            if not _alive(int(claimed.name.rsplit("-", 1)[1])):
                claimed.rename(claimed.with_name(claimed.name.split(".writing-")[0]))
        for tmp in self.spool.glob(f".*{SEGMENT}.tmp"):
            if not _alive(int(tmp.name.split("-")[1])):
                tmp.unlink(missing_ok=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # written and removed meanwhile
        return 0


def segments(spool: Path, claimed: bool = False) -> list[Path]:
    """The spool's complete segments, oldest first (with `claimed`, also those being written)."""
    found = list(spool.glob(f"*{SEGMENT}"))
    if claimed:
        found += spool.glob(f"*{SEGMENT}.writing-*")
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(levelname)s] %(message)s")
    run_writer()
