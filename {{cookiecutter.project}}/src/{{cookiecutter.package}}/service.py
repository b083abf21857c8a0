"""Service: the model as a BentoML service — packaging, workers, health checks — with a lean hot path.

Endpoints: POST /predict, POST /predict_proba (classifiers), GET /metadata, GET /openapi.json
(from `api.py`, mounted here) and BentoML's GET /healthz, /livez, /readyz (ready once this worker
has loaded the model). `make serve` runs it; docs/deployment_manual.md is its manual.
"""

from __future__ import annotations

import bentoml
import sklearn
from threadpoolctl import threadpool_limits

from . import api
from .guard import Guard
from .metadata import read_metadata
from .serving import Predictor


@bentoml.asgi_app(api.app, path="/")
@bentoml.service(
    name=__package__.replace("_", "-"),
    workers=api.SETTINGS.workers,
    traffic={"timeout": 10},
    logging={"access": {"enabled": api.SETTINGS.access_log}},
    # Measured on 2 cores: Prometheus metrics and tracing middleware halve throughput on a
    # sub-millisecond model; turn them on when you scrape or trace (see .env.example).
    metrics={"enabled": api.SETTINGS.metrics},
    tracing={"excluded_urls": ["/predict", "/predict_proba"]},
)
class ModelService:
    """Loads the model, its features and its metadata once per worker, for the hot path in api.py."""

    def __init__(self) -> None:
        threadpool_limits(1)  # one thread per worker: workers × threads never exceeds the cores
        sklearn.set_config(assume_finite=True)  # the request schema already rejects NaN and inf
        api.State.predictor = Predictor.load()
        api.State.info = read_metadata()


ModelService.add_asgi_middleware(Guard, api_key=api.SETTINGS.api_key, max_body_bytes=api.SETTINGS.max_body_bytes)
