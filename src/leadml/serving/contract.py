"""The request contract of the scoring API, generated from the feature spec, and the 4xx answer
that names the lead and the field of a request that breaks it."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from typing_extensions import TypedDict

from leadml.serving.settings import DEFAULT_MAX_BATCH, UnknownFields
from leadml.spec.features import Feature, FeatureSpec

DEFAULT_REASONS = 3


def _field_type(f: Feature) -> Any:
    if f.kind == "categorical":
        return Literal[tuple(f.allowed or [])]
    if f.kind == "boolean":
        return bool
    lo, hi = f.range or (None, None)
    return Annotated[float, Field(ge=lo, le=hi, allow_inf_nan=False)]


def _field_doc(f: Feature) -> str:
    doc = f"{f.description} Owner: {f.owner}; known at {f.known_at}. Missing: {f.missing}"
    if f.direction:
        never = "lowers" if f.direction == "increasing" else "raises"
        doc += f" Agreed direction: {f.direction} (more of it never {never} the score)."
    return doc


def id_field(spec: FeatureSpec) -> str:
    """The key a request's leads carry their id in: the spec's lead id column, or `lead_id`."""
    return spec.lead_id or "lead_id"


def lead_type(spec: FeatureSpec, unknown_fields: UnknownFields = "reject") -> type:
    """One lead as the CRM sends it: every spec feature under its source column, all optional."""
    fields: dict[str, Any] = {
        id_field(spec): NotRequired[
            Annotated[
                str | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | None,
                Field(description="The CRM's id for the lead (text or a 64-bit whole number)."),
            ]
        ]
    }
    for f in spec.features:
        fields[f.source] = NotRequired[
            Annotated[_field_type(f) | None, Field(description=_field_doc(f), title=f.name)]
        ]
    lead = TypedDict("Lead", fields)  # type: ignore[misc]
    extra: Literal["forbid", "allow"] = "forbid" if unknown_fields == "reject" else "allow"
    lead.__pydantic_config__ = ConfigDict(extra=extra)  # type: ignore[attr-defined]
    return lead


class RequestBody(BaseModel):
    """Request bodies take no keys beyond their fields."""

    model_config = ConfigDict(extra="forbid")


def request_models(
    spec: FeatureSpec,
    max_batch: int = DEFAULT_MAX_BATCH,
    unknown_fields: UnknownFields = "reject",
    base: type[BaseModel] = RequestBody,
) -> tuple[type[BaseModel], type[BaseModel]]:
    """The bodies of POST /score and POST /rules, generated from the spec.

    `base` (a `RequestBody` subclass) lets the service add its framework's request parsing.
    """
    lead = lead_type(spec, unknown_fields)
    leads = Annotated[
        list[lead],  # type: ignore[valid-type]
        Field(min_length=1, max_length=max_batch, description=f"1 to {max_batch:,} leads."),
    ]
    score = create_model(
        "ScoreRequest",
        __base__=base,
        leads=(leads, ...),
        explain=(
            bool,
            Field(True, description="Return the reasons behind each score (costs a little)."),
        ),
        reasons=(
            int,
            Field(
                DEFAULT_REASONS,
                ge=1,
                le=len(spec.features),
                description="How many reasons per lead, largest first.",
            ),
        ),
    )
    rules = create_model(
        "RulesRequest",
        __base__=base,
        leads=(leads, ...),
    )
    return score, rules


def request_problems(
    exc: ValidationError, body: bytes, id_key: str = "lead_id"
) -> tuple[int, dict[str, Any]]:
    """(status, JSON error) for a request that failed validation: each problem names the lead
    (its index in `leads`, and its id when readable) and the field."""
    ids: list[Any] = []
    try:
        raw = json.loads(body)
        if isinstance(raw, dict) and isinstance(raw.get("leads"), list):
            ids = [lead.get(id_key) if isinstance(lead, dict) else None for lead in raw["leads"]]
            ids = [  # only ids that can be echoed back as they came
                v if isinstance(v, str) or (type(v) is int and -(2**63) <= v < 2**63) else None
                for v in ids
            ]
    except (ValueError, UnicodeDecodeError):
        pass
    problems = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = list(err["loc"])
        if err["type"] == "json_invalid":
            return 400, {
                "error": f"the request body is not valid JSON: {err['msg']}",
                "problems": [{"lead": None, "field": None, "message": err["msg"]}],
            }
        lead = None
        if len(loc) >= 2 and loc[0] == "leads" and isinstance(loc[1], int):
            lead = loc[1]
            loc = loc[2:]
        field = ".".join(str(p) for p in loc) or None
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field (not in the feature spec)"
        elif err["type"] == "missing" and field == "leads":
            message = "the body needs a 'leads' list"
        problem: dict[str, Any] = {"lead": lead, "field": field, "message": message}
        if lead is not None and lead < len(ids) and ids[lead] is not None:
            problem["lead_id"] = ids[lead]
        problems.append(problem)
    first = problems[0]
    where = ", ".join(
        part
        for part in (
            f"lead {first['lead']}" if first["lead"] is not None else "",
            f"field '{first['field']}'" if first["field"] else "",
        )
        if part
    )
    summary = f"{where}: {first['message']}" if where else first["message"]
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return 422, {"error": summary + more, "problems": problems}
