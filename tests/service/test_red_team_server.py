"""Faults a red-team pass found that need the real server process: a body framed both by its
length and by chunks, a Prometheus series per invented path, warnings about malformed HTTP
written once per request, and a port already in use at start-up."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from leadml.process import running

from .conftest import KEY

pytestmark = pytest.mark.slow
LEADML = str(Path(sys.executable).with_name("leadml"))
MAX_BODY = 16_384


@pytest.fixture(scope="module")
def server(registry, tmp_path_factory):
    """`leadml serve` with a 16 KiB body limit: (host, port, its log file)."""
    root = tmp_path_factory.mktemp("server")
    env = {
        "MLFLOW_TRACKING_URI": registry,
        "LEADML_API_KEYS": KEY,
        "LEADML_INSECURE_DEV": "",
        "LEADML_MAX_BODY_BYTES": str(MAX_BODY),
        "BENTOML_HOME": str(root / "bentoml"),
    }
    command = [LEADML, "serve", "--model", "champion", "--port", "{port}"]
    log = root / "server.log"
    with running(command, env=env, cwd=root, log=log) as base:
        url = urlsplit(base)
        yield url.hostname, url.port, log


def _exchange(host: str, port: int, request: bytes) -> bytes:
    """Send raw bytes, return what the server answers until it closes (or 10 s pass)."""
    with socket.create_connection((host, port), timeout=10) as conn:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(request)  # else the server answered and closed before reading it all
        answer = b""
        try:
            while chunk := conn.recv(65_536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return answer


def _chunked(body: bytes, size: int = 4_096) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def _head(port: int, *framing: str) -> bytes:
    lines = [
        "POST /score HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Authorization: Bearer {KEY}",
        "Content-Type: application/json",
        *framing,
        "Connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_body_with_a_length_and_chunks_is_refused(server, leads):
    host, port, _ = server
    many = [{**lead, "lead_id": f"L-{i}"} for i, lead in enumerate(leads * 6)]
    body = orjson.dumps({"leads": many, "explain": False})
    assert len(body) > 2 * MAX_BODY
    both_framings = _head(port, "Content-Length: 100", "Transfer-Encoding: chunked")
    both = _exchange(host, port, both_framings + _chunked(body))
    assert both.startswith(b"HTTP/1.1 400 "), both[:300]
    assert b"Content-Length or Transfer-Encoding: chunked, not both" in both
    chunks = _exchange(host, port, _head(port, "Transfer-Encoding: chunked") + _chunked(body))
    assert chunks.startswith(b"HTTP/1.1 413 "), chunks[:300]  # chunks alone: bounded as read
    small = orjson.dumps({"leads": many[:3]})
    fine = _exchange(host, port, _head(port, f"Content-Length: {len(small)}") + small)
    assert fine.startswith(b"HTTP/1.1 200 "), fine[:300]


def test_invented_paths_do_not_become_metrics_series(server, leads):
    host, port, _ = server
    invented = [f"/x{uuid.uuid4().hex}" for _ in range(40)]
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=30) as client:
        for path in invented[:20]:  # no key: 401
            assert client.get(path).status_code == 401
        auth = {"Authorization": f"Bearer {KEY}"}
        for path in invented[20:]:  # with the key: 404
            assert client.get(path, headers=auth).status_code == 404
        assert client.post("/score", json={"leads": leads[:1]}, headers=auth).status_code == 200
        metrics = client.get("/metrics", headers=auth).text
    assert not any(path in metrics for path in invented)
    for status in (401, 404):
        assert re.search(rf'request_total\{{endpoint="other",[^}}]*code="{status}"', metrics)
    assert 'request_total{endpoint="/score",' in metrics


def test_malformed_requests_are_logged_once_a_period_not_once_each(server):
    host, port, log = server
    for _ in range(300):
        answer = _exchange(host, port, b"NOT HTTP AT ALL\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    time.sleep(1)  # the log is written by the worker process
    lines = [line for line in log.read_text().splitlines() if "Invalid HTTP request" in line]
    assert 1 <= len(lines) <= 2, lines[:5]
    request = _head(port, "Content-Length: 2") + b"{}"
    assert _exchange(host, port, request).startswith(b"HTTP/1.1 422 ")  # still serving


def test_a_port_in_use_stops_the_start_with_one_line(registry, tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LEADML_")},
        "MLFLOW_TRACKING_URI": registry,
        "LEADML_API_KEYS": KEY,
        "BENTOML_HOME": str(tmp_path / "bentoml"),
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [LEADML, "serve", "--model", "champion", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "--port" in done.stderr
