"""Service: the model as a BentoML service — packaging, workers, health checks — with a lean hot path.

Endpoints: POST /predict, POST /predict_proba (classifiers), POST /feedback, GET /metadata,
GET /openapi.json, GET /metrics (`api.py`, mounted here; BentoML's own /metrics when
MODELOPS_METRICS is on, the log's counters appended) and BentoML's GET /healthz, /livez, /readyz
(ready once this worker has loaded the model, and while its log writer is healthy). Every answer
is logged (`predictionlog.py`); the shutdown hook (SIGTERM) writes what is queued before the
worker exits. Feedback goes to the labels store (`core/labels.py`: PostgreSQL when
MODELOPS_DATABASE_URL is set, else SQLite under MODELOPS_MONITORING_DIR); request ids are signed
with MODELOPS_SIGNING_KEY, or the key generated once in the monitoring folder (`core/requestids.py`).
`make serve` runs it; docs/deployment_manual.md is its manual.

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
from .predictionlog import PredictionLog

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
        worker = bentoml.server_context.worker_index or 1
        self.log = PredictionLog.from_settings(SETTINGS, str(info.get("version", "dev")), worker, predictor.schema)
        store = FeedbackStore.from_settings(SETTINGS, folder, tuple(predictor.classes))
        self.runtime = Runtime(predictor, info, SETTINGS.max_records, log=self.log, feedback=store)
        APP.state.runtime = self.runtime

    def __is_ready__(self) -> bool:
        """/readyz: not ready while the log writer is unhealthy (Kubernetes stops sending it traffic)."""
        return self.log is None or self.log.healthy

    def __metrics__(self, content: str) -> str:
        """BentoML's /metrics (MODELOPS_METRICS on) with the log writer's counters appended."""
        return content + (self.log.metrics_text() if self.log is not None else "")

    @bentoml.on_shutdown  # type: ignore[untyped-decorator]  # bentoml exports it lazily, untyped; it returns `close`
    def close(self) -> None:
        """SIGTERM (Kubernetes, `make deploy`, Ctrl-C): write every queued prediction before exiting."""
        if self.log is not None:
            self.log.close()
        if self.runtime.feedback is not None:
            self.runtime.feedback.labels.close()


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
