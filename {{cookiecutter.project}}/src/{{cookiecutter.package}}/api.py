"""API: the service's lean HTTP hot path (Starlette), mounted inside the BentoML service.

BentoML's own request machinery costs ~1 ms of CPU per request; this path parses and validates
with pydantic in one step and calls the Predictor directly (figures in docs/deployment_manual.md).
"""

from __future__ import annotations

import functools
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .serving import Predictor, record_model
from .settings import Settings

SETTINGS = Settings.from_env()


@functools.cache
def request_model(record: type[BaseModel], max_records: int) -> type[BaseModel]:
    """The request body: one record object, or a list of 1 to `max_records` records."""

    class PredictRequest(BaseModel):
        """Records to score: `{"records": [record, ...]}`, or `{"records": record}` for one."""

        model_config = ConfigDict(extra="forbid", strict=True)
        records: Annotated[list[record], Field(min_length=1, max_length=max_records)]

        @field_validator("records", mode="before")
        @classmethod
        def one_record_is_a_list_of_one(cls, value):
            return [value] if isinstance(value, dict) else value

    return PredictRequest


class PredictResponse(BaseModel):
    predictions: list[str | int | float | None]
    model_version: str


class ProbaResponse(BaseModel):
    probabilities: list[dict[str, float]]
    model_version: str


class State:
    """What the BentoML service loaded in this worker: the predictor and the metadata."""

    predictor: Predictor | None = None
    info: dict = {}


def error(status: int, message: str, detail: list | None = None) -> JSONResponse:
    """A 4xx answer that names what was wrong."""
    return JSONResponse({"error": message, "detail": detail or []}, status_code=status)


async def parse(request: Request) -> list[dict] | JSONResponse:
    """Validated records as plain dicts keyed by feature name, or the 4xx answer explaining why not."""
    try:
        body = request_model(State.predictor.record, SETTINGS.max_records).model_validate_json(await request.body())
    except ValidationError as exc:
        detail = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "rule": e["type"], "message": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        return error(400, f"invalid request: {detail[0]['field']}: {detail[0]['message']}", detail)
    return [r.model_dump(by_alias=True) for r in body.records]


async def predict(request: Request) -> JSONResponse:
    records = await parse(request)
    if isinstance(records, JSONResponse):
        return records
    return JSONResponse({"predictions": State.predictor.predict(records), "model_version": State.info["version"]})


async def predict_proba(request: Request) -> JSONResponse:
    if not State.predictor.classes:
        return error(404, "this model is a regressor: it has no class probabilities — use /predict")
    records = await parse(request)
    if isinstance(records, JSONResponse):
        return records
    probabilities = State.predictor.predict_proba(records)
    return JSONResponse({"probabilities": probabilities, "model_version": State.info["version"]})


async def metadata(request: Request) -> JSONResponse:
    return JSONResponse(State.info)


async def openapi(request: Request) -> JSONResponse:
    version = State.info.get("version", "dev")
    return JSONResponse(openapi_document(version, State.predictor.schema, SETTINGS.max_records))


def openapi_document(version: str, schema: dict, max_records: int) -> dict:
    """The OpenAPI 3.1 document of this API, generated from the pydantic models of the schema."""
    classifier = schema["task"] == "classification"
    request = request_model(record_model(schema), max_records)
    components: dict = {}

    def ref(model: type[BaseModel]) -> dict:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def post(summary: str, response: type[BaseModel]) -> dict:
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
        **({"/predict_proba": post("Class probabilities per record", ProbaResponse)} if classifier else {}),
        "/metadata": {"get": {"summary": "Model version, data hashes, git commit, metrics, build time"}},
        "/healthz": {"get": {"summary": "Liveness (no API key needed)"}},
        "/readyz": {"get": {"summary": "Readiness: 200 once the model is loaded (no API key needed)"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": __package__, "version": version},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


app = Starlette(
    routes=[
        Route("/predict", predict, methods=["POST"]),
        Route("/predict_proba", predict_proba, methods=["POST"]),
        Route("/metadata", metadata, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
)
