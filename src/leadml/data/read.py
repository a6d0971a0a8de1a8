"""Reading lead data (CSV, Parquet, folders and globs of files, SQL) and writing tables."""

from __future__ import annotations

import glob
import gzip
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy

from leadml.errors import DataError

DATA_EXTENSIONS = (".parquet", ".pq", ".csv", ".csv.gz", ".txt")


def read_leads(source: str | Path, query: str | None = None) -> pd.DataFrame:
    """Read leads from a CSV/Parquet file or folder, or from an SQL query on a database URL."""
    text = str(source)
    if "://" in text:
        if not query:
            raise DataError(f"{text}: a database URL needs --query 'select ...'")
        try:
            engine = sqlalchemy.create_engine(text)
            with engine.connect() as conn:
                return pd.read_sql_query(sqlalchemy.text(query), conn)
        except Exception as exc:
            raise DataError(f"{text}: the query failed: {exc}") from None
    path = Path(source)
    if _is_glob(text) or path.is_dir():  # the same files, in the same order, as Dask
        return pd.concat([_read_file(p) for p in partition_files(text)], ignore_index=True)
    return _read_file(path)


def _is_glob(text: str) -> bool:
    """A pattern of files, not a file or folder whose name holds '[', '*' or '?'."""
    return glob.has_magic(text) and not Path(text).exists()


def _read_file(path: Path) -> pd.DataFrame:
    """One CSV or Parquet file's leads."""
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz", ".txt")):
            # text as text: zero-padded ids and a category called "NA" stay as written
            return pd.read_csv(
                path, sep=_separator(path), dtype=str, keep_default_na=False, na_values=[""]
            )
    except Exception as exc:
        raise DataError(f"{path}: could not be read: {exc}") from None
    raise DataError(f"{path}: unknown file type; use .csv, .csv.gz, .parquet or a database URL")


def partition_files(source: str | Path) -> list[Path]:
    """The files of a partitioned dataset, in order: a folder's Parquet (or CSV) files, a glob
    of files (`leads/*.csv`), or one file. Names starting with '.' or '_' are not data."""
    text = str(source)
    if "://" in text:
        raise DataError(f"{text}: partitioned scoring reads files or folders, not database URLs")
    if _is_glob(text):
        files = sorted(
            Path(p)
            for p in glob.glob(text)
            if Path(p).is_file() and not Path(p).name.startswith((".", "_"))
        )
        if not files:
            raise DataError(f"{text}: no files match")
    else:
        path = Path(text)
        if not path.exists():
            raise DataError(f"{path}: no such file or folder")
        files = [path]
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
                and p.name.lower().endswith(DATA_EXTENSIONS)
            )
            if not files:
                raise DataError(f"{path}: the folder holds no {'/'.join(DATA_EXTENSIONS)} files")
    for f in files:
        if not f.name.lower().endswith(DATA_EXTENSIONS):
            raise DataError(f"{f}: unknown file type; use {', '.join(DATA_EXTENSIONS)}")
    return files


def read_batches(path: Path, rows: int, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """One file's leads, `rows` at a time, typed exactly as `read_leads` types them.

    `columns` limits a Parquet read to what is needed; a missing one is left out, so the spec
    check names it."""
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            reader = pq.ParquetFile(path)
            present = set(reader.schema_arrow.names)
            wanted = None if columns is None else [c for c in columns if c in present]
            for batch in reader.iter_batches(batch_size=rows, columns=wanted):
                yield pa.Table.from_batches([batch]).to_pandas()
            return
        with pd.read_csv(
            path,
            sep=_separator(path),
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            chunksize=rows,
        ) as chunks:
            yield from chunks
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"{path}: could not be read: {exc}") from None


def _separator(path: Path) -> str:
    """Comma, semicolon or tab, whichever splits the header line most."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", errors="replace") as fh:
        header = fh.readline()
    return max([",", ";", "\t"], key=header.count)


def write_table(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write CSV or Parquet by extension, creating the folder."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        frame.to_parquet(path, index=False)
    elif name.endswith((".csv", ".csv.gz")):
        frame.to_csv(path, index=False)
    else:
        raise DataError(f"{path}: unknown output type; use .csv, .csv.gz or .parquet")
    return path
