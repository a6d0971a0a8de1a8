"""A training process that dies leaves no run RUNNING for ever: SIGTERM or SIGINT mark its run
FAILED, and the next `leadml train` reports and closes the runs of processes killed outright.

MLflow runs for real on a SQLite file in tmp_path; the processes and signals are real.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
from mlflow.entities import RunStatus
from typer.testing import CliRunner

from leadml.cli import app
from leadml.registry import client, close_orphaned_runs, resolve, use_experiment
from leadml.registry.owner import HOST_TAG, PID_TAG, STARTED_TAG, process_start
from leadml.registry.runs import STOPPED_TAG

EXPERIMENT = "leadml-test"  # the experiment of conftest's training config

# a process that opens a training run the way `leadml train` does, then waits to be stopped
HOLDER = """
import signal, sys, time
from leadml.registry.runs import owned_run
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even if ignored here
from leadml.registry.store import use_experiment

with owned_run(use_experiment(sys.argv[1]), "test") as run:
    print(run.info.run_id, flush=True)
    time.sleep(600)
"""


def hold_a_run(uri: str) -> tuple[subprocess.Popen, str]:
    """A child process holding a RUNNING run; returns it and the run id."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, EXPERIMENT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
    )
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    assert run_id, child.communicate(timeout=60)[1]
    return child, run_id


def status(run_id: str) -> str:
    return client().get_run(run_id).info.status


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_process_leaves_its_run_failed(mlflow_tmp, signum):
    child, run_id = hold_a_run(mlflow_tmp)
    try:
        assert status(run_id) == "RUNNING"
        tags = client().get_run(run_id).data.tags
        assert tags[PID_TAG] == str(child.pid) and tags[HOST_TAG] == socket.gethostname()
        assert tags[STARTED_TAG] == process_start(child.pid)
        child.send_signal(signum)
        _, errors = child.communicate(timeout=60)
    finally:
        child.kill()
    assert status(run_id) == "FAILED", errors
    name = signal.Signals(signum).name
    assert client().get_run(run_id).data.tags[STOPPED_TAG] == f"stopped by {name}"
    assert f"RunStopped: stopped by {name}; MLflow run {run_id} marked FAILED" in errors


@pytest.mark.slow
def test_the_next_training_closes_the_run_of_a_killed_process(mlflow_tmp, make_config, demo_leads):
    killed, orphan = hold_a_run(mlflow_tmp)
    alive, running = hold_a_run(mlflow_tmp)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=60)
        assert status(orphan) == "RUNNING"  # what `kill -9` leaves

        result = CliRunner().invoke(app, ["train", "--config", str(make_config(demo_leads))])
        assert result.exit_code == 0, result.output
        assert f"Closed orphaned run {orphan} ('test', started " in result.output
        gone = f"its process (pid {killed.pid} on {socket.gethostname()}) is gone"
        assert f"as FAILED: {gone}." in result.output
        assert status(orphan) == "FAILED"
        why = client().get_run(orphan).data.tags[STOPPED_TAG]
        assert why.startswith(f"closed by leadml train (pid {os.getpid()} on ")
        assert why.endswith(gone)
        assert status(running) == "RUNNING"  # its process lives: not an orphan
        assert running not in result.output
    finally:
        alive.kill()
        killed.kill()
    trained = client().get_run(resolve("lead-qualifier", "challenger").run_id)
    assert trained.info.status == "FINISHED"
    assert trained.data.tags[PID_TAG] == str(os.getpid())


def test_only_runs_whose_process_is_gone_are_closed(mlflow_tmp):
    experiment = use_experiment(EXPERIMENT)
    c = client()
    here, me = socket.gethostname(), str(os.getpid())
    dead = subprocess.Popen(["true"])  # a pid whose process has ended
    dead.wait()
    owners = {
        "alive": {PID_TAG: me, HOST_TAG: here, STARTED_TAG: process_start(os.getpid()) or ""},
        "elsewhere": {PID_TAG: "1", HOST_TAG: "another-host", STARTED_TAG: ""},
        "untagged": {},
        "reused": {PID_TAG: me, HOST_TAG: here, STARTED_TAG: "another-boot:1"},
        "dead": {PID_TAG: str(dead.pid), HOST_TAG: here, STARTED_TAG: ""},
    }
    runs = {name: c.create_run(experiment, tags=tags).info.run_id for name, tags in owners.items()}
    closed = close_orphaned_runs(EXPERIMENT)
    assert {o.run_id for o in closed} == {runs["reused"], runs["dead"]}
    expected = {"reused": "FAILED", "dead": "FAILED"}
    for name, run_id in runs.items():
        assert status(run_id) == expected.get(name, RunStatus.to_string(RunStatus.RUNNING))
    why = {o.run_id: o.why for o in closed}
    assert why[runs["dead"]] == f"its process (pid {dead.pid} on {here}) is gone"
    assert why[runs["reused"]] == f"pid {me} on {here} now belongs to another process"
    assert close_orphaned_runs(EXPERIMENT) == []  # closed once
