"""Tests of core/serviceclient against a real HTTP server on loopback: JSON, text, an error status, no server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/readyz":
            self.reply(200, b"ok", "text/plain")
        else:
            self.reply(404, b'{"detail": "no such path"}', "application/json")

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        seen = {"body": body, "authorization": self.headers.get("authorization")}
        self.reply(200, json.dumps(seen).encode(), "application/json")

    def reply(self, status: int, data: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_json_text_an_error_and_no_server_each_come_back_as_status_and_answer(module, server):
    call = module("core.serviceclient").call
    assert call(f"{server}/predict", "key-1", {"records": [{"a": 1}]}) == (
        200,
        {"body": {"records": [{"a": 1}]}, "authorization": "Bearer key-1"},
    )
    assert call(f"{server}/predict", None, {"x": 1})[1]["authorization"] is None  # no key: no header
    assert call(f"{server}/readyz", None) == (200, "ok")
    assert call(f"{server}/nowhere", None) == (404, None)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status, reason = call(f"http://127.0.0.1:{port}/readyz", None, timeout=2)
    assert status == 0 and "refused" in reason.lower()
