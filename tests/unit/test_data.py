"""Loading and checking lead history: every problem named with its column and rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml.data import check_leads, fingerprint, read_leads, write_table
from leadml.errors import DataError
from leadml.spec import load_spec

from ..conftest import SPEC, valid_leads


@pytest.fixture(scope="module")
def spec():
    return load_spec(SPEC)


@pytest.fixture
def leads(spec):
    """Eight valid leads built from the spec, outcomes decided."""
    return valid_leads(spec, 8, dates_as_text=False)


def test_valid_leads_pass_typed(spec, leads):
    checked = check_leads(leads, spec, require_label=True)
    assert len(checked.frame) == 8 and checked.y.tolist() == [0, 1] * 4
    assert pd.api.types.is_numeric_dtype(checked.frame["web_visits"])
    assert pd.api.types.is_numeric_dtype(checked.frame["existing_customer"])
    assert checked.excluded == {}


def _problem(spec, frame, match, **kwargs):
    with pytest.raises(DataError) as info:
        check_leads(frame, spec, require_label=kwargs.get("require_label", True))
    assert match in str(info.value), str(info.value)
    return str(info.value)


def test_missing_columns_are_all_named(spec, leads):
    msg = _problem(spec, leads.drop(columns=["industry", "sales_ready"]), "lacks 2 column(s)")
    assert "industry" in msg and "sales_ready" in msg


def test_wrong_type_names_column_and_rows(spec, leads):
    leads["web_visits"] = leads["web_visits"].astype(object)
    leads.loc[[2, 5], "web_visits"] = "many"
    msg = _problem(spec, leads, "column 'web_visits' must be numeric")
    assert "row 3 (lead L2): 'many'" in msg and "row 6 (lead L5)" in msg


def test_value_outside_allowed_set(spec, leads):
    leads.loc[1, "capture_form"] = "carrier_pigeon"
    _problem(spec, leads, "column 'capture_form' has values outside the allowed set")


def test_value_outside_range(spec, leads):
    leads.loc[0, "webinar_minutes"] = 500
    msg = _problem(spec, leads, "column 'webinar_minutes' must lie in the range 0 to 240")
    assert "row 1 (lead L0): 500" in msg


def test_bad_boolean(spec, leads):
    leads["newsletter_subscriber"] = leads["newsletter_subscriber"].astype(object)
    leads.loc[0, "newsletter_subscriber"] = "maybe"
    _problem(spec, leads, "column 'newsletter_subscriber' must be true/false")


def test_duplicate_lead_ids(spec, leads):
    leads.loc[3, "lead_id"] = "L1"
    msg = _problem(spec, leads, "duplicate lead ids")
    assert "row 2 (lead L1)" in msg and "row 4 (lead L1)" in msg


def test_unparsable_timestamp(spec, leads):
    leads["created_at"] = leads["created_at"].astype(str)
    leads.loc[4, "created_at"] = "last tuesday"
    _problem(spec, leads, "column 'created_at' has missing or unparsable timestamps")


def test_timestamps_with_mixed_offsets_are_read_in_utc(spec, leads):
    stamps = ["2025-03-29T10:00:00+01:00", "2025-03-31T10:00:00+02:00"] * 4
    checked = check_leads(leads.assign(created_at=stamps), spec, require_label=True)
    assert str(checked.timestamps.iloc[0]) == "2025-03-29 09:00:00"
    assert str(checked.timestamps.iloc[1]) == "2025-03-31 08:00:00"


def test_numeric_timestamps_are_refused_not_put_in_1970(spec, leads):
    with pytest.raises(DataError, match="holds numbers, not dates"):
        check_leads(leads.assign(created_at=range(8)), spec, require_label=True)


def test_every_outcome_still_open(spec, leads):
    leads["sales_ready"] = pd.array([None] * 8, dtype="Int64")
    checked = check_leads(leads, spec, require_label=True)
    assert len(checked.frame) == 0 and checked.excluded == {"outcome still open": 8}


def test_csv_keeps_ids_and_reads_na_in_numbers_as_missing(tmp_path, spec, leads):
    leads["lead_id"] = [f"{i:07d}" for i in range(8)]
    leads["email_opens"] = leads["email_opens"].astype(object)
    leads.loc[2, "email_opens"] = "NA"
    path = write_table(leads, tmp_path / "leads.csv")
    checked = check_leads(read_leads(path), spec, require_label=True)
    assert checked.frame["lead_id"].tolist()[:2] == ["0000000", "0000001"]
    assert np.isnan(checked.frame.loc[2, "email_opens"])


def test_label_value_outside_definition(spec, leads):
    leads["sales_ready"] = leads["sales_ready"].astype(object)
    leads.loc[6, "sales_ready"] = "maybe"
    _problem(spec, leads, "column 'sales_ready' (label) has values outside the label definition")


def test_at_most_five_rows_shown(spec, leads):
    leads = pd.concat([leads] * 3, ignore_index=True)
    leads["lead_id"] = [f"X{i}" for i in range(len(leads))]
    leads["capture_form"] = "fax"
    msg = _problem(spec, leads, "and 19 more")
    assert msg.count("(lead X") == 5


def test_all_problems_reported_at_once(spec, leads):
    leads.loc[1, "capture_form"] = "fax"
    leads.loc[3, "lead_id"] = "L1"
    msg = _problem(spec, leads, "2 problem(s)")
    assert "capture_form" in msg and "duplicate" in msg


def test_open_leads_are_excluded_and_counted(spec, leads):
    leads["sales_ready"] = pd.array([0, 1, None, 0, None, 1, 0, 1], dtype="Int64")
    checked = check_leads(leads, spec, require_label=True)
    assert checked.excluded == {"outcome still open": 2}
    assert len(checked.frame) == 6 and checked.y.tolist() == [0, 1, 0, 1, 0, 1]
    assert fingerprint(checked, spec)["excluded"] == {"outcome still open": 2}


def test_unseen_category_counted_when_scoring(spec, leads):
    leads.loc[1, "capture_form"] = "fax"
    unseen: dict[str, int] = {}
    checked = check_leads(leads, spec, require_label=False, unseen=unseen)
    assert unseen == {"capture_form": 1}
    assert pd.isna(checked.frame.loc[1, "capture_form"])


def test_missing_integer_field_is_cast_by_spec(spec, leads):
    leads["email_opens"] = pd.array([None] * 8, dtype=object)
    checked = check_leads(leads, spec, require_label=False)
    assert checked.frame["email_opens"].dtype == np.float64


@pytest.mark.parametrize("ext", ["csv", "parquet", "csv.gz"])
def test_round_trip_files(tmp_path, leads, spec, ext):
    path = write_table(leads, tmp_path / f"leads.{ext}")
    back = check_leads(read_leads(path), spec, require_label=True)
    assert back.y.tolist() == [0, 1] * 4


def test_sql_query(tmp_path, leads, spec):
    import sqlalchemy

    url = f"sqlite:///{tmp_path / 'crm.db'}"
    leads.to_sql("leads", sqlalchemy.create_engine(url), index=False)
    frame = read_leads(url, "select * from leads where sales_ready = 1")
    assert len(check_leads(frame, spec, require_label=True).frame) == 4
    with pytest.raises(DataError, match="needs --query"):
        read_leads(url)
    with pytest.raises(DataError, match="the query failed"):
        read_leads(url, "select * from nowhere")


def test_unknown_file_type_and_missing_file(tmp_path):
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(DataError, match="unknown file type"):
        read_leads(tmp_path / "x.xlsx")
    with pytest.raises(DataError, match="no such file"):
        read_leads(tmp_path / "none.csv")
