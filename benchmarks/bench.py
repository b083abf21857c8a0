"""Serving benchmark: the generated service against bare uvicorn and `mlflow models serve`.

Generates a project with default answers and, for each model family, trains it, builds the bento,
then loads each server setting with the same Locust settings, one after another on this machine:
the built bento; the bare uvicorn reference (same Predictor, same request model) at each
--bare-workers; for the first model, `mlflow models serve` of the same Predictor as a pyfunc model
with a signature (each --mlflow-payloads) and without one (`inputs`) at the first --mlflow-workers,
then each model's fastest payload at the other worker counts; for the first model, the service
variants of --service-variants (prediction log off; the fast path of lean_service.py, log off and
on) and the in-process profile of the service's ASGI stack (overhead.py: each layer's CPU per
request). Before each load it checks the server's answers against the Predictor's. It writes every
setting's figures to --results and renders --docs from that file alone; `--render-only` re-renders
the docs. `make bench-serving` runs it.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import payloads
import render
import yaml
from payloads import Record
from render import Results, Row

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent
MLFLOW = "mlflow==3.17.2"  # 3.18.0 needs mlflow-skinny 3.18.0, not on the index yet
# Pinned from the project's lock into mlflow's venv: the same scientific stack, and uvicorn's fast loop and parser.
MLFLOW_PINS = ("scikit-learn", "pandas", "numpy", "joblib", "threadpoolctl", "uvloop", "httptools")
CHECK_RECORDS = 20  # test records posted one at a time before each load, answers compared with the Predictor's
OVERHEAD_S = 10  # rough cost of one setting beyond --seconds: start, check, Locust start-up, stop
# The first model's service variants: name -> (server, prediction log on, what it is).
SERVICE_VARIANTS = {
    "log-off": ("bentoml", False, "the built bento with MODELOPS_PREDICTION_LOG=false"),
    "fast-path-log-off": ("bentoml-fast-path", False, "lean_service.py's fast path, prediction log off"),
    "fast-path": ("bentoml-fast-path", True, "lean_service.py's fast path, prediction log on"),
}


@dataclass
class Setting:
    """One server configuration to load: what the results record, and how to start it."""

    model: str
    server: str  # a key of render.SERVERS
    workers: int | None
    payload: str  # a key of payloads.PATHS
    command: list[str]
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    signature: bool | None = None  # mlflow only: whether its model carries a signature
    prediction_log: bool | None = None  # the service only: MODELOPS_PREDICTION_LOG (None: as shipped, on)

    def row(self) -> Row:
        return {
            "model": self.model,
            "server": self.server,
            "workers": self.workers,
            "payload": self.payload,
            "signature": self.signature,
            "prediction_log": self.prediction_log,
        }


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def sh(command: list[str], cwd: Path, env: Mapping[str, str] | None = None, stdin: str | None = None) -> str:
    """Run a command; on failure show its output and stop."""
    result = subprocess.run(command, cwd=cwd, env=env, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout} s")


def process_tree(root: int) -> list[int]:
    """`root` and every process descended from it, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time consumed so far by `pids` (from /proc/<pid>/stat)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pids: list[int]) -> float:
    """Resident memory summed over `pids` (shared pages count once per process)."""
    total_kb = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total_kb += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total_kb / 1024


def same_answer(got: object, expected: object) -> bool:
    """A regression's answer within rounding of the Predictor's; any other answer equal to it."""
    if isinstance(got, float) or isinstance(expected, float):
        if not (isinstance(got, int | float) and isinstance(expected, int | float)):
            return False
        return math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12)
    return got == expected


def check(url: str, payload: str, rows: list[Record], expected: list[object]) -> int:
    """How many of `rows`, posted one per request, the server answers as the Predictor does."""
    agree = 0
    for row, want in zip(rows, expected, strict=True):
        request = urllib.request.Request(
            url, data=payloads.body(payload, [row]).encode(), headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                agree += same_answer(json.loads(response.read())["predictions"][0], want)
        except (OSError, KeyError, IndexError, ValueError):
            pass
    return agree


def locust(project: Path, host: str, payload: str, args: argparse.Namespace) -> Row:
    """Run Locust headless against `host`; its aggregated figures."""
    stats = args.out / "locust"
    command = [
        str(project / ".venv/bin/locust"), "-f", str(HERE / "locustfile.py"), "--headless", "--only-summary",
        "--host", host, "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
        "--run-time", f"{args.seconds}s", "--stop-timeout", "5", "--csv", str(stats), "--json-file", str(stats),
        "--exit-code-on-error", "0",
    ]  # fmt: skip
    sh(command, project, {**os.environ, "BENCH_PAYLOAD": payload})
    with open(f"{stats}_stats.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    final = json.loads(Path(f"{stats}.json").read_text())  # written at the end; the CSV is a periodic snapshot
    requests, failures = sum(e["num_requests"] for e in final), sum(e["num_failures"] for e in final)
    rps = float(row["Requests/s"])
    return {
        "rps": round(rps, 1),
        "ok_rps": round(rps * (requests - failures) / requests, 1) if requests else 0.0,
        "p50": float(row["50%"]),
        "p95": float(row["95%"]),
        "p99": float(row["99%"]),
        "requests": requests,
        "failures": failures,
    }


def measure(
    setting: Setting, project: Path, args: argparse.Namespace, check_rows: list[Record], expected: list[object]
) -> Row:
    """Start one server, check its answers, load it with Locust, measure its memory, stop it."""
    port = free_port()
    command = [c.replace("{port}", str(port)) for c in setting.command]
    variant = {None: "", True: "-signature", False: "-no-signature"}[setting.signature]
    variant += {None: "", True: "-log-on", False: "-log-off"}[setting.prediction_log]
    log_path = args.out / "logs" / f"{setting.model}-{setting.server}-{setting.workers}-{setting.payload}{variant}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    host = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        started = time.monotonic()
        server = subprocess.Popen(
            command, cwd=project, env={**os.environ, **setting.env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            wait_ready(host + setting.ready_path, server)
            ready_s = round(time.monotonic() - started, 2)
            agree = check(host + payloads.PATHS[setting.payload], setting.payload, check_rows, expected)
            before = cpu_seconds(process_tree(server.pid))
            figures = locust(project, host, setting.payload, args)
            tree = process_tree(server.pid)
            used = cpu_seconds(tree) - before  # the server's CPU under load, HTTP parsing included
            per_request = round(used / figures["requests"] * 1e6) if figures["requests"] else None
            return {
                **setting.row(), **figures, "ready_s": ready_s, "rss_mb": round(rss_mb(tree), 1),
                "processes": len(tree), "checked": len(check_rows), "agree": agree, "server_cpu_us": per_request,
            }  # fmt: skip
        except (RuntimeError, TimeoutError) as exc:
            return {**setting.row(), "error": f"{exc}; see {log_path}"}
        finally:
            try:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=20)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def generate(args: argparse.Namespace) -> tuple[Path, str]:
    """A fresh default project, installed; returns its folder and package name."""
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    step(f"generating a default project from {args.template} in {args.out}")
    sh(
        [str(Path(sys.executable).with_name("cookiecutter")), "--no-input", "-o", str(args.out), str(args.template)],
        args.template,
    )
    project = args.out / "breast-cancer-classifier"
    step("make install")
    sh(["make", "install"], project)
    sh([".venv/bin/dvc", "config", "--local", "core.site_cache_dir", str(args.out / "dvc-site")], project)
    package = next(p.name for p in (project / "src").iterdir() if (p / "__init__.py").exists())
    return project, package


def train_and_build(project: Path, model: str, env: Mapping[str, str]) -> str:
    """Train `model`, commit, build the bento; its tag (the last word `make build` prints)."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["model"] = model
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    step(f"{model}: make pipeline build")
    sh(["make", "pipeline"], project, env)
    sh(["git", "add", "--all"], project)  # one commit per model: each bento gets its own tag
    sh(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", f"bench: {model}"],
        project,
    )
    printed = sh(["make", "--no-print-directory", "build"], project, env)
    built: list[str] = re.findall(r"^built (\S+:\S+)$", printed, re.MULTILINE)
    if not built:
        sys.exit(f"error: `make build` printed no `built <name>:<version>` line: {printed[-500:]}")
    return built[-1]


def bento_workers(bentoml_home: Path, tag: str) -> int | None:
    """The worker count the built bento's service is configured with."""
    name, version = tag.split(":")
    path = bentoml_home / "bentos" / name / version / "bento.yaml"
    manifest = yaml.safe_load(path.read_text()) if path.exists() else {}
    workers: int | None = next((s.get("config", {}).get("workers") for s in manifest.get("services", [])), None)
    return workers


def reference_predictions(project: Path, package: str, rows: list[Record]) -> list[object]:
    """The Predictor's own predictions for `rows`, computed in the project's venv."""
    out = sh(
        [str(project / ".venv/bin/python"), str(HERE / "bare_app.py")],
        project,
        {**os.environ, "BENCH_PACKAGE": package},
        stdin=json.dumps(rows),
    )
    predictions: list[object] = json.loads(out.splitlines()[-1])
    return predictions


def mlflow_env(args: argparse.Namespace, project: Path) -> Path | None:
    """A separate venv with mlflow and the project's pinned stack, or None if it cannot install."""
    venv: Path = args.out / "mlflow-venv"
    step(f"installing {MLFLOW} into {venv}")
    try:
        sh([sys.executable, "-m", "venv", str(venv)], project)
        pins = [
            line.split(";")[0].strip()
            for line in (project / "requirements.lock").read_text().splitlines()
            if line.split("==")[0] in MLFLOW_PINS
        ]
        uv = str(project / ".venv/bin/uv")
        sh([uv, "pip", "install", "-q", "--python", str(venv / "bin/python"), MLFLOW, *pins], project)
    except SystemExit as exc:
        print(f"mlflow skipped: it did not install here ({str(exc)[-300:]})")
        return None
    return venv


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": round(int(meminfo["MemTotal"].split()[0]) / 2**20, 1),
        "cpu": cpu or platform.machine(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def project_slo(project: Path) -> dict[str, Any] | None:
    """The generated project's load-test SLO (`slo` in docs/criteria.yaml), if it has one."""
    criteria = project / "docs" / "criteria.yaml"
    slo: dict[str, Any] | None = yaml.safe_load(criteria.read_text()).get("slo") if criteria.exists() else None
    return slo


def versions(project: Path) -> dict[str, str]:
    """Versions of the serving stack (the project's Python and lock files) and mlflow's."""
    names = ("bentoml", "uvicorn", "starlette", "pydantic", "scikit-learn", "locust")
    python = [str(project / ".venv/bin/python"), "-c", "import platform; print(platform.python_version())"]
    found = {"python": sh(python, project).strip()}
    for lock in ("requirements.lock", "requirements-dev.lock"):
        for line in (project / lock).read_text().splitlines():
            name, _, version = line.split(";")[0].strip().partition("==")
            if name in names and version:
                found[name] = version
    return {**found, "mlflow": MLFLOW.split("==")[1]}


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def words(text: str) -> list[str]:
    return [x for x in text.split(",") if x]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, default=TEMPLATE / "build" / "bench", help="work folder (default: %(default)s)"
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="template to generate from (default: this one)")
    parser.add_argument("--seconds", type=int, default=30, help="Locust run time per setting (default: %(default)s)")
    parser.add_argument("--users", type=int, default=50, help="Locust users (default: %(default)s)")
    parser.add_argument("--spawn-rate", type=float, default=10, help="Locust spawn rate (default: %(default)s)")
    parser.add_argument(
        "--models",
        type=words,
        default="logistic_regression,hist_gradient_boosting,random_forest",
        help="train.model values to serve, the first one also under mlflow (default: %(default)s)",
    )
    parser.add_argument(
        "--bare-workers", type=ints, default="1,2", help="bare uvicorn worker counts (default: %(default)s)"
    )
    parser.add_argument(
        "--mlflow-payloads",
        type=words,
        default="inputs,dataframe_split,dataframe_records",
        help="mlflow payloads, each run at the first --mlflow-workers (default: %(default)s)",
    )
    parser.add_argument(
        "--mlflow-workers",
        type=ints,
        default="1,2",
        help="mlflow worker counts; the fastest payload runs at the others (default: %(default)s)",
    )
    parser.add_argument("--no-mlflow", action="store_true", help="skip `mlflow models serve`")
    parser.add_argument(
        "--service-variants",
        type=words,
        default=",".join(SERVICE_VARIANTS),
        help="first model only, after the built bento: "
        + "; ".join(f"{name}: {text}" for name, (_, _, text) in SERVICE_VARIANTS.items())
        + " (default: all; '' for none)",
    )
    parser.add_argument(
        "--overhead-requests",
        type=int,
        default=2000,
        help="first model only: requests per stack and round of the in-process profile (overhead.py; 0: skip)",
    )
    parser.add_argument(
        "--overhead-rounds", type=int, default=5, help="interleaved rounds of the profile (default: %(default)s)"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=HERE / "results.json",
        help="machine-readable results, written at the end (default: %(default)s)",
    )
    parser.add_argument(
        "--docs", type=Path, default=TEMPLATE / "docs" / "benchmarks.md", help="page rendered from --results"
    )
    parser.add_argument("--render-only", action="store_true", help="only re-render --docs from --results")
    args = parser.parse_args(argv)
    mlflow_payloads = [p for p in payloads.PATHS if payloads.PATHS[p] == "/invocations"]
    if not args.mlflow_payloads or not set(args.mlflow_payloads) <= set(mlflow_payloads):
        parser.error(f"--mlflow-payloads: a comma-separated list of {', '.join(mlflow_payloads)}")
    if not args.bare_workers or not args.mlflow_workers:
        parser.error("--bare-workers and --mlflow-workers need at least one worker count")
    if not set(args.service_variants) <= set(SERVICE_VARIANTS):
        parser.error(f"--service-variants: a comma-separated list of {', '.join(SERVICE_VARIANTS)}")
    args.out, args.template = args.out.resolve(), args.template.resolve()
    return args


def write_docs(results: Results | None, docs: Path) -> None:
    """The page from `results`, with the other benchmarks' sections from their files (monitoring, score, impact)."""
    docs.write_text(render.with_measured(render.render(results)))
    print(f"wrote {docs}")


def mlflow_variants(args: argparse.Namespace) -> dict[bool, list[str]]:
    """mlflow model variants (with a signature or not) and the payloads each is loaded with.

    Without a signature only `inputs` runs: it hands predict() the client's records as they came,
    while the dataframe payloads would only add building a DataFrame.
    """
    return {True: args.mlflow_payloads, False: ["inputs"]}


def overhead_profile(project: Path, package: str, args: argparse.Namespace) -> dict[str, Any]:
    """overhead.py --all in the project's venv: each configuration's ASGI stacks, µs CPU per request."""
    step(f"in-process profile of the service's ASGI stack ({args.overhead_requests} requests × {args.overhead_rounds})")
    command = [str(project / ".venv/bin/python"), str(HERE / "overhead.py"), "--all",
               "--requests", str(args.overhead_requests), "--rounds", str(args.overhead_rounds)]  # fmt: skip
    env = {**os.environ, "BENCH_PACKAGE": package, "PYTHONPATH": str(HERE)}
    profile: dict[str, Any] = json.loads(sh(command, project, env).splitlines()[-1])
    for name, figures in profile.items():
        print(f"    {name}: {figures['cpu_us']}", flush=True)
    return profile


def plan(args: argparse.Namespace, mlflow: bool) -> int:
    """How many settings this run loads."""
    variants = mlflow_variants(args)
    mlflow_settings = sum(map(len, variants.values())) + len(variants) * (len(args.mlflow_workers) - 1)
    return (1 + len(args.bare_workers)) * len(args.models) + len(args.service_variants) + mlflow_settings * mlflow


@dataclass
class Run:
    """One benchmark run over a generated project: loads settings, collects their rows into `results`."""

    args: argparse.Namespace
    project: Path
    package: str
    bentoml_home: Path
    mlflow_venv: Path | None
    results: Results
    check_rows: list[Record] = field(default_factory=list)  # this model's test records and the Predictor's answers
    expected: list[object] = field(default_factory=list)

    def load(self, setting: Setting) -> Row:
        row = setting.row()
        step(f"{setting.model}: {render.label(row)} ({render.setting(row)}), {self.args.seconds} s")
        row = measure(setting, self.project, self.args, self.check_rows, self.expected)
        self.results["rows"].append(row)
        (self.args.out / "results.json").write_text(json.dumps(self.results, indent=2) + "\n")  # if interrupted
        print(f"    {row}", flush=True)
        return row

    def model(self, model: str, first: bool) -> None:
        """Train and build `model`, then load bare uvicorn, the bento, and for the `first` model the
        service variants, the in-process profile and mlflow."""
        env = {"BENTOML_HOME": str(self.bentoml_home)}
        tag = train_and_build(self.project, model, {**os.environ, **env})
        self.check_rows = payloads.records(self.project)[:CHECK_RECORDS]
        self.expected = reference_predictions(self.project, self.package, self.check_rows)
        bin_ = self.project / ".venv/bin"
        for workers in self.args.bare_workers:
            command = [str(bin_ / "uvicorn"), "bare_app:create_app", "--factory", "--app-dir", str(HERE),
                       "--port", "{port}", "--workers", str(workers), "--log-level", "warning",
                       "--no-access-log"]  # fmt: skip
            self.load(Setting(model, "bare", workers, "records", command, "/readyz", {"BENCH_PACKAGE": self.package}))
        command = [str(bin_ / "bentoml"), "serve", tag, "--port", "{port}"]
        workers = bento_workers(self.bentoml_home, tag)
        self.load(Setting(model, "bentoml", workers, "records", command, "/readyz", env))
        if not first:
            return
        for variant in self.args.service_variants:
            server, logged, _ = SERVICE_VARIANTS[variant]
            settings = {**env, "MODELOPS_PREDICTION_LOG": str(logged).lower()}
            if server == "bentoml":
                self.load(Setting(model, server, workers, "records", command, "/readyz", settings, None, logged))
            else:  # the project's own service object with lean_service.py's to_asgi, from the project's root
                lean = [str(bin_ / "bentoml"), "serve", "lean_service:ModelService", "--port", "{port}"]
                settings.update(PYTHONPATH=str(HERE), BENCH_PACKAGE=self.package)
                self.load(Setting(model, server, workers, "records", lean, "/readyz", settings, None, logged))
        if self.args.overhead_requests:
            self.results["overhead"] = overhead_profile(self.project, self.package, self.args)
        if self.mlflow_venv:
            self.mlflow(model, self.mlflow_venv)

    def mlflow(self, model: str, venv: Path) -> None:
        """Each model variant's payloads at the first worker count (from mlflow's `venv`), then its fastest
        payload at the others."""
        env = {"PATH": f"{venv}/bin:{os.environ['PATH']}"}  # it runs `uvicorn`
        folders = {True: self.args.out / "mlflow-model", False: self.args.out / "mlflow-model-no-signature"}

        def serve(workers: int, payload: str, signature: bool) -> Row:
            command = [str(venv / "bin/mlflow"), "models", "serve", "-m", str(folders[signature]),
                       "--env-manager", "local", "--host", "127.0.0.1", "--port", "{port}",
                       "--workers", str(workers)]  # fmt: skip
            return self.load(Setting(model, "mlflow", workers, payload, command, "/ping", env, signature))

        first, *others = self.args.mlflow_workers
        fastest: list[Row | None] = []
        for signature, variant_payloads in mlflow_variants(self.args).items():
            shutil.rmtree(folders[signature], ignore_errors=True)
            save = [str(venv / "bin/python"), str(HERE / "mlflow_model.py"), str(self.project),
                    str(folders[signature]), self.package, *([] if signature else ["--no-signature"])]  # fmt: skip
            sh(save, HERE)
            sweep = [serve(first, payload, signature) for payload in variant_payloads]
            fastest.append(max((r for r in sweep if render.usable(r)), key=lambda r: r["ok_rps"], default=None))
        for best in filter(None, fastest):
            for workers in others:
                serve(workers, best["payload"], best["signature"])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.render_only:
        write_docs(json.loads(args.results.read_text()) if args.results.exists() else None, args.docs)
        return
    count = plan(args, not args.no_mlflow)
    step(f"{count} settings: ~{count * (args.seconds + OVERHEAD_S) / 60:.0f} min of serving, plus set-up per model")
    project, package = generate(args)
    venv = None if args.no_mlflow else mlflow_env(args, project)
    results: Results = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "settings": {
            "users": args.users,
            "spawn_rate": args.spawn_rate,
            "seconds": args.seconds,
            "models": args.models,
            "bare_workers": args.bare_workers,
            "mlflow_payloads": {("signature" if k else "no_signature"): v for k, v in mlflow_variants(args).items()}
            if venv
            else {},
            "mlflow_workers": args.mlflow_workers if venv else [],
            "service_variants": args.service_variants,
            "check_records": CHECK_RECORDS,
            "versions": versions(project),
            "slo": project_slo(project),
            "notes": [] if venv or args.no_mlflow else [f"{MLFLOW} did not install here: no mlflow settings."],
        },
        "rows": [],
    }
    run = Run(args, project, package, args.out / "bentoml", venv, results)
    for index, model in enumerate(args.models):
        run.model(model, first=index == 0)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.results}")
    write_docs(results, args.docs)
    print()
    print(render.table(results["rows"]))


if __name__ == "__main__":
    main()
