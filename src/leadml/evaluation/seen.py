"""Leads a model has seen: which leads of a file it trained or was calibrated on, so an
evaluation says when it is in-sample and can leave them out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leadml.data.check import CheckedLeads
from leadml.scoring.info import key_words, lead_keys
from leadml.scoring.lead_model import LeadModel

SEEN_REASON = "the model trained or was calibrated on them"


@dataclass(frozen=True)
class SeenLeads:
    """Per lead of a file: whether the model trained on it, or calibrated on it."""

    train: np.ndarray
    calibration: np.ndarray
    matched: str  # how leads were matched, in words

    @property
    def seen(self) -> np.ndarray:
        return self.train | self.calibration

    def describe(self, where: str) -> str:
        """How many leads of `where` the model has seen, in words (call when any)."""
        n, total = int(self.seen.sum()), len(self.seen)
        return (
            f"{n:,} of the {total:,} leads in {where} are leads the model trained on "
            f"({int(self.train.sum()):,}) or was calibrated on ({int(self.calibration.sum()):,}), "
            f"matched {self.matched}: measured on them, the model looks better than it is on "
            "new leads"
        )


def seen_leads(lead_model: LeadModel, leads: CheckedLeads) -> SeenLeads | None:
    """Which of `leads` the model trained or was calibrated on; None when the model does not
    record it (trained before leadml kept its leads)."""
    trained = lead_model.info.trained_leads
    if trained is None:
        return None
    train, calibration = trained.find(lead_keys(leads.frame, lead_model.spec))
    return SeenLeads(train, calibration & ~train, key_words(lead_model.spec))


def without_seen(leads: CheckedLeads, seen: SeenLeads) -> CheckedLeads:
    """The leads the model never trained or calibrated on, with the others counted as
    excluded."""
    keep = ~seen.seen
    if leads.y is None:
        raise ValueError("without_seen takes leads checked with their outcomes")
    excluded = dict(leads.excluded)
    if (~keep).any():
        excluded[SEEN_REASON] = int((~keep).sum())
    frame = leads.frame.loc[keep].reset_index(drop=True)
    return CheckedLeads(frame=frame, y=leads.y[keep], excluded=excluded)
