"""The request contract of the scoring API, generated from the feature spec, and the 4xx answer
that names the lead and the field of a request that breaks it."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, create_model
from typing_extensions import TypedDict

from leadml.scorelog.rows import MAX_ID_LENGTH  # a lead id given as text: what the log keeps
from leadml.scoring.lead_model import output_id as id_field  # the key a lead's id is in
from leadml.serving.settings import DEFAULT_MAX_BATCH, UnknownFields
from leadml.spec.features import Feature, FeatureSpec

DEFAULT_REASONS = 3
MIN_ID, MAX_ID = -(2**63), 2**63 - 1  # a lead id given as a whole number: 64 bits
ID_RULE = f"a lead id is text (at most {MAX_ID_LENGTH} characters) or a 64-bit whole number"
RECORD_RULE = "text, a number, true/false or null (accepted, not used for scoring)"

LeadId = (
    Annotated[str, Field(max_length=MAX_ID_LENGTH)]
    | Annotated[int, Strict(), Field(ge=MIN_ID, le=MAX_ID)]  # strict: not true, not 2.0
    | None
)
Scalar = str | int | float | bool | None  # a column the CRM sends that scoring does not read


@dataclass(frozen=True)
class Problem:
    """A request the API refuses: its 4xx status and the JSON error that names what is wrong."""

    status: int
    payload: dict[str, Any]


def placeholder_numbers(placeholders: frozenset[str]) -> list[int | float]:
    """The placeholders written as numbers ('-1', '999'): a numeric or yes/no field sent -1 is
    missing."""
    numbers: list[int | float] = []
    for text in sorted(placeholders):
        try:
            number = float(text)
        except ValueError:
            continue
        if math.isfinite(number):
            numbers.append(int(number) if number.is_integer() else number)
    return numbers


def _field_type(f: Feature, placeholders: frozenset[str] = frozenset()) -> Any:
    """A field's JSON type by the spec; its placeholders (`missing_values`) are accepted too,
    and scored as missing."""
    texts: tuple[str | int | float, ...] = tuple(sorted(placeholders))
    if f.kind == "categorical":
        return Literal[tuple(f.allowed or []) + texts]
    base: Any = bool
    if f.kind == "numeric":
        lo, hi = f.range or (None, None)
        base = Annotated[float, Field(ge=lo, le=hi, allow_inf_nan=False)]
    texts += tuple(placeholder_numbers(placeholders))  # -1 sent as a number
    return base | Literal[texts] if texts else base


def _field_doc(f: Feature, placeholders: frozenset[str] = frozenset()) -> str:
    doc = f"{f.description} Owner: {f.owner}; known at {f.known_at}. Missing: {f.missing}"
    if placeholders:
        doc += f" Read as missing: {', '.join(sorted(placeholders))}."
    if f.direction:
        never = "lowers" if f.direction == "increasing" else "raises"
        doc += f" Agreed direction: {f.direction} (more of it never {never} the score)."
    return doc


def record_fields(spec: FeatureSpec) -> dict[str, str]:
    """The spec's other columns of a lead record (its timestamp and label), which a CRM sends
    with the lead and scoring ignores, each with what it is."""
    named = {spec.timestamp: "timestamp", spec.label.column: "outcome (label)"}
    return {column: what for column, what in named.items() if column and column != id_field(spec)}


def lead_type(spec: FeatureSpec, unknown_fields: UnknownFields = "reject") -> type:
    """One lead as the CRM sends it: every spec feature under its source column, all optional;
    the id; and the spec's timestamp and label columns, accepted and ignored."""
    fields: dict[str, Any] = {
        id_field(spec): NotRequired[
            Annotated[LeadId, Field(description=f"The CRM's id for the lead: {ID_RULE}.")]
        ]
    }
    for column, what in record_fields(spec).items():
        doc = f"The lead's {what} column in the feature spec: accepted, not used for scoring."
        fields[column] = NotRequired[Annotated[Scalar, Field(description=doc)]]
    for f in spec.features:
        blank = spec.placeholders(f)
        fields[f.source] = NotRequired[
            Annotated[
                _field_type(f, blank) | None,
                Field(description=_field_doc(f, blank), title=f.name),
            ]
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
        Field(
            min_length=1,
            max_length=max_batch,
            description=f"1 to {max_batch:,} leads, each lead id at most once.",
        ),
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


def echoable_id(value: Any) -> bool:
    """Whether a lead id can be written back as it came: text of a bounded length or a 64-bit
    whole number (never true/false, 2.0 or a megabyte of text)."""
    if type(value) is str:
        return len(value) <= MAX_ID_LENGTH
    return type(value) is int and MIN_ID <= value <= MAX_ID


def _readable_ids(body: bytes, id_key: str) -> list[Any]:
    """Per lead, its id when it can be echoed back, else None. Only called on a body the request
    model parsed as JSON, so never nested deeper than its parser allows."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return []
    if not isinstance(raw, dict) or not isinstance(raw.get("leads"), list):
        return []
    ids = [lead.get(id_key) if isinstance(lead, dict) else None for lead in raw["leads"]]
    return [v if echoable_id(v) else None for v in ids]


def _not_json(message: str) -> tuple[int, dict[str, Any]]:
    """The 400 for a body that is not JSON, or JSON nested deeper than the parser allows."""
    if "recursion limit" in message:
        message = f"it is nested too deeply ({message})"
    return 400, {
        "error": f"the request body is not valid JSON: {message}",
        "problems": [{"lead": None, "field": None, "message": message}],
    }


def _problem(err: Any, rules: dict[str, str]) -> dict[str, Any]:
    """One validation error as a problem naming the lead (its index) and the field. A field
    in `rules` (one that takes several kinds of value) is named with its rule, not with what
    each kind said."""
    loc, lead = list(err["loc"]), None
    if len(loc) >= 2 and loc[0] == "leads" and isinstance(loc[1], int):
        lead, loc = loc[1], loc[2:]
    message = err["msg"]
    if lead is not None and loc and loc[0] in rules:
        loc, message = loc[:1], rules[loc[0]]
    field = ".".join(str(p) for p in loc) or None
    if err["type"] == "extra_forbidden":
        message = "unknown field (not in the feature spec)"
    elif err["type"] == "missing" and field == "leads":
        message = "the body needs a 'leads' list"
    return {"lead": lead, "field": field, "message": message}


def _summary(problems: list[dict[str, Any]]) -> str:
    """The first problem in words, and how many more there are."""
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
    return summary + more


def request_problems(
    exc: ValidationError, body: bytes, id_key: str = "lead_id", record: Iterable[str] = ()
) -> tuple[int, dict[str, Any]]:
    """(status, JSON error) for a request that failed validation: each problem names the lead
    (its index in `leads`, and its id when readable) and the field. `record`: the spec's
    timestamp and label columns (`record_fields`)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    for err in errors:
        if err["type"] == "json_invalid":  # before reading the body again: it may be too deep
            return _not_json(err["msg"])
    ids = _readable_ids(body, id_key)
    rules = {**dict.fromkeys(record, RECORD_RULE), id_key: ID_RULE}
    problems: list[dict[str, Any]] = []
    last = None
    for err in errors:
        problem = _problem(err, rules)
        if problem == last:
            continue  # each kind of value the field takes failed: one problem
        last, lead = problem, problem["lead"]
        if lead is not None and lead < len(ids) and ids[lead] is not None:
            problem = {**problem, "lead_id": ids[lead]}
        problems.append(problem)
    return 422, {"error": _summary(problems), "problems": problems}


def duplicate_leads(leads: list[dict[str, Any]], id_key: str) -> Problem | None:
    """The 422 for leads that share an id (leads without an id never do), naming both positions;
    None when every id is given once. `leadml predict` refuses duplicate ids too."""
    ids = [lead.get(id_key) for lead in leads]
    given = [v for v in ids if v is not None]
    if len(set(given)) == len(given):
        return None
    first: dict[Any, int] = {}
    problems = []
    for i, v in enumerate(ids):
        if v is None:
            continue
        if v in first:
            message = f"the same lead id as lead {first[v]}: send each lead once per request"
            problems.append({"lead": i, "field": id_key, "lead_id": v, "message": message})
        else:
            first[v] = i
    return Problem(422, {"error": _summary(problems), "problems": problems})
