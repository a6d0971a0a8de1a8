"""Training runs that outlive their process: each run is tagged with the process that owns it and
marked FAILED when that process is stopped (SIGTERM, SIGINT); a run whose process died without
a word (`kill -9`, a lost machine) is closed as FAILED by the next `leadml train`."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import mlflow
from mlflow.entities import RunStatus

from leadml.errors import LeadmlError
from leadml.registry.failures import STORE_ERRORS, store_errors
from leadml.registry.owner import Owner
from leadml.registry.store import client

STOPPED_TAG = "leadml.failed_because"  # why a run is FAILED: a signal, or its process vanished
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RunStopped(LeadmlError):
    """The process got SIGTERM or SIGINT while a training run was open."""

    def __init__(self, signum: int, run_id: str = "") -> None:
        self.signum = signum
        self.run_id = run_id
        run = f"; MLflow run {run_id} marked FAILED" if run_id else ""
        super().__init__(f"stopped by {signal.Signals(signum).name}{run}")


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise RunStopped in the block, once: a second signal acts as usual
    (stops the process at once). Ignored signals (`nohup`) stay ignored; outside the main
    thread, signals are left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}

    def stop(signum: int, frame: object) -> None:
        for s, handler in previous.items():
            signal.signal(s, handler)
        raise RunStopped(signum)

    for s, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(s, stop)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def owned_run(experiment_id: str, run_name: str) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run tagged with this process (pid, host, start time): FINISHED when the block
    ends, FAILED (tagged why) when it raises or the process gets SIGTERM or SIGINT."""
    tags = Owner.this_process().tags()
    with (
        _stop_on_signals(),
        mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run,
    ):
        try:
            yield run
        except RunStopped as exc:
            with contextlib.suppress(*STORE_ERRORS):  # the FAILED status matters more
                mlflow.set_tag(STOPPED_TAG, str(exc))
            raise RunStopped(exc.signum, run.info.run_id) from None


@dataclass(frozen=True)
class Orphan:
    run_id: str
    run_name: str
    started: str  # when the run started, UTC
    why: str


def close_orphaned_runs(experiment: str) -> list[Orphan]:
    """Close as FAILED (tagged why) the experiment's RUNNING runs whose process is gone; returns
    them. Runs of live processes, of other hosts and not started by leadml are left alone."""
    with store_errors(f"closing orphaned runs of experiment '{experiment}'"):
        c = client()
        exp = c.get_experiment_by_name(experiment)
        if exp is None:
            return []
        running = c.search_runs(
            [exp.experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
        )
        orphans = [o for o in map(_orphan, running) if o is not None]
        me = Owner.this_process()
        for orphan in orphans:
            closed = f"closed by leadml train (pid {me.pid} on {me.host}): {orphan.why}"
            c.set_tag(orphan.run_id, STOPPED_TAG, closed)
            c.set_terminated(orphan.run_id, RunStatus.to_string(RunStatus.FAILED))
    return orphans


def _orphan(run) -> Orphan | None:
    """The run as an Orphan when the process that owns it is gone, else None."""
    owner = Owner.from_tags(run.data.tags)
    why = owner.gone() if owner is not None else None
    if why is None:
        return None
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run.info.start_time / 1000))
    return Orphan(run.info.run_id, run.info.run_name or "", started, why)
