"""When the MLflow store fails: a write that races another process (two `leadml train` on one
SQLite file) is retried with a short backoff, and any store error becomes one plain line that
names what failed and the tracking URI, never a raw SQL error."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import sqlalchemy.exc
from mlflow.exceptions import MlflowException

from leadml.errors import RegistryError
from leadml.registry.store import client, tracking_uri

T = TypeVar("T")

ATTEMPTS = 5  # tries of a write that raced another process
BACKOFF = 0.05  # seconds before the second try; doubled (with jitter) before each next one

STORE_ERRORS = (MlflowException, sqlalchemy.exc.SQLAlchemyError)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and the ones it was raised from."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_race(exc: BaseException) -> bool:
    """True when another process wrote the same row first or held the database's lock."""
    for e in _chain(exc):
        if isinstance(e, sqlalchemy.exc.IntegrityError):
            return True
        if isinstance(e, sqlalchemy.exc.OperationalError):
            return any(word in str(e.orig or e).lower() for word in ("locked", "busy"))
    return False


def plain_reason(exc: BaseException) -> str:
    """Why a store call failed, in one line of plain words (no SQL, no driver class names)."""
    for e in _chain(exc):
        if isinstance(e, sqlalchemy.exc.IntegrityError):
            return "another process wrote the same registry entry at the same moment"
        if isinstance(e, sqlalchemy.exc.OperationalError):
            return f"the database refused the change ({_first_line(e.orig or e)})"
    text = exc.message if isinstance(exc, MlflowException) else str(exc)
    return _first_line(text) or type(exc).__name__


def _first_line(error: object) -> str:
    """The first line of an error's text, without a driver's `(sqlite3.X)` prefix or the SQL."""
    text = str(error).strip().split("\n", 1)[0]
    text = re.sub(r"^\([\w.]+\)\s*", "", text).split("[SQL:", 1)[0].strip()
    return text[:300]


def failure(what: str, exc: BaseException, tries: int = 1) -> RegistryError:
    """The one-line error for a store call: what failed, why, and where."""
    after = f" after {tries} tries" if tries > 1 else ""
    return RegistryError(
        f"{what} failed{after}: {plain_reason(exc)} (tracking URI {tracking_uri()})"
    )


@contextmanager
def _quiet_store_log() -> Iterator[None]:
    """MLflow logs a database error with its traceback before raising it; leadml reports it."""
    log = logging.getLogger("mlflow.store.db.utils")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


@contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Turn an MLflow or SQLAlchemy error inside the block into a RegistryError naming `what`."""
    try:
        with _quiet_store_log():
            yield
    except STORE_ERRORS as exc:
        raise failure(what, exc) from None


def retried(what: str, write: Callable[[], T]) -> T:
    """Call `write`, again after a short backoff while it loses a race with another process
    (up to ATTEMPTS tries); any store error that remains becomes a RegistryError naming `what`.
    Only for writes that are safe to repeat."""
    attempt = 1
    while True:
        try:
            with _quiet_store_log():
                return write()
        except STORE_ERRORS as exc:
            if attempt == ATTEMPTS or not is_race(exc):
                raise failure(what, exc, attempt) from None
        time.sleep(BACKOFF * 2 ** (attempt - 1) * (1 + random.random()))
        attempt += 1


def move_alias(name: str, alias: str, version: str) -> None:
    """Point `alias` of model `name` at `version`, retried while another process races it."""
    retried(
        f"moving alias '{alias}' of model '{name}' to version {version}",
        lambda: client().set_registered_model_alias(name, alias, version),
    )
