"""Output files: never an input, never overwritten without --force, and never half-written: a
failure mid-write leaves no partial file, no temporary file, and the earlier file untouched."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from leadml.data import outputs, write_table
from leadml.data.read import source_files
from leadml.errors import DataError
from leadml.evaluation import report

FRAME = pd.DataFrame({"lead_id": [f"L{i}" for i in range(1000)], "probability": 0.25})


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- 12: an output that is an input, or exists -------------------------------------------------
def test_an_output_that_is_the_input_is_refused_even_with_force(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = write_table(FRAME, tmp_path / "leads.csv")
    for spelling in ("leads.csv", "./leads.csv", str(data)):
        with pytest.raises(DataError, match="is the data being read"):
            outputs.check_output(spelling, inputs=source_files("leads.csv"), force=True)
    (tmp_path / "link.csv").symlink_to(data)
    with pytest.raises(DataError, match="is the data being read"):
        outputs.check_output("link.csv", inputs=source_files(str(data)), force=True)


def test_an_output_among_a_folders_or_a_databases_files_is_refused(tmp_path):
    folder = tmp_path / "exports"
    write_table(FRAME, folder / "a.csv")
    write_table(FRAME, folder / "b.parquet")
    with pytest.raises(DataError, match="is the data being read"):
        outputs.check_output(folder / "b.parquet", inputs=source_files(folder), force=True)
    with pytest.raises(DataError, match="lies inside the data folder"):
        outputs.check_output(folder / "scores" / "new.csv", inputs=source_files(folder))
    with pytest.raises(DataError, match="is the data being read"):
        outputs.check_output(
            folder / "a.csv", inputs=source_files(str(folder / "*.csv")), force=True
        )
    db = tmp_path / "crm.db"
    db.write_bytes(b"")
    assert source_files(f"sqlite:///{db}") == [db]
    assert source_files("postgresql://crm/leads") == []


def test_an_existing_output_needs_force(tmp_path):
    out = write_table(FRAME, tmp_path / "scores.csv")
    with pytest.raises(DataError, match="exists; add --force to overwrite it"):
        outputs.check_output(out)
    assert outputs.check_output(out, force=True) == out
    assert outputs.check_output(tmp_path / "new.csv") == tmp_path / "new.csv"


@pytest.mark.parametrize(
    ("name", "words"),
    [("scores.json", "unknown output type"), ("folder.csv", "is a folder")],
)
def test_an_output_that_cannot_be_a_table_is_refused_up_front(tmp_path, name, words):
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DataError, match=words):
        outputs.check_output(tmp_path / name, extensions=outputs.TABLE_EXTENSIONS)


def test_two_outputs_naming_one_file_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="--out and --csv both name"):
        outputs.check_distinct({"--out": Path("r.csv"), "--csv": tmp_path / "r.csv"})


# -- 13: written whole, or not at all ----------------------------------------------------------
def _fail_midway(method: str):
    """A writer that writes part of the file, then fails (a full disk, a killed worker)."""

    def write(self, path, *args, **kwargs):
        Path(path).write_text("lead_id,probability\nL0,0.25\n")
        raise OSError("No space left on device")

    return method, write


@pytest.mark.parametrize(("name", "method"), [("s.csv", "to_csv"), ("s.parquet", "to_parquet")])
def test_a_failed_write_leaves_the_earlier_file_and_no_partial_one(
    tmp_path, monkeypatch, name, method
):
    out = write_table(FRAME, tmp_path / name)
    before = out.read_bytes()
    monkeypatch.setattr(pd.DataFrame, *_fail_midway(method))
    with pytest.raises(OSError, match="No space left"):
        write_table(FRAME.head(3), out)
    assert out.read_bytes() == before and _names(tmp_path) == [name]
    with pytest.raises(OSError, match="No space left"):
        write_table(FRAME, tmp_path / f"new{name[1:]}")
    assert _names(tmp_path) == [name]


def test_a_gzip_csv_is_still_compressed(tmp_path):
    out = write_table(FRAME, tmp_path / "s.csv.gz")
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    pd.testing.assert_frame_equal(pd.read_csv(out), FRAME)


@pytest.fixture
def comparison(monkeypatch):
    """A stand-in comparison: the page's text is rendered by `render_html` (tested elsewhere)."""
    monkeypatch.setattr(report, "render_html", lambda c: "<html>new page</html>")
    return SimpleNamespace(
        leads=pd.DataFrame({c: [1] for c in [*report.LEAD_COLUMNS, "rules_fired"]}),
        id_column="lead_id",
    )


def test_the_page_and_its_csv_appear_together(tmp_path, comparison):
    page, csv = report.write_comparison(comparison, tmp_path / "r.html", tmp_path / "r.csv")
    assert page.read_text() == "<html>new page</html>" and len(pd.read_csv(csv)) == 1
    assert _names(tmp_path) == ["r.csv", "r.html"]


def test_a_failed_csv_leaves_no_page_behind(tmp_path, monkeypatch, comparison):
    monkeypatch.setattr(pd.DataFrame, *_fail_midway("to_csv"))
    with pytest.raises(OSError, match="No space left"):
        report.write_comparison(comparison, tmp_path / "r.html", tmp_path / "r.csv")
    assert _names(tmp_path) == []


def test_a_failed_rename_restores_the_earlier_page(tmp_path, monkeypatch, comparison):
    page, csv = tmp_path / "r.html", tmp_path / "r.csv"
    page.write_text("earlier page")
    csv.write_text("earlier,csv\n")
    real = os.replace

    def replace(src, dst):
        if Path(dst) == csv and Path(src).name.startswith(".r.csv.tmp-"):
            raise PermissionError(f"{dst}: read-only")
        return real(src, dst)

    monkeypatch.setattr(outputs.os, "replace", replace)
    with pytest.raises(PermissionError):
        report.write_comparison(comparison, page, csv)
    assert page.read_text() == "earlier page" and csv.read_text() == "earlier,csv\n"
    assert _names(tmp_path) == ["r.csv", "r.html"]
