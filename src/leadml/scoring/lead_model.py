"""The lead model as trained, logged and served: the scorer, the agreed rules beside it, bands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadml.data.check import CheckedLeads, check_leads
from leadml.data.columns import labels_at
from leadml.rules.definition import AgreedRules
from leadml.scoring.bands import BANDS, band_codes
from leadml.scoring.calibration import Calibrator
from leadml.scoring.encoding import LeadEncoder
from leadml.scoring.scorer import LeadScorer
from leadml.spec.features import FeatureSpec

REASON_CHUNK = 5_000


AGREEMENT = ("neither", "rules_only", "model_only", "both")


def agreement_codes(model_yes: np.ndarray, rules_yes: np.ndarray) -> np.ndarray:
    """Each lead's index in AGREEMENT."""
    return 2 * np.asarray(model_yes, dtype=np.int8) + np.asarray(rules_yes, dtype=np.int8)


def agreement(model_yes: np.ndarray, rules_yes: np.ndarray) -> np.ndarray:
    """both / model_only / rules_only / neither, per lead."""
    return np.array(AGREEMENT, dtype=object)[agreement_codes(model_yes, rules_yes)]


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
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> FeatureSpec:
        return self.scorer.spec

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
        unseen: dict[str, int] = {}
        checked = check_leads(
            leads,
            self.spec,
            require_label=False,
            unseen=unseen,
            first_row=first_row,
            first_id=first_id,
        )
        out = self.score_checked(checked, reasons, progress)
        out.attrs["unseen"] = unseen
        return out

    def score_checked(
        self,
        checked: CheckedLeads,
        reasons: int = 3,
        progress: Callable[[int, int], None] | None = None,
    ) -> pd.DataFrame:
        """Score leads already checked and typed by `check_leads`.

        Reasons (exact TreeSHAP contributions) cost far more than the probability; they are
        computed in chunks and `progress(done, total)` is called after each.
        """
        spec = self.spec
        encoded = LeadEncoder(spec).transform(checked.frame)
        p = self.scorer.predict_proba(encoded)[:, 1]
        model_yes = p >= self.threshold
        out: dict[str, Any] = {  # the frame is built once, from whole columns
            "lead_id": checked.frame[spec.id_column].array,
            "probability": p,
            "band": labels_at(BANDS, band_codes(p, self.bands)),
            "sales_ready": model_yes,
        }
        if reasons > 0:
            parts = []
            for start in range(0, len(encoded), REASON_CHUNK):
                chunk = encoded[start : start + REASON_CHUNK]
                parts.append(self.scorer.phrase(*self.scorer.top_contributions(chunk, reasons)))
                if progress is not None:
                    progress(min(len(encoded), start + REASON_CHUNK), len(encoded))
            for k in range(reasons):
                out[f"reason_{k + 1}"] = [text for part in parts for text in part[k]]
        rules = self.rules.score_encoded(encoded, spec)
        out.update({col: values.array for col, values in rules.to_frame().items()})
        out["rules_probability"] = self.rules_calibrator(rules.points)
        out["agreement"] = labels_at(AGREEMENT, agreement_codes(model_yes, rules.verdict))
        return pd.DataFrame(out)
