"""The review page for a sales VP: the cut-offs it states, agreement at like list sizes, reasons
in percentage points, what the rules could learn, drift without a timestamp, its charts' layout
and the size of its per-lead CSV. On tiny inline data; the real page is in tests/e2e."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.ticker import PercentFormatter

from leadml.evaluation import plots, report
from leadml.rules.definition import AgreedRules
from leadml.rules.review import rule_outcomes
from leadml.scoring.calibration import Calibrator

RULES = AgreedRules.model_validate(
    {
        "rules_version": 1,
        "title": "test rules",
        "sales_ready_points": 10,
        "rules": [
            {"name": "scan", "description": "a trade-show badge scan", "feature": "source",
             "in": ["trade_show"], "points": 5},
            {"name": "demo", "description": "a demo request", "feature": "source",
             "in": ["demo"], "points": 30},
        ],
    }
)  # fmt: skip


def _leads(model_yes: int, rules_yes: int, n: int = 400) -> pd.DataFrame:
    """n leads: the first `model_yes` picked by the model, the first `rules_yes` by the rules."""
    i = np.arange(n)
    model, rules = i < model_yes, i < rules_yes
    return pd.DataFrame(
        {
            "lead_id": [f"L{k:04d}" for k in i],
            "probability": np.linspace(0.9, 0.01, n),
            "band": "C",
            "sales_ready": model,
            "rules_points": np.where(rules, 40.0, 0.0),
            "rules_probability": np.where(rules, 0.3, 0.05) - i * 1e-5,
            "rules_sales_ready": rules,
            "agreement": np.array(["neither", "rules_only", "model_only", "both"], dtype=object)[
                2 * model.astype(int) + rules.astype(int)
            ],
            "outcome": (i % 4 == 0).astype(int),
            "reason_1": "Company size 750: +12 pts",
            "rules_fired": "demo",
        }
    )


def _comparison(leads: pd.DataFrame, **kw) -> report.Comparison:
    y = leads["outcome"].to_numpy()
    metrics = {"precision_at_capacity": 0.5, "recall_at_capacity": 0.4, "ece": 0.01,
               "leads_worked": 40}  # fmt: skip
    band = pd.DataFrame({"band": list("ABCD"), "leads": [1, 1, 1, len(y) - 3],
                         "sales_ready": [1, 0, 0, 0], "conversion": [1.0, 0, 0, 0.1],
                         "mean_probability": [0.6, 0.3, 0.1, 0.02]})  # fmt: skip
    review = rule_outcomes(RULES, np.c_[np.arange(len(y)) % 2 == 0, y == 1], y)
    fields = dict(
        leads=leads,
        model=metrics,
        rules=metrics,
        capacity=40,
        weekly=False,
        bands={"leadml model": band, "agreed rules": band},
        rule_review=review.assign(model_points=1.5),
        features=pd.DataFrame(
            {
                "feature": ["demo"],
                "description": ["d"],
                "owner": ["sales"],
                "known_at": ["capture"],
                "sales": ["x"],
                "marketing": ["y"],
                "importance": [1.0],
            }
        ),
        drift=None,
        title="t",
        threshold=0.234,
        sales_ready_points=40.0,
        band_edges={"A": 0.5, "B": 0.25, "C": 0.1},
        excluded={"outcome still open": 281},
        no_drift="No drift view: because of a test.",
    )
    return report.Comparison(**{**fields, **kw})


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


# --- 1. the cut-offs ---------------------------------------------------------------------------


def test_the_page_states_both_cut_offs_the_band_edges_and_the_open_leads():
    text = _text(report.render_html(_comparison(_leads(40, 40))))
    assert "sales-ready at a probability of 23.4% or more" in text
    assert "the agreed rules at 40 points or more" in text
    assert "A from 50.0% and up; B from 25.0% to 50.0%; C from 10.0% to 25.0%; D below 10.0%" in (
        text
    )
    assert "281 lead(s) whose outcome is still open were left out" in text


# --- 2. agreement like with like ----------------------------------------------------------------


def test_each_side_says_its_cut_off_and_how_many_it_picked():
    text = _text(report.render_html(_comparison(_leads(120, 100))))
    assert "the model (probability 23.4% or more) picked 120 leads" in text
    assert "the agreed rules (40 points or more) picked 100 ." in text
    assert "At equal list sizes" not in text  # 1.2x: alike enough


def test_lists_of_very_different_sizes_are_also_compared_at_equal_sizes():
    leads = _leads(200, 40)
    comparison = _comparison(leads)
    assert comparison.lists_differ()
    comparison.equal_lists = report._equal_lists(leads, np.zeros(len(leads)), 40)
    table = comparison.equal_lists.set_index("cell")["leads"]
    assert table["both"] + table["model_only"] == 40 == table["both"] + table["rules_only"]
    text = _text(report.render_html(comparison))
    assert "differ in size (5.0 times as many leads on one side)" in text
    assert "At equal list sizes, each side working its own top 40 leads in this data" in text


def test_lists_differ_only_beyond_one_and_a_half_times():
    assert not _comparison(_leads(150, 100)).lists_differ()
    assert _comparison(_leads(151, 100)).lists_differ()
    assert _comparison(_leads(10, 0)).lists_differ()


# --- 3. reasons in plain words -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "name", "words"),
    [("Company size", "employees", "Company size"), (None, "days_since_visit", "Days since visit")],
)
def test_a_feature_is_named_by_its_label_else_its_name_in_words(label, name, words):
    assert report.feature_label(SimpleNamespace(label=label, name=name)) == words


@pytest.mark.parametrize(
    ("points", "words"),
    [(12.3, "+12 pts"), (-3.49, "-3 pts"), (0.44, "+0.4 pts"), (-0.05, "-0.1 pts")],
)
def test_points_in_words(points, words):
    assert report.points_words(points) == words


@pytest.mark.parametrize(
    "calibrator",
    [Calibrator("sigmoid", slope=1.0, intercept=0.0),
     Calibrator("isotonic", xs=np.array([-3.0, 0.0, 3.0]), ys=np.array([0.05, 0.2, 0.9]))],
    ids=["sigmoid", "isotonic"],
)  # fmt: skip
def test_a_reason_is_the_change_in_probability_without_its_contribution(calibrator):
    raw = np.array([0.0, 1.0])
    contrib = np.array([[1.0, -0.5], [0.0, 2.0]])
    scorer = SimpleNamespace(decision_function=lambda X: raw, calibrator_=calibrator)
    points = report.reason_points(SimpleNamespace(scorer=scorer), np.zeros((2, 2)), contrib)
    p = calibrator(raw)
    expected = 100 * (p[:, None] - calibrator(raw[:, None] - contrib))
    np.testing.assert_allclose(points, expected)
    assert points[1, 0] == 0 and (points[0, 0] > 0) and (points[0, 1] < 0)


# --- 4. what the rules could learn ------------------------------------------------------------


def test_a_rule_whose_points_contradict_its_leads_is_flagged_in_points():
    y = np.r_[np.ones(10), np.zeros(90), np.ones(40), np.zeros(60)].astype(int)
    scan = np.r_[np.ones(100, bool), np.zeros(100, bool)]  # +5 points; 10% vs 40% for the rest
    demo = np.r_[np.zeros(100, bool), np.ones(100, bool)]  # +30 points; 40% vs 10%
    review = rule_outcomes(RULES, np.c_[scan, demo], y).set_index("rule")
    assert review.loc["scan", "gap_points"] == pytest.approx(-30.0)
    assert review.loc["scan", "contradicts"] and not review.loc["demo", "contradicts"]
    page = report.render_html(_comparison(_leads(40, 40), rule_review=review.reset_index()))
    assert "<tr class='contradicts'><td>scan</td><td>5</td><td>100</td><td>10.0%</td>" in page
    assert "<td>40.0%</td><td>-30.0 pts</td>" in page
    assert "scan gives +5 points, yet its 100 leads converted at 10.0% against 40.0% for the" in (
        _text(page)
    )


def test_a_gap_on_a_handful_of_leads_is_no_contradiction():
    y = np.r_[np.zeros(5), np.ones(95)].astype(int)
    few = np.r_[np.ones(5, bool), np.zeros(95, bool)]
    review = rule_outcomes(RULES, np.c_[few, ~few], y)
    assert not review["contradicts"].any()


def test_fired_must_match_the_rules_and_the_leads():
    with pytest.raises(ValueError, match="one column per rule"):
        rule_outcomes(RULES, np.zeros((3, 1), bool), np.zeros(3))


# --- 5. drift without a timestamp -------------------------------------------------------------


def _model(split_order, split="time"):
    spec = SimpleNamespace(id_column="lead_id", lead_id="lead_id")
    return SimpleNamespace(spec=spec, info=SimpleNamespace(split_order=split_order, split=split))


def test_drift_by_order_deciles_when_the_data_has_only_an_order_column():
    n = 200
    frame = pd.DataFrame({"__order__": np.arange(n, 0, -1) * 10})  # newest first, as carried
    y, p = (np.arange(n) % 5 == 0).astype(int), np.full(n, 0.2)
    drift, why = report._drift_view(
        _model({"kind": "column", "column": "lead_number"}), frame, y, p, p
    )
    assert why == "" and len(drift) == 10 and drift["leads"].eq(20).all()
    assert drift.columns[0] == "order_decile"
    assert drift.iloc[0, 0] == "01: lead_number 10-200" and drift.iloc[-1, 0].startswith("10:")
    _, why = report._drift_view(
        _model({"kind": "column", "column": "lead_number"}),
        frame.drop(columns="__order__"),
        y,
        p,
        p,
    )
    assert why == "No drift view: the data has no timestamp and no lead_number column."
    page = _text(report.render_html(_comparison(_leads(40, 40), drift=drift)))
    assert "per tenth of the leads in the order the model's time split used" in page


def test_drift_by_row_order_when_the_config_declared_file_order():
    frame = pd.DataFrame({"x": np.zeros(50)})
    drift, _ = report._drift_view(
        _model({"kind": "file_order", "column": "file_order"}),
        frame,
        np.zeros(50),
        *[np.zeros(50)] * 2,
    )
    assert drift.iloc[0, 0] == "01: row 1-5" and len(drift) == 10


@pytest.mark.parametrize(
    ("model", "words"),
    [(_model(None, split="random"), "random split"), (_model(None), "does not record what ordered"),
     (_model({"kind": "column", "column": "lead_number"}), "no lead_number column")],
    ids=["random split", "old model", "column absent"],
)  # fmt: skip
def test_no_drift_view_says_why(model, words):
    drift, why = report._drift_view(model, pd.DataFrame({"x": [1, 2]}), *[np.zeros(2)] * 3)
    assert drift is None and words in why
    page = report.render_html(_comparison(_leads(40, 40), no_drift=why))
    assert "<h2>Drift over time</h2><p>No drift view:" in page


# --- 6. layout --------------------------------------------------------------------------------


def _renderer(fig):
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _boxes(fig, texts):
    renderer = _renderer(fig)
    return [t.get_window_extent(renderer) for t in texts if t.get_text()]


def test_band_labels_never_overlap():
    table = pd.DataFrame({"band": list("ABCD"), "leads": [90_404, 51_644, 32_237, 139_934],
                          "sales_ready": [61_919, 15_588, 5_547, 4_400],
                          "conversion": [0.68, 0.30, 0.17, 0.03]})  # fmt: skip
    for scorers in (1, 2, 3):
        fig = plots.band_figure({f"scorer {k}": table for k in range(scorers)})
        boxes = _boxes(fig, fig.axes[0].texts)
        assert len(boxes) == 4 * scorers
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert not a.overlaps(b), (scorers, a, b)


def test_the_drift_legend_sits_outside_the_points():
    drift = pd.DataFrame({"month": [f"2025-{m:02d}" for m in range(1, 13)], "leads": 100,
                          "conversion": 0.9, "model": 0.95, "rules": 0.85})  # fmt: skip
    fig = plots.drift_figure(drift)
    renderer = _renderer(fig)
    legend = fig.legends[0].get_window_extent(renderer)
    assert not legend.overlaps(fig.axes[0].get_window_extent(renderer))
    assert not fig.axes[0].get_legend() and not fig.axes[1].get_legend()


def test_the_importance_axis_is_in_percent_like_its_table():
    fig = plots.importance_figure({"demo": 0.6, "size": 0.4})
    assert isinstance(fig.axes[0].xaxis.get_major_formatter(), PercentFormatter)
    assert "<td>60.0%</td>" in report.html_table(
        pd.DataFrame({"feature": ["demo"], "importance": [0.6]}), ("importance",)
    )


def test_printing_never_keeps_a_table_whole_or_leaves_a_heading_alone():
    css = report.CSS[report.CSS.index("@media print") :]
    assert "table { break-inside: auto; }" in css and "tr { break-inside: avoid; }" in css
    assert "h2, h3 { break-after: avoid; }" in css and "max-height" in css


def test_the_per_lead_csv_is_rounded_and_trimmed(tmp_path):
    leads = _leads(40, 40)
    leads["probability"] = leads["probability"] + 1e-9 / 3
    out = report.write_leads_csv(_comparison(leads), tmp_path / "leads.csv")
    csv = pd.read_csv(out)
    assert "rules_probability" not in csv.columns
    assert set(csv["sales_ready"]) <= {0, 1} and set(csv["rules_sales_ready"]) <= {0, 1}
    np.testing.assert_array_equal(csv["probability"], leads["probability"].round(4))
    assert max(len(line) for line in out.read_text().splitlines()) < 120
