"""Gate lines say what was observed, with the operator that holds: each gate passing and failing,
the leak gate's reviews, capacity that does not bind, and the champion's overlap with the test
window (no store: these read a run's recorded values)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadml.registry.aliases import Resolved
from leadml.registry.champion import COMPARED_TAG, OVERLAP_TAG, champion_overlap
from leadml.registry.gates import RunRecord, check_gates, compare
from leadml.registry.leaks import LEAK_TAG, leak_gates, record_from_metrics, record_tag
from leadml.registry.tracking import _masked
from leadml.scoring.info import ModelInfo, TrainedLeads, lead_keys
from leadml.spec import load_spec
from leadml.training.windows import Window

GATES = {"min_auc": 0.7, "max_ece": 0.02, "beat_rules": True, "beat_champion": True}
CHAMPION = Resolved("lead-qualifier", "3", "champion", "run")
NO_LEAK = {"bound": 0.9, "spec": "f.yaml", "best": ["web_visits", 0.71], "suspects": [], "more": 0}
GOOD = {
    "test_model_roc_auc": 0.8,
    "test_model_ece": 0.0117,
    "test_model_log_loss": 0.40,
    "test_rules_log_loss": 0.50,
    "test_model_recall_at_capacity": 0.6,
    "test_rules_recall_at_capacity": 0.4,
    "test_champion_log_loss": 0.41,
}


def _run(metrics=None, tags=None, params=None) -> RunRecord:
    base_tags = {"reviewed": "true", COMPARED_TAG: "3", LEAK_TAG: json.dumps(NO_LEAK)}
    return RunRecord({**GOOD, **(metrics or {})}, {**base_tags, **(tags or {})}, params or {})


def _lines(run: RunRecord) -> dict[str, tuple[bool, str]]:
    return {gate: (ok, detail) for gate, ok, detail in check_gates(run, GATES, CHAMPION)}


def test_every_gate_passes_with_the_comparison_that_holds():
    lines = _lines(_run(tags={OVERLAP_TAG: "no overlap: after"}))
    assert lines == {
        "reviewed": (True, "spec fully reviewed: true"),
        "min_auc": (True, "AUC 0.8000 >= 0.7"),
        "max_ece": (True, "calibration error 0.0117 <= 0.02"),
        "leak_review": (
            True,
            "no feature alone reaches AUC above 0.9 (checks.leak_auc): highest web_visits "
            "0.7100 <= 0.9",
        ),
        "beats_rules_log_loss": (True, "log loss 0.4000 < rules 0.5000"),
        "beats_rules_recall": (True, "recall at capacity 0.6000 >= rules 0.4000"),
        "beats_champion": (
            True,
            "log loss 0.4000 <= champion v3 0.4100 (same leads); no overlap: after",
        ),
    }


@pytest.mark.parametrize(
    ("metric", "value", "gate", "line"),
    [
        ("test_model_roc_auc", 0.65, "min_auc", "AUC 0.6500 < 0.7"),
        ("test_model_ece", 0.0571, "max_ece", "calibration error 0.0571 > 0.02"),
        ("test_model_log_loss", 0.55, "beats_rules_log_loss", "log loss 0.5500 >= rules 0.5000"),
        (
            "test_model_recall_at_capacity",
            0.3,
            "beats_rules_recall",
            "recall at capacity 0.3000 < rules 0.4000",
        ),
        ("test_model_roc_auc", float("nan"), "min_auc", "AUC nan vs 0.7: not measured"),
    ],
)
def test_a_failing_gate_shows_the_operator_that_holds(metric, value, gate, line):
    assert _lines(_run({metric: value}))[gate] == (False, line)


def test_losing_to_the_champion_shows_greater_and_an_unrecorded_overlap_is_unknown():
    ok, detail = _lines(_run({"test_model_log_loss": 0.45}))["beats_champion"]
    assert not ok
    assert detail == (
        "log loss 0.4500 > champion v3 0.4100 (same leads); overlap unknown: not recorded at "
        "training"
    )


@pytest.mark.parametrize(
    ("params", "metrics", "words"),
    [
        (
            {"capacity.leads_per_week": "400", "capacity.share": "None"},
            {"test_leads_per_week": 180.0, "test_worked_share": 1.0},
            "capacity 400 leads/week >= 180 leads/week in the test window",
        ),
        (
            {"capacity.leads_per_week": "170", "capacity.share": "None"},
            {"test_leads_per_week": 180.0, "test_worked_share": 0.93},
            "capacity 170 leads/week covers 93% of the test window's leads (about 180 a week)",
        ),
        (
            {"capacity.leads_per_week": "None", "capacity.share": "0.95"},
            {"test_worked_share": 0.95},
            "capacity.share 0.95 covers 95% of the test window's leads",
        ),
        ({}, {}, "sales can work (nearly) every lead of the test window"),
    ],
)
def test_capacity_that_does_not_bind_fails_the_recall_gate(params, metrics, words):
    recall = {"test_model_recall_at_capacity": 1.0, "test_rules_recall_at_capacity": 1.0}
    run = _run({**recall, **metrics, "test_capacity_binds": 0.0}, params=params)
    ok, detail = _lines(run)["beats_rules_recall"]
    assert not ok
    assert detail == (
        f"recall at capacity 1.0000 >= rules 1.0000, but capacity does not bind ({words}): "
        "recall at capacity is 1.0 for both; lower capacity.leads_per_week or compare on a share"
    )
    binding = _run({**recall, "test_capacity_binds": 1.0}, params=params)
    assert _lines(binding)["beats_rules_recall"][0]


REVIEW = {"by": {"marketing": "Mia", "sales": "Sam"}, "when": "2026-11-01", "auc": 0.95}


def _leak(review, auc=0.955, more=0):
    suspect = {"feature": "meeting_booked", "auc": auc, "review": review}
    return {"bound": 0.9, "spec": "f.yaml", "best": None, "suspects": [suspect], "more": more}


def test_a_suspected_leak_fails_unless_both_teams_reviewed_it_at_that_auc():
    [(gate, ok, detail)] = leak_gates(_leak(None))
    assert (gate, ok) == ("leak_review", False)
    assert detail.startswith(
        "meeting_booked alone reaches AUC 0.9550 > 0.9 (checks.leak_auc), and no leak review: "
    )
    assert (
        "under meeting_booked in f.yaml: `leak_reviewed: {by: {sales: NAME, marketing: " in detail
    )
    assert "auc: 0.9550}`, then retrain" in detail

    [(_, ok, detail)] = leak_gates(_leak(REVIEW))  # 0.95 >= 0.955 - 0.01
    assert ok
    assert detail.endswith(
        "reviewed by sales: Sam, marketing: Mia on 2026-11-01 at AUC 0.9500 >= 0.9550 - 0.01"
    )

    [(_, ok, detail)] = leak_gates(_leak(REVIEW, auc=0.97))  # higher than reviewed: again
    assert not ok and "at AUC 0.9500 < 0.9700 - 0.01: review again" in detail


def test_a_run_from_before_the_leak_gate_is_judged_by_its_audit_metrics():
    record = record_from_metrics({"leak_auc_status": 0.93, "leak_auc_web_visits": 0.7}, 0.9)
    [(_, ok, detail)] = leak_gates(record)
    assert not ok and detail.startswith("status alone reaches AUC 0.9300 > 0.9")
    assert "the run predates leak reviews" in detail
    run = RunRecord(dict(GOOD, leak_auc_status=0.93), {"reviewed": "true"}, {})
    assert not dict((g, ok) for g, ok, _ in check_gates(run, GATES, None))["leak_review"]


def test_suspects_that_do_not_fit_a_tag_are_counted_and_fail():
    many = _leak(None)
    many["suspects"] = [dict(many["suspects"][0], feature=f"f{i:04d}") for i in range(200)]
    tag = record_tag(many)
    assert len(tag) <= 7500
    lines = leak_gates(json.loads(tag))
    assert lines[-1][1] is False and "more suspected leak(s), not listed" in lines[-1][2]


def _window(days: list[str] | None) -> Window:
    frame = pd.DataFrame({"x": range(3)})
    if days is not None:
        frame["__timestamp__"] = pd.to_datetime(days)
    return Window("test", frame, np.zeros((3, 1)), np.array([0, 1, 0]), np.zeros(3, dtype=int))


def _info(**windows) -> ModelInfo:
    return ModelInfo(windows=windows)


DATED = _info(
    train={"leads": 10, "sales_ready": 2, "from": "2024-01-01 00:00:00", "to": "2024-03-31"},
    calibration={"leads": 5, "sales_ready": 1, "from": "2024-04-01", "to": "2024-04-30"},
    test={"leads": 5, "sales_ready": 1, "from": "2024-05-01", "to": "2024-05-31"},
)


SPEC = load_spec(Path(__file__).resolve().parents[2] / "features" / "lead_features.yaml")


def test_the_champion_overlap_is_counted_by_date_or_said_unknown():
    after = champion_overlap(DATED, SPEC, _window(["2024-05-02", "2024-05-03", "2024-06-01"]))
    assert after == (
        "no overlap: this test window (2024-05-02 to 2024-06-01) lies outside the champion's "
        "training and calibration windows (2024-01-01 to 2024-04-30)"
    )
    inside = champion_overlap(DATED, SPEC, _window(["2024-04-30", "2024-04-29", "2024-06-01"]))
    assert inside.startswith(
        "overlap: 2 of these 3 test leads are dated within the champion's training and "
        "calibration windows (2024-01-01 to 2024-04-30)"
    )
    undated = _info(train={"leads": 10, "sales_ready": 2}, calibration={"leads": 5})
    assert champion_overlap(undated, SPEC, _window(["2024-05-02"] * 3)).startswith(
        "overlap unknown"
    )
    assert champion_overlap(DATED, SPEC, _window(None)) == (
        "overlap unknown: this test window has no timestamps"
    )


def test_the_champion_overlap_is_counted_lead_by_lead_when_it_records_its_leads():
    """Dated outside its windows, yet two of the three test leads are leads it calibrated on
    (dates say nothing of a lead the champion was trained on in another export)."""
    test = _window(["2024-05-02", "2024-05-03", "2024-06-01"])
    test.frame["lead_id"] = ["L1", "L2", "L9"]
    keys = lead_keys(pd.DataFrame({"lead_id": ["L0", "L1", "L2", "L3"]}), SPEC)
    info = dataclasses.replace(DATED, trained_leads=TrainedLeads.of(keys[:1], keys[1:]))
    assert champion_overlap(info, SPEC, test) == (
        "overlap: 2 of these 3 test leads are leads it trained or was calibrated on (by lead id "
        "(lead_id)), so its log loss there favours it"
    )
    test.frame["lead_id"] = ["L7", "L8", "L9"]
    assert champion_overlap(info, SPEC, test).startswith("no overlap: none of these 3 test leads")
    del test.frame["lead_id"]  # its spec's id column is not in this window: by dates
    assert champion_overlap(info, SPEC, test).startswith("no overlap: this test window")


def test_compare_names_the_bound_as_given():
    assert compare("AUC", 0.75, ">=", 0.7, "rules 0.7000") == (True, "AUC 0.7500 >= rules 0.7000")
    assert compare("x", 1.0, ">", 1.0) == (False, "x 1.0000 <= 1.0")


@pytest.mark.parametrize(
    ("source", "logged"),
    [
        ("postgresql://ann:s3cret@db.example/crm", "postgresql://ann:***@db.example/crm"),
        ("sqlite:///crm.db", "sqlite:///crm.db"),
        ("exports/leads[2024].csv", "exports/leads[2024].csv"),
    ],
)
def test_a_logged_data_source_keeps_no_password(source, logged):
    assert _masked(source) == logged
