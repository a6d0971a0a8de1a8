"""The scoring API's front door: API keys, request size and content type, as ASGI middleware.

Checked before the framework parses anything, so a client's mistake costs almost nothing and
always gets a 4xx with a JSON error.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from bentoml._internal.server.http import traffic  # bentoml is pinned: 1.4.39
from starlette.responses import JSONResponse

from leadml.errors import ConfigError

OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz"})  # health checks need no key
KEYS_ENV, KEYS_FILE_ENV = "LEADML_API_KEYS", "LEADML_API_KEYS_FILE"
MIN_KEY_LENGTH = 16
TWO_FRAMINGS = "send the body with either Content-Length or Transfer-Encoding: chunked, not both"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def load_api_keys(environ: Mapping[str, str] | None = None) -> list[str]:
    """API keys from `LEADML_API_KEYS` (comma-separated) and the file `LEADML_API_KEYS_FILE`
    names (one a line; blank lines and `#` comments skipped). Several keys at once let a key be
    rotated without downtime."""
    env = os.environ if environ is None else environ
    keys = [k.strip() for k in env.get(KEYS_ENV, "").split(",") if k.strip()]
    if path := env.get(KEYS_FILE_ENV):
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"{KEYS_FILE_ENV}={path}: no such file")
        for line in file.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                keys.append(line)
    short = [k for k in keys if len(k) < MIN_KEY_LENGTH]
    if short:
        raise ConfigError(
            f"{len(short)} API key(s) shorter than {MIN_KEY_LENGTH} characters in {KEYS_ENV} or "
            f"{KEYS_FILE_ENV}; use long random keys, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'` prints one "
            "(`leadml serve --dev-key` creates a development key in .leadml/dev_api_keys)"
        )
    return keys


def key_matches(given: bytes, keys: Iterable[bytes]) -> bool:
    """Constant-time comparison against every key (no early exit on the first match)."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key)
    return found


async def _reply(send: Send, status: int, payload: dict[str, Any], headers=()) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ApiGate:
    """ASGI middleware: 401 without a valid `Authorization: Bearer KEY` (except health checks and
    `open_paths`), 415 for a body that is not JSON, 413 for a body over `max_body` bytes, 400 for
    a body framed two ways at once.

    With no keys, every request passes the key check (the service refuses to start that way
    unless run in insecure development mode).
    """

    def __init__(self, app: Any, keys: list[str], max_body: int, open_paths: Iterable[str] = ()):
        self.app = app
        self.keys = [k.encode() for k in keys]
        self.max_body = max_body
        self.open_paths = OPEN_PATHS | frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self.keys:
            auth = headers.get(b"authorization", b"")
            scheme, _, given = auth.partition(b" ")
            if scheme.lower() != b"bearer" or not key_matches(given.strip(), self.keys):
                await _reply(
                    send,
                    401,
                    {"error": "a valid API key is required: send 'Authorization: Bearer <key>'"},
                    [(b"www-authenticate", b'Bearer realm="leadml"')],
                )
                return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        media = headers.get(b"content-type", b"application/json").split(b";")[0].strip().lower()
        if media != b"application/json":
            await _reply(
                send,
                415,
                {"error": f"send the body as application/json, not {media.decode('latin-1')}"},
            )
            return
        length = headers.get(b"content-length")
        if length is not None and b"transfer-encoding" in headers:
            # the server reads the chunks, however many, not the length: refuse the pair
            await _reply(send, 400, {"error": TWO_FRAMINGS})
            return
        if length is not None:
            if not length.isdigit() or int(length) > self.max_body:
                await _reply(send, 413, self._too_big())
                return
            await self.app(scope, receive, send)  # the server reads no more than the length
            return
        # No length (chunked): read the body here, bounded, then hand it on.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _reply(send, 413, self._too_big())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_big(self) -> dict[str, str]:
        return {
            "error": f"the request body is larger than {self.max_body:,} bytes; "
            "send fewer leads per request"
        }


def release_request_timers() -> None:
    """Make BentoML's request timeout cancel its timer when the request is done.

    BentoML 1.4.39's TimeoutMiddleware schedules `loop.call_later(timeout, ...)` for every
    request and never cancels it; the timer keeps the request's context (tracing span, futures)
    alive for the whole timeout (60 s). At ~1,000 requests/s that is ~1M live objects, and each
    full garbage collection then stops the worker for 100-200 ms: the p99 latency. This is the
    same middleware with the timer cancelled at the end of the request, and an app that fails
    before it answers raising at once (BentoML's waits for the timeout and then answers nothing).
    """

    async def call(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

        def _answered(_=None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        async def _send(message) -> None:
            _answered()
            await send(message)

        fut = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
        fut.add_done_callback(_answered)  # failed before answering: raise now, not in 60 s
        try:
            await waiter
        except TimeoutError:
            if fut.cancel():
                message = f"Not able to process the request in {self.timeout} seconds"
                await JSONResponse({"error": message}, status_code=504)(scope, receive, send)
        else:
            await fut
        finally:
            timer.cancel()

    traffic.TimeoutMiddleware.__call__ = call  # type: ignore[method-assign]
