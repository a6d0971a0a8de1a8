"""The API's documentation for a CRM integrator: the page at /docs (Swagger UI from the files
BentoML ships, nothing fetched from outside the server: no remote script, font or tag) and the
OpenAPI document at /docs.json, with leadml's title, the contract generated from the feature
spec, and the bearer scheme, so the page's "Authorize" sends the API key with each call.

Neither needs a key: they describe the request contract (fields, types, allowed values), never a
lead, a score or the model, and a browser cannot send a key to open a page. Every call the page
makes for the integrator (score, rules, model, metrics) needs the key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bentoml._internal import server as bentoml_server  # bentoml is pinned: 1.4.39
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from leadml.spec.features import FeatureSpec

SWAGGER_UI = Path(bentoml_server.__file__).parent / "static_content"  # shipped with BentoML
PAGE, DOCUMENT, START = "/docs", "/docs.json", "/"
SCRIPT = "/docs/docs.js"
ASSETS = {  # path -> the Swagger UI file BentoML ships, and its media type
    "/docs/swagger-ui.css": ("swagger-ui.css", "text/css"),
    "/docs/swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript"),
}
DOCS_PATHS = frozenset({START, PAGE, DOCUMENT, SCRIPT, *ASSETS})
SCHEME = "bearer"
TITLE = "leadml lead-scoring API"
# Only this server: no remote script, style, font, image, frame or connection.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

_PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>{title}</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="docs/swagger-ui.css">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="docs/swagger-ui-bundle.js"></script>
    <script src="docs/docs.js"></script>
  </body>
</html>
"""
# validatorUrl: null, else Swagger UI asks validator.swagger.io about the document
_SCRIPT = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "docs.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
};
"""
_DESCRIPTION = """Scores leads with the registered lead model, the agreed rules' verdict beside each
score: per lead, the calibrated probability of becoming sales-ready, the band, the reasons and
the rules' points and verdict. Feature spec: **{title}** (version {version}); every lead field
below is described as sales and marketing reviewed it.

Every call but health and these docs needs an API key: send `Authorization: Bearer <key>`
(here: **Authorize**). Client mistakes get a 4xx JSON error naming the lead and the field."""


def docs_page() -> str:
    """The documentation page: Swagger UI from this server's files, nothing from elsewhere."""
    return _PAGE.format(title=TITLE)


def openapi_document(
    framework: dict[str, Any], spec: FeatureSpec, open_paths: Iterable[str] = ()
) -> dict[str, Any]:
    """The framework's OpenAPI document (a dict) with leadml's title and description and the
    bearer scheme, required everywhere but `open_paths`. The framework's stays unchanged."""
    doc = dict(framework)
    doc["info"] = {
        "title": TITLE,
        "description": _DESCRIPTION.format(title=spec.title, version=spec.spec_version),
        "version": f"spec {spec.spec_version}",
    }
    doc["tags"] = [
        {"name": "Service APIs", "description": "Lead scores and the agreed rules."},
        {"name": "Infrastructure", "description": "Health checks and Prometheus metrics."},
    ]
    components = dict(doc.get("components", {}))
    components["securitySchemes"] = {
        SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from the service's LEADML_API_KEYS or LEADML_API_KEYS_FILE.",
        }
    }
    doc["components"] = components
    doc["security"] = [{SCHEME: []}]
    opened = frozenset(open_paths)
    doc["paths"] = {
        path: _without_key(item) if path in opened else item
        for path, item in doc.get("paths", {}).items()
    }
    return doc


def _without_key(item: dict[str, Any]) -> dict[str, Any]:
    """A path's operations marked as needing no key."""
    return {
        method: {**op, "security": []} if isinstance(op, dict) else op
        for method, op in item.items()
    }


def docs_routes(document: Callable[[], dict[str, Any]]) -> list[BaseRoute]:
    """The routes of the documentation: the page, its files, the OpenAPI document (`document()`,
    built on first request and kept), and `/` leading to the page."""
    page = docs_page()
    document = functools.cache(document)

    async def show_page(_: Request) -> Response:
        return HTMLResponse(page, headers={"content-security-policy": POLICY})

    async def show_document(_: Request) -> Response:
        return JSONResponse(document())

    async def show_script(_: Request) -> Response:
        return Response(_SCRIPT, media_type="text/javascript")

    async def to_page(_: Request) -> Response:
        return RedirectResponse(PAGE.lstrip("/"))

    def asset(name: str, media: str) -> Callable[[Request], Any]:
        async def show(_: Request) -> Response:
            return FileResponse(SWAGGER_UI / name, media_type=media)

        return show

    return [
        Route(PAGE, show_page, methods=["GET"], include_in_schema=False),
        Route(DOCUMENT, show_document, methods=["GET"], include_in_schema=False),
        Route(SCRIPT, show_script, methods=["GET"], include_in_schema=False),
        Route(START, to_page, methods=["GET"], include_in_schema=False),
        *(
            Route(path, asset(name, media), methods=["GET"], include_in_schema=False)
            for path, (name, media) in ASSETS.items()
        ),
    ]
