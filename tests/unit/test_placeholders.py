"""Placeholder values meaning missing (`missing_values`, per feature and spec-wide): read as
missing from files, never required in `allowed`, and scored as missing in the API's contract and
both of its readers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from leadml.data import check_leads
from leadml.errors import DataError, SpecError
from leadml.scoring.encoding import LeadEncoder
from leadml.serving.contract import request_models
from leadml.serving.reader import COLUMNAR_MIN_BYTES, LeadReader
from leadml.spec import load_spec
from leadml.spec.features import FeatureSpec, parse_spec

from ..conftest import SPEC


def _with(spec: FeatureSpec, *, spec_wide=None, **per_feature) -> FeatureSpec:
    """The demo spec with `missing_values` set spec-wide and on the named features."""
    raw = spec.model_dump(mode="json")
    raw["missing_values"] = spec_wide
    for f in raw["features"]:
        if f["name"] in per_feature:
            f["missing_values"] = per_feature[f["name"]]
    return parse_spec(raw, "test spec")


@pytest.fixture(scope="module")
def demo():
    return load_spec(SPEC)


@pytest.fixture(scope="module")
def spec(demo):
    return _with(demo, spec_wide=["N/A"], industry=["Select"], employees=["-1", "unknown"])


def _leads(spec: FeatureSpec, n: int = 4) -> pd.DataFrame:
    """n valid leads as a CSV export reads them (every value text)."""
    frame = pd.DataFrame({"lead_id": [f"L{i}" for i in range(n)]})
    frame["created_at"] = "2025-01-0" + pd.Series(range(1, n + 1)).astype(str)
    for f in spec.features:
        if f.kind == "categorical":
            frame[f.source] = [f.allowed[i % len(f.allowed)] for i in range(n)]
        elif f.kind == "boolean":
            frame[f.source] = ["yes", "no"] * (n // 2)
        else:
            frame[f.source] = [str(10 + i) for i in range(n)]
    frame["sales_ready"] = ["0", "1"] * (n // 2)
    return frame


def test_a_placeholder_in_a_file_is_missing_not_a_category(spec):
    leads = _leads(spec)
    leads.loc[0, "industry"] = "Select"
    leads.loc[1, "industry"] = "N/A"  # the spec-wide placeholder
    leads.loc[2, "employees"] = "-1"
    leads.loc[3, "employees"] = "unknown"
    leads.loc[0, "newsletter_subscriber"] = "N/A"
    unseen: dict[str, int] = {}
    checked = check_leads(leads, spec, require_label=True, unseen=unseen)
    frame = checked.frame
    assert frame["industry"].isna().tolist() == [True, True, False, False]
    assert frame["employees"].isna().tolist() == [False, False, True, True]
    assert math.isnan(frame.loc[0, "newsletter_subscriber"])
    assert unseen == {}  # a placeholder is not an unknown category
    X = LeadEncoder(spec).transform(frame)
    j = spec.names.index("industry")
    assert np.isnan(X[:2, j]).all() and not np.isnan(X[2:, j]).any()


def test_without_missing_values_the_placeholder_is_still_refused(demo):
    leads = _leads(demo)
    leads.loc[0, "industry"] = "Select"
    leads.loc[2, "employees"] = "-1"
    with pytest.raises(DataError) as refused:
        check_leads(leads, demo, require_label=True)
    assert "column 'industry' has values outside the allowed set" in str(refused.value)
    assert "row 1 (lead L0): 'Select'" in str(refused.value)
    assert "column 'employees' must lie in the range 1 to" in str(refused.value)


def test_a_placeholder_written_as_a_number_in_a_numeric_column(spec):
    leads = _leads(spec)
    leads["employees"] = [12.0, -1.0, 30.0, np.nan]  # a Parquet column of floats
    checked = check_leads(leads, spec, require_label=True)
    assert checked.frame["employees"].isna().tolist() == [False, True, False, True]


@pytest.mark.parametrize(
    "written", [["12", "-1.0", " -1 ", ""], [12, -1, 30, -1], ["12", "-1", "3", "-1.00"]]
)
def test_a_numeric_placeholder_matches_however_the_file_writes_the_number(spec, written):
    leads = _leads(spec)
    leads["employees"] = written
    checked = check_leads(leads, spec, require_label=True)
    assert checked.frame["employees"].isna().tolist() == [False, True, written[2] == " -1 ", True]


def test_a_yes_no_feature_reads_a_numeric_placeholder_as_missing(demo):
    flag = next(f.name for f in demo.features if f.kind == "boolean")
    spec = _with(demo, **{flag: ["-1"]})
    leads = _leads(spec)
    leads[flag] = ["yes", "-1.0", "no", "-1"]
    checked = check_leads(leads, spec, require_label=True)
    assert checked.frame[flag].tolist()[0] == 1.0 and checked.frame[flag].isna().sum() == 2
    score, _ = request_models(spec)  # and the API: -1 sent as a number or as text
    body = {"leads": [_lead(**{flag: -1}), _lead(**{flag: "-1"}), _lead(**{flag: True})]}
    X = LeadReader(spec).encode(score.model_validate_json(json.dumps(body)).leads)
    j = spec.names.index(flag)
    assert np.isnan(X[:2, j]).all() and X[2, j] == 1.0


@pytest.mark.parametrize("placeholder", ["No", "0", "true"])
def test_a_yes_no_placeholder_cannot_be_a_yes_or_a_no(demo, placeholder):
    flag = next(f.name for f in demo.features if f.kind == "boolean")
    with pytest.raises(SpecError, match="reads them as yes/no values"):
        _with(demo, **{flag: [placeholder]})
    with pytest.raises(SpecError, match=f"feature '{flag}'"):
        _with(demo, spec_wide=[placeholder])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda raw: raw["features"][4].update(missing_values=["software"]),
            "listed both as allowed values and as missing_values",
        ),
        (lambda raw: raw.update(missing_values=["retail"]), "feature 'industry' allows ['retail']"),
        (lambda raw: raw.update(missing_values=["N/A", "N/A"]), "lists a value twice"),
        (lambda raw: raw.update(missing_values=[" "]), "none empty"),
    ],
)
def test_a_placeholder_that_is_also_a_value_is_refused(demo, change, message):
    raw = demo.model_dump(mode="json")
    assert raw["features"][4]["name"] == "industry"
    change(raw)
    with pytest.raises(SpecError) as refused:
        parse_spec(raw, "spec.yaml")
    assert message in str(refused.value) and "spec.yaml" in str(refused.value)


def test_unset_placeholders_keep_the_hash(demo):
    assert _with(demo).content_hash == demo.content_hash
    assert _with(demo, industry=["Select"]).content_hash != demo.content_hash


def _lead(**values):
    base = {"lead_id": "L1", "industry": "software", "employees": 40, "web_visits": 3}
    return {**base, **values}


def test_the_api_accepts_a_placeholder_and_scores_it_missing(spec, demo):
    score, _ = request_models(spec)
    body = {"leads": [_lead(industry="Select"), _lead(employees="unknown"), _lead(employees=-1)]}
    leads = score.model_validate_json(json.dumps(body)).leads
    X = LeadReader(spec).encode(leads)
    i, e = spec.names.index("industry"), spec.names.index("employees")
    assert math.isnan(X[0, i]) and math.isnan(X[1, e]) and math.isnan(X[2, e])
    assert not math.isnan(X[1, i]) and X[0, e] == 40
    plain, _ = request_models(demo)  # the same lead without missing_values: refused
    with pytest.raises(ValidationError, match="industry"):
        plain.model_validate_json(json.dumps({"leads": [_lead(industry="Select")]}))


def test_the_columnar_reader_reads_placeholders_like_the_model(spec):
    score, _ = request_models(spec)
    leads = [
        _lead(
            lead_id=f"L{k}", industry=["Select", "N/A", "retail"][k % 3], employees=[-1, 50][k % 2]
        )
        for k in range(300)
    ]
    body = json.dumps({"leads": leads}).encode()
    assert len(body) > COLUMNAR_MIN_BYTES
    reader = LeadReader(spec)
    fast = reader.read_request(score, body)
    assert fast is not None  # read a field at a time, not handed back to the model
    slow = reader.encode(score.model_validate_json(body).leads)
    np.testing.assert_array_equal(reader.encode(fast.leads), slow)
    i, e = spec.names.index("industry"), spec.names.index("employees")
    assert np.isnan(slow[:2, i]).all() and not np.isnan(slow[2, i])
    assert np.isnan(slow[0, e]) and slow[1, e] == 50
