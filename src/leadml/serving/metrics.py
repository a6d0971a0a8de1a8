"""Prometheus series per route, not per path: BentoML labels its HTTP metrics with the request's
path, so every unknown path a client invents (`/x<uuid>`, answered 401 or 404) would become new
series held in memory for good. Paths the service does not route are counted as one, "other"."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import prometheus_client
from bentoml._internal.server.http import instruments  # bentoml is pinned: 1.4.39

from leadml.scorelog.spool import ROWS_METRIC

OTHER = "other"
_LABELLED_BY_PATH = (  # the middleware's metrics that carry an `endpoint` label
    "metrics_request_duration",
    "metrics_request_total",
    "metrics_request_in_progress",
    "metrics_websocket_connections",
    "metrics_websocket_data_received",
    "metrics_websocket_data_sent",
)


_FRAMEWORK_SETUP: dict[type, Callable[..., None]] = {}  # each middleware's own, before ours


class KnownEndpoints:
    """A labelled metric whose `endpoint` label is a known route, or `OTHER`."""

    __slots__ = ("known", "metric")

    def __init__(self, metric: Any, known: frozenset[str]):
        self.metric = metric
        self.known = known

    def labels(self, endpoint: str, **labels: Any) -> Any:
        return self.metric.labels(endpoint=endpoint if endpoint in self.known else OTHER, **labels)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.metric, name)


def label_unknown_paths(known: Iterable[str]) -> None:
    """Make BentoML's HTTP metrics middlewares label a request by its path only when the path is
    one of `known` (the service's routes), else as `OTHER`. Applied once per process, before
    the first request; a later call replaces the known routes."""
    routes = frozenset(known)
    for cls in (
        instruments.RunnerTrafficMetricsMiddleware,
        instruments.HTTPTrafficMetricsMiddleware,
    ):
        framework_setup = _FRAMEWORK_SETUP.setdefault(cls, cls._setup)

        def _setup(self: Any, *args: Any, _framework: Any = framework_setup, **kwargs: Any) -> None:
            _framework(self, *args, **kwargs)
            for name in _LABELLED_BY_PATH:
                if hasattr(self, name):
                    setattr(self, name, KnownEndpoints(getattr(self, name), routes))

        cls._setup = _setup  # type: ignore[method-assign]


# the score log's rows in each state (`leadml.scorelog.spool`): queued by a request, spooled to
# disk, dropped because the spool was full; and written, counted by the writer process
SCORE_LOG_ROWS = prometheus_client.Counter(*ROWS_METRIC)


def count_score_log(state: str, rows: int) -> None:
    SCORE_LOG_ROWS.labels(state).inc(rows)
