"""Unit tests of serving/guard: the API key and the body limit, with the Guard in front of an echo app."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

KEY = "test-key-0123456789"
LIMIT = 1000  # the guard's body limit in these tests


def through_guard(
    pkg, path="/predict", headers=None, chunks=(b"",), api_key=KEY, content_length=True, feedback_tokens=()
):
    """Send one request through a Guard in front of an echo app: its status, answer, what the app received
    and the labelling source the guard attached (None when it attached none)."""
    received = []
    sources = []

    async def app(scope, receive, send):
        sources.append(scope.get("state", {}).get("feedback_source"))
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        received.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"reached"})

    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive():
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    headers = dict(headers or {})
    if content_length:
        headers["content-length"] = str(sum(len(c) for c in chunks))
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    guard = pkg.serving.guard.Guard(app, api_key=api_key, max_body_bytes=LIMIT, feedback_tokens=feedback_tokens)
    asyncio.run(guard(scope, receive, send))
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return SimpleNamespace(
        status=sent[0]["status"],
        answer=answer,
        received=received[0] if received else None,
        source=sources[0] if sources else None,
        scope=scope,
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"x-api-key": "wrong"},
        {"authorization": KEY},
        {"authorization": "Basic x"},
    ],
    ids=["no-key", "wrong-bearer", "wrong-x-api-key", "key-without-bearer", "basic-auth"],
)
def test_guard_refuses_a_missing_or_wrong_key(pkg, headers):
    result = through_guard(pkg, headers=headers)
    assert result.status == 401
    assert "API key" in json.loads(result.answer)["error"]
    assert result.received is None


@pytest.mark.parametrize(
    "headers",
    [{"authorization": f"Bearer {KEY}"}, {"authorization": f"bearer {KEY}"}, {"x-api-key": KEY}],
    ids=["bearer", "lowercase-bearer", "x-api-key"],
)
def test_guard_passes_the_right_key(pkg, headers):
    result = through_guard(pkg, headers=headers, chunks=(b'{"records": []}',))
    assert (result.status, result.received) == (200, b'{"records": []}')


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/metrics"])
def test_guard_leaves_the_health_checks_and_metrics_open(pkg, path):
    """Probes and Prometheus scrape without the clients' key; /metrics holds counters, not data."""
    assert through_guard(pkg, path=path).status == 200


def test_guard_without_a_configured_key_lets_everyone_in(pkg):
    assert through_guard(pkg, api_key=None).status == 200


def test_guard_checks_the_key_before_the_size(pkg):
    assert through_guard(pkg, chunks=(b"x" * (LIMIT + 1),)).status == 401


@pytest.mark.parametrize("content_length", [True, False], ids=["content-length", "chunked"])
def test_guard_refuses_a_body_above_the_limit(pkg, content_length):
    chunks = (b"x" * 600, b"x" * 401)
    result = through_guard(pkg, headers={"x-api-key": KEY}, chunks=chunks, content_length=content_length)
    assert result.status == 413
    assert str(LIMIT) in json.loads(result.answer)["error"]
    assert result.received is None


@pytest.mark.parametrize("content_length", [True, False], ids=["content-length", "chunked"])
def test_guard_passes_a_body_at_the_limit_intact(pkg, content_length):
    chunks = (b"a" * 300, b"b" * 300, b"c" * 400)
    result = through_guard(pkg, headers={"x-api-key": KEY}, chunks=chunks, content_length=content_length)
    assert result.status == 200
    assert result.received == b"".join(chunks)


def test_guard_refuses_a_content_length_that_is_not_a_number(pkg):
    result = through_guard(pkg, headers={"x-api-key": KEY, "content-length": "ten"}, content_length=False)
    assert result.status == 400 and result.received is None


@pytest.mark.parametrize(("headers", "reached"), [([], False), ([(b"x-api-key", KEY.encode())], True)])
def test_guard_closes_a_websocket_without_the_key(pkg, headers, reached):
    sent = []

    async def app(scope, receive, send):
        sent.append("reached")

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "websocket", "path": "/predict", "headers": headers}
    asyncio.run(pkg.serving.guard.Guard(app, api_key=KEY, max_body_bytes=LIMIT)(scope, receive, send))
    assert sent == (["reached"] if reached else [{"type": "websocket.close", "code": 1008}])


FEEDBACK_TOKEN = "feedback-token-9876543210"
TOKENS = (
    ("annotators", FEEDBACK_TOKEN),
    ("partner", "partner-token-0123456789"),
    ("simulator", "sim-token-abcdefghij"),
)


@pytest.mark.parametrize(
    ("token", "headers", "why"),
    [
        ((), {"authorization": f"Bearer {FEEDBACK_TOKEN}"}, "no MODELOPS_FEEDBACK_TOKENS"),  # feedback is never open
        (TOKENS, {}, "feedback token"),
        (TOKENS, {"authorization": f"Bearer {KEY}"}, "feedback token"),  # the prediction key is not enough
        (TOKENS, {"authorization": "Bearer wrong"}, "feedback token"),  # an invented source has no token
        (TOKENS, {"authorization": f"Bearer {FEEDBACK_TOKEN[:-1]}"}, "feedback token"),  # a prefix is not the token
    ],
)
def test_feedback_without_its_own_token_is_401_and_never_reaches_the_app(pkg, token, headers, why):
    answer = through_guard(pkg, path="/feedback", headers=headers, feedback_tokens=token)
    assert answer.status == 401 and why in json.loads(answer.answer)["error"]
    assert answer.received is None


def test_feedback_with_its_token_passes_without_the_api_key(pkg):
    headers = {"authorization": f"Bearer {FEEDBACK_TOKEN}"}
    answer = through_guard(pkg, path="/feedback", headers=headers, chunks=(b"{}",), feedback_tokens=TOKENS)
    assert answer.status == 200 and answer.received == b"{}"
    assert through_guard(pkg, path="/predict", headers=headers, feedback_tokens=TOKENS).status == 401


@pytest.mark.parametrize(("source", "token"), TOKENS)
def test_the_token_names_the_source_and_nothing_else_does(pkg, source, token):
    headers = {"authorization": f"Bearer {token}", "x-source": "someone-else"}
    answer = through_guard(pkg, path="/feedback", headers=headers, chunks=(b"{}",), feedback_tokens=TOKENS)
    assert (answer.status, answer.source) == (200, source)
    assert "state" not in answer.scope  # the source rides on the request's own copy of the scope, nobody else's
    assert through_guard(pkg, path="/predict", headers={"authorization": f"Bearer {KEY}"}).source is None


def test_every_configured_token_is_compared_in_constant_time_whichever_matches(pkg, monkeypatch):
    compared = []
    real = pkg.serving.guard.hmac.compare_digest

    def counting(given, token):
        compared.append(token)
        return real(given, token)

    monkeypatch.setattr(pkg.serving.guard.hmac, "compare_digest", counting)
    for _, token in (*TOKENS, ("nobody", "an-invented-token-0000")):
        compared.clear()
        through_guard(pkg, path="/feedback", headers={"authorization": f"Bearer {token}"}, feedback_tokens=TOKENS)
        assert sorted(compared) == sorted(t.encode() for _, t in TOKENS)  # all of them, no early exit


def test_a_refused_token_is_never_logged_nor_echoed(pkg, caplog):
    caplog.set_level("DEBUG")
    stolen_guess = "a-guessed-token-zzzzzzzz"
    answer = through_guard(
        pkg, path="/feedback", headers={"authorization": f"Bearer {stolen_guess}"}, feedback_tokens=TOKENS
    )
    assert answer.status == 401
    shown = caplog.text + answer.answer.decode()
    assert stolen_guess not in shown and not any(token in shown for _, token in TOKENS)
