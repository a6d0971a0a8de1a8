"""Reading lead data (CSV, Parquet, folders and globs of files, SQL) and writing tables."""

from __future__ import annotations

import csv
import glob
import gzip
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy

from leadml.data.outputs import TABLE_EXTENSIONS, write_files
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
                frame = pd.read_sql_query(sqlalchemy.text(query), conn)
        except Exception as exc:
            raise DataError(f"{text}: the query failed: {exc}") from None
        refuse_duplicate_columns(list(frame.columns), f"{text}: the query returns")
        return frame
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
            frame = pd.read_parquet(path)
            refuse_duplicate_columns(list(frame.columns), f"{path}: the file has")
            return frame
        if name.endswith((".csv", ".csv.gz", ".txt")):
            separator = _csv_header(path)
            # text as text: zero-padded ids and a category called "NA" stay as written
            return pd.read_csv(
                path, sep=separator, dtype=str, keep_default_na=False, na_values=[""]
            )
    except DataError:
        raise
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
            sep=_csv_header(path),
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            chunksize=rows,
        ) as chunks:
            yield from chunks
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"{path}: could not be read: {exc}") from None


def _csv_header(path: Path) -> str:
    """The separator (comma, semicolon or tab, whichever splits the header line most), once
    the header is known to name each column once."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", errors="replace", newline="") as fh:
        header = fh.readline()
    separator = max([",", ";", "\t"], key=header.count)
    names = next(csv.reader([header.rstrip("\r\n")], delimiter=separator), [])
    refuse_duplicate_columns(names, f"{path}: the header has")
    return separator


def refuse_duplicate_columns(names: list[str], where: str) -> None:
    """Each column named once (`where` starts the message): pandas would rename a CSV's second
    `employees` to `employees.1` (and never read it), and keep a query's two under one name.
    Unnamed columns (a trailing separator) are left to pandas, which numbers them."""
    twice = {str(n): k for n, k in Counter(names).items() if k > 1 and str(n).strip()}
    if twice:
        listed = ", ".join(f"'{n}' ({k} times)" for n, k in twice.items())
        raise DataError(
            f"{where} more than one column named {listed}; give each column its own name "
            "or remove the copy"
        )


def source_files(source: str | Path) -> list[Path]:
    """The local paths a `--data` source reads: the file, a folder and its files, a glob's
    files, or an SQLite database's file (none for other database URLs)."""
    text = str(source)
    if "://" in text:
        try:
            url = sqlalchemy.engine.make_url(text)
        except Exception:
            return []
        local = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
        return [Path(str(url.database))] if local else []
    try:
        files = partition_files(text)
    except DataError:
        return [Path(text)]
    return [Path(text), *files] if Path(text).is_dir() else files


def write_table(
    frame: pd.DataFrame, out: str | Path, before_replace: Callable[[], object] | None = None
) -> Path:
    """Write CSV or Parquet by extension, creating the folder. The file appears only when
    complete (written beside it, then renamed): a failed or killed write leaves the earlier
    file, if any, as it was. `before_replace`: called once it is written, before the rename
    (a failure there leaves no file)."""
    path = Path(out)
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        write_files({path: lambda tmp: frame.to_parquet(tmp, index=False)}, before_replace)
    elif name.endswith((".csv", ".csv.gz")):
        compression = "gzip" if name.endswith(".gz") else None
        write = lambda tmp: frame.to_csv(tmp, index=False, compression=compression)  # noqa: E731
        write_files({path: write}, before_replace)
    else:
        raise DataError(f"{path}: unknown output type; use {', '.join(TABLE_EXTENSIONS)}")
    return path
