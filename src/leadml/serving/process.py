"""Running a local server process until it answers, then stopping it (tests and benchmarks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(
    command: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    log: Path,
    ready: str = "/readyz",
    timeout: float = 180.0,
) -> Iterator[str]:
    """Start `command` ("{port}" in it becomes a free port), wait until GET `ready` answers
    below 500, yield the base URL, then stop the whole process group."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [part.replace("{port}", str(port)) for part in command],
            cwd=cwd,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{command[0]} exited ({proc.returncode}): {log.read_text()}"
                    )
                try:
                    if _status(base + ready) < 500:
                        break
                except OSError:  # not listening yet (URLError is an OSError)
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not ready in {timeout:.0f} s: {log.read_text()}")
                time.sleep(0.3)
            yield base
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def _status(url: str) -> int:
    """The HTTP status of GET `url` (standard library only: tests and benchmarks use this)."""
    try:
        with urlopen(url, timeout=2) as response:
            return int(response.status)
    except HTTPError as exc:
        return exc.code
