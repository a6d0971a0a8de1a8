"""From a checked lead to its score: the encoding, the booster as lookup tables, calibration,
bands, and `LeadModel`, the one scoring core that batch files, Dask and the API all call."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {  # imported when first asked for: `leadml.scoring.bands` alone stays light to import
    "LeadEncoder": "leadml.scoring.encoding",
    "AGREEMENT": "leadml.scoring.lead_model",
    "REASON_CHUNK": "leadml.scoring.lead_model",
    "LeadModel": "leadml.scoring.lead_model",
    "agreement": "leadml.scoring.lead_model",
    "agreement_codes": "leadml.scoring.lead_model",
    "LeadScorer": "leadml.scoring.scorer",
}
__all__ = [
    "AGREEMENT", "REASON_CHUNK", "LeadEncoder", "LeadModel", "LeadScorer", "agreement",
    "agreement_codes",
]  # fmt: skip

if TYPE_CHECKING:
    from leadml.scoring.encoding import LeadEncoder
    from leadml.scoring.lead_model import (
        AGREEMENT,
        REASON_CHUNK,
        LeadModel,
        agreement,
        agreement_codes,
    )
    from leadml.scoring.scorer import LeadScorer


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'leadml.scoring' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
