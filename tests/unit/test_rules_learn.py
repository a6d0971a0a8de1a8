"""The learned points table on leads whose truth is known: additive in a few conditions, so the
right points are known. The suggestion finds those conditions with their signs and their order,
never breaks an agreed direction, never uses a feature the teams have not signed, and comes out
as a rules file that reads back as written."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from leadml.rules import load_rules, parse_rules
from leadml.rules.learn import Condition, learn_points
from leadml.rules.propose import Evidence, propose
from leadml.spec import load_spec

from ..conftest import ROOT

SPEC = ROOT / "features" / "lead_features.yaml"
RULES = ROOT / "features" / "scoring_rules.yaml"
# the truth, in log-odds: (feature, op, value, effect)
TRUTH = [
    ("capture_form", "in", ("demo_request",), 1.6),
    ("pricing_page_views", "at_least", (20,), 1.1),
    ("days_since_last_activity", "at_least", (30,), -0.8),
    ("existing_customer", "is", (True,), 0.5),
]


@pytest.fixture(scope="module")
def spec():
    return load_spec(SPEC)


@pytest.fixture(scope="module")
def current(spec):
    return load_rules(RULES, spec)


def _leads(spec, n: int, seed: int, truth=TRUTH, base: float = -2.5):
    """Encoded leads (random values of every feature) and outcomes drawn from `truth`."""
    rng = np.random.default_rng(seed)
    X = np.empty((n, len(spec.features)))
    for j, f in enumerate(spec.features):
        if f.kind == "categorical":
            X[:, j] = rng.integers(0, len(f.allowed), n)
        elif f.kind == "boolean":
            X[:, j] = rng.random(n) < 0.3
        else:
            X[:, j] = np.minimum(rng.poisson(6, n) * rng.integers(1, 6, n), 365)
    X[rng.random(n) < 0.02, spec.names.index("days_since_last_activity")] = np.nan
    eta = np.full(n, base)
    for name, op, value, effect in truth:
        column = spec.names.index(name)
        codes = tuple(spec.feature(name).allowed.index(v) for v in value) if op == "in" else ()
        eta += effect * Condition(name, column, op, value, codes).fires(X)
    return X, (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)


def test_the_truth_is_found_with_its_signs_and_order(spec, current):
    X, y = _leads(spec, 60_000, seed=3)
    learned = learn_points(X, y, spec, current, max_rules=12, step=1)
    assert len(learned.points) <= 12 and (learned.points != 0).all()
    # the current rules' full set of capture forms: the most common is the others' baseline
    assert sum("is the baseline" in why for why in learned.left_out.values()) == 1
    assert np.abs(learned.points).max() <= 50
    found = {}
    for condition, points in zip(learned.conditions, learned.points.tolist(), strict=True):
        for name, op, value, _ in TRUTH:
            same = (condition.feature, condition.op, condition.values) == (name, op, value)
            if same:
                found[name] = points
    assert set(found) == {t[0] for t in TRUTH}, learned.conditions
    for name, _, _, effect in TRUTH:
        assert math.copysign(1, found[name]) == math.copysign(1, effect), name
        assert found[name] == pytest.approx(effect * learned.scale, abs=0.3 * learned.scale)
    by_size = sorted(found, key=lambda k: -abs(found[k]))
    assert by_size == [t[0] for t in sorted(TRUTH, key=lambda t: -abs(t[3]))]
    # what the truth does not hold is worth little: no other rule beats the weakest true one
    others = [abs(p) for c, p in zip(learned.conditions, learned.points, strict=True)
              if c.feature not in found]  # fmt: skip
    assert max(others, default=0) < min(abs(v) for v in found.values())


def test_agreed_directions_hold_even_when_the_data_says_otherwise(spec, current):
    """More web visits lower the odds in this data; the teams agreed they never do: no rule may
    take points for more visits, and a lead's points never fall as any directed signal grows."""
    truth = [*TRUTH, ("web_visits", "at_least", (20,), -1.0)]
    X, y = _leads(spec, 40_000, seed=5, truth=truth)
    learned = learn_points(X, y, spec, current, max_rules=20, step=1)
    for condition, points in zip(learned.conditions, learned.points.tolist(), strict=True):
        way = condition.sign(spec.feature(condition.feature))
        assert way * points >= 0, (condition, points)
    table = propose(
        current, learned, spec, sales_ready_points=40, caps={}, header=[],
        evidence=[Evidence.of(f, y) for f in learned.fires(X).T],
    ).rules  # fmt: skip
    lead = X[:1].copy()
    for j, f in enumerate(spec.features):
        if f.direction is None:
            continue
        grid = np.repeat(lead, 60, axis=0)
        grid[:, j] = [0, 1] * 30 if f.kind == "boolean" else np.linspace(0, 365, 60)
        grid = grid[np.argsort(grid[:, j], kind="stable")]
        points = table.score_encoded(grid, spec).points
        steps = np.diff(points) * (1 if f.direction == "increasing" else -1)
        assert (steps >= 0).all(), f.name


def test_features_not_signed_by_both_teams_are_never_used(spec, current):
    """The strongest signal sits on a feature marketing has not signed: neither the current
    rules on it nor any new one may use it."""
    unsigned = "follow_up_cta"
    features = [
        f.model_copy(update={"review": {"sales": f.review["sales"]}}) if f.name == unsigned else f
        for f in spec.features
    ]
    half_signed = spec.model_copy(update={"features": features})
    assert unsigned in half_signed.unusable()
    truth = [*TRUTH, (unsigned, "in", ("pricing_request", "call_back_request"), 2.0)]
    X, y = _leads(half_signed, 30_000, seed=7, truth=truth)
    learned = learn_points(X, y, half_signed, current, max_rules=20)
    assert unsigned not in {c.feature for c in learned.conditions}
    gone = {r.name for r in current.rules if r.feature == unsigned}
    assert gone <= set(learned.left_out) and gone
    assert all("no sign-off from marketing" in learned.left_out[name] for name in gone)


def test_the_proposal_keeps_the_current_wording_and_reads_back(spec, current):
    X, y = _leads(spec, 30_000, seed=11)
    learned = learn_points(X, y, spec, current, max_rules=20)
    evidence = [Evidence.of(f, y) for f in learned.fires(X).T]
    proposal = propose(
        current, learned, spec, sales_ready_points=35, evidence=evidence, caps={},
        header=["PROPOSED: not agreed."],
    )  # fmt: skip
    text = proposal.text
    assert text.startswith("# PROPOSED: not agreed.\n")
    back = parse_rules(yaml.safe_load(text), "proposal")
    assert back.model_dump() == proposal.rules.model_dump()
    assert not back.problems(spec)
    assert back.rules_version == current.rules_version + 1 and back.sales_ready_points == 35
    by_name = {r.name: r for r in current.rules}
    for rule, was in zip(back.rules, proposal.before, strict=True):
        assert rule.points % 5 == 0 and -50 <= rule.points <= 50
        if was is not None:  # kept: the same rule, its points moved
            old = by_name[rule.name]
            assert old.points == was
            assert old.model_dump(exclude={"points"}) == rule.model_dump(exclude={"points"})
        else:
            assert rule.name not in by_name and "proposed from the outcomes" in rule.description
    assert "review" not in text and "signed" not in text.split("rules:")[1]
    assert text.count("became sales-ready against") == len(back.rules)


def test_what_cannot_be_learned_from_is_refused(spec, current):
    X, y = _leads(spec, 2_000, seed=13)
    with pytest.raises(ValueError, match="max_rules must be at least 1"):
        learn_points(X, y, spec, current, max_rules=0)
    with pytest.raises(ValueError, match="both outcomes"):
        learn_points(X, np.zeros_like(y), spec, current)


@pytest.mark.parametrize("step", [1, 3, 5, 9])
def test_points_are_multiples_of_the_step_within_fifty(spec, current, step):
    """Even when the strongest rule sets the scale (its weight would pass 50 points)."""
    strong = [("capture_form", "in", ("demo_request",), 2.5), *TRUTH[1:]]
    X, y = _leads(spec, 20_000, seed=17, truth=strong)
    learned = learn_points(X, y, spec, current, max_rules=20, step=step)
    assert (learned.points % step == 0).all() and (np.abs(learned.points) <= 50).all()


def test_conditions_fire_as_the_rules_engine_fires_them(spec, current):
    """The learner's conditions and the engine that scores the table agree, lead by lead."""
    X, _ = _leads(spec, 5_000, seed=19)
    fired = current.score_encoded(X, spec).fired
    for i, rule in enumerate(current.rules):
        np.testing.assert_array_equal(Condition.of_rule(rule, spec).fires(X), fired[:, i])
