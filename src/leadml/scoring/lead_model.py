"""The lead model as trained, logged and served, and the one scoring core behind every way of
scoring: `leadml predict` (a frame), the Dask engine (a frame per batch) and the API (leads
encoded from JSON) all call `LeadModel.score_encoded`, which gives the probability, band,
verdict, reasons and the agreed rules' answer; `LeadModel.warnings` says what was missing or
unknown. Callers only read their input and write their output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadml.data.check import CheckedLeads, check_leads
from leadml.data.columns import labels_at
from leadml.rules.definition import AgreedRules
from leadml.rules.engine import RulesScore, distinct_names, names_per_row
from leadml.scoring.bands import BANDS, codes_at, lower_edges
from leadml.scoring.calibration import Calibrator
from leadml.scoring.encoding import LeadEncoder
from leadml.scoring.info import InfoField
from leadml.scoring.scorer import LeadScorer
from leadml.spec.features import FeatureSpec

REASON_CHUNK = 5_000
FEW = 8  # up to this many leads, warnings are worked out value by value

AGREEMENT = ("neither", "rules_only", "model_only", "both")


def agreement_codes(model_yes: np.ndarray, rules_yes: np.ndarray) -> np.ndarray:
    """Each lead's index in AGREEMENT."""
    return 2 * np.asarray(model_yes, dtype=np.int8) + np.asarray(rules_yes, dtype=np.int8)


def agreement(model_yes: np.ndarray, rules_yes: np.ndarray) -> np.ndarray:
    """both / model_only / rules_only / neither, per lead."""
    return np.array(AGREEMENT, dtype=object)[agreement_codes(model_yes, rules_yes)]


@dataclass
class Reasons:
    """The largest contributions per lead, in the spec's words: `feature` and `size` (rounded
    to 4 places) per lead and rank, `values` (as shown) and `texts` per rank and lead."""

    feature: np.ndarray
    size: np.ndarray
    values: list[list[str]]
    texts: list[list[str]]

    @classmethod
    def join(cls, parts: list[Reasons]) -> Reasons:
        if len(parts) == 1:
            return parts[0]
        ranks = range(len(parts[0].values))
        return cls(
            np.vstack([p.feature for p in parts]),
            np.vstack([p.size for p in parts]),
            [[v for p in parts for v in p.values[k]] for k in ranks],
            [[t for p in parts for t in p.texts[k]] for k in ranks],
        )


@dataclass
class Scores:
    """What the model and the agreed rules say about a batch of leads, column by column.

    `band` and `agreement` are indices into `BANDS` and `AGREEMENT`; `rules` knows each
    distinct set of fired rules (`rules.rows`)."""

    probability: np.ndarray
    band: np.ndarray
    sales_ready: np.ndarray
    rules: RulesScore
    rules_probability: np.ndarray
    agreement: np.ndarray
    reasons: Reasons | None

    def band_letters(self) -> list[str]:
        return [BANDS[c] for c in self.band.tolist()]

    def agreement_words(self) -> list[str]:
        return [AGREEMENT[c] for c in self.agreement.tolist()]

    def distinct_rules(self) -> tuple[list[tuple[float, tuple[str, ...], bool, float]], list[int]]:
        """The rules' answer (points, fired names, verdict, probability) for each distinct set
        of fired rules, and each lead's index into them: leads share few sets, so an answer
        is built once per set."""
        rules = self.rules
        names, rules_of = distinct_names(rules.fired, rules.rule_names, rules.rows)
        first = rules.rows[0] if rules.rows is not None else np.arange(len(names))
        answers = list(
            zip(
                rules.points[first].tolist(),
                names,
                rules.verdict[first].tolist(),
                self.rules_probability[first].tolist(),
                strict=True,
            )
        )
        return answers, rules_of.tolist()


def output_id(spec: FeatureSpec) -> str:
    """The id column of a scored file, as the export names it (`Lead Number`), so a CRM joins
    the scores back on its own column; `lead_id` for leads named by row number."""
    return spec.lead_id or "lead_id"


def as_exported(scored: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """A scored frame with its id column named as the export names it (`output_id`)."""
    return scored.rename(columns={"lead_id": output_id(spec)})


@dataclass
class LeadModel:
    """Everything needed to score a lead the way it was evaluated: one pickled object.

    `threshold` is the sales-ready probability (derived from sales capacity at training unless
    the config fixed it); `rules_calibrator` maps the agreed rules' points to probabilities.
    """

    scorer: LeadScorer
    rules: AgreedRules
    rules_calibrator: Calibrator
    threshold: float
    bands: dict[str, float]
    info: InfoField = InfoField()  # noqa: RUF009 -- a descriptor: reads old dicts as ModelInfo

    @property
    def spec(self) -> FeatureSpec:
        return self.scorer.spec

    # -- the scoring core ----------------------------------------------------------------------
    def score_encoded(
        self,
        X: np.ndarray,
        reasons: int = 3,
        progress: Callable[[int, int], None] | None = None,
    ) -> Scores:
        """Score leads encoded by the spec (`LeadEncoder`, or the API's reader).

        Reasons (exact TreeSHAP contributions) cost far more than the probability; they are
        computed in chunks and `progress(done, total)` is called after each.
        """
        p = self.scorer.probability(X)
        model_yes = p >= self.threshold
        rules = self.rules.score_encoded(X, self.spec)
        return Scores(
            probability=p,
            band=codes_at(p, lower_edges(self.bands)),
            sales_ready=model_yes,
            rules=rules,
            rules_probability=self.rules_calibrator(rules.points),
            agreement=agreement_codes(model_yes, rules.verdict),
            reasons=self.explain(X, reasons, progress) if reasons > 0 else None,
        )

    def explain(
        self, X: np.ndarray, top: int, progress: Callable[[int, int], None] | None = None
    ) -> Reasons:
        """The `top` reasons per lead, `REASON_CHUNK` leads at a time."""
        scorer, parts = self.scorer, []
        for start in range(0, len(X), REASON_CHUNK):
            encoded, order, contrib = scorer.top_contributions(X[start : start + REASON_CHUNK], top)
            values, texts = scorer.describe(encoded, order, contrib)
            parts.append(Reasons(order, np.round(contrib, 4), values, texts))
            if progress is not None:
                progress(min(len(X), start + REASON_CHUNK), len(X))
        return Reasons.join(parts)

    def warnings(self, X: np.ndarray) -> list[tuple[str, ...]]:
        """Per lead, what it should know about its score: fields not given (scored as missing)
        and categories the training leads never had (scored as unknown). Leads with the same
        missing fields share one tuple."""
        if len(X) <= FEW:
            return [self._warnings_of(row) for row in X.tolist()]
        spec = self.spec
        sources = [f.source for f in spec.features]
        found: list[tuple[str, ...]] = [()] * len(X)
        missing = np.isnan(X)
        rows = np.flatnonzero(missing.any(axis=1))
        if len(rows):
            texts: dict[tuple[str, ...], tuple[str]] = {}
            for i, names in zip(rows.tolist(), names_per_row(missing[rows], sources), strict=True):
                text = texts.get(names)
                if text is None:
                    text = texts[names] = (f"not given, scored as missing: {', '.join(names)}",)
                found[i] = text
        for j, codes in self.unseen_codes().items():
            f = spec.features[j]
            for i in np.flatnonzero(np.isin(X[:, j], list(codes))).tolist():
                found[i] += (
                    f"{f.source} = {(f.allowed or [])[int(X[i, j])]} never occurred in the "
                    "training leads: scored as an unknown category",
                )
        return found

    def _warnings_of(self, row: list[float]) -> tuple[str, ...]:
        """`warnings` for one lead, value by value (numpy's per-call cost dominates there)."""
        features = self.spec.features
        missing = [f.source for f, x in zip(features, row, strict=True) if x != x]  # NaN
        found: tuple[str, ...] = ()
        if missing:
            found = (f"not given, scored as missing: {', '.join(missing)}",)
        for j, codes in self.unseen_codes().items():
            if row[j] in codes:
                f = features[j]
                found += (
                    f"{f.source} = {(f.allowed or [])[int(row[j])]} never occurred in the "
                    "training leads: scored as an unknown category",
                )
        return found

    def unseen_codes(self) -> dict[int, set[float]]:
        """Per categorical feature (by column), the codes of values the spec allows but the
        training leads never had. Worked out once for each `info.seen_categories` given."""
        seen = self.info.seen_categories
        cached = self.__dict__.get("_unseen")
        if cached is not None and cached[0] is seen:
            return cached[1]
        out = {}
        for j, f in enumerate(self.spec.features):
            if f.kind == "categorical" and f.name in seen:
                codes = {float(i) for i, v in enumerate(f.allowed or []) if v not in seen[f.name]}
                if codes:
                    out[j] = codes
        self.__dict__["_unseen"] = (seen, out)
        return out

    # -- frames in, frames out -------------------------------------------------------------------
    def score(
        self,
        leads: pd.DataFrame,
        reasons: int = 3,
        progress: Callable[[int, int], None] | None = None,
        first_row: int = 0,
        first_id: int | None = None,
    ) -> pd.DataFrame:
        """Score raw leads: model probability, band, verdict, reasons, and the rules beside it.

        Unknown categories are scored as missing; `frame.attrs["unseen"]` counts them.
        `first_row`/`first_id`: for a part of larger data, as `check_leads` takes them.
        """
        checked, unseen = self.check(leads, first_row, first_id)
        out = self.score_checked(checked, reasons, progress)
        out.attrs["unseen"] = unseen
        return out

    def check(
        self, leads: pd.DataFrame, first_row: int = 0, first_id: int | None = None
    ) -> tuple[CheckedLeads, dict[str, int]]:
        """Raw leads checked and typed for scoring (`score` = `check` + `score_checked`), and
        the unknown categories counted per feature (scored as missing)."""
        unseen: dict[str, int] = {}
        checked = check_leads(
            leads,
            self.spec,
            require_label=False,
            unseen=unseen,
            first_row=first_row,
            first_id=first_id,
        )
        return checked, unseen

    def score_checked(
        self,
        checked: CheckedLeads,
        reasons: int = 3,
        progress: Callable[[int, int], None] | None = None,
    ) -> pd.DataFrame:
        """Score leads already checked and typed by `check_leads`, as a frame."""
        return self.score_parts(checked, reasons, progress)[2]

    def score_parts(
        self,
        checked: CheckedLeads,
        reasons: int = 3,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[np.ndarray, Scores, pd.DataFrame]:
        """`score_checked`, with what it is made of: the encoded leads and their `Scores`
        (which the score log keeps), and the scored frame."""
        X = LeadEncoder(self.spec).transform(checked.frame)
        s = self.score_encoded(X, reasons, progress)
        return X, s, self.scores_frame(checked, s)

    def scores_frame(self, checked: CheckedLeads, s: Scores) -> pd.DataFrame:
        """`score_encoded`'s answer for `checked` as the scored frame (`score_checked`)."""
        out: dict[str, Any] = {  # the frame is built once, from whole columns
            "lead_id": checked.frame[self.spec.id_column].array,
            "probability": s.probability,
            "band": labels_at(BANDS, s.band),
            "sales_ready": s.sales_ready,
        }
        if s.reasons is not None:
            for k, texts in enumerate(s.reasons.texts):
                out[f"reason_{k + 1}"] = texts
        out.update({col: values.array for col, values in s.rules.to_frame().items()})
        out["rules_probability"] = s.rules_probability
        out["agreement"] = labels_at(AGREEMENT, s.agreement)
        return pd.DataFrame(out)
