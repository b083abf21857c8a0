"""The physical reference: the generated project's Predictor and request model behind bare uvicorn.

Same model, same feature path, same pydantic parsing as the service's hot path; no BentoML. From the
generated project's root, with BENCH_PACKAGE naming its package:
`uvicorn bare_app:create_app --factory --app-dir <this folder> --workers N` serves it, and
`python <this folder>/bare_app.py < records.json` prints the Predictor's own predictions.
"""

import json
import os
import sys

import generated_package
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def create_app(predictor: generated_package.Predictor | None = None) -> Starlette:
    """The app; `predictor` defaults to the generated project's, loaded as a service worker loads it."""
    package = os.environ["BENCH_PACKAGE"]
    predictor = predictor or generated_package.worker_predictor(package)
    body_model = generated_package.request_model(package, predictor)

    async def predict(request: Request) -> JSONResponse:
        try:
            body = body_model.model_validate_json(await request.body())
        except ValidationError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        records = [r.model_dump(by_alias=True) for r in body.records]
        return JSONResponse({"predictions": predictor.predict(records)})

    async def ready(request: Request) -> JSONResponse:
        return JSONResponse({"ready": True})

    return Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/readyz", ready)])


if __name__ == "__main__":
    predictor = generated_package.load_predictor(os.environ["BENCH_PACKAGE"])
    print(json.dumps(predictor.predict(json.load(sys.stdin))))
