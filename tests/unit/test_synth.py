"""The demo lead generator: deterministic, matches the feature spec, and its truth behaves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from leadml import synth
from leadml.errors import DataError, LeadmlError
from leadml.spec import load_spec

ROOT = Path(__file__).parents[2]
SPEC = load_spec(ROOT / "features" / "lead_features.yaml")
EXTRA = ["sales_ready", "meeting_booked", "true_probability"]
DESIGNED_MISSING = {  # column: share of leads the generator leaves missing
    "industry": 0.12,
    "employees": 0.15,
    "job_seniority": 0.08,
    "country": 0.03,
    "email_opens": 0.10,
    "follow_up_cta": 0.04,
    "existing_customer": 0.10,
}
DIRECTED = [(f.name, f.kind, f.direction) for f in SPEC.features if f.direction]


def _frame(rows: int, seed: int, **window: str) -> pd.DataFrame:
    return pd.concat(list(synth.generate(rows, seed, **window)), ignore_index=True)


@pytest.fixture(scope="module")
def leads() -> pd.DataFrame:
    return _frame(50_000, 11)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth, "CHUNK_ROWS", 1_000)


def test_same_seed_gives_the_same_leads_and_another_seed_does_not() -> None:
    first = _frame(3_000, 5)
    pd.testing.assert_frame_equal(first, _frame(3_000, 5))
    other = _frame(3_000, 6)
    assert not first.drop(columns="lead_id").equals(other.drop(columns="lead_id"))
    assert (first["created_at"] != other["created_at"]).mean() > 0.9


@pytest.mark.usefixtures("small_chunks")
def test_chunks_have_the_fixed_size_and_stay_in_created_at_order() -> None:
    chunks = list(synth.generate(2_500, 3))
    assert [len(c) for c in chunks] == [1_000, 1_000, 500]
    whole = pd.concat(chunks, ignore_index=True)
    assert whole["created_at"].is_monotonic_increasing
    assert whole["lead_id"].tolist()[:2] == ["L000000001", "L000000002"]


def test_columns_and_types_follow_the_spec(leads: pd.DataFrame) -> None:
    assert list(leads.columns) == [SPEC.lead_id, SPEC.timestamp, *SPEC.names, *EXTRA]
    for feature in SPEC.features:
        column = leads[feature.source]
        if feature.kind == "categorical":
            assert pd.api.types.is_string_dtype(column.dtype), feature.name
            assert set(column.dropna()) == set(feature.allowed or []), feature.name
        elif feature.kind == "boolean":
            assert pd.api.types.is_bool_dtype(column.dtype), feature.name
        else:
            assert pd.api.types.is_numeric_dtype(column.dtype), feature.name
            lo, hi = feature.range or (None, None)
            values = column.dropna().astype("float64")
            assert lo is None or values.min() >= lo, feature.name
            assert hi is None or values.max() <= hi, feature.name
            if feature.name != "webinar_minutes":
                assert pd.api.types.is_integer_dtype(column.dtype), feature.name
    assert leads["newsletter_subscriber"].dtype == bool
    assert str(leads["existing_customer"].dtype) == "boolean"
    assert str(leads["sales_ready"].dtype) == "Int64"
    assert set(leads["sales_ready"].dropna()) == {0, 1}
    assert leads["true_probability"].between(0, 1).all()


@pytest.mark.parametrize("feature", SPEC.features, ids=lambda f: f.name)
def test_missing_values_appear_where_the_spec_says(leads: pd.DataFrame, feature) -> None:
    share = leads[feature.source].isna().mean()
    if feature.missing.startswith("Never missing"):
        assert share == 0
    elif feature.name in DESIGNED_MISSING:
        assert share == pytest.approx(DESIGNED_MISSING[feature.name], abs=0.03)
    else:
        assert 0 < share < 1


def test_missing_activity_and_webinar_mean_none_happened(leads: pd.DataFrame) -> None:
    no_activity = leads["days_since_last_activity"].isna()
    assert no_activity.any()
    quiet = leads[no_activity]
    assert (quiet[["web_visits", "email_clicks", "content_downloads"]] == 0).all().all()
    assert quiet["webinar_minutes"].isna().all()
    attended = leads["capture_form"] == "webinar_attended"
    assert leads.loc[attended, "webinar_minutes"].notna().all()
    assert leads["pricing_page_views"].le(leads["web_visits"]).all()


def test_leads_are_unique_sorted_and_inside_the_window(leads: pd.DataFrame) -> None:
    assert leads["lead_id"].is_unique
    assert leads["lead_id"].str.fullmatch(r"L\d{9}").all()
    created = leads["created_at"]
    assert created.is_monotonic_increasing
    assert created.min() >= pd.Timestamp(synth.DEFAULT_START)
    assert created.max() < pd.Timestamp(synth.DEFAULT_END)
    assert created.min() < pd.Timestamp("2024-01-02")
    assert created.max() > pd.Timestamp("2026-10-30")


def test_a_custom_window_is_respected() -> None:
    leads = _frame(2_000, 1, start="2025-03-01", end="2025-04-01")
    assert leads["created_at"].min() >= pd.Timestamp("2025-03-01")
    assert leads["created_at"].max() < pd.Timestamp("2025-04-01")


def test_recent_leads_are_mostly_open_and_the_outcome_leaks_only_after_contact(
    leads: pd.DataFrame,
) -> None:
    cutoff = pd.Timestamp(synth.DEFAULT_END) - pd.Timedelta(days=synth.OPEN_DAYS)
    recent = leads["created_at"] >= cutoff
    assert leads.loc[recent, "sales_ready"].isna().mean() == pytest.approx(0.7, abs=0.07)
    assert leads.loc[~recent, "sales_ready"].notna().all()
    assert leads["meeting_booked"].isna().equals(leads["sales_ready"].isna())
    booked = leads.groupby("sales_ready")["meeting_booked"].mean()
    assert booked[1] > 0.85 and booked[0] < 0.05


def test_true_probability_is_the_pure_function_of_the_recorded_columns(
    leads: pd.DataFrame,
) -> None:
    features = leads[SPEC.names]
    np.testing.assert_array_equal(synth.true_probability(features), leads["true_probability"])


@pytest.mark.parametrize(("name", "kind", "direction"), DIRECTED)
def test_the_truth_moves_in_the_agreed_direction(
    leads: pd.DataFrame, name: str, kind: str, direction: str
) -> None:
    sample = leads.sample(5_000, random_state=0).reset_index(drop=True)
    if kind == "boolean":
        lower, higher = sample.copy(), sample.copy()
        lower[name] = pd.array([False] * len(sample), dtype="boolean")
        higher[name] = pd.array([True] * len(sample), dtype="boolean")
        steps = [(lower, higher)]
    else:
        hi = SPEC.feature(name).range[1]
        steps = []
        for bump in (1, 3, 20, 400):
            higher = sample.copy()
            higher[name] = sample[name] + bump if hi is None else (sample[name] + bump).clip(0, hi)
            steps.append((sample, higher))
    sign = 1 if direction == "increasing" else -1
    for lower, higher in steps:
        change = synth.true_probability(higher) - synth.true_probability(lower)
        assert (sign * change >= -1e-12).all()
        assert (sign * change > 0).any()


def test_no_activity_at_all_scores_below_any_recorded_activity(leads: pd.DataFrame) -> None:
    sample = leads.sample(2_000, random_state=1).reset_index(drop=True)
    none_tracked, stale = sample.copy(), sample.copy()
    none_tracked["days_since_last_activity"] = pd.array([None] * len(sample), dtype="Int64")
    stale["days_since_last_activity"] = pd.array([365] * len(sample), dtype="Int64")
    gap = synth.true_probability(stale) - synth.true_probability(none_tracked)
    assert (gap > 0).all()


def test_the_truth_makes_business_sense(leads: pd.DataFrame) -> None:
    by_form = leads.groupby("capture_form")["true_probability"].mean()
    assert by_form.idxmax() == "demo_request"
    assert set(by_form.nsmallest(2).index) == {"whitepaper_download", "trade_show_badge_scan"}
    demo = leads[leads["capture_form"] == "demo_request"].copy()
    as_student = demo.assign(email_domain_kind="student")
    as_business = demo.assign(email_domain_kind="business")
    gap = synth.true_probability(as_business) - synth.true_probability(as_student)
    assert (gap > 0).all()
    by_seniority = leads.groupby("job_seniority")["true_probability"].mean()
    assert by_seniority.idxmin() == "intern"


def test_the_truth_rejects_values_outside_the_spec(leads: pd.DataFrame) -> None:
    bad = leads.head(3).assign(capture_form="fax")
    with pytest.raises(DataError, match="capture_form"):
        synth.true_probability(bad)


def test_base_rate_drifts_while_the_truth_stays_calibrated(leads: pd.DataFrame) -> None:
    labelled = leads.dropna(subset=["sales_ready"])
    quarter = len(leads) // 4
    first = labelled[labelled.index < quarter]
    last = labelled[labelled.index >= 3 * quarter]
    assert first["sales_ready"].mean() - last["sales_ready"].mean() > 0.025
    for part in (first, last, labelled):
        rate, truth = part["sales_ready"].mean(), part["true_probability"].mean()
        noise = np.sqrt(truth * (1 - truth) / len(part))
        assert abs(rate - truth) < 4 * noise
    assert 0.10 < labelled["sales_ready"].mean() < 0.14


def test_the_signal_is_strong_but_not_trivial(leads: pd.DataFrame) -> None:
    labelled = leads.dropna(subset=["sales_ready"])
    auc = roc_auc_score(labelled["sales_ready"].astype(int), labelled["true_probability"])
    assert 0.80 < auc < 0.90


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, parse_dates=["created_at"], float_precision="round_trip")


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("name", ["leads.csv", "leads.csv.gz", "leads.parquet"])
def test_written_files_read_back_as_the_generated_leads(tmp_path: Path, name: str) -> None:
    out = tmp_path / "new" / "folder" / name
    seen: list[int] = []
    assert synth.write(2_500, 4, out, progress=seen.append) == 2_500
    assert seen == [1_000, 2_000, 2_500]
    expected = _frame(2_500, 4)
    got = _read(out).astype(expected.dtypes.to_dict())
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
    assert sorted(p.name for p in out.parent.iterdir()) == [name]
    again = tmp_path / f"again-{name}"
    synth.write(2_500, 4, again)
    assert again.read_bytes() == out.read_bytes()


def test_a_bad_extension_is_refused_by_name(tmp_path: Path) -> None:
    out = tmp_path / "leads.xlsx"
    with pytest.raises(LeadmlError, match=r"leads\.xlsx.*\.parquet"):
        synth.write(10, 1, out)
    assert not out.exists()


@pytest.mark.parametrize(
    ("rows", "seed", "start", "end"),
    [
        (0, 1, synth.DEFAULT_START, synth.DEFAULT_END),
        (10, -1, synth.DEFAULT_START, synth.DEFAULT_END),
        (10, 1, "2026-01-01", "2025-01-01"),
        (10, 1, "not a date", synth.DEFAULT_END),
    ],
)
def test_bad_arguments_are_refused_before_any_file_appears(
    tmp_path: Path, rows: int, seed: int, start: str, end: str
) -> None:
    with pytest.raises(LeadmlError):
        synth.generate(rows, seed, start, end)
    with pytest.raises(LeadmlError):
        synth.write(rows, seed, tmp_path / "out" / "leads.parquet", start, end)
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("small_chunks")
def test_a_failed_write_leaves_no_half_file(tmp_path: Path) -> None:
    def stop(written: int) -> None:
        if written >= 2_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synth.write(5_000, 1, tmp_path / "leads.csv", progress=stop)
    assert list(tmp_path.iterdir()) == []
