"""The server's warnings about clients' malformed HTTP, summarised: uvicorn logs a WARNING for
every request it cannot parse, so one client sending garbage (no key needed) could write tens of
thousands of lines a second. Each such warning passes once per period, with how many were held
back since the last one."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

SERVER_LOGGER = "uvicorn.error"
CLIENT_MISTAKES = (  # uvicorn's warnings that any client can cause at will
    "Invalid HTTP request received.",
    "Unsupported upgrade request.",
    "Exceeded concurrency limit.",
)
PERIOD_SECONDS = 10.0


class OncePerPeriod(logging.Filter):
    """Lets each of `messages` through once per `period` seconds; the next one to pass says how
    many like it were held back. Every other record passes untouched."""

    def __init__(
        self,
        messages: Iterable[str] = CLIENT_MISTAKES,
        period: float = PERIOD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__()
        self.messages = frozenset(messages)
        self.period = period
        self.clock = clock
        self._next: dict[str, float] = {}  # message -> when it may pass again
        self._held: dict[str, int] = {}  # message -> how many were held back since

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        if message not in self.messages:
            return True
        now = self.clock()
        if now < self._next.get(message, now):
            self._held[message] = self._held.get(message, 0) + 1
            return False
        self._next[message] = now + self.period
        if held := self._held.pop(message, 0):
            record.msg = f"{message} ({held:,} more like it since the last one logged)"
        return True


def summarise_client_mistakes() -> OncePerPeriod:
    """Install `OncePerPeriod` on the server's logger (once per process) and return it."""
    logger = logging.getLogger(SERVER_LOGGER)
    for existing in logger.filters:
        if isinstance(existing, OncePerPeriod):
            return existing
    found = OncePerPeriod(period=PERIOD_SECONDS)
    logger.addFilter(found)
    return found
