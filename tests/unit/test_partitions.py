"""Partitioned data: finding the parts, reading them in batches, and folders that appear only
when complete."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml import folders, synth
from leadml.columns import labels_at
from leadml.data import partition_files, read_batches, read_leads
from leadml.errors import DataError, LeadmlError


@pytest.fixture
def parts(tmp_path):
    path = tmp_path / "leads"
    synth.write_partitioned(2_500, seed=3, out=path, partition_rows=1_000)
    return path


def test_parts_are_found_in_order_and_hidden_files_are_not_data(parts):
    (parts / ".part-99999.parquet").write_bytes(b"half-written")
    (parts / "_SUCCESS").write_text("")
    names = [p.name for p in partition_files(parts)]
    assert names == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [p.name for p in partition_files(str(parts / "part-0000[12].parquet"))] == names[1:]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("nowhere", "no such file or folder"),
        ("empty", "holds no .parquet/.pq/.csv/.csv.gz/.txt files"),
        ("*.nothing", "no files match"),
        ("notes.md", "unknown file type"),
    ],
)
def test_what_is_not_a_partitioned_dataset_is_named(tmp_path, source, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.md").write_text("# notes")
    with pytest.raises(DataError, match=message) as err:
        partition_files(str(tmp_path / source))
    assert source.split("*")[-1] in str(err.value)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_batches_are_typed_as_reading_the_whole_file(parts, tmp_path, kind):
    path = parts / "part-00001.parquet"
    if kind == "csv":
        path = tmp_path / "part.csv"
        pd.read_parquet(parts / "part-00001.parquet").to_csv(path, index=False)
    batches = list(read_batches(path, 300))
    assert [len(b) for b in batches] == [300, 300, 300, 100]
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), read_leads(path))


def test_a_glob_of_csv_files_reads_as_one_table(parts, tmp_path):
    whole = read_leads(parts)
    for i, chunk in enumerate(np.array_split(np.arange(len(whole)), 3)):
        read_leads(parts).iloc[chunk].to_csv(tmp_path / f"leads-{i}.csv", index=False)
    got = read_leads(str(tmp_path / "leads-*.csv"))
    assert len(got) == len(whole) and got["lead_id"].tolist() == whole["lead_id"].tolist()


def test_names_with_glob_characters_are_files_not_patterns(parts, tmp_path):
    """A file or folder called `leads[1]...` is read as named, alone or inside a folder."""
    whole = read_leads(parts)
    folder = tmp_path / "export[2026]"
    folder.mkdir()
    for p in partition_files(parts):
        (folder / p.name.replace("part-", "part[a]-")).write_bytes(p.read_bytes())
    pd.testing.assert_frame_equal(read_leads(folder), whole)
    one = folder / "part[a]-00001.parquet"
    assert partition_files(one) == [one]
    pd.testing.assert_frame_equal(read_leads(one), pd.read_parquet(parts / "part-00001.parquet"))


def test_synth_folder_holds_the_same_leads_as_one_file(parts, tmp_path):
    one = tmp_path / "one.parquet"
    synth.write(2_500, seed=3, out=one)
    pd.testing.assert_frame_equal(read_leads(parts), read_leads(one))
    with pytest.raises(LeadmlError, match="partition rows must be at least 1"):
        synth.write_partitioned(10, seed=3, out=tmp_path / "x", partition_rows=0)


def test_an_output_folder_appears_only_when_published(tmp_path):
    out = tmp_path / "scores"
    tmp = folders.staging(out, "lead scores")
    (tmp / folders.part_name(0)).write_text("part")
    assert not out.exists() and tmp.name.startswith(".scores.tmp-")
    folders.publish(tmp, out, {"kind": "lead scores", "rows": 1})
    assert sorted(p.name for p in out.iterdir()) == [folders.MANIFEST, "part-00000.parquet"]
    again = folders.staging(out, "lead scores")  # an earlier output may be replaced
    folders.publish(again, out, {"kind": "lead scores", "rows": 0})
    assert sorted(p.name for p in out.iterdir()) == [folders.MANIFEST]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores"]


def test_a_folder_that_is_not_an_output_of_the_kind_is_never_replaced(tmp_path, parts):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(DataError, match="not a leadml output folder"):
        folders.staging(mine, "lead scores")
    with pytest.raises(DataError, match="holds demo leads, not lead scores"):
        folders.staging(parts, "lead scores")  # demo leads are data, not earlier scores
    (tmp_path / "file.parquet").write_text("x")
    with pytest.raises(DataError, match="is a file"):
        folders.staging(tmp_path / "file.parquet", "lead scores")
    assert (mine / "notes.txt").read_text() == "keep"
    assert len(partition_files(parts)) == 3


@pytest.mark.parametrize(
    ("out", "folder"),
    [("scores/", True), ("scores", True), ("scores.parquet", False), ("s.CSV", False)],
)
def test_folder_targets_are_names_without_a_file_extension(out, folder):
    assert folders.is_folder_target(out, (".csv", ".parquet")) is folder


def test_labels_at_builds_a_text_column():
    got = labels_at(["A", "B", ""], np.array([1, 0, 2, 1]))
    assert pd.Series(got).tolist() == ["B", "A", "", "B"]
    assert pd.Series(got).dtype == pd.Series(["x"]).dtype
