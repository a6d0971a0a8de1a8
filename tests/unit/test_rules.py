"""The agreed rules: loading and checking the YAML, scoring in bulk and per lead, diffs."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from leadml.errors import DataError, SpecError
from leadml.rules import COLUMNWISE_ROWS, AgreedRules, RulesScore, diff_rules, load_rules
from leadml.spec import FeatureSpec, load_spec

ROOT = Path(__file__).parents[2]
SPEC_PATH = ROOT / "features" / "lead_features.yaml"
RULES_PATH = ROOT / "features" / "scoring_rules.yaml"


@pytest.fixture(scope="module")
def spec() -> FeatureSpec:
    return load_spec(SPEC_PATH)


@pytest.fixture(scope="module")
def shipped(spec: FeatureSpec) -> AgreedRules:
    return load_rules(RULES_PATH, spec)


def write(tmp_path: Path, data: Any, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def tiny_rules() -> dict[str, Any]:
    """A small valid rules file: one capped group, a boolean pair and a `missing` rule."""
    return {
        "rules_version": 1,
        "title": "tiny",
        "sales_ready_points": 10,
        "groups": {"engagement": {"cap": 12, "description": "Website and e-mail interest."}},
        "rules": [
            {"name": "visits", "description": "Many visits.", "feature": "web_visits",
             "at_least": 5, "points": 10, "group": "engagement"},
            {"name": "clicks", "description": "Many clicks.", "feature": "email_clicks",
             "at_least": 3, "points": 5, "group": "engagement"},
            {"name": "quiet", "description": "Quiet for a while.",
             "feature": "days_since_last_activity", "at_least": 60, "at_most": 120,
             "points": -4, "group": "engagement"},
            {"name": "senior", "description": "Senior role.", "feature": "job_seniority",
             "in": ["director", "vp", "c_level"], "points": 8},
            {"name": "customer", "description": "Already a customer.",
             "feature": "existing_customer", "is": True, "points": 7},
            {"name": "not_customer", "description": "Not a customer.",
             "feature": "existing_customer", "is": False, "points": -3},
            {"name": "size_unknown", "description": "No company size.", "feature": "employees",
             "missing": True, "points": -5},
        ],
    }  # fmt: skip


TINY_COLUMNS = ["web_visits", "email_clicks", "days_since_last_activity", "job_seniority",
                "existing_customer", "employees"]  # fmt: skip


@pytest.fixture()
def tiny(tmp_path: Path, spec: FeatureSpec) -> AgreedRules:
    return load_rules(write(tmp_path, tiny_rules()), spec)


def both(
    rules: AgreedRules, spec: FeatureSpec, leads: list[dict[str, Any]], columns: list[str]
) -> RulesScore:
    """Score leads in bulk and one by one; assert both agree and return the bulk result."""
    frame = pd.DataFrame.from_records(leads, columns=columns)
    scored = rules.score(frame, spec)
    for i, one in enumerate(leads):
        points, fired, verdict = rules.score_lead(one, spec)
        assert points == scored.points[i]
        assert fired == scored.fired_names(i)
        assert verdict == scored.verdict[i]
    return scored


# ---- the shipped file


def test_shipped_rules_load_against_shipped_spec(shipped: AgreedRules) -> None:
    assert shipped.sales_ready_points == 40
    assert len(set(shipped.rule_names)) == len(shipped.rules)
    assert len(shipped.content_hash) == 16


def test_shipped_rules_keep_the_agreed_order(shipped: AgreedRules) -> None:
    points = {r.name: r.points for r in shipped.rules}
    forms = [r for r in shipped.rules if r.group == "form"]
    assert max(forms, key=lambda r: r.points).name == "demo_request"
    assert points["survey_completed"] > points["whitepaper_download"]
    assert points["call_back_request"] > points["survey_completed"]
    assert points["student_email"] < points["free_email"] < 0
    assert shipped.groups["engagement"].cap == 20


def test_content_hash_follows_meaning_not_layout(tmp_path: Path, spec: FeatureSpec) -> None:
    raw = yaml.safe_load(RULES_PATH.read_text())
    same = load_rules(write(tmp_path, raw, "same.yaml"), spec)  # no comments, other layout
    raw["rules"][0]["points"] += 1
    changed = load_rules(write(tmp_path, raw, "changed.yaml"), spec)
    shipped = load_rules(RULES_PATH, spec)
    assert same.content_hash == shipped.content_hash != changed.content_hash


# ---- bad input: every problem is named with its rule


def _rule(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in data["rules"] if r["name"] == name)


def _unknown_feature(d):
    _rule(d, "senior")["feature"] = "budget"


def _value_not_allowed(d):
    _rule(d, "senior")["in"] = ["director", "ceo"]


def _in_on_numeric(d):
    r = _rule(d, "visits")
    del r["at_least"]
    r["in"] = ["5"]


def _at_least_on_categorical(d):
    r = _rule(d, "senior")
    del r["in"]
    r["at_least"] = 2


def _is_on_numeric(d):
    r = _rule(d, "visits")
    del r["at_least"]
    r["is"] = True


def _no_condition(d):
    del _rule(d, "senior")["in"]


def _two_conditions(d):
    _rule(d, "senior")["missing"] = True


def _crossed_bounds(d):
    _rule(d, "quiet").update(at_least=120, at_most=60)


def _bound_above_range(d):
    _rule(d, "quiet")["at_most"] = 400


def _bound_below_range(d):
    _rule(d, "visits")["at_least"] = -1


def _unknown_group(d):
    _rule(d, "senior")["group"] = "fit"


def _duplicate_name(d):
    _rule(d, "clicks")["name"] = "visits"


def _extra_rule_key(d):
    _rule(d, "senior")["colour"] = "green"


def _misspelt_condition(d):
    r = _rule(d, "visits")
    r["atleast"] = r.pop("at_least")


def _missing_false(d):
    _rule(d, "size_unknown")["missing"] = False


def _bad_rule_name(d):
    _rule(d, "senior")["name"] = "Senior Buyer"


def _points_not_int(d):
    _rule(d, "senior")["points"] = "lots"


def _is_a_category(d):
    r = _rule(d, "senior")
    r["is"] = r.pop("in")[0]


def _extra_top_key(d):
    d["threshold"] = 40


def _extra_group_key(d):
    d["groups"]["engagement"]["limit"] = 5


BAD = [
    (_unknown_feature, r"rule 'senior': unknown feature 'budget'"),
    (_value_not_allowed, r"rule 'senior': value 'ceo' is not an allowed value of 'job_seniority'"),
    (
        _in_on_numeric,
        r"rule 'visits': condition 'in' is for categorical .* 'web_visits' is numeric",
    ),
    (_at_least_on_categorical, r"rule 'senior': condition 'at_least/at_most' is for numeric"),
    (_is_on_numeric, r"rule 'visits': condition 'is' is for boolean features"),
    (_no_condition, r"rule 'senior': no condition"),
    (_two_conditions, r"rule 'senior': more than one condition \(in, missing\)"),
    (_crossed_bounds, r"rule 'quiet': at_least 120 is above at_most 60"),
    (_bound_above_range, r"rule 'quiet': at_most 400 is outside the range of 'days_since_last"),
    (_bound_below_range, r"rule 'visits': at_least -1 is outside the range of 'web_visits'"),
    (_unknown_group, r"rule 'senior': unknown group 'fit'"),
    (_duplicate_name, r"rule 'visits': the rule name is used twice"),
    (_extra_rule_key, r"rule 'senior': colour: Extra inputs are not permitted"),
    (_misspelt_condition, r"rule 'visits': atleast: Extra inputs are not permitted"),
    (_missing_false, r"rule 'size_unknown': missing: Input should be True"),
    (_bad_rule_name, r"rule 'Senior Buyer': name: String should match pattern"),
    (_points_not_int, r"rule 'senior': points: Input should be a valid integer"),
    (
        _is_a_category,
        r"rule 'senior': is: '\w+' is not true or false .*write `in: \[\w+\]`",
    ),
    (_extra_top_key, r"threshold: Extra inputs are not permitted"),
    (_extra_group_key, r"groups: engagement\.limit: Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("spoil", "message"), BAD, ids=[f.__name__.strip("_") for f, _ in BAD])
def test_bad_rules_are_named(tmp_path: Path, spec: FeatureSpec, spoil, message: str) -> None:
    data = copy.deepcopy(tiny_rules())
    spoil(data)
    path = write(tmp_path, data)
    with pytest.raises(SpecError, match=message) as info:
        load_rules(path, spec)
    assert str(path) in str(info.value)


def test_every_problem_is_listed_at_once(tmp_path: Path, spec: FeatureSpec) -> None:
    data = tiny_rules()
    _extra_rule_key(data)  # a problem of form in one rule ...
    _bound_above_range(data)  # ... and problems against the spec in others
    _rule(data, "clicks")["group"] = "fit"
    with pytest.raises(SpecError) as info:
        load_rules(write(tmp_path, data), spec)
    message = str(info.value)
    for needle in ("colour: Extra inputs", "at_most 400 is outside", "unknown group 'fit'"):
        assert needle in message


@pytest.mark.parametrize(
    ("text", "message"),
    [(None, "no such file"), ("rules: [a, b\n", "not valid YAML"), ("- 1\n- 2\n", "a mapping")],
    ids=["missing_file", "not_yaml", "not_a_mapping"],
)
def test_unreadable_files(
    tmp_path: Path, spec: FeatureSpec, text: str | None, message: str
) -> None:
    path = tmp_path / "rules.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_rules(path, spec)


# ---- scoring

BUSINESS_LEAD = {
    "capture_form": "contact_us", "follow_up_cta": "none", "pricing_page_views": 0,
    "web_visits": 1, "email_clicks": 0, "content_downloads": 0, "job_seniority": "manager",
    "employees": 150, "existing_customer": False, "email_domain_kind": "business",
    "days_since_last_activity": 10,
}  # fmt: skip


def lead(**changes: Any) -> dict[str, Any]:
    return {**BUSINESS_LEAD, **changes}


SHIPPED_CASES = [
    ("contact_us_only", lead(), 15, ["contact_us"]),
    (
        "demo_and_pricing_views_reach_the_threshold",
        lead(capture_form="demo_request", pricing_page_views=2),
        40,
        ["demo_request", "pricing_page_visitor"],
    ),
    (
        "engagement_capped_at_20",
        lead(capture_form="whitepaper_download", follow_up_cta="case_study_request",
             pricing_page_views=5, web_visits=9, email_clicks=4, content_downloads=3,
             job_seniority="vp", employees=1000, existing_customer="yes",
             days_since_last_activity=0),
        5 + 10 + 20 + 10 + 5 + 10,
        ["whitepaper_download", "case_study_request", "pricing_page_visitor", "frequent_visitor",
         "email_clicker", "content_reader", "senior_decision_maker", "mid_size_or_larger",
         "existing_customer"],
    ),
    (
        "penalties",
        lead(capture_form="trade_show_badge_scan", job_seniority="intern", employees=None,
             existing_customer=None, email_domain_kind="student", days_since_last_activity=90),
        5 - 10 - 25 - 10,
        ["trade_show_badge_scan", "intern", "student_email", "gone_quiet"],
    ),
    (
        "call_back_just_short",
        lead(follow_up_cta="call_back_request", email_domain_kind="free", employees=200,
             days_since_last_activity=59),
        15 + 20 + 5 - 10,
        ["contact_us", "call_back_request", "mid_size_or_larger", "free_email"],
    ),
]  # fmt: skip


def test_shipped_rules_hand_computed(shipped: AgreedRules, spec: FeatureSpec) -> None:
    leads = [case[1] for case in SHIPPED_CASES]
    scored = both(shipped, spec, leads, list(BUSINESS_LEAD))
    for i, (case, _, points, fired) in enumerate(SHIPPED_CASES):
        assert scored.points[i] == points, case
        assert scored.fired_names(i) == fired, case
        assert scored.verdict[i] == (points >= 40), case
    assert scored.verdict.tolist() == [False, True, True, False, False]


@pytest.mark.parametrize(
    ("visits", "clicks", "days", "expected"),
    [
        (5, 3, 10, 12),  # 10 + 5 clipped to the cap of 12
        (5, 0, 10, 10),
        (5, 3, 60, 11),  # 10 + 5 - 4: the negative rule counts before the cap
        (4, 2, 121, 0),  # bounds are inclusive: 4 < 5, 2 < 3, 121 > 120
        (0, 0, 120, -4),  # a negative group total is not clipped
    ],
)
def test_group_cap_clips_the_positive_total(
    tiny: AgreedRules, spec: FeatureSpec, visits: int, clicks: int, days: int, expected: float
) -> None:
    one = {"web_visits": visits, "email_clicks": clicks, "days_since_last_activity": days,
           "job_seniority": "manager", "existing_customer": None, "employees": 10}  # fmt: skip
    scored = both(tiny, spec, [one], TINY_COLUMNS)
    assert scored.points[0] == expected


@pytest.mark.parametrize(
    ("value", "fired"),
    [
        (True, "customer"), (1, "customer"), (1.0, "customer"), ("1", "customer"),
        ("true", "customer"), ("Yes", "customer"), (" y ", "customer"), (np.True_, "customer"),
        (False, "not_customer"), (0, "not_customer"), ("0", "not_customer"),
        ("no", "not_customer"), ("FALSE", "not_customer"), (np.False_, "not_customer"),
        ("maybe", None), (2, None), (None, None), (np.nan, None), ("", None),
    ],
)  # fmt: skip
def test_booleans_in_any_spelling(tiny: AgreedRules, spec: FeatureSpec, value, fired) -> None:
    one = {"web_visits": 0, "email_clicks": 0, "days_since_last_activity": 0,
           "job_seniority": "manager", "existing_customer": value, "employees": 10}  # fmt: skip
    frame = pd.DataFrame.from_records([one], columns=TINY_COLUMNS)
    frame["existing_customer"] = frame["existing_customer"].astype(object)
    frame.loc[0, "existing_customer"] = value  # keep the spelling as given
    scored = tiny.score(frame, spec)
    _, names, _ = tiny.score_lead(one, spec)
    assert scored.fired_names(0) == names == ([fired] if fired else [])


@pytest.mark.parametrize("dtype", ["bool", "boolean", "Int64", "float64", "str", "object"])
def test_boolean_column_dtypes(tiny: AgreedRules, spec: FeatureSpec, dtype: str) -> None:
    values = {"bool": [True, False], "boolean": [True, None], "Int64": [1, None],
              "float64": [1.0, np.nan], "str": ["yes", None],
              "object": [True, None]}[dtype]  # fmt: skip
    frame = pd.DataFrame({c: [0, 0] for c in TINY_COLUMNS})
    frame["existing_customer"] = pd.Series(values, dtype=dtype)
    scored = tiny.score(frame, spec)
    assert scored.fired_names(0) == ["customer"]
    assert scored.fired_names(1) == (["not_customer"] if dtype == "bool" else [])


def test_missing_values_fire_only_missing_rules(tiny: AgreedRules, spec: FeatureSpec) -> None:
    leads = [
        {},  # every key absent
        dict.fromkeys(TINY_COLUMNS),
        {"web_visits": np.nan, "email_clicks": None, "days_since_last_activity": float("nan"),
         "job_seniority": " ", "existing_customer": "", "employees": np.nan},
    ]  # fmt: skip
    scored = both(tiny, spec, leads, TINY_COLUMNS)
    for i in range(len(leads)):
        assert scored.fired_names(i) == ["size_unknown"]
        assert scored.points[i] == -5


def test_unknown_category_and_unreadable_number_fire_nothing(
    tiny: AgreedRules, spec: FeatureSpec
) -> None:
    one = {"web_visits": "lots", "email_clicks": "3", "days_since_last_activity": 0,
           "job_seniority": "chief_wizard", "existing_customer": "maybe",
           "employees": 5}  # fmt: skip
    frame = pd.DataFrame.from_records([one], columns=TINY_COLUMNS).astype(object)
    scored = tiny.score(frame, spec)
    assert scored.fired_names(0) == tiny.score_lead(one, spec)[1] == ["clicks"]


def test_verdict_threshold_is_inclusive(tiny: AgreedRules, spec: FeatureSpec) -> None:
    base = {"web_visits": 0, "email_clicks": 0, "days_since_last_activity": 0,
            "existing_customer": None, "employees": 10}  # fmt: skip
    leads = [
        {**base, "web_visits": 5},  # 10: exactly the threshold
        {**base, "job_seniority": "vp"},  # 8
        {**base, "job_seniority": "vp", "existing_customer": "yes"},  # 15
    ]
    scored = both(tiny, spec, leads, TINY_COLUMNS)
    assert scored.points.tolist() == [10, 8, 15]
    assert scored.verdict.tolist() == [True, False, True]


def random_leads(spec: FeatureSpec, n: int, seed: int) -> list[dict[str, Any]]:
    """Leads drawn from the spec's allowed values and ranges, about one value in eight missing."""
    rng = np.random.default_rng(seed)
    spellings = [True, False, "yes", "no", 1, 0, "1", "0"]
    leads = []
    for _ in range(n):
        one: dict[str, Any] = {}
        for f in spec.features:
            if rng.random() < 0.12:
                one[f.name] = None
            elif f.kind == "categorical":
                one[f.name] = str(rng.choice(f.allowed or []))
            elif f.kind == "boolean":
                one[f.name] = spellings[rng.integers(len(spellings))]
            else:
                lo, hi = f.range or (0, None)
                lo = 0 if lo is None else lo
                hi = lo + 400 if hi is None else hi
                one[f.name] = int(rng.integers(lo, hi + 1))
        leads.append(one)
    return leads


@pytest.mark.parametrize("categories", [False, True], ids=["str", "category"])
def test_score_and_score_lead_agree(shipped: AgreedRules, spec: FeatureSpec, categories) -> None:
    leads = random_leads(spec, 200, seed=3)
    frame = pd.DataFrame.from_records(leads, columns=spec.names)
    frame = frame.rename(columns={f.name: f.source for f in spec.features})
    if categories:
        for f in spec.features:
            if f.kind == "categorical":
                frame[f.source] = frame[f.source].astype("category")
    scored = shipped.score(frame, spec)
    for i, one in enumerate(leads):
        points, fired, verdict = shipped.score_lead(one, spec)
        assert (points, fired, verdict) == (
            scored.points[i],
            scored.fired_names(i),
            scored.verdict[i],
        ), one
    assert scored.fired.shape == (200, len(shipped.rules))
    assert 0 < scored.verdict.sum() < 200


@pytest.mark.parametrize("rows", [300, COLUMNWISE_ROWS + 100])  # row-wise, column-wise tests
def test_score_encoded_agrees_with_score(
    shipped: AgreedRules, spec: FeatureSpec, rows: int
) -> None:
    from leadml.data import check_leads
    from leadml.model import LeadEncoder

    leads = random_leads(spec, rows, seed=5)
    frame = pd.DataFrame.from_records(leads, columns=spec.names)
    frame = frame.rename(columns={f.name: f.source for f in spec.features})
    checked = check_leads(frame, spec, require_label=False, require_id=False, unseen={})
    expected = shipped.score(checked.frame, spec)
    got = shipped.score_encoded(LeadEncoder(spec).transform(checked.frame), spec)
    np.testing.assert_array_equal(got.points, expected.points)
    np.testing.assert_array_equal(got.fired, expected.fired)
    np.testing.assert_array_equal(got.verdict, expected.verdict)


def test_to_frame(tiny: AgreedRules, spec: FeatureSpec) -> None:
    frame = pd.DataFrame(
        {"web_visits": [5, 0], "email_clicks": [3, 0], "days_since_last_activity": [0, 0],
         "job_seniority": ["vp", "manager"], "existing_customer": [True, False],
         "employees": [None, 10]},
        index=pd.Index(["L1", "L2"], name="lead_id"),
    )  # fmt: skip
    out = tiny.score(frame, spec).to_frame()
    assert list(out.columns) == ["rules_points", "rules_fired", "rules_sales_ready"]
    assert out.index.equals(frame.index)
    assert out["rules_fired"].tolist() == [
        "visits;clicks;senior;customer;size_unknown",
        "not_customer",
    ]
    assert out["rules_points"].tolist() == [12 + 8 + 7 - 5, -3]
    assert out["rules_sales_ready"].tolist() == [True, False]


def test_missing_column_is_a_data_error(tiny: AgreedRules, spec: FeatureSpec) -> None:
    frame = pd.DataFrame({c: [0] for c in TINY_COLUMNS if c != "employees"})
    with pytest.raises(DataError, match="employees"):
        tiny.score(frame, spec)


def test_survives_pickling(shipped: AgreedRules, spec: FeatureSpec) -> None:
    again = pickle.loads(pickle.dumps(shipped))
    one = SHIPPED_CASES[2][1]
    assert again == shipped
    assert again.score_lead(one, spec) == shipped.score_lead(one, spec)


# ---- review


def test_diff_rules(shipped: AgreedRules) -> None:
    raw = shipped.model_dump(mode="json", exclude_none=True)
    raw["sales_ready_points"] = 45
    raw["rules"] = [r for r in raw["rules"] if r["name"] != "whitepaper_download"]
    _rule(raw, "demo_request")["points"] = 35
    raw["rules"].append(
        {"name": "partner_referral", "description": "Referred by a partner.",
         "feature": "lead_source", "in": ["partner"], "points": 10}
    )  # fmt: skip
    new = AgreedRules.model_validate(raw)
    lines = diff_rules(shipped, new)
    assert "+ rule added: partner_referral" in lines
    assert "- rule removed: whitepaper_download" in lines
    assert "~ rule demo_request: points: 30 -> 35" in lines
    assert "~ setting rules: sales_ready_points: 40.0 -> 45.0" in lines
    assert len(lines) == 4
    assert diff_rules(shipped, shipped) == []


def test_more_than_63_rules_on_many_encoded_leads(tmp_path: Path, spec: FeatureSpec) -> None:
    """Past 63 rules the fired patterns are compared as byte strings; the column-wise mask of
    a large batch must give the same result as the row-wise one of a small batch."""
    from leadml.data import check_leads
    from leadml.model import LeadEncoder

    data = tiny_rules()
    data["rules"] += [
        {"name": f"visits_{k}", "description": f"{k} visits or more.", "feature": "web_visits",
         "at_least": k, "points": 1}
        for k in range(70)
    ]  # fmt: skip
    rules = load_rules(write(tmp_path, data), spec)
    assert len(rules.rules) > 63
    leads = random_leads(spec, COLUMNWISE_ROWS + 100, seed=9)
    frame = pd.DataFrame.from_records(leads, columns=spec.names)
    frame = frame.rename(columns={f.name: f.source for f in spec.features})
    checked = check_leads(frame, spec, require_label=False, require_id=False, unseen={})
    X = LeadEncoder(spec).transform(checked.frame)
    many = rules.score_encoded(X, spec)
    few = rules.score_encoded(X[:300], spec)
    np.testing.assert_array_equal(many.points[:300], few.points)
    np.testing.assert_array_equal(many.fired[:300], few.fired)
    assert many.to_frame()["rules_fired"].iloc[:300].tolist() == (
        few.to_frame()["rules_fired"].tolist()
    )
