"""Guard: API-key check and request-size limit in front of every endpoint but the health checks and metrics.

`/feedback` takes a feedback token instead of the API key: feedback becomes training data, so
it is never open — without a configured token every feedback request is refused. Each labelling
source has its own token (MODELOPS_FEEDBACK_TOKENS); the token presented is compared with every
configured one in constant time, and the source it belongs to goes with the request
(`scope["state"]["feedback_source"]`): the server, not the body, says who labelled. `/metrics` is
open like the probes: Prometheus scrapes pods without the clients' key, and it holds counters only.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})
FEEDBACK_PATH = "/feedback"
SOURCE_KEY = "feedback_source"  # in scope["state"]: the labelling source whose token the request carries


class Guard:
    """Pure ASGI middleware: 401 without the configured key, 413 above the body limit."""

    def __init__(
        self,
        app: ASGIApp,
        api_key: str | None,
        max_body_bytes: int,
        feedback_tokens: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.feedback_tokens = tuple((source, token.encode()) for source, token in feedback_tokens)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if scope["path"] == FEEDBACK_PATH:
            if not self.feedback_tokens:
                return await _reply(send, 401, "feedback is closed: the service has no MODELOPS_FEEDBACK_TOKENS set")
            source = _source(headers, self.feedback_tokens)
            if source is None:
                return await _reply(
                    send, 401, "missing or wrong feedback token: send `Authorization: Bearer <your source's token>`"
                )
            scope = {**scope, "state": {**scope.get("state", {}), SOURCE_KEY: source}}  # this request's own copy
        elif self.api_key is not None and not _matches(headers, self.api_key):
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            return await _reply(send, 401, "missing or wrong API key: send `Authorization: Bearer <key>`")
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return await _reply(send, 400, "content-length is not a number")
            if int(length) > self.max_body_bytes:
                return await _reply(send, 413, f"request body above {self.max_body_bytes} bytes")
            return await self.app(scope, receive, send)
        body = b""  # no content-length (chunked): read it here, bounded, then replay it
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                return await _reply(send, 413, f"request body above {self.max_body_bytes} bytes")
            if not message.get("more_body"):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


def _presented(headers: dict[bytes, bytes]) -> bytes:
    """The bearer token of the request (or its x-api-key header)."""
    given = headers.get(b"authorization", b"")
    return given[7:] if given[:7].lower() == b"bearer " else headers.get(b"x-api-key", b"")


def _matches(headers: dict[bytes, bytes], secret: bytes) -> bool:
    """The request carries `secret` as a bearer token (or an x-api-key header)."""
    return hmac.compare_digest(_presented(headers), secret)


def _source(headers: dict[bytes, bytes], tokens: tuple[tuple[str, bytes], ...]) -> str | None:
    """The source whose token the request carries: every token is compared, in constant time, whichever
    matches, so the time taken tells nothing about which source (or how much of a token) was right."""
    given = _presented(headers)
    found = None
    for source, token in tokens:
        if hmac.compare_digest(given, token):
            found = source
    return found


async def _reply(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
