"""Connecting to a Dask cluster: a local one sized to this machine, or a scheduler by address,
with a note on workers whose memory settings slow scoring down."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

import dask
from leadml import runtime
from leadml.cluster.scoring import Say
from leadml.errors import ConfigError


@contextmanager
def connect(scheduler: str | None = None, say: Say = lambda _: None) -> Iterator[Client]:
    """A client for the scheduler at `scheduler`, or for a local cluster sized to this machine
    (one single-threaded worker process per core), closed on exit."""
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
