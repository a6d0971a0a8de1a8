"""Splitting honestly: a time split needs an order (a timestamp, a column, or the file's row order
declared), capacity that covers every lead is named, a model knows the leads it has seen, and an
extending config can clear a mapping."""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pandas as pd
import pytest
import yaml

from leadml.data import check_leads, read_leads
from leadml.errors import ConfigError, DataError
from leadml.evaluation.capacity import capacity_use
from leadml.evaluation.seen import SEEN_REASON, SeenLeads, seen_leads, without_seen
from leadml.scoring.encoding import LeadEncoder
from leadml.scoring.info import ModelInfo, TrainedLeads, lead_keys
from leadml.spec import parse_spec
from leadml.spec.config import TrainingConfig, load_config
from leadml.training.windows import (
    leads_table,
    order_column,
    order_values,
    split_order,
    split_order_of,
    split_windows,
)

from ..conftest import ROOT, SPEC, valid_leads

FIXES = ("`timestamp:`", "split.order_by: COLUMN", "split.order_by: file_order", "random")


@pytest.fixture(scope="module")
def raw_spec() -> dict:
    return yaml.safe_load(SPEC.read_text())


def _spec(raw_spec: dict, **top):
    return parse_spec({**copy.deepcopy(raw_spec), **top}, "spec.yaml")


def _config(**split) -> TrainingConfig:
    return TrainingConfig.model_validate({"split": split, "capacity": {"share": 0.1}})


def _leads(spec, n: int = 40) -> pd.DataFrame:
    """`n` valid leads built from the spec, dates as ISO text, outcomes alternating."""
    return valid_leads(spec, n)


# -- 1: a time split needs an order --------------------------------------------------------------
def test_a_time_split_without_timestamp_or_order_is_refused_with_the_fixes(raw_spec):
    undated = _spec(raw_spec, timestamp=None)
    with pytest.raises(ConfigError) as info:
        split_order_of(_config(), undated)
    message = str(info.value)
    assert "newest leads first" in message and all(fix in message for fix in FIXES), message
    # the engines' own guard says the same when the values of the order are missing
    with pytest.raises(ConfigError, match=r"split\.order_by: file_order"):
        split_order(10, None, _config())


@pytest.mark.parametrize(
    ("split", "timestamp", "expected"),
    [
        ({}, "created_at", {"kind": "timestamp", "column": "created_at"}),
        ({"order_by": "lead_id"}, None, {"kind": "column", "column": "lead_id"}),
        ({"order_by": "employees"}, None, {"kind": "column", "column": "employees"}),
        ({"order_by": "file_order"}, None, {"kind": "file_order", "column": "file_order"}),
        ({"order_by": "created_at"}, "created_at", {"kind": "timestamp", "column": "created_at"}),
        ({"method": "random"}, None, None),
    ],
)
def test_what_orders_the_split(raw_spec, split, timestamp, expected):
    assert split_order_of(_config(**split), _spec(raw_spec, timestamp=timestamp)) == expected


def test_order_by_a_column_the_spec_does_not_read_is_carried_to_the_split(raw_spec):
    """A lead number that is neither the id nor a feature orders the split; checking carries it."""
    spec = _spec(raw_spec, timestamp=None)
    config = _config(order_by="lead_number", test_share=0.1, calibration_share=0.1)
    order = split_order_of(config, spec)
    assert order == {"kind": "column", "column": "lead_number"}
    raw = _leads(spec).drop(columns="created_at").iloc[::-1]  # newest first
    raw["lead_number"] = np.arange(len(raw))[::-1] + 7_000
    leads = check_leads(raw, spec, require_label=True, order_by=order_column(order))
    windows = split_windows(leads, config, LeadEncoder(spec))
    assert windows["test"].frame["lead_id"].tolist() == ["L36", "L37", "L38", "L39"]
    table = leads_table(windows["test"], spec, "lead_number")
    assert sorted(table["lead_number"]) == [7_036, 7_037, 7_038, 7_039]
    unchecked = check_leads(raw.drop(columns="lead_number"), spec, require_label=True)
    with pytest.raises(DataError, match=r"split\.order_by: the data has no column 'lead_number'"):
        order_values(unchecked.frame, order, spec)
    with pytest.raises(ConfigError, match="is the label column"):
        split_order_of(_config(order_by="sales_ready"), spec)


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ({"method": "random", "order_by": "lead_id"}, "a random split has no order"),
        ({"order_by": " "}, "split.order_by must name a column"),
    ],
)
def test_bad_order_by_is_a_config_error(tmp_path, split, message):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"split": split}))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_a_lead_number_sorts_as_numbers_whatever_its_type(raw_spec):
    """Lead numbers as text (a CSV read as strings) sort as 9 < 10 < 100, not as '10' < '9'."""
    spec = _spec(raw_spec, timestamp=None)
    raw = _leads(spec).drop(columns="created_at")
    numbers = [100, 9, 10, *range(1000, 1037)]
    raw["lead_id"] = [str(n) for n in numbers]  # text, as an export might give them
    leads = check_leads(raw, spec, require_label=True, order_by="lead_id")
    order = {"kind": "column", "column": "lead_id"}
    assert order_values(leads.frame, order, spec)[:3].tolist() == [100.0, 9.0, 10.0]
    windows = split_windows(
        leads, _config(order_by="lead_id", test_share=0.1, calibration_share=0.1), LeadEncoder(spec)
    )
    assert windows["train"].frame["lead_id"].iloc[:3].tolist() == ["9", "10", "100"]
    assert windows["test"].frame["lead_id"].tolist() == ["1033", "1034", "1035", "1036"]


def test_an_order_column_that_is_not_numbers_names_the_rows(raw_spec):
    spec = _spec(raw_spec, timestamp=None)
    raw = _leads(spec).drop(columns="created_at")
    raw.loc[3, "lead_id"] = "L-17b"
    leads = check_leads(raw, spec, require_label=True, order_by="lead_id")
    with pytest.raises(DataError) as info:
        order_values(leads.frame, {"kind": "column", "column": "lead_id"}, spec)
    message = str(info.value)
    assert "column 'lead_id' must hold a number" in message
    assert "row 4 (lead L-17b)" in message and "set the spec's timestamp" in message


def test_file_order_keeps_the_rows_as_written(raw_spec):
    spec = _spec(raw_spec, timestamp=None)
    raw = (
        _leads(spec).drop(columns="created_at").iloc[::-1]
    )  # newest first, file_order trusts the file
    leads = check_leads(raw, spec, require_label=True)
    config = _config(order_by="file_order", test_share=0.1, calibration_share=0.1)
    windows = split_windows(leads, config, LeadEncoder(spec))
    assert windows["test"].frame["lead_id"].tolist() == ["L3", "L2", "L1", "L0"]


def test_the_split_is_said_in_words():
    def words(split: str, kind: str | None, column: str = "") -> str:
        order = None if kind is None else {"kind": kind, "column": column}
        return ModelInfo(split=split, split_order=order).split_words()

    assert "oldest by created_at trains" in words("time", "timestamp", "created_at")
    assert "by lead_number (split.order_by): lowest lead_number trains" in words(
        "time", "column", "lead_number"
    )
    assert "the file's row order (declared in the config" in words("time", "file_order")
    assert words("random", None).startswith("random split")
    assert words("time", None) == "time split: oldest trains, next calibrates, newest tests"


# -- 2: capacity that does not bind --------------------------------------------------------------
def test_capacity_use_counts_each_weeks_leads_up_to_capacity():
    weeks = np.array([0] * 10 + [1] * 4 + [2] * 6)
    use = capacity_use(weeks, 5)
    assert (use.weeks, use.leads, use.worked) == (3, 20, 14)
    assert use.binds and use.worked_share == pytest.approx(0.7)
    covers = capacity_use(weeks, 10)
    assert not covers.binds and covers.worked_share == 1.0
    text = covers.describe("the test window")
    assert "sales can work 10 leads a week, against about 7 a week in the test window" in text
    assert "(20 leads over 3 weeks), so 100% of the leads count as worked" in text
    one_window = capacity_use(np.zeros(50, dtype=int), 48)
    assert not one_window.binds and "48 of the 50 leads in it" in one_window.describe("it")


# -- 3: the leads a model has seen ---------------------------------------------------------------
def test_lead_keys_match_by_id_whatever_the_ids_type(raw_spec):
    spec = _spec(raw_spec)
    raw = _leads(spec)
    raw["lead_id"] = range(100, 140)
    as_numbers = check_leads(raw, spec, require_label=True)
    as_text = check_leads(raw.astype({"lead_id": str}), spec, require_label=True)
    np.testing.assert_array_equal(lead_keys(as_numbers.frame, spec), lead_keys(as_text.frame, spec))


def test_without_ids_leads_are_matched_by_their_values(raw_spec):
    spec = _spec(raw_spec, lead_id=None)
    raw = _leads(spec)
    whole = check_leads(raw.drop(columns="lead_id"), spec, require_label=True)
    tail = check_leads(raw.drop(columns="lead_id").iloc[30:], spec, require_label=True)
    assert tail.frame["row"].iloc[0] == "1"  # numbered afresh in its own file
    trained = TrainedLeads.of(lead_keys(whole.frame.iloc[30:35], spec), np.array([], np.uint64))
    in_train, in_cal = trained.find(lead_keys(tail.frame, spec))
    assert in_train.tolist() == [True] * 5 + [False] * 5 and not in_cal.any()


def test_trained_leads_find_and_leave_out(raw_spec):
    spec = _spec(raw_spec)
    leads = check_leads(_leads(spec), spec, require_label=True)
    keys = lead_keys(leads.frame, spec)
    trained = TrainedLeads.of(keys[:10], keys[10:15])
    in_train, in_cal = trained.find(keys)
    assert in_train.sum() == 10 and in_cal.sum() == 5 and not (in_train & in_cal).any()
    seen = SeenLeads(in_train, in_cal, "by lead id (lead_id)")
    assert "15 of the 40 leads in leads.csv" in seen.describe("leads.csv")
    rest = without_seen(leads, seen)
    assert rest.frame["lead_id"].tolist() == [f"L{i}" for i in range(15, 40)]
    assert rest.y.tolist() == leads.y[15:].tolist() and rest.excluded == {SEEN_REASON: 15}


def test_model_info_without_the_new_fields_still_reads(raw_spec):
    """Models pickled before `split_order` and `trained_leads` existed read them as None."""
    info = ModelInfo(name="old", split="time")
    state = pickle.dumps(info)
    old = pickle.loads(state)
    for name in ("split_order", "trained_leads"):
        del old.__dict__[name]
    assert old.split_order is None and old.trained_leads is None
    assert old.split_words() == "time split: oldest trains, next calibrates, newest tests"
    assert ModelInfo.from_dict({"name": "older", "metrics": {}}).trained_leads is None


def test_model_info_logs_the_trained_leads_as_counts():
    keys = np.arange(6, dtype=np.uint64)
    info = ModelInfo(trained_leads=TrainedLeads.of(keys[:4], keys[4:]))
    out = info.to_dict()
    assert out["trained_leads"] == {"train": 4, "calibration": 2}
    json.dumps(out)  # JSON-shaped, as summary.json logs it
    assert isinstance(info.trained_leads, TrainedLeads)  # to_dict left the model as it was
    assert ModelInfo.from_dict(out).trained_leads is None  # counts are not the leads


def test_a_windows_leads_read_back_as_the_same_leads(raw_spec, tmp_path):
    spec = _spec(raw_spec, timestamp_format="%d/%m/%Y %H:%M")
    raw = _leads(spec)
    raw["created_at"] = pd.to_datetime(raw["created_at"]).dt.strftime("%d/%m/%Y %H:%M")
    leads = check_leads(raw, spec, require_label=True)
    test = split_windows(leads, _config(), LeadEncoder(spec))["test"]
    for name in ("test.csv", "test.parquet"):
        table = leads_table(test, spec)
        path = tmp_path / name
        table.to_csv(path, index=False) if name.endswith(".csv") else table.to_parquet(path)
        back = check_leads(
            pd.read_csv(path) if name.endswith(".csv") else pd.read_parquet(path),
            spec,
            require_label=True,
        )
        pd.testing.assert_frame_equal(back.frame, test.frame.reset_index(drop=True))
        assert back.y.tolist() == test.y.tolist()


# -- 4: extends can clear a mapping --------------------------------------------------------------
def test_an_empty_mapping_in_an_extending_config_replaces_the_base(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(
        yaml.safe_dump(
            {"name": "base", "model": {"num_boost_round": 50, "params": {"num_leaves": 3}}}
        )
    )
    cleared, merged = tmp_path / "cleared.yaml", tmp_path / "merged.yaml"
    cleared.write_text(
        yaml.safe_dump({"extends": "base.yaml", "name": "c", "model": {"params": {}}})
    )
    merged.write_text(
        yaml.safe_dump({"extends": "base.yaml", "name": "m", "model": {"params": {"max_bin": 63}}})
    )
    assert load_config(cleared).model.params == {}
    assert load_config(cleared).model.num_boost_round == 50  # only the empty mapping replaces
    assert load_config(merged).model.params == {"num_leaves": 3, "max_bin": 63}


def test_the_shipped_bank_configs_declare_their_order():
    time_split = load_config(ROOT / "training" / "bank_marketing.yaml")
    random_split = load_config(ROOT / "training" / "bank_marketing_random.yaml")
    assert time_split.split.order_by == "file_order"
    assert random_split.split.order_by is None


def test_an_undated_spec_hears_of_capacity_and_order_at_once(raw_spec):
    from leadml.training.pipeline import check_weeks_and_order

    undated = _spec(raw_spec, timestamp=None)
    config = TrainingConfig.model_validate({"capacity": {"leads_per_week": 40}})
    with pytest.raises(ConfigError) as info:
        check_weeks_and_order(config, undated)
    assert "give the sales capacity as capacity.share" in str(info.value)
    assert "split.method: time needs an order" in str(info.value)
    fixed = _config(order_by="lead_id")
    assert check_weeks_and_order(fixed, undated) == {"kind": "column", "column": "lead_id"}


def test_a_model_pickled_before_cannot_say_which_leads_it_saw():
    pickled = ROOT / "tests" / "data" / "pickled_model"
    model = pickle.loads((pickled / "lead_model.pkl").read_bytes())
    leads = check_leads(read_leads(pickled / "leads.csv"), model.spec, require_label=False)
    assert seen_leads(model, leads) is None
    assert model.info.split_words() == "time split: oldest trains, next calibrates, newest tests"


def test_a_booster_trained_again_on_the_calibration_window_trained_on_it():
    from types import SimpleNamespace

    from leadml.training.pipeline import learned_from

    keys = np.arange(10, dtype=np.uint64)
    window = SimpleNamespace(trained=TrainedLeads.of(keys[:6], keys[6:]))
    kept = learned_from(window, SimpleNamespace(refitted_=False))
    assert len(kept.train) == 6 and len(kept.calibration) == 4
    refitted = learned_from(window, SimpleNamespace(refitted_=True))
    assert refitted.train.tolist() == keys.tolist() and len(refitted.calibration) == 4
    in_train, _ = refitted.find(keys[6:])
    assert in_train.all()
