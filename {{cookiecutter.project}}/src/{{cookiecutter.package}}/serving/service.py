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
from starlette.routing import Route

from ..core.buildinfo import read_metadata
from ..core.settings import Settings
from .api import Runtime, create_app
from .feedback import FeedbackStore
from .guard import ASGIApp, Guard, Receive, Scope, Send
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


class FastPath:
    """ASGI: the API's own paths straight to the API app behind the guard; all else (lifespan, health
    checks, BentoML's /metrics) to BentoML's app."""

    def __init__(self, bentoml_app: ASGIApp, api: ASGIApp, paths: frozenset[str]) -> None:
        self.bentoml_app, self.api, self.paths = bentoml_app, api, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            await self.api(scope, receive, send)
        else:
            await self.bentoml_app(scope, receive, send)


class LeanService(bentoml.Service):  # type: ignore[misc]  # bentoml exports Service lazily, untyped
    """BentoML's service, answering the API's paths without BentoML's per-request middlewares.

    Measured (the template's docs/benchmarks.md): OpenTelemetry's, the timeout's and the context's
    middlewares cost more CPU than the default model and no setting removes them. They stay on every
    request when MODELOPS_METRICS or MODELOPS_ACCESS_LOG asks for BentoML's per-request work.
    """

    def to_asgi(self, is_main: bool = True) -> ASGIApp:  # BentoML's worker calls it to build what it serves
        app: ASGIApp = super().to_asgi(is_main)
        if SETTINGS.metrics or SETTINGS.access_log:
            return app
        guarded = Guard(
            APP,
            api_key=SETTINGS.api_key,
            max_body_bytes=SETTINGS.max_body_bytes,
            feedback_tokens=SETTINGS.feedback_tokens,
        )
        return FastPath(app, guarded, frozenset(r.path for r in APP.routes if isinstance(r, Route)))


# Applied as calls, not `@` decorators, so the type checker sees the Service they return.
ModelService = bentoml.service(
    service_class=LeanService,
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
    Guard, api_key=SETTINGS.api_key, max_body_bytes=SETTINGS.max_body_bytes, feedback_tokens=SETTINGS.feedback_tokens
)
