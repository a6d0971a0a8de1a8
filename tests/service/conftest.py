"""The scoring API built from service/ around the registry fixture (a promoted demo model).

The service reads its settings from the environment when its module is imported, so each
set of settings imports `service/service.py` afresh under its own module name.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from ..conftest import ROOT, environ

SERVICE = ROOT / "service" / "service.py"
KEY, OTHER_KEY = "k" * 24, "rotated-key-" + "x" * 12


@pytest.fixture(scope="session")
def load_service(registry):
    """load_service(**env) -> the service module imported with those LEADML_* settings."""
    cache: dict[tuple, object] = {}

    def load(**env: str | None):
        key = tuple(sorted(env.items()))
        if key not in cache:
            name = f"leadml_service_{len(cache)}"
            defaults = {
                "MLFLOW_TRACKING_URI": registry,
                "LEADML_API_KEYS": f"{KEY},{OTHER_KEY}",
                "LEADML_API_KEYS_FILE": None,
                "LEADML_INSECURE_DEV": None,
                "LEADML_MODEL": "champion",
            }
            with environ(**{**defaults, **env}):
                spec = importlib.util.spec_from_file_location(name, SERVICE)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module  # BentoML resolves annotations through it
                spec.loader.exec_module(module)
            cache[key] = module
        return cache[key]

    return load


@contextmanager
def http(module, key: str | None = KEY):
    """The service's ASGI app in-process over HTTP (lifespan included)."""
    import prometheus_client
    from starlette.testclient import TestClient

    # Each app registers BentoML's Prometheus metrics in the process-wide registry; a server
    # process builds one app, these tests build several.
    registry = prometheus_client.REGISTRY
    for collector, names in list(registry._collector_to_names.items()):
        if any(n.startswith("bentoml_") for n in names):
            registry.unregister(collector)

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with TestClient(module.LeadService.to_asgi(), headers=headers) as client:
        yield client


@pytest.fixture(scope="session")
def api(load_service):
    """The service with the default settings, every request sent with the key (schemathesis
    makes up a bearer value for the scheme the OpenAPI document declares)."""
    with http(load_service()) as client:
        client.event_hooks["request"].append(_with_the_key)
        yield client


def _with_the_key(request) -> None:
    request.headers["Authorization"] = f"Bearer {KEY}"


@pytest.fixture(scope="session")
def leads(demo_frame) -> list[dict]:
    """Twenty demo leads as a CRM sends them: the id and the spec's columns, JSON-typed."""
    from leadml.spec import load_spec

    spec = load_spec(ROOT / "features" / "lead_features.yaml")
    columns = ["lead_id"] + [f.source for f in spec.features]
    frame: pd.DataFrame = demo_frame[columns].tail(20)
    return json.loads(frame.to_json(orient="records"))


def service_path() -> Path:
    return SERVICE
