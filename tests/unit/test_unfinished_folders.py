"""A killed job's hidden `.OUT.tmp-*` folder is removed by the next job writing the same output,
and said so, but never while a job may still be writing it."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from leadml.data import folders, synth

DEAD_PID = 2**31 - 1  # above any kernel's pid_max: no such process can run
HOURS = 3600


def _left_by(out: Path, name: str, pid: int | None, host: str | None = None, age: float = 0):
    """A staging folder a job left for `out`: its writer (none: an older leadml) and its age."""
    tmp = out.parent / f".{out.name}.tmp-{name}"
    tmp.mkdir(parents=True)
    (tmp / folders.part_name(0)).write_text("half a part")
    if pid is not None:
        writer = {"host": host or socket.gethostname(), "pid": pid, "started": "earlier"}
        (tmp / folders.WRITER).write_text(json.dumps(writer))
    then = time.time() - age
    for path in (*tmp.iterdir(), tmp):
        os.utime(path, (then, then))
    return tmp


@pytest.mark.parametrize(
    ("pid", "host", "age", "removed"),
    [
        (DEAD_PID, None, 0, True),  # its process on this machine has ended
        (os.getpid(), None, 10 * HOURS, False),  # its process still runs, however long
        (DEAD_PID, "another-host", 1 * HOURS, False),  # cannot tell: recently changed
        (DEAD_PID, "another-host", 7 * HOURS, True),  # cannot tell: unchanged for hours
        (None, None, 1 * HOURS, False),  # an older leadml's, recently changed
        (None, None, 7 * HOURS, True),  # an older leadml's, unchanged for hours
    ],
    ids=["ended", "running", "other-host-recent", "other-host-old", "no-writer", "no-writer-old"],
)
def test_which_unfinished_folders_are_removed(tmp_path, pid, host, age, removed):
    out = tmp_path / "scores"
    left = _left_by(out, "0badf00d", pid, host, age)
    said: list[str] = []
    tmp = folders.staging(out, "lead scores", say=said.append)
    assert left.exists() is not removed and tmp.exists()
    assert said == (
        ["removed 1 unfinished output folder from an earlier run (.scores.tmp-0badf00d)"]
        if removed
        else []
    )


def test_only_the_folders_of_that_output_are_touched(tmp_path):
    mine = _left_by(tmp_path / "scores", "11111111", DEAD_PID)
    other = _left_by(tmp_path / "scores2", "22222222", DEAD_PID)
    (tmp_path / ".scores.tmp-33333333").write_text("a file, not a folder")
    assert folders.remove_unfinished(tmp_path / "scores") == [mine]
    assert other.exists() and (tmp_path / ".scores.tmp-33333333").exists()


def test_a_published_folder_holds_no_writer_record(tmp_path):
    out = tmp_path / "scores"
    tmp = folders.staging(out, "lead scores")
    assert json.loads((tmp / folders.WRITER).read_text())["pid"] == os.getpid()
    folders.publish(tmp, out, {"kind": "lead scores"})
    assert sorted(p.name for p in out.iterdir()) == [folders.MANIFEST]


def test_synth_into_a_folder_removes_and_reports_a_killed_runs_folder(tmp_path):
    out = tmp_path / "leads"
    left = _left_by(out, "deadbeef", DEAD_PID)
    said: list[str] = []
    synth.write_partitioned(50, seed=1, out=out, partition_rows=20, say=said.append)
    assert not left.exists() and len(said) == 1 and "unfinished output folder" in said[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leads"]
