"""The command line behaves as command lines do: --version, -h, and whole lines when piped."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from importlib.metadata import version

from leadml.cli.app import _console, metrics_table
from leadml.evaluation.metrics import METRIC_LABELS

from ..conftest import ROOT

LEADML = [sys.executable, "-m", "leadml"]
METRICS = dict.fromkeys(METRIC_LABELS, 0.5)


def _run(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run(
        [*LEADML, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_version_prints_the_installed_version():
    done = _run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"leadml {version('leadml')}"


def test_dash_h_is_help_for_the_app_and_each_command():
    for args in (["-h"], ["features", "-h"], ["predict", "-h"]):
        done = _run(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert "Usage: leadml" in done.stdout


def test_output_read_by_a_program_is_not_wrapped(monkeypatch):
    """Piped, a table whose title names a long file path keeps the path whole on one line
    (rich would wrap at 80 columns and cut it in two)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    path = "exports/" + "a-very-long-folder-name-" * 5 + "leads.csv"
    piped = io.StringIO()
    _console(piped).print(metrics_table(f"lead-qualifier v3 on {path}", METRICS, METRICS))
    assert any(path in line for line in piped.getvalue().splitlines())


def test_a_terminal_still_wraps_at_its_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    path = "exports/" + "a-very-long-folder-name-" * 5 + "leads.csv"
    piped = io.StringIO()
    _console(piped).print(metrics_table(f"lead-qualifier v3 on {path}", METRICS, METRICS))
    assert max(map(len, piped.getvalue().splitlines())) <= 80
