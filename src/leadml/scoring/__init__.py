"""From a checked lead to its score: the encoding, the booster as lookup tables, calibration,
bands, and `LeadModel`, the one scoring core that batch files, Dask and the API all call."""

from leadml.scoring.encoding import LeadEncoder
from leadml.scoring.lead_model import (
    AGREEMENT,
    REASON_CHUNK,
    LeadModel,
    agreement,
    agreement_codes,
)
from leadml.scoring.scorer import LeadScorer

__all__ = [
    "AGREEMENT", "REASON_CHUNK", "LeadEncoder", "LeadModel", "LeadScorer", "agreement",
    "agreement_codes",
]  # fmt: skip
