"""Service: the model as a BentoML service — packaging, workers, health checks — with a lean hot path.

Endpoints: POST /predict, POST /predict_proba (classifiers), GET /metadata, GET /openapi.json
(`api.py`, mounted here) and BentoML's GET /healthz, /livez, /readyz (ready once this worker has
loaded the model). `make serve` runs it; docs/deployment_manual.md is its manual.

This module is the composition root BentoML imports: BentoML takes a service's configuration
(workers, logging, metrics, middleware) when the class is defined, so the settings are read here,
once, and handed down. Nothing else in the package reads the environment at import.
"""

from __future__ import annotations

import bentoml
import sklearn
from threadpoolctl import threadpool_limits

from ..core.buildinfo import read_metadata
from ..core.settings import Settings
from .api import Runtime, create_app
from .guard import Guard
from .predictor import Predictor

SETTINGS = Settings.from_env()
APP = create_app()


class Worker:
    """What one worker process holds: the model, its features and its metadata, handed to the API app."""

    def __init__(self) -> None:
        threadpool_limits(1)  # one thread per worker: workers × threads never exceeds the cores
        sklearn.set_config(assume_finite=True)  # the request schema already rejects NaN and inf
        self.runtime = Runtime(Predictor.load(), read_metadata(), SETTINGS.max_records)
        APP.state.runtime = self.runtime


# Applied as calls, not `@` decorators, so the type checker sees the Service they return.
ModelService = bentoml.service(
    name=(__package__ or "").rpartition(".")[0].replace("_", "-"),
    workers=SETTINGS.workers,
    traffic={"timeout": 10},
    logging={"access": {"enabled": SETTINGS.access_log}},
    # Measured on 2 cores: Prometheus metrics and tracing middleware halve throughput on a
    # sub-millisecond model; turn them on when you scrape or trace (see .env.example).
    metrics={"enabled": SETTINGS.metrics},
    tracing={"excluded_urls": ["/predict", "/predict_proba"]},
)(bentoml.asgi_app(APP, path="/")(Worker))
ModelService.add_asgi_middleware(Guard, api_key=SETTINGS.api_key, max_body_bytes=SETTINGS.max_body_bytes)
