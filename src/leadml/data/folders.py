"""Partitioned output folders that appear only when complete.

Parts are written into a hidden temporary folder beside the destination (`.NAME.tmp-XXXXXXXX`,
holding `_writing.json`: the host and process writing it), and the folder is moved into place
once every part is written, with a `_leadml.json` manifest. A folder holding that manifest (an
earlier output) may be replaced; any other existing path is left alone.

A job that is killed leaves its temporary folder behind; the next job writing the same
destination removes it when no job can still be writing it: its writer was on this machine and
that process has ended, or (written from another machine, or by an older leadml that recorded no
writer) nothing in it has changed for `STALE_AFTER` seconds (6 hours).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadml.data.outputs import temporary_beside
from leadml.errors import DataError

MANIFEST = "_leadml.json"
WRITER = "_writing.json"  # in a staging folder: the host and process writing it
STALE_AFTER = 6 * 3600  # seconds unchanged after which a staging folder of unknown writer is left


def is_folder_target(out: str | Path, extensions: tuple[str, ...]) -> bool:
    """True when `out` names a folder: an existing one, a path ending in '/', or a name with
    none of the file `extensions`."""
    text = str(out)
    path = Path(text)
    return (
        text.endswith(("/", "\\"))
        or path.is_dir()
        or not path.name.lower().endswith(tuple(e.lower() for e in extensions))
    )


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def staging(out: str | Path, kind: str, say: Callable[[str], None] | None = None) -> Path:
    """A new hidden folder beside `out` for the parts; refuses an `out` that `publish` would
    not replace. Unfinished folders that killed jobs left for `out` are removed first (and
    `say` told so)."""
    out = Path(out)
    check_replaceable(out, kind)
    out.parent.mkdir(parents=True, exist_ok=True)
    removed = remove_unfinished(out)
    if removed and say is not None:
        noun = "folder" if len(removed) == 1 else "folders"
        say(
            f"removed {len(removed)} unfinished output {noun} from an earlier run "
            f"({', '.join(p.name for p in removed)})"
        )
    tmp = temporary_beside(out)
    tmp.mkdir()
    writer = {"host": socket.gethostname(), "pid": os.getpid(), "started": _now()}
    (tmp / WRITER).write_text(json.dumps(writer))
    return tmp


def remove_unfinished(out: Path, now: float | None = None) -> list[Path]:
    """Remove the staging folders beside `out` that no job is writing any more (see the module
    docstring for the rule); returns those removed."""
    removed = []
    for tmp in sorted(out.parent.glob(f".{glob.escape(out.name)}.tmp-*")):
        if tmp.is_dir() and _abandoned(tmp, time.time() if now is None else now):
            shutil.rmtree(tmp, ignore_errors=True)
            if not tmp.exists():
                removed.append(tmp)
    return removed


def _abandoned(tmp: Path, now: float) -> bool:
    """No job can be writing `tmp`: its writer ran here and has ended, or it is long unchanged."""
    try:
        writer = json.loads((tmp / WRITER).read_text())
    except (OSError, ValueError):
        writer = None
    if isinstance(writer, dict) and writer.get("host") == socket.gethostname():
        alive = _running(writer.get("pid"))
        if alive is not None:
            return not alive
    return now - _last_change(tmp) > STALE_AFTER


def _running(pid: Any) -> bool | None:
    """Whether process `pid` of this machine runs (None: cannot tell here)."""
    if not isinstance(pid, int) or pid <= 0 or os.name != "posix":
        return None  # os.kill(pid, 0) would end the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def _last_change(folder: Path) -> float:
    """The newest modification time of the folder and anything in it."""
    newest = folder.stat().st_mtime
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                newest = max(newest, (Path(root) / name).stat().st_mtime)
            except OSError:
                continue
    return newest


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_replaceable(out: Path, kind: str) -> None:
    """`out` may be written: absent, empty, or an earlier output of the same kind."""
    if out.is_file():
        raise DataError(f"{out} is a file; partitioned output needs a folder name")
    if not out.is_dir() or not any(out.iterdir()):
        return
    try:
        found = json.loads((out / MANIFEST).read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        found = None
    if found != kind:
        what = f"holds {found}" if found else f"is not a leadml output folder (no {MANIFEST})"
        raise DataError(
            f"{out} exists and {what}, not {kind}; choose another output folder or remove it"
        )


def publish(tmp: Path, out: str | Path, manifest: dict[str, Any]) -> Path:
    """Write the manifest and move the finished folder into place (replacing an earlier output)."""
    out = Path(out)
    check_replaceable(out, manifest["kind"])
    (tmp / WRITER).unlink(missing_ok=True)
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    old = None
    if out.exists():
        old = temporary_beside(out, "old")
        out.rename(old)
    try:
        tmp.rename(out)
    except OSError:
        if old is not None:
            old.rename(out)  # the earlier output stays where it was
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out


def discard(tmp: Path, settle: float = 0.0) -> None:
    """Remove a staging folder; with `settle`, try again for that many seconds while writers
    that were already running finish."""
    deadline = time.monotonic() + settle
    shutil.rmtree(tmp, ignore_errors=True)
    while tmp.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
        shutil.rmtree(tmp, ignore_errors=True)
