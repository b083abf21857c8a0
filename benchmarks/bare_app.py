"""The physical reference: the generated project's Predictor and request schema behind bare uvicorn.

Same model, same feature path, same pydantic validation as the service's hot path; no BentoML.
Run from the generated project's root: `uvicorn bare_app:app --app-dir <this folder>`.
"""

import importlib
import os

import sklearn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from threadpoolctl import threadpool_limits

api = importlib.import_module(f"{os.environ['BENCH_PACKAGE']}.api")
threadpool_limits(1)
sklearn.set_config(assume_finite=True)
predictor = api.State.predictor = api.Predictor.load()


async def predict(request):
    records = await api.parse(request)
    if isinstance(records, JSONResponse):
        return records
    return JSONResponse({"predictions": predictor.predict(records)})


async def ready(request):
    return JSONResponse({"ready": True})


app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/readyz", ready)])
