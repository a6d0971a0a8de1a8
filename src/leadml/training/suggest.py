"""`leadml rules suggest`: the next points table, learned from the outcomes exactly as a model is
(the same windows: learned on the training window, its cut-off and its points read as
probabilities set on the calibration window, judged on the test window), and what the review
page shows of it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from leadml.errors import DataError, SpecError
from leadml.evaluation import metrics as evaluate
from leadml.evaluation.capacity import weeks_and_capacity
from leadml.evaluation.report import NextRules
from leadml.rules.definition import AgreedRules, load_rules
from leadml.rules.learn import Learned, learn_points
from leadml.rules.propose import WORSE, Evidence, Proposal, propose
from leadml.spec.config import TrainingConfig
from leadml.spec.features import FeatureSpec, load_spec
from leadml.training.engine import LocalEngine, TrainingData
from leadml.training.pipeline import check_weeks_and_order, rules_calibrator_on

CURRENT, PROPOSED = "current rules", "proposed rules"


@dataclass
class Suggestion:
    """The proposal, and every scorer's measures on the test window (by name)."""

    proposal: Proposal
    learned: Learned
    current: AgreedRules
    spec: FeatureSpec
    data: TrainingData
    metrics: dict[str, dict[str, float]]
    probability: dict[str, np.ndarray]  # on the test window, the points read as probabilities

    @property
    def worse(self) -> bool:
        """Whether the proposal ranks the test window worse than the current rules."""
        return _worse(self.metrics)

    def next_rules(self, file: str) -> NextRules:
        """What the review page shows of the proposal, on the test window."""
        test, table = self.data.test, self.proposal.rules
        fired = table.score_encoded(test.X, self.spec).fired
        rows = []
        for i, (rule, was) in enumerate(zip(table.rules, self.proposal.before, strict=True)):
            seen = Evidence.of(fired[:, i], test.y)
            rows.append(
                {
                    "rule": rule.name,
                    "feature": rule.feature,
                    "condition": self.learned.conditions[i].words(),
                    "points": "new" if was is None else f"{was:+d}",
                    "proposed": f"{rule.points:+d}",
                    "leads it fires on": seen.leads,
                    "converted when fired": seen.converted,
                    "converted otherwise": seen.rest,
                }
            )
        by_name = {r.name: r for r in self.current.rules}
        left = pd.DataFrame(
            [
                {"rule": n, "points": f"{by_name[n].points:+d}", "why": why}
                for n, why in self.proposal.left_out.items()
            ],
            columns=["rule", "points", "why"],
        )
        return NextRules(
            file=file,
            table=pd.DataFrame(rows),
            left_out=left,
            probability=self.probability[PROPOSED],
            metrics=self.metrics[PROPOSED],
            current_metrics=self.metrics[CURRENT],
            points_to_double=self.learned.points_to_double,
            sales_ready_points=float(table.sales_ready_points),
        )


def suggest_rules(
    config: TrainingConfig,
    source: str,
    query: str | None,
    *,
    out_name: str,
    max_rules: int = 20,
    step: int = 5,
    say: Callable[[str], None] = lambda _: None,
) -> Suggestion:
    """Learn the next points table from the config's history (see the module); `out_name` is
    the file it will be written to, as its header names it."""
    spec, current = check_usable(config)
    data = LocalEngine().load(source, query, spec, config, say)
    unusable = spec.unusable()
    for problems in unusable.values():
        say(f"Not used: {problems[0]}")
    say(f"Learning at most {max_rules} rules on the training window ({len(data.train_y):,} leads)")
    learned = learn_points(
        data.train_X, data.train_y, spec, current, max_rules=max_rules, step=step
    )
    if not learned.conditions:
        raise DataError(
            f"{source}: no rule has the evidence to be proposed: no condition on a usable "
            "feature changes the odds of the training window's leads enough"
        )
    cal, test = data.calibration, data.test
    train_fires = learned.fires(data.train_X)
    evidence = [Evidence.of(train_fires[:, i], data.train_y) for i in range(len(learned.points))]

    def table(caps: dict[str, int | None], cutoff: int, header: list[str]) -> Proposal:
        return propose(
            current, learned, spec, sales_ready_points=cutoff, evidence=evidence, caps=caps,
            header=header,
        )  # fmt: skip

    base = table({g: v.cap for g, v in current.groups.items()}, 0, []).rules

    def with_caps(caps: dict[str, int | None]) -> AgreedRules:
        """The learned table with these group caps (the file is written once, at the end)."""
        groups = {g: v.model_copy(update={"cap": caps.get(g)}) for g, v in base.groups.items()}
        return base.model_copy(update={"groups": groups})

    caps = _caps_that_help(current, with_caps, spec, cal.X, cal.y)
    draft = with_caps(caps)
    cutoff = _cutoff(draft.score_encoded(cal.X, spec).points, cal.frame, config)
    scored = {CURRENT: current, PROPOSED: draft.model_copy(update={"sales_ready_points": cutoff})}
    probability, measured = {}, {}
    weeks, per_week = weeks_and_capacity(test.frame, config.capacity)
    for name, rules in scored.items():
        p = rules_calibrator_on(rules, spec, cal)(rules.score_encoded(test.X, spec).points)
        probability[name] = p
        measured[name] = evaluate.score_metrics(test.y, p, weeks, per_week) | {
            "rules": float(len(rules.rules))
        }
    header = _header(config, source, out_name, data, learned, measured, unusable)
    proposal = table(caps, cutoff, header)
    return Suggestion(proposal, learned, current, spec, data, measured, probability)


def _worse(measured: Mapping[str, Mapping[str, float]]) -> bool:
    return measured[PROPOSED]["roc_auc"] < measured[CURRENT]["roc_auc"]


def check_usable(config: TrainingConfig) -> tuple[FeatureSpec, AgreedRules]:
    """The config's spec and rules, before any data is read: refused when no feature may be
    used (nothing to learn from)."""
    spec = load_spec(config.spec)
    current = load_rules(config.rules, spec)
    check_weeks_and_order(config, spec)
    unusable = spec.unusable()
    if len(unusable) == len(spec.features):
        raise SpecError(
            f"{config.spec}: no feature may be used, so there is nothing to learn rules from "
            f"({len(unusable)} feature(s) not signed by both teams, still TODO or known only "
            "after sales contact; `leadml features check` lists them). Finish the spec and "
            "collect both sign-offs (`leadml features sign`) first"
        )
    return spec, current


def _caps_that_help(
    current: AgreedRules,
    build: Callable[[dict[str, int | None]], AgreedRules],
    spec: FeatureSpec,
    X: np.ndarray,
    y: np.ndarray,
) -> dict[str, int | None]:
    """The current groups' caps worth keeping: a cap stays when the table ranks the
    calibration window at least as well with it as without (the points were learned without
    caps; a cap that cuts them off costs ranking)."""
    from sklearn.metrics import roc_auc_score

    caps: dict[str, int | None] = {g: v.cap for g, v in current.groups.items()}
    for group, cap in list(caps.items()):
        if cap is None:
            continue
        with_cap = roc_auc_score(y, build(caps).score_encoded(X, spec).points)
        without = roc_auc_score(y, build({**caps, group: None}).score_encoded(X, spec).points)
        if without > with_cap:
            caps[group] = None
    return caps


def _cutoff(points: np.ndarray, frame: pd.DataFrame, config: TrainingConfig) -> int:
    """The sales-ready points: the value whose leads at or above it come closest to what sales
    can work (`capacity`) on the calibration window."""
    weeks, per_week = weeks_and_capacity(frame, config.capacity)
    share = min(1.0, per_week * len(np.unique(weeks)) / max(1, len(points)))
    values = np.unique(points)
    at_or_above = np.array([(points >= v).mean() for v in values])
    return int(values[int(np.argmin(np.abs(at_or_above - share)))])


def _header(
    config: TrainingConfig,
    source: str,
    out_name: str,
    data: TrainingData,
    learned: Learned,
    measured: dict[str, dict[str, float]],
    unusable: dict[str, list[str]],
) -> list[str]:
    windows = data.windows
    train: Mapping[str, Any] = windows.get("train", {})
    test: Mapping[str, Any] = windows.get("test", {})
    span = (
        f", {str(train['from'])[:10]} to {str(train['to'])[:10]}"
        if "from" in train and "to" in train
        else ""
    )
    auc = {name: m["roc_auc"] for name, m in measured.items()}
    lines = [
        f"PROPOSED by `leadml rules suggest` on {date.today().isoformat()}: NOT AGREED.",
        f"Learned from {source}.",
        "Nobody has signed it. Read what changes against the current rules with",
        f"  leadml features diff {config.rules} {out_name}",
        "edit what you disagree with, check it with",
        f"  leadml features check {config.spec} --rules {out_name}",
        "and make it the agreed rules only when both sales and marketing sign it.",
        "",
        f"Learned on the training window ({train.get('leads', len(data.train_y)):,} leads{span}),",
        "its cut-off set on the calibration window, judged on the test window "
        f"({test.get('leads', len(data.test.y)):,} leads):",
        f"ROC AUC {auc[PROPOSED]:.3f} for these rules against {auc[CURRENT]:.3f} for the current "
        "ones.",
        f"{learned.points_to_double:.0f} points double a lead's odds of becoming sales-ready; "
        "sales_ready_points calls",
        "about as many leads sales-ready as sales can work (capacity in the training config).",
    ]
    if _worse(measured):
        lines.append(f"!! {WORSE}")
    lines += [f"Not used: {problems[0]}." for problems in unusable.values()]
    return lines
