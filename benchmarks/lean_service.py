"""The generated service with a fast path: its API's own paths skip BentoML's per-request middlewares.

A measured proposal, not the product: BentoML 1.4.40 wraps every request in OpenTelemetry's ASGI
middleware (installed even when the path is excluded from tracing), a timeout middleware (a task and
a timer per request; `traffic.timeout` must be > 0, so no setting removes it), a context middleware
and its own router before the mounted API app. None of them can be switched off through the
service's configuration. `LeanService.to_asgi` (BentoML's worker calls it to build the app it
serves) hands the API's paths (/predict, /predict_proba, /feedback, /metadata, /openapi.json)
straight to the API app behind the service's own middlewares (the guard), and everything else —
lifespan (the worker loads the model there), health checks, /metrics — to BentoML's app. With
Prometheus metrics or the access log on, every request keeps going through BentoML's app, so both
still see the API's traffic. What the fast path gives up: BentoML's per-request timeout (504 after
`traffic.timeout`) and its request context (`bentoml.Context`, unused by the API).

In the product the change is `bentoml.service(..., service_class=LeanService)` in serving/service.py
(`service_class` is a parameter of `bentoml.service` in 1.4.40). Here the benchmark swaps the class
of the generated project's own service object (same slots, so the same object, only `to_asgi`
changes): `bentoml serve lean_service:ModelService` from the project's root, with this folder on
PYTHONPATH and BENCH_PACKAGE naming the package.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class FastPath:
    """ASGI: HTTP requests for `paths` to `api`; everything else (lifespan included) to `app`."""

    def __init__(self, app: ASGIApp, api: ASGIApp, paths: frozenset[str]) -> None:
        self.app = app
        self.api = api
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            return await self.api(scope, receive, send)
        return await self.app(scope, receive, send)


def fast_path(service: Any, api: Any, app: ASGIApp) -> ASGIApp:
    """`app` (BentoML's, built by `service`) with `api`'s paths answered by `api` behind the service's
    own middlewares — unless metrics or the access log are on, which need every request in BentoML's app."""
    config = importlib.import_module("bentoml._internal.configuration.containers").BentoMLContainer.api_server_config
    if config.metrics.enabled.get() or config.logging.access.enabled.get():
        return app
    guarded: ASGIApp = api
    for middleware, options in reversed(service.middlewares):
        guarded = middleware(guarded, **options)
    return FastPath(app, guarded, frozenset(route.path for route in api.routes))


def lean(service_module: Any) -> Any:
    """The module's `ModelService`, its class swapped for one whose `to_asgi` adds the fast path."""
    service = service_module.ModelService

    class LeanService(type(service)):  # type: ignore[misc]  # BentoML's Service, untyped here
        __slots__ = ()

        def to_asgi(self, is_main: bool = True) -> ASGIApp:
            return fast_path(self, service_module.APP, super().to_asgi(is_main))

    service.__class__ = LeanService
    return service


def __getattr__(name: str) -> Any:
    """`lean_service.ModelService`, what `bentoml serve` loads: the swap happens on first access only."""
    if name != "ModelService":
        raise AttributeError(name)
    return lean(importlib.import_module(f"{os.environ['BENCH_PACKAGE']}.serving.service"))
