"""The MLflow tracking store: where runs and models go, and a client for it."""

from __future__ import annotations

import contextlib
import fcntl  # POSIX: leadml runs on Linux and macOS
import functools
import os
from collections.abc import Iterator
from pathlib import Path

import mlflow
import mlflow.pyfunc
from mlflow.exceptions import MlflowException

from leadml.runtime import configure

DEFAULT_DB = "mlflow.db"


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI`, or a SQLite file `mlflow.db` in the current folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / DEFAULT_DB}"


def _artifact_root(uri: str) -> str | None:
    """Beside a SQLite tracking file, artifacts go to `mlartifacts/` next to it."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return (db.parent / "mlartifacts").resolve().as_uri()
    return None


@contextlib.contextmanager
def _one_process_at_a_time(uri: str) -> Iterator[None]:
    """For a SQLite file: hold a lock on its folder (other stores: nothing to hold)."""
    folder = Path(uri.removeprefix("sqlite:///")).parent
    if not uri.startswith("sqlite:///") or not folder.is_dir():
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@functools.cache
def _opened(uri: str) -> None:
    """Open the tracking and registry stores once per process, one process at a time.

    MLflow creates a new SQLite file's tables without a lock, so two `leadml train` starting
    together on a new store would collide; the second waits here and finds the tables made.
    """
    with _one_process_at_a_time(uri):
        opened = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        opened.search_experiments(max_results=1)
        opened.search_registered_models(max_results=1)


def use_experiment(name: str) -> str:
    """Point MLflow at the tracking store and make sure the experiment exists; returns its id."""
    uri = _use_store()
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    root = _artifact_root(uri)
    location = f"{root}/{name}" if root else None
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except MlflowException:
        exp = mlflow.get_experiment_by_name(name)  # another process created it just now
        if exp is None:
            raise
        return exp.experiment_id


def _use_store() -> str:
    """Point MLflow at the tracking store (opened once per process); returns its URI."""
    configure()
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    _opened(uri)
    return uri


def client():
    _use_store()
    return mlflow.MlflowClient()


CHAMPION, CHALLENGER = "champion", "challenger"
