"""The scoring API without its framework: settings, the request contract generated from the
spec, `LeadScoringAPI` (parse, call the scoring core, serialise), and the API-key gate.
`service/service.py` is the BentoML shell around it."""

from leadml.serving.api import LeadScoringAPI, load_api
from leadml.serving.contract import (
    DEFAULT_REASONS,
    Problem,
    RequestBody,
    duplicate_leads,
    id_field,
    lead_type,
    request_models,
    request_problems,
)
from leadml.serving.reader import EncodedLeads, LeadReader
from leadml.serving.settings import DEFAULT_MAX_BATCH, Served, ServiceSettings, UnknownFields

__all__ = [
    "DEFAULT_MAX_BATCH", "DEFAULT_REASONS", "EncodedLeads", "LeadReader", "LeadScoringAPI",
    "Problem", "RequestBody", "Served", "ServiceSettings", "UnknownFields", "duplicate_leads",
    "id_field", "lead_type", "load_api",
    "request_models", "request_problems",
]  # fmt: skip
