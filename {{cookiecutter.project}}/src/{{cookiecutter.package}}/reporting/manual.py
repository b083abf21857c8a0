"""Manual: docs/deployment_manual.md and docs/openapi.json, rendered from the service itself.

The endpoints and schemas come from the service's OpenAPI document, the examples from real
requests to the service's app in-process, the settings from .env.example. tests/service checks
that the committed manual equals a fresh rendering, so it cannot drift from the service.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from ..core import labels, paths
from ..core.requestids import RequestIds
from ..core.settings import Settings
from ..serving.api import Runtime, create_app, openapi_document
from ..serving.feedback import FeedbackStore
from ..serving.guard import Guard
from ..serving.predictionlog import FIELDS, PREDICTIONS, PredictionLog
from ..serving.predictor import Predictor
from .render import render

VERSION = "<model_version>-<git_commit>"  # the real value depends on the commit; see /metadata
EXAMPLE_SOURCE = ("annotators", "the-manual-example-token")  # pragma: allowlist secret (an example)
EXAMPLE_TIME = 1796083200  # 2026-12-01T00:00:00Z: the examples' ids are signed at a fixed time


class ExampleIds(RequestIds):
    """Real signed ids, but the same at every rendering: a fixed key, time and nonce (real ones are random)."""

    def mint(self, records: int, issued: float, nonce: bytes | None = None) -> str:
        return super().mint(records, EXAMPLE_TIME, bytes(8))


def env_settings(path: Path = paths.ENV_EXAMPLE) -> list[list[str]]:
    """[`name`, `default`, comment] for every variable in .env.example."""
    if not path.exists():
        raise SystemExit(f"error: no {path} — restore it (`git checkout -- {path}`); the manual lists its variables")
    rows, comment = [], []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            comment.append(line.lstrip("# ").strip())
        elif "=" in line:
            name, _, default = line.partition("=")
            rows.append([f"`{name.strip()}`", f"`{default.strip()}`", " ".join(comment)])
            comment = []
        else:
            comment = []
    return rows


def field_rows(document: dict[str, Any]) -> list[list[str]]:
    """[`field`, type, rule] for every field of one record in the OpenAPI document."""
    rows = []
    for name, field in document["components"]["schemas"]["Record"]["properties"].items():
        kinds = [t.get("type") for t in field.get("anyOf", [field]) if t.get("type") != "null"]
        first = field.get("anyOf", [{}])[0]
        bounds = " ".join(
            f"{sign} {first[key]:.6g}" for key, sign in (("minimum", "≥"), ("maximum", "≤")) if key in first
        )
        rows.append([f"`{name}`", f"{', '.join(kinds)} or null", bounds or field.get("description", "")])
    return rows


def exchange(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A real request through the app: its status and JSON answer."""
    response = client.post(path, json=body)
    return {"status": response.status_code, "json": json.dumps(response.json(), indent=2)}


def render_manual() -> tuple[str, dict[str, Any]]:
    """The manual's Markdown and the OpenAPI document, for the service's default settings."""
    defaults = Settings()  # the manual documents the defaults, whatever this shell has set
    predictor = Predictor.load()
    schema = predictor.schema
    document = openapi_document(VERSION, schema, defaults.max_records)
    record = schema.example_records(1)[0]
    missing = next(iter(record))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log = PredictionLog(folder, VERSION)
        ids = ExampleIds(b"the manual's example key, never a deployment's")
        store = FeedbackStore(
            labels.open_store(None, folder), ids, tuple(predictor.classes), clock=lambda: EXAMPLE_TIME + 60.0
        )
        runtime = Runtime(predictor, {"version": VERSION}, defaults.max_records, log, store)
        app = Guard(create_app(runtime), None, defaults.max_body_bytes, (EXAMPLE_SOURCE,))
        with TestClient(app, headers={"authorization": f"Bearer {EXAMPLE_SOURCE[1]}"}) as client:
            ok = exchange(client, "/predict", {"records": [record]})
            log.close()
            label = predictor.classes[0] if predictor.classes else 0.0
            feedback = {"request_id": json.loads(ok["json"])["request_id"], "label": label}
            accepted = exchange(client, "/feedback", feedback)
            duplicate = exchange(client, "/feedback", feedback)
            proba = exchange(client, "/predict_proba", {"records": [record]}) if schema.classification else None
            bad = exchange(client, "/predict", {"records": [{k: v for k, v in record.items() if k != missing}]})
        store.labels.close()
        line = json.loads(next((folder / PREDICTIONS).glob("*.jsonl")).read_text().splitlines()[0])
    line.update(time="<time>", latency_ms="<latency_ms>")  # what varies from one request to the next
    endpoints = [
        [method.upper(), f"`{path}`", operation["summary"]]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]
    endpoints.append(["GET", "`/openapi.json`", "this API's OpenAPI document (also `docs/openapi.json`)"])
    text = render(
        "deployment_manual.md.j2",
        package=(__package__ or "").rpartition(".")[0],
        task=schema.task,
        endpoints=endpoints,
        fields=field_rows(document),
        request=json.dumps({"records": [record]}),
        ok=ok,
        proba=proba,
        bad=bad,
        log_line=json.dumps(line, indent=2),
        log_fields=[[f"`{name}`", meaning] for name, meaning in FIELDS.items()],
        feedback_request=json.dumps(feedback),
        accepted=accepted,
        duplicate=duplicate,
        missing=missing,
        defaults=defaults,
        settings=env_settings(),
        artifacts=", ".join(f"`{p}` {Path(p).stat().st_size / 1024:.0f} KiB" for p in (paths.MODEL, paths.TRANSFORMER)),
    )
    return text, document
