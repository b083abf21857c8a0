"""Service: the model as a BentoML service — packaging, workers, health checks — with a lean hot path.

Endpoints: POST /predict, POST /predict_proba (classifiers), POST /feedback, GET /metadata,
GET /openapi.json (`api.py`, mounted here) and BentoML's GET /healthz, /livez, /readyz (ready
once this worker has loaded the model). Every answer is logged (`predictionlog.py`) under
MODELOPS_MONITORING_DIR; the shutdown hook (SIGTERM) writes what is queued before the worker
exits. `make serve` runs it; docs/deployment_manual.md is its manual.

This module is the composition root BentoML imports: BentoML takes a service's configuration
(workers, logging, metrics, middleware) when the class is defined, so the settings are read here,
once, and handed down. Nothing else in the package reads the environment at import.
"""

from __future__ import annotations

import bentoml

from ..core.buildinfo import read_metadata
from ..core.settings import Settings
from .api import Runtime, create_app
from .feedback import FeedbackStore
from .guard import Guard
from .predictionlog import PredictionLog, redaction_for

SETTINGS = Settings.from_env()
APP = create_app()


class Worker:
    """What one worker process holds: the model, its features and its metadata, handed to the API app."""

    def __init__(self) -> None:
        # The model stack loads here, in each worker: BentoML's arbiter imports this module only to read
        # the service's definition, and starts ~4 s sooner without scikit-learn and pandas.
        import sklearn
        from threadpoolctl import threadpool_limits

        from .predictor import Predictor

        threadpool_limits(1)  # one thread per worker: workers × threads never exceeds the cores
        sklearn.set_config(assume_finite=True)  # the request schema already rejects NaN and inf
        predictor, info = Predictor.load(), read_metadata()
        folder = SETTINGS.monitoring_dir.resolve()
        log = None
        if SETTINGS.prediction_log:
            redaction = redaction_for(SETTINGS, predictor.schema)
            worker = bentoml.server_context.worker_index or 1
            log = PredictionLog(folder, str(info.get("version", "dev")), worker, SETTINGS.log_retention_days, redaction)
        store = FeedbackStore(folder, tuple(predictor.classes))
        self.runtime = Runtime(predictor, info, SETTINGS.max_records, log=log, feedback=store)
        APP.state.runtime = self.runtime

    @bentoml.on_shutdown  # type: ignore[untyped-decorator]  # bentoml exports it lazily, untyped; it returns `close`
    def close(self) -> None:
        """SIGTERM (Kubernetes, `make deploy`, Ctrl-C): write every queued prediction before exiting."""
        if self.runtime.log is not None:
            self.runtime.log.close()


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
ModelService.add_asgi_middleware(
    Guard, api_key=SETTINGS.api_key, max_body_bytes=SETTINGS.max_body_bytes, feedback_token=SETTINGS.feedback_token
)
