"""Service client: the one way the project's commands call a running service over HTTP (smoke test, canary).

Standard library only: the in-cluster Jobs run it from the image, which carries the runtime lock alone.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def call(url: str, api_key: str | None, body: object | None = None, timeout: float = 10.0) -> tuple[int, Any]:
    """GET (or POST `body` as JSON) `url` with the API key as a bearer token: (status, the answer's JSON, or
    its text when it is not JSON — the health checks and /metrics answer plain text). An HTTP error is
    (its status, None); a service that cannot be reached is (0, the reason)."""
    headers = {"content-type": "application/json"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except OSError as exc:
        return 0, str(exc)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")
