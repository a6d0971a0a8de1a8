"""Partitioned output folders that appear only when complete.

Parts are written into a hidden temporary folder beside the destination, and the folder is moved
into place once every part is written, with a `_leadml.json` manifest. A folder holding that
manifest (an earlier output) may be replaced; any other existing path is left alone.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from leadml.errors import DataError

MANIFEST = "_leadml.json"


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


def staging(out: str | Path, kind: str) -> Path:
    """A new, empty hidden folder beside `out` for the parts; refuses an `out` that `publish`
    would not replace."""
    out = Path(out)
    check_replaceable(out, kind)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


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
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
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
