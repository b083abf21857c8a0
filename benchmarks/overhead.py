"""Where the service's CPU per request goes: its ASGI stack timed in-process, layer by layer.

Runs in the generated project's venv, from its root, with BENCH_PACKAGE naming its package (as
bare_app.py). It imports the service as BentoML's worker does, builds its ASGI app
(`ModelService.to_asgi()`), runs the app's lifespan (the worker loads the model), then posts the same
one-record requests straight into each stack below (no socket, no HTTP parser: those are uvicorn's
and the same for every stack) and measures the process's CPU time per request, all threads
included (the prediction log's writer thread too). Stacks are measured in interleaved rounds; the
figure is the least disturbed round (the minimum: on a shared machine other processes only add
to a round's CPU time, through caches and shared cores); every round is kept.

Stacks in one process, the service's default settings (prediction log as MODELOPS_PREDICTION_LOG):
  bare          the bare app (bare_app.py): the Predictor and request model in a bare Starlette app
  api           the generated API app alone (serving/api.py), no BentoML, no guard
  api+guard     the same behind the service's own middlewares (serving/guard.py)
  service       BentoML's app as its worker serves it: its middlewares, its routes, the mounted API
  service-X-Y   the same with BentoML's middlewares X, then Y, ... taken out of the built app's list,
                outermost first (each step's difference is that middleware's cost)
                the last step, every BentoML middleware out, is `service-bentoml`: BentoML's routing and
                mount, and our guard
  fastpath      the service with lean_service.py's fast path: the API's paths straight to api+guard
`python overhead.py --all` runs one process per configuration (defaults; metrics on; access log on;
prediction log on) and prints one JSON object: each configuration's stacks in µs CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import bare_app
import lean_service
import payloads

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

HERE = Path(__file__).resolve().parent
# Process configurations: name -> the service's settings (environment) it runs with, the stacks measured,
# and whether the model is stubbed (a constant answer: the framework's cost alone, without the model's noise).
CONFIGURATIONS: dict[str, tuple[dict[str, str], tuple[str, ...], bool]] = {
    "framework": ({"MODELOPS_PREDICTION_LOG": "false"}, ("bare", "api", "api+guard", "service", "fastpath", "*"), True),
    "defaults": ({"MODELOPS_PREDICTION_LOG": "false"}, ("bare", "api", "api+guard", "service", "fastpath", "*"), False),
    "metrics": ({"MODELOPS_PREDICTION_LOG": "false", "MODELOPS_METRICS": "true"}, ("bare", "service"), True),
    "access_log": ({"MODELOPS_PREDICTION_LOG": "false", "MODELOPS_ACCESS_LOG": "true"}, ("bare", "service"), True),
    "prediction_log": ({"MODELOPS_PREDICTION_LOG": "true"}, ("bare", "api", "service", "fastpath"), True),
}
SETTLE_SECONDS = 0.5  # idle time counted after each round: the log writer's batch of that round is in it


class Client:
    """Posts requests straight into an ASGI app, as uvicorn would hand them over."""

    def __init__(self, bodies: list[bytes], path: str = "/predict") -> None:
        self.bodies = bodies
        self.path = path
        self.statuses: dict[int, int] = {}

    def scope(self, body: bytes) -> Scope:
        return {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": self.path, "raw_path": self.path.encode(),
            "query_string": b"", "root_path": "", "server": ("127.0.0.1", 3000), "client": ("127.0.0.1", 50000),
            "headers": [(b"host", b"127.0.0.1:3000"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()), (b"user-agent", b"bench")],
            "state": {},
        }  # fmt: skip

    async def post(self, app: ASGIApp, body: bytes) -> None:
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)  # as a server: no more messages until the client goes away
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.statuses[message["status"]] = self.statuses.get(message["status"], 0) + 1

        await app(self.scope(body), receive, send)

    async def cpu_us(self, app: ASGIApp, count: int, settle: float = 0.0) -> float:
        """CPU time per request (µs) over `count` sequential requests, and `settle` seconds after them
        (the prediction log's writer works up to FLUSH_SECONDS behind the requests)."""
        started = time.process_time()
        for n in range(count):
            await self.post(app, self.bodies[n % len(self.bodies)])
        await asyncio.sleep(settle)
        return (time.process_time() - started) / count * 1e6


async def lifespan(app: ASGIApp) -> Callable[[], Awaitable[None]]:
    """Start `app`'s lifespan (the service's workers load the model here); returns its shutdown."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    task = asyncio.ensure_future(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    message = await outbox.get()
    if message["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the service did not start: {message}")

    async def shutdown() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task

    return shutdown


def middleware_name(entry: Any) -> str:
    return str(getattr(entry.cls, "__name__", entry.cls))


def peeled_name(peeled: list[str], theirs: list[str]) -> str:
    """The stack without the BentoML middlewares `peeled`; without all of them, `service-bentoml`."""
    return "service-bentoml" if len(peeled) == len(theirs) else "service-" + "-".join(peeled)


def stub(predictor: Any) -> None:
    """Replace `predictor`'s model by a constant answer: what remains is the framework's cost."""
    answer = predictor.predict(payloads.records()[:1])
    predictor.predict = lambda records: answer * len(records)


async def measure(package: str, stacks: tuple[str, ...], stubbed: bool, requests: int, rounds: int) -> dict[str, Any]:
    """Build the stacks, check each answers 200, then time them in interleaved rounds."""
    service_module = importlib.import_module(f"{package}.serving.service")
    service = service_module.ModelService
    app = service.to_asgi(is_main=True)
    shutdown = await lifespan(app)
    predictor = service_module.APP.state.runtime.predictor  # the worker's, loaded by the lifespan
    if stubbed:
        stub(predictor)
    bodies = [payloads.body("records", [row]).encode() for row in payloads.records()]
    built: dict[str, ASGIApp] = {}
    middlewares = list(app.user_middleware)
    ours = {cls.__name__ for cls, _ in service.middlewares}
    for name in stacks:
        if name == "bare":
            built[name] = bare_app.create_app(predictor)  # the same Predictor (and stub) as the service
        elif name == "api":
            built[name] = service_module.APP
        elif name == "api+guard":
            inner: ASGIApp = service_module.APP
            for cls, options in reversed(service.middlewares):
                inner = cls(inner, **options)
            built[name] = inner
        elif name == "service":
            built[name] = app
        elif name == "fastpath":
            built[name] = lean_service.fast_path(service, service_module.APP, app)
        elif name == "*":  # BentoML's middlewares peeled off one by one, outermost first: ours stay
            theirs = [middleware_name(m) for m in middlewares if middleware_name(m) not in ours]
            for count in range(1, len(theirs) + 1):
                kept = [m for m in middlewares if middleware_name(m) not in theirs[:count]]
                built[peeled_name(theirs[:count], theirs)] = rebuilt(app, kept)
    client = Client(bodies)
    for name, stack in built.items():  # warm up, and every stack must answer
        client.statuses = {}
        await client.cpu_us(stack, 200)
        if client.statuses != {200: 200}:
            raise RuntimeError(f"{name} answered {client.statuses}, not 200s")
    figures: dict[str, list[float]] = {name: [] for name in built}
    for _ in range(rounds):
        for name, stack in built.items():
            figures[name].append(await client.cpu_us(stack, requests, SETTLE_SECONDS))
    await shutdown()
    return {
        "middlewares": [middleware_name(m) for m in middlewares],
        "bentoml_middlewares": [middleware_name(m) for m in middlewares if middleware_name(m) not in ours],
        "cpu_us": {name: round(min(values), 1) for name, values in figures.items()},
        "median_us": {name: round(statistics.median(values), 1) for name, values in figures.items()},
        "rounds_us": {name: [round(v, 1) for v in values] for name, values in figures.items()},
    }


def rebuilt(app: Any, middlewares: list[Any]) -> ASGIApp:
    """`app`'s middleware stack built with `middlewares` instead of its own (the same router and state)."""
    own = app.user_middleware
    app.user_middleware = middlewares
    try:
        stack: ASGIApp = app.build_middleware_stack()
    finally:
        app.user_middleware = own
    return stack


def child(configuration: str, requests: int, rounds: int) -> None:
    """Measure one configuration in this process and print its JSON on the last line."""
    package = os.environ["BENCH_PACKAGE"]
    _, stacks, stubbed = CONFIGURATIONS[configuration]
    real_stdout = sys.stdout
    sys.stdout = io.StringIO() if configuration != "access_log" else open(os.devnull, "w")  # noqa: SIM115
    try:
        # as the worker: the access log (when on) goes through BentoML's server logging config
        importlib.import_module("bentoml._internal.log").configure_server_logging()
        uvloop = importlib.import_module("uvloop")  # uvicorn's loop, as in the service's workers
        result: dict[str, Any] = uvloop.run(measure(package, stacks, stubbed, requests, rounds))
    finally:
        sys.stdout = real_stdout
    print(json.dumps({"configuration": configuration, **result}))


def run_all(requests: int, rounds: int) -> dict[str, Any]:
    """Each configuration in its own process (the service's settings are read once, at import)."""
    results = {}
    for name, (settings, _, _) in CONFIGURATIONS.items():
        with tempfile.TemporaryDirectory(prefix="overhead-") as folder:
            env = {**os.environ, **settings, "MODELOPS_MONITORING_DIR": folder}
            env.pop("MODELOPS_API_KEY", None)
            command = [sys.executable, __file__, "--child", name, "--requests", str(requests), "--rounds", str(rounds)]
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"error: overhead {name} failed:\n{(done.stdout + done.stderr)[-3000:]}")
            results[name] = json.loads(done.stdout.splitlines()[-1])
            print(f"    {name}: {results[name]['cpu_us']}", file=sys.stderr, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--all", action="store_true", help="every configuration, one process each")
    parser.add_argument("--child", choices=sorted(CONFIGURATIONS), help="one configuration, in this process")
    parser.add_argument("--requests", type=int, default=3000, help="requests per stack and round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (the minimum is kept)")
    args = parser.parse_args()
    sys.path.insert(0, "src")
    if args.child:
        child(args.child, args.requests, args.rounds)
    else:
        print(json.dumps(run_all(args.requests, args.rounds)))


if __name__ == "__main__":
    main()
