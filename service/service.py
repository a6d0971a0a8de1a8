"""The lead-scoring API a CRM calls: BentoML around `leadml.serving` (see service/README.md).

Start it with `leadml serve` or `make serve`. Settings come from the environment
(`LEADML_MODEL`, `LEADML_MODEL_NAME`, `MLFLOW_TRACKING_URI`, `LEADML_API_KEYS`, ...). The model is
loaded by alias or version when this module is imported, before the server takes requests:
the request models are generated from that model's feature spec.
"""

from __future__ import annotations

import gc
import logging
import sys

from leadml.runtime import configure

configure()

import bentoml  # noqa: E402
import orjson  # noqa: E402
from _bentoml_sdk.io_models import IOMixin  # noqa: E402  (bentoml is pinned: 1.4.39)
from fastapi import FastAPI  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402

from leadml.errors import LeadmlError  # noqa: E402
from leadml.serving import (  # noqa: E402
    Problem,
    RequestBody,
    ServiceSettings,
    load_api,
    request_models,
)
from leadml.serving.docs import DOCS_PATHS, docs_routes, openapi_document  # noqa: E402
from leadml.serving.gate import OPEN_PATHS, ApiGate, release_request_timers  # noqa: E402
from leadml.serving.logs import summarise_client_mistakes  # noqa: E402
from leadml.serving.metrics import count_score_log, label_unknown_paths  # noqa: E402
from leadml.serving.outcomes import OutcomesRequest, record_outcomes  # noqa: E402

log = logging.getLogger("leadml.service")
release_request_timers()
summarise_client_mistakes()

try:
    settings = ServiceSettings.from_env()
    core = load_api(settings)
except LeadmlError as exc:  # a clear line, not a traceback, and the server does not start
    print(f"leadml: the scoring API cannot start: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
if not settings.api_keys:
    log.warning("leadml: INSECURE development mode: no API key is required")


class _Problem(Response):
    """A client's mistake, answered as JSON with its 4xx status."""

    def __init__(self, status: int, payload: dict) -> None:
        super().__init__(orjson.dumps(payload), status_code=status, media_type="application/json")


class _Parsed(IOMixin, RequestBody):
    """Request parsing with leadml's errors: a 4xx naming the lead and the field. A request
    that fails carries its answer in `leads`, which the API returns as it is."""

    @classmethod
    async def from_http_request(cls, request: Request, serde) -> _Parsed:
        parsed = core.parse(cls, await request.body())
        if isinstance(parsed, Problem):
            fields = dict.fromkeys(cls.model_fields)
            return cls.model_construct(
                **{**fields, "leads": _Problem(parsed.status, parsed.payload)}
            )
        return parsed


ScoreRequest, RulesRequest = request_models(
    core.spec, settings.max_batch, settings.unknown_fields, base=_Parsed
)


def _json(payload: object) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json")


model_info = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@model_info.get("/model", summary="What is being served", tags=["Service APIs"])
def describe_model() -> dict:
    """Version, alias, training window, evaluation of the model and the agreed rules,
    threshold, band edges, spec hash and its sign-offs."""
    return core.describe()


@model_info.post(
    "/outcomes",
    summary="What became of scored leads",
    tags=["Service APIs"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": OutcomesRequest.model_json_schema()}},
        }
    },
)
async def outcomes(request: Request) -> Response:
    """Record outcomes in the score log: each a value of the spec's label definition; the same
    outcome twice is one outcome, a changed one is recorded with its time. Lead ids the log
    never scored are recorded and reported (`unknown_lead_ids`)."""
    body = await request.body()
    status, answer, headers = await run_in_threadpool(
        record_outcomes, body, core.spec, core.score_log
    )
    return Response(orjson.dumps(answer), status, headers, media_type="application/json")


@bentoml.asgi_app(model_info, path="/")
@bentoml.service(
    name="lead_qualifier",
    workers=settings.workers,
    traffic={"timeout": 60},
    logging={"access": {"enabled": settings.access_log}},
)
class LeadService:
    """Scores leads with the registered lead model, the agreed rules beside it."""

    def __init__(self) -> None:
        self.core = core
        self.core.start_recording(count=count_score_log)  # each worker records its own scores
        gc.collect()
        gc.freeze()  # the model, libraries and app stay out of every later garbage collection

    @bentoml.on_shutdown
    def _flush_score_log(self) -> None:
        """On SIGTERM: every queued score written to the score log, or spooled to disk."""
        self.core.stop_recording()

    def __is_ready__(self) -> bool:
        return self.core is not None

    @bentoml.api(route="/score", input_spec=ScoreRequest)
    async def score(self, leads: list, explain: bool, reasons: int):
        """Per lead, in order: probability, band, sales_ready, reasons, the agreed rules'
        points, fired rules, verdict and probability, agreement, warnings."""
        if isinstance(leads, _Problem):
            return leads
        return Response(
            self.core.score_json(leads, explain, reasons), media_type="application/json"
        )

    @bentoml.api(route="/rules", input_spec=RulesRequest)
    async def rules(self, leads: list):
        """The agreed rules alone: points, fired rules, verdict and probability per lead."""
        if isinstance(leads, _Problem):
            return leads
        return _json(self.core.rules_only(leads))


def _openapi() -> dict:
    """The OpenAPI document at /docs.json: BentoML's, with leadml's title and the bearer scheme."""
    return openapi_document(LeadService.openapi_spec.asdict(), core.spec, OPEN_PATHS)


model_info.router.routes.extend(docs_routes(_openapi))
label_unknown_paths(
    {
        *(api.route for api in LeadService.apis.values()),
        *(route.path for route in model_info.routes),
        *OPEN_PATHS,
        "/metrics",
    }
)
LeadService.add_asgi_middleware(
    ApiGate, keys=settings.api_keys, max_body=settings.max_body, open_paths=DOCS_PATHS
)
