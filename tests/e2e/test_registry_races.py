"""Two `leadml train` on one SQLite registry: alias moves that race another process are retried,
and a store failure is one plain line naming what failed and the tracking URI, never raw SQL.

MLflow runs for real on a SQLite file in tmp_path; the races are real processes.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadml.cli import app
from leadml.registry import HISTORY_TAG, client

LEADML = str(Path(sys.executable).with_name("leadml"))
PROCESSES, ROUNDS = 4, 15

# each process moves the aliases race-0, race-1, ... at the same instants as the others: every
# alias is new, so every process tries to insert it (the `UNIQUE constraint failed:
# registered_model_aliases` of two trainings moving `challenger` on a new registry)
RACER = """
import sys, time
from leadml.registry.failures import move_alias
from leadml.registry.store import client

name, version, rounds, step = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
client()  # the store is open before the race starts
print("ready", flush=True)
start = float(sys.stdin.readline())
for k in range(rounds):
    time.sleep(max(0.0, start + k * step - time.time()))
    move_alias(name, f"race-{k}", version)
print("done", flush=True)
"""


def _versions(name: str, count: int, folder: Path) -> list[str]:
    """A registered model with `count` versions (their files are not read here)."""
    c = client()
    c.create_registered_model(name)
    folder.mkdir()
    return [str(c.create_model_version(name, folder.as_uri()).version) for _ in range(count)]


def _finished(process: subprocess.Popen) -> tuple[str, str]:
    """What a process whose stdin is closed wrote (stdout, stderr), once it has ended."""
    assert process.stdout is not None and process.stderr is not None
    out, errors = process.stdout.read(), process.stderr.read()
    process.wait(timeout=300)
    return out, errors


def refuse_alias_writes(uri: str) -> None:
    """Make the SQLite store refuse every alias write with a UNIQUE constraint error, as when
    another process keeps winning the race (a trigger: the error comes from SQLite itself)."""
    with sqlite3.connect(uri.removeprefix("sqlite:///")) as db:
        for event in ("INSERT", "UPDATE"):
            db.execute(
                f"CREATE TRIGGER refuse_alias_{event.lower()} BEFORE {event} "
                "ON registered_model_aliases BEGIN SELECT RAISE(ABORT, "
                "'UNIQUE constraint failed: registered_model_aliases.name'); END"
            )


def assert_one_clear_line(output: str, expected: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and expected in lines[-1], output
    for raw in ("IntegrityError", "Traceback", "sqlite3", "[SQL", "sqlalche.me", "MLflow error"):
        assert raw not in output, output


@pytest.mark.slow
def test_alias_moves_racing_in_other_processes_all_land(mlflow_tmp, tmp_path):
    versions = _versions("racer", PROCESSES, tmp_path / "model")
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_tmp}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, "racer", v, str(ROUNDS), "0.2"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for v in versions
    ]
    try:
        for racer in racers:
            assert racer.stdout is not None and racer.stdout.readline().strip() == "ready"
        start = f"{time.time() + 0.5}\n"
        for racer in racers:  # all at once, before waiting for any
            assert racer.stdin is not None
            racer.stdin.write(start)
            racer.stdin.close()
        outputs = [_finished(racer) for racer in racers]
    finally:
        for racer in racers:
            racer.kill()
    for racer, (out, errors) in zip(racers, outputs, strict=True):
        assert racer.returncode == 0 and "done" in out, errors
    aliases = client().get_registered_model("racer").aliases
    assert set(aliases) == {f"race-{k}" for k in range(ROUNDS)}
    assert {str(v) for v in aliases.values()} <= set(versions)


def test_an_alias_move_that_keeps_failing_is_one_clear_line(mlflow_tmp, tmp_path):
    _versions("lead-qualifier", 2, tmp_path / "model")
    client().set_registered_model_tag("lead-qualifier", HISTORY_TAG, "1,2")
    refuse_alias_writes(mlflow_tmp)
    result = CliRunner().invoke(app, ["rollback"])
    assert result.exit_code == 2, result.output
    assert_one_clear_line(
        result.output,
        "moving alias 'champion' of model 'lead-qualifier' to version 1 failed after 5 tries: "
        f"another process wrote the same registry entry at the same moment "
        f"(tracking URI {mlflow_tmp})",
    )


@pytest.mark.slow
def test_a_training_whose_alias_move_fails_says_so_in_one_line(mlflow_tmp, make_config, demo_leads):
    client()  # the store's tables exist, for the trigger
    refuse_alias_writes(mlflow_tmp)
    result = CliRunner().invoke(app, ["train", "--config", str(make_config(demo_leads))])
    assert result.exit_code == 2, result.output
    assert_one_clear_line(
        result.output,
        "moving alias 'challenger' of model 'lead-qualifier' to version 1 failed after 5 tries",
    )
    assert mlflow_tmp in result.output
    assert client().get_model_version("lead-qualifier", "1").aliases == []  # registered, no alias


@pytest.mark.slow
def test_two_trainings_at_once_both_register(mlflow_tmp, make_config, demo_leads, tmp_path):
    config = make_config(demo_leads)
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_tmp}
    trainings = [
        subprocess.Popen(
            [LEADML, "train", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    try:
        outputs = [training.communicate(timeout=900)[0] for training in trainings]
    finally:
        for training in trainings:
            training.kill()
    for training, output in zip(trainings, outputs, strict=True):
        assert training.returncode == 0, output
    c = client()
    versions = c.search_model_versions("name = 'lead-qualifier'")
    assert sorted(str(v.version) for v in versions) == ["1", "2"]
    assert str(c.get_registered_model("lead-qualifier").aliases["challenger"]) in {"1", "2"}
    assert {c.get_run(v.run_id).info.status for v in versions} == {"FINISHED"}
