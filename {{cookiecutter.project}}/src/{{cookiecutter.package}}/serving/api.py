"""API: the service's lean HTTP hot path (Starlette), mounted inside the BentoML service.

`create_app(runtime)` builds the app from what it serves (the predictor, the metadata, the
request limit); the BentoML service hands its runtime over once the worker has loaded it. The
request is parsed and validated by pydantic in one step and the Predictor is called directly:
BentoML's own request machinery costs more CPU than the default model (see docs/benchmarks.md
of the template for the measured figures).

Every answer carries a signed request id (body `request_id`, header `x-request-id`; format in
core/requestids.py) that any replica sharing the signing key verifies when feedback names it.
GET /metrics (served here when BentoML's own metrics are off) is open like the health checks:
Prometheus scrapes pods from inside the cluster, usually without credentials, and the text holds
counters of the log writer, not inputs, outputs or labels; the API key stays with the clients.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..core.requestids import PATTERN, RequestIds
from ..core.schema import Schema
from .feedback import Batch, FeedbackStore, Rejected
from .guard import SOURCE_KEY
from .predictionlog import Entry
from .predictor import Predictor, record_model

RequestId = Annotated[str, Field(pattern=PATTERN, description="this request's signed id (also `x-request-id`)")]
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus' text exposition format


class Log(Protocol):
    """What the API needs of the prediction log (serving/predictionlog.PredictionLog)."""

    def put(self, entry: Entry) -> None: ...

    def metrics_text(self) -> str: ...


@functools.cache
def request_model(record: type[BaseModel], max_records: int) -> type[BaseModel]:
    """The request body: one record object, or a list of 1 to `max_records` records."""

    class PredictRequest(BaseModel):
        """Records to score: `{"records": [record, ...]}`, or `{"records": record}` for one."""

        model_config = ConfigDict(extra="forbid", strict=True)
        records: Annotated[list[record], Field(min_length=1, max_length=max_records)]  # type: ignore[valid-type]

        @field_validator("records", mode="before")
        @classmethod
        def one_record_is_a_list_of_one(cls, value: Any) -> Any:
            return [value] if isinstance(value, dict) else value

    return PredictRequest


class PredictResponse(BaseModel):
    predictions: list[str | int | float | None]
    model_version: str
    request_id: RequestId


class ProbaResponse(BaseModel):
    probabilities: list[dict[str, float]]
    model_version: str
    request_id: RequestId


@dataclass(frozen=True)
class Runtime:
    """What one worker serves: the predictor, its metadata (`/metadata`), the request limit, and
    where answers and feedback go (no log: nothing is written; no store: /feedback is off).
    Request ids are signed with `ids`, by default the feedback store's (else a key of this runtime)."""

    predictor: Predictor
    info: dict[str, Any]
    max_records: int
    log: Log | None = None
    feedback: FeedbackStore | None = None
    ids: RequestIds | None = None
    request: type[BaseModel] = field(init=False)
    signer: RequestIds = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "request", request_model(self.predictor.record, self.max_records))
        signer = self.ids or (self.feedback.ids if self.feedback else RequestIds.ephemeral())
        object.__setattr__(self, "signer", signer)

    @property
    def version(self) -> str:
        return str(self.info.get("version", "dev"))

    @functools.cached_property
    def openapi(self) -> dict[str, Any]:
        """This runtime's OpenAPI document, built once (each build makes new pydantic classes)."""
        return openapi_document(self.version, self.predictor.schema, self.max_records)


def error(status: int, message: str, detail: list[dict[str, str]] | None = None) -> JSONResponse:
    """A 4xx answer that names what was wrong."""
    return JSONResponse({"error": message, "detail": detail or []}, status_code=status)


def runtime_of(request: Request) -> Runtime:
    state: Runtime = request.app.state.runtime
    return state


def problems(exc: ValidationError) -> list[dict[str, str]]:
    """What a validation found wrong, one entry per error: the field (dotted path), the rule, the message."""
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "rule": e["type"], "message": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


async def parse(request: Request, rt: Runtime) -> list[dict[str, Any]] | JSONResponse:
    """Validated records as plain dicts keyed by feature name, or the 4xx answer explaining why not."""
    try:
        body = rt.request.model_validate_json(await request.body())
    except ValidationError as exc:
        detail = problems(exc)
        return error(400, f"invalid request: {detail[0]['field']}: {detail[0]['message']}", detail)
    return [r.model_dump(by_alias=True) for r in body.records]  # type: ignore[attr-defined]


async def answer(
    request: Request, endpoint: str, key: str, score: Callable[[list[dict[str, Any]]], list[Any]]
) -> JSONResponse:
    """Parse, score, log (off the request path) and answer, with the request id in body and header."""
    started, arrived = time.perf_counter(), time.time()
    rt = runtime_of(request)
    records = await parse(request, rt)
    request_id = rt.signer.mint(len(records) if isinstance(records, list) else 0, arrived)
    if isinstance(records, JSONResponse):
        outputs: list[Any] | str = json.loads(bytes(records.body))["error"]
        response = records
        response.headers["x-request-id"] = request_id
    else:
        outputs = score(records)
        body = {key: outputs, "model_version": rt.version, "request_id": request_id}
        response = JSONResponse(body, headers={"x-request-id": request_id})
    if rt.log is not None:
        latency = (time.perf_counter() - started) * 1000
        rt.log.put(
            (
                request_id,
                arrived,
                endpoint,
                response.status_code,
                latency,
                records if isinstance(records, list) else [],
                outputs,
            )
        )
    return response


async def predict(request: Request) -> JSONResponse:
    return await answer(request, "predict", "predictions", runtime_of(request).predictor.predict)


async def predict_proba(request: Request) -> JSONResponse:
    rt = runtime_of(request)
    if not rt.predictor.classes:
        return error(404, "this model is a regressor: it has no class probabilities — use /predict")
    return await answer(request, "predict_proba", "probabilities", rt.predictor.predict_proba)


async def feedback(request: Request) -> JSONResponse:
    """Store ground truth for answered requests, under the source whose feedback token the guard matched."""
    store = runtime_of(request).feedback
    if store is None:
        return error(404, "feedback is off in this service: it runs without a monitoring folder")
    source = request.scope.get("state", {}).get(SOURCE_KEY)
    if not isinstance(source, str):  # only the guard sets it: without it nobody vouched for the labels
        return error(401, "missing or wrong feedback token: send `Authorization: Bearer <your source's token>`")
    body = await request.body()
    try:
        stored = await run_in_threadpool(store.add, body, source)
    except Rejected as exc:
        return error(exc.status, exc.message)
    return JSONResponse({"accepted": stored}, status_code=201)


async def metrics(request: Request) -> Response:
    """The log writer's counters in Prometheus' text format (BentoML serves /metrics itself when its metrics are on)."""
    log = runtime_of(request).log
    return Response(log.metrics_text() if log is not None else "", media_type=METRICS_TYPE)


async def metadata(request: Request) -> JSONResponse:
    return JSONResponse(runtime_of(request).info)


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(runtime_of(request).openapi)


def openapi_document(version: str, schema: Schema, max_records: int) -> dict[str, Any]:
    """The OpenAPI 3.1 document of this API, generated from the pydantic models of the schema."""
    request = request_model(record_model(schema), max_records)
    components: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        document = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
        components.update(document.pop("$defs", {}))
        components[model.__name__] = document
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def post(summary: str, response: type[BaseModel]) -> dict[str, Any]:
        return {
            "post": {
                "summary": summary,
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref(request)}}},
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": ref(response)}}},
                    "400": {"description": "invalid request: the error names the field and the rule"},
                    "401": {"description": "missing or wrong API key (when MODELOPS_API_KEY is set)"},
                    "413": {"description": "request body above MODELOPS_MAX_BODY_BYTES"},
                },
            }
        }

    paths = {
        "/predict": post("Predict one value per record", PredictResponse),
        **({"/predict_proba": post("Class probabilities per record", ProbaResponse)} if schema.classification else {}),
        "/feedback": {
            "post": {
                "summary": "Ground truth for answered requests (feedback token, not the API key)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref(Batch)}}},
                "responses": {
                    "201": {"description": 'stored: `{"accepted": n}`'},
                    "400": {"description": "malformed: the error names the field"},
                    "401": {"description": "missing or wrong feedback token (MODELOPS_FEEDBACK_TOKENS)"},
                    "404": {
                        "description": "unknown request_id: not issued by this service (forged, altered, other key)"
                    },
                    "409": {"description": "that record is already labelled (by any replica)"},
                    "410": {
                        "description": "the request is older than the log's retention (MODELOPS_LOG_RETENTION_DAYS)"
                    },
                    "422": {
                        "description": "label of the wrong type, outside the known classes or not a finite number;"
                        " index beyond the request"
                    },
                    "503": {"description": "the labels store is unavailable: nothing stored, send again"},
                },
            }
        },
        "/metadata": {"get": {"summary": "Model version, data hashes, git commit, metrics, build time"}},
        "/metrics": {"get": {"summary": "Prometheus metrics: the prediction log's counters (no API key needed)"}},
        "/healthz": {"get": {"summary": "Liveness (no API key needed)"}},
        "/readyz": {"get": {"summary": "Readiness: 200 once the model is loaded (no API key needed)"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": (__package__ or "").rpartition(".")[0], "version": version},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def create_app(runtime: Runtime | None = None) -> Starlette:
    """The API app; `runtime` now (tests, the manual) or later, once a worker has loaded it (the service)."""
    app = Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/predict_proba", predict_proba, methods=["POST"]),
            Route("/feedback", feedback, methods=["POST"]),
            Route("/metadata", metadata, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ]
    )
    if runtime is not None:
        app.state.runtime = runtime
    return app
