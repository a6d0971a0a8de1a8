"""Output files: checked before any work starts, and written whole.

An output is refused when it is one of the inputs, or (without `--force`) when it exists. Every
file is written under a temporary name beside it and renamed into place only when complete, so
a killed or failed write leaves the earlier file (if any) as it was; files written together
appear together or not at all.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from leadml.errors import DataError

TABLE_EXTENSIONS = (".csv", ".csv.gz", ".parquet", ".pq")
Writer = Callable[[Path], object]


def check_output(
    out: str | Path,
    *,
    inputs: Iterable[Path] = (),
    force: bool = False,
    extensions: tuple[str, ...] | None = None,
    option: str = "--out",
) -> Path:
    """`out` may be written: a file name (with one of `extensions`, when given), not one of
    `inputs` nor inside an input folder, and absent unless `force`. Call it before the work,
    so a refusal costs nothing."""
    path = Path(out)
    if extensions is not None and not path.name.lower().endswith(extensions):
        raise DataError(f"{option} {path}: unknown output type; use {', '.join(extensions)}")
    if path.is_dir():
        raise DataError(f"{option} {path} is a folder; name the file to write")
    inputs = list(inputs)
    if any(_same_file(path, source) for source in inputs):
        raise DataError(
            f"{option} {path} is the data being read; writing it would destroy the input. "
            "Choose another output file"
        )
    for folder in (p for p in inputs if p.is_dir()):
        if folder.resolve() in path.resolve().parents:
            raise DataError(
                f"{option} {path} lies inside the data folder {folder}, where the next read "
                "would take it for leads. Choose a file outside it"
            )
    if path.exists() and not force:
        raise DataError(f"{option} {path} exists; add --force to overwrite it")
    return path


def check_distinct(outputs: Mapping[str, Path]) -> None:
    """Two outputs of one command (by option) must not name the same file."""
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        key = path.resolve()
        if key in seen:
            raise DataError(f"{seen[key]} and {option} both name {path}; give each its own file")
        seen[key] = option


def _same_file(path: Path, source: Path) -> bool:
    """Both name one existing file (also through a link or another spelling)."""
    try:
        return path.exists() and source.exists() and os.path.samefile(path, source)
    except OSError:
        return path.resolve() == source.resolve()


def temporary_beside(out: Path, kind: str = "tmp") -> Path:
    """A fresh hidden name in `out`'s folder (a rename from there to `out` is atomic):
    `.NAME.tmp-XXXXXXXX` for what is being written, `.NAME.old-...` for what it replaces."""
    return out.parent / f".{out.name}.{kind}-{uuid.uuid4().hex[:8]}"


def text_writer(text: str) -> Writer:
    """A writer of `text` as UTF-8, byte for byte (line ends as given), for `write_files`."""
    return lambda tmp: tmp.write_bytes(text.encode("utf-8"))


def write_files(
    writers: Mapping[Path, Writer], before_replace: Callable[[], object] | None = None
) -> list[Path]:
    """Write each file by calling its writer on a temporary path beside it, then rename them all
    into place: if any writer or rename fails, no file appears and earlier files are kept.
    `before_replace` is called once all are written, before any is renamed: if it fails, no
    file appears either."""
    staged: dict[Path, Path] = {}
    try:
        for out, write in writers.items():
            out.parent.mkdir(parents=True, exist_ok=True)
            staged[out] = temporary_beside(out)
            write(staged[out])
        if before_replace is not None:
            before_replace()
        _replace_together(staged)
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
    return list(writers)


def _replace_together(staged: Mapping[Path, Path]) -> None:
    """Rename each finished file onto its destination; a failed rename undoes the earlier ones
    (their earlier files restored from hard links or copies kept until the end)."""
    kept: list[tuple[Path, Path | None]] = []
    try:
        for out, tmp in staged.items():
            kept.append((out, _keep(out)))
            os.replace(tmp, out)
    except BaseException:
        for out, old in reversed(kept):
            if old is not None:
                os.replace(old, out)
            else:
                out.unlink(missing_ok=True)
        raise
    finally:
        for _, old in kept:
            if old is not None:
                old.unlink(missing_ok=True)


def _keep(out: Path) -> Path | None:
    """A second name for `out`'s current content (None if there is no file yet)."""
    if not out.exists():
        return None
    old = temporary_beside(out, "old")
    try:
        os.link(out, old)
    except OSError:  # a file system without hard links
        shutil.copy2(out, old)
    return old
