"""The ceiling: a BentoML endpoint with the scoring API's own request model that returns a
constant (bench/serve.py serves it beside the real one, with the same BentoML settings and the
same fix for BentoML's request timers; LEADML_BENCH_AS_SHIPPED=1 leaves BentoML as shipped)."""

from __future__ import annotations

import os

from leadml.runtime import configure

configure()

import bentoml  # noqa: E402
from _bentoml_sdk.io_models import IOMixin  # noqa: E402
from starlette.responses import Response  # noqa: E402

from leadml.serving import RequestBody, request_models  # noqa: E402
from leadml.serving.gate import release_request_timers  # noqa: E402
from leadml.spec import load_spec  # noqa: E402

AS_SHIPPED = os.environ.get("LEADML_BENCH_AS_SHIPPED") == "1"  # BentoML without leadml's fix
if not AS_SHIPPED:
    release_request_timers()
spec = load_spec(os.environ.get("LEADML_BENCH_SPEC", "features/lead_features.yaml"))


class _Parsed(IOMixin, RequestBody):
    pass


ScoreRequest, _ = request_models(spec, base=_Parsed)
CONSTANT = b'{"leads": [{"probability": 0.5}]}'


@bentoml.service(
    name="trivial",
    workers=int(os.environ.get("LEADML_WORKERS", "1")),
    logging={"access": {"enabled": os.environ.get("LEADML_ACCESS_LOG", "0") in ("1", "true")}},
)
class Trivial:
    def __init__(self) -> None:
        if not AS_SHIPPED:  # as the scoring API does
            import gc

            gc.collect()
            gc.freeze()

    @bentoml.api(route="/score", input_spec=ScoreRequest)
    async def score(self, leads: list, explain: bool, reasons: int):
        return Response(CONSTANT, media_type="application/json")
