"""Careless exports are refused with the file, column and rows named, never guessed at: a column
named twice, dates that read as two different days, a feature name a column would have."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import pickle
import re

import pandas as pd
import pytest
import sqlalchemy
import yaml

from leadml.data import check_leads, read_batches, read_leads
from leadml.errors import DataError, SpecError
from leadml.spec import load_spec, parse_spec
from leadml.spec.features import ADDED_LATER, FEATURE_ADDED_LATER

from ..conftest import ROOT, SPEC, valid_leads


@pytest.fixture(scope="module")
def raw_spec() -> dict:
    return yaml.safe_load(SPEC.read_text())


@pytest.fixture(scope="module")
def spec(raw_spec):
    return parse_spec(raw_spec, "spec")


def _with(raw_spec: dict, **top) -> object:
    return parse_spec({**copy.deepcopy(raw_spec), **top}, "spec.yaml")


def _leads(spec, n: int = 8) -> pd.DataFrame:
    """`n` valid leads built from the spec, outcomes decided, dates as ISO text."""
    return valid_leads(spec, n)


# -- 10: a column named twice ------------------------------------------------------------------
def _csv_with_employees_twice(path, sep=","):
    text = sep.join(["lead_id", "employees", "industry", "employees"]) + "\n"
    text += sep.join(["L1", "50", "software", "5000"]) + "\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize(("name", "sep"), [("leads.csv", ","), ("leads.csv.gz", ";")])
def test_a_csv_naming_a_column_twice_is_refused_naming_column_and_file(tmp_path, name, sep):
    path = _csv_with_employees_twice(tmp_path / name, sep)
    with pytest.raises(DataError) as info:
        read_leads(path)
    message = str(info.value)
    assert str(path) in message and "'employees' (2 times)" in message
    with pytest.raises(DataError, match="'employees'"):
        next(read_batches(path, 10))  # the Dask engine's reader too


def test_a_folder_with_one_such_file_is_refused_naming_that_file(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "a.csv").write_text("lead_id,employees\nL0,3\n")
    bad = _csv_with_employees_twice(folder / "b.csv")
    with pytest.raises(DataError, match=re.escape(str(bad)) + ".*'employees'"):
        read_leads(folder)


def test_quoted_names_and_unnamed_trailing_columns_are_still_read(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text('lead_id,"employees, total",employees,,\nL1,5,6,,\n')
    frame = read_leads(path)
    assert list(frame.columns[:3]) == ["lead_id", "employees, total", "employees"]


def test_a_query_returning_a_column_twice_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    pd.DataFrame({"lead_id": ["L1"], "employees": [5]}).to_sql(
        "leads", sqlalchemy.create_engine(url), index=False
    )
    with pytest.raises(DataError) as info:
        read_leads(url, "select lead_id, employees, employees from leads")
    assert url in str(info.value) and "'employees' (2 times)" in str(info.value)


def test_a_frame_with_a_column_twice_is_refused_by_the_check(spec):
    frame = _leads(spec)
    twice = pd.concat([frame, frame[["employees"]]], axis=1)
    with pytest.raises(DataError, match="more than one column named 'employees'"):
        check_leads(twice, spec, require_label=True)


# -- 11: dates that read as two different days ------------------------------------------------
def test_day_first_dates_are_ambiguous_without_a_format(spec):
    stamps = pd.Series(pd.date_range("2025-01-01 09:30", periods=20_000, freq="37min"))
    frame = _leads(spec, 20_000).assign(created_at=stamps.dt.strftime("%d/%m/%Y %H:%M"))
    with pytest.raises(DataError) as info:
        check_leads(frame, spec, require_label=True)
    message = str(info.value)
    assert "column 'created_at' has dates that read as two different days" in message
    assert "row 1 (lead L0): '01/01/2025 09:30'" not in message  # same day either way
    assert "timestamp_format" in message and "and " in message and " more" in message


def test_the_spec_format_reads_them_as_written(spec, raw_spec):
    day_first = _with(raw_spec, timestamp_format="%d/%m/%Y %H:%M")
    stamps = pd.Series(pd.date_range("2025-01-01 09:30", periods=20_000, freq="37min"))
    frame = _leads(spec, 20_000).assign(created_at=stamps.dt.strftime("%d/%m/%Y %H:%M"))
    checked = check_leads(frame, day_first, require_label=True)
    assert checked.timestamps.tolist() == stamps.tolist()


def test_values_not_in_the_spec_format_are_named(spec, raw_spec):
    day_first = _with(raw_spec, timestamp_format="%d/%m/%Y %H:%M")
    frame = _leads(spec).assign(created_at="03/04/2025 10:00")
    frame.loc[[2, 5], "created_at"] = ["2025-04-03", "3 April"]
    with pytest.raises(DataError) as info:
        check_leads(frame, day_first, require_label=True)
    message = str(info.value)
    assert "timestamp_format '%d/%m/%Y %H:%M'" in message
    assert "row 3 (lead L2): '2025-04-03'" in message and "row 6 (lead L5): '3 April'" in message


def test_one_ambiguous_value_among_iso_dates_names_its_row(spec):
    frame = _leads(spec)
    frame.loc[4, "created_at"] = "03/04/2025"
    with pytest.raises(DataError, match=r"row 5 \(lead L4\): '03/04/2025'"):
        check_leads(frame, spec, require_label=True)


@pytest.mark.parametrize(
    "dates",
    [
        ["2025-03-04T10:00:00", "2025-04-03 09:00"],  # ISO 8601
        ["13/04/2025 10:00", "04/04/2025"],  # only one reading is a date, or both the same
        ["3 April 2025", "April 4, 2025"],  # the month in words
    ],
)
def test_unambiguous_dates_read_as_before(spec, dates):
    frame = _leads(spec).assign(created_at=dates * 4)
    checked = check_leads(frame, spec, require_label=True)
    expected = pd.to_datetime(pd.Series(dates * 4), format="mixed")
    assert checked.timestamps.tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("top", "words"),
    [
        ({"timestamp_format": "dd/mm/yyyy"}, "has no strftime code"),
        ({"timestamp_format": "%d/%m/%Y %Q"}, "is not a date format"),
        ({"timestamp_format": "%d/%m/%Y", "timestamp": None}, "needs the 'timestamp' column"),
    ],
)
def test_a_bad_timestamp_format_is_a_spec_error(raw_spec, top, words):
    with pytest.raises(SpecError, match=words):
        _with(raw_spec, **top)


def test_the_hash_of_a_spec_without_a_format_is_unchanged(raw_spec):
    """Models and runs store the spec's hash: a field the spec does not set must not move it
    (the hash as computed before the later fields existed: the dump without them)."""
    for path in (SPEC, SPEC.parent / "bank_features.yaml"):
        spec = load_spec(path)
        dump = spec.model_dump(mode="json")
        for name in ADDED_LATER:
            assert dump.pop(name) is None
        for feature in dump["features"]:
            for name in FEATURE_ADDED_LATER:
                assert feature.pop(name) is None
        before = hashlib.sha256(json.dumps(dump, sort_keys=True).encode()).hexdigest()[:16]
        assert spec.content_hash == before
    assert _with(raw_spec, timestamp_format="%d/%m/%Y").content_hash != load_spec(SPEC).content_hash


def test_a_spec_pickled_before_the_format_existed_loads_without_one(spec):
    state = spec.__getstate__()
    old_dict = {k: v for k, v in state["__dict__"].items() if k != "timestamp_format"}
    old = type(spec).__new__(type(spec))
    old.__setstate__({**state, "__dict__": old_dict})
    assert old.timestamp_format is None and old.content_hash == spec.content_hash
    model = pickle.loads((ROOT / "tests/data/pickled_model/lead_model.pkl").read_bytes())
    assert model.spec.timestamp_format is None


# -- 14: a feature name a column would have --------------------------------------------------
def test_a_bad_feature_name_says_how_to_read_a_column_with_spaces(tmp_path, raw_spec):
    raw = copy.deepcopy(raw_spec)
    raw["features"][0]["name"] = "Lead Source"
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert "features.0.name" in message and "^[a-z][a-z0-9_]*$" in message
    assert "name: lead_source with column: 'Lead Source'" in message


def test_a_feature_pickled_before_its_later_fields_loads_with_them_unset(spec):
    feature = spec.features[0]
    state = feature.__getstate__()
    old = {k: v for k, v in state["__dict__"].items() if k not in FEATURE_ADDED_LATER}
    restored = type(feature).__new__(type(feature))
    restored.__setstate__({**state, "__dict__": old})
    assert restored.label is None and restored.missing_values is None
    assert restored.leak_reviewed is None and restored.name == feature.name


def test_a_leak_review_needs_both_teams(raw_spec):
    review = {"by": {"sales": "Ana"}, "when": "2026-11-01", "auc": 0.93}
    features = [{**raw_spec["features"][0], "leak_reviewed": review}, *raw_spec["features"][1:]]
    with pytest.raises(SpecError, match="no name for marketing"):
        _with(raw_spec, features=features)
