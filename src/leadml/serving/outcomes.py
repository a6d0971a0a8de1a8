"""POST /outcomes without its framework: the CRM reports what became of scored leads. Each
outcome is checked against the spec's label definition (a 422 names the outcome and its lead);
the score log records it once (`ScoreLog.record_outcomes`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator

from leadml.data.check import label_codes, outside
from leadml.scorelog import ScoreLog
from leadml.scorelog.outcomes import DECIDED, ID, OUTCOME
from leadml.scorelog.store import ScoreLogError, utc
from leadml.serving.contract import ID_RULE, MAX_ID, MAX_ID_LENGTH, MIN_ID
from leadml.spec.features import FeatureSpec

MAX_OUTCOMES = 10_000  # outcomes in one request
EARLIEST, LATEST = datetime(1900, 1, 1), datetime(2200, 1, 1)  # decided_at: dates pandas holds
RETRY_AFTER = "30"  # seconds, when the score log does not answer

OutcomeId = (
    Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
    | Annotated[int, Strict(), Field(ge=MIN_ID, le=MAX_ID)]  # strict: not true, not 2.0
)


class Outcome(BaseModel):
    """What became of one lead."""

    model_config = ConfigDict(extra="forbid")
    lead_id: OutcomeId = Field(description=f"The lead's id, as it was scored: {ID_RULE}.")
    outcome: str | int | bool = Field(
        description="A value of the spec's label definition (its positive, negative or open "
        "values; open: not decided yet, not recorded)."
    )
    decided_at: datetime | None = Field(
        default=None, description="When it was decided (ISO 8601; UTC when no zone is given)."
    )

    @field_validator("decided_at")
    @classmethod
    def _a_date_of_ours(cls, value: datetime | None) -> datetime | None:
        if value is not None and not EARLIEST <= value.replace(tzinfo=None) <= LATEST:
            raise ValueError(f"a time between {EARLIEST:%Y} and {LATEST:%Y}")
        return value


class OutcomesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcomes: list[Outcome] = Field(min_length=1, max_length=MAX_OUTCOMES)


def record_outcomes(
    body: bytes, spec: FeatureSpec, score_log: ScoreLog | None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, JSON answer, headers) for a POST /outcomes body."""
    if score_log is None:
        return 501, {"error": "this server records no outcomes: its score log is off"}, {}
    try:
        request = OutcomesRequest.model_validate_json(body)
    except ValidationError as exc:
        return *_invalid(exc), {}
    sent = request.outcomes
    pos, still, bad = label_codes(pd.Series([o.outcome for o in sent], dtype=object), spec.label)
    if bad.any():
        problems = [
            {
                "outcome": int(i),
                "field": OUTCOME,
                "lead_id": sent[i].lead_id,
                "message": f"{sent[i].outcome!r} is not an outcome: {outside(spec.label)}",
            }
            for i in np.flatnonzero(bad)
        ]
        return 422, {"error": _summary(problems), "problems": problems}, {}
    keep = [i for i in range(len(sent)) if not still[i]]
    rows = pd.DataFrame(
        {
            ID: [str(sent[i].lead_id) for i in keep],
            OUTCOME: pos[keep].astype(np.int16),
            "value": [str(sent[i].outcome) for i in keep],
            DECIDED: pd.Series(
                [pd.NaT if (d := sent[i].decided_at) is None else utc(d) for i in keep],
                dtype="datetime64[ns, UTC]",
            ),
        }
    )
    try:
        counts = score_log.record_outcomes(rows, "api", int(still.sum()))
    except ScoreLogError as exc:
        answer = {"error": f"{exc}; nothing was recorded: send the outcomes again later"}
        return 503, answer, {"Retry-After": RETRY_AFTER}
    return 200, counts.as_dict(), {}


def _invalid(exc: ValidationError) -> tuple[int, dict[str, Any]]:
    problems = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        if err["type"] == "json_invalid":
            return 400, {"error": f"the body is not valid JSON: {err['msg']}", "problems": []}
        loc = list(err["loc"])
        index = (
            loc[1] if len(loc) > 1 and loc[0] == "outcomes" and isinstance(loc[1], int) else None
        )
        field = ".".join(str(p) for p in (loc[2:] if index is not None else loc)) or "body"
        problems.append({"outcome": index, "field": field.split(".")[0], "message": err["msg"]})
    return 422, {"error": _summary(problems), "problems": problems}


def _summary(problems: list[dict[str, Any]]) -> str:
    first = problems[0]
    where = f"outcome {first['outcome']}" if first.get("outcome") is not None else "the request"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}, {first['field']}: {first['message']}{more}"
