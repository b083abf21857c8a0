"""Serving benchmark: the generated service against bare uvicorn and `mlflow models serve`.

Generates a project with default answers, trains each model family, builds the bento, then
loads each server with the same Locust settings, one after another on this machine, and prints
req/s, p50/p95/p99, failures and the ratios. `make bench` runs it; `--help` lists the options.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent
MLFLOW = "mlflow==3.17.2"  # 3.18.0 needs mlflow-skinny 3.18.0, not on the index yet


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def sh(command: list[str], cwd: Path, env: dict | None = None) -> str:
    """Run a command; on failure show its output and stop."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"{url} not ready after {timeout} s")


def load(project: Path, command: list[str], ready_path: str, env: dict, args, bench_env: dict) -> dict:
    """Start one server, run Locust against it, stop it; the aggregated figures."""
    port = free_port()
    command = [c.replace("{port}", str(port)) for c in command]
    log = open(args.out / "server.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        command, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}{ready_path}", server)
        stats = args.out / "locust"
        locust = [
            str(project / ".venv/bin/locust"), "-f", str(HERE / "locustfile.py"), "--headless", "--only-summary",
            "--host", f"http://127.0.0.1:{port}", "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
            "--run-time", f"{args.seconds}s", "--csv", str(stats), "--exit-code-on-error", "0",
        ]  # fmt: skip
        sh(locust, project, {**os.environ, **bench_env})
        with open(f"{stats}_stats.csv", newline="") as handle:
            row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
        return {
            "rps": float(row["Requests/s"]),
            "p50": float(row["50%"]),
            "p95": float(row["95%"]),
            "p99": float(row["99%"]),
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
        }
    except (RuntimeError, TimeoutError) as exc:
        return {"error": f"{exc}; see {args.out / 'server.log'}"}
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def generate(args) -> tuple[Path, str]:
    """A fresh default project, installed; returns its folder and package name."""
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    step(f"generating a default project in {args.out}")
    sh(
        [str(Path(sys.executable).with_name("cookiecutter")), "--no-input", "-o", str(args.out), str(TEMPLATE)],
        TEMPLATE,
    )
    project = args.out / "breast-cancer-classifier"
    step("make install")
    sh(["make", "install"], project)
    sh([".venv/bin/dvc", "config", "--local", "core.site_cache_dir", str(args.out / "dvc-site")], project)
    package = next(p.name for p in (project / "src").iterdir() if (p / "__init__.py").exists())
    return project, package


def train_and_build(project: Path, model: str, env: dict) -> str:
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
    out = sh(["make", "build"], project, env)
    return next(line.split()[-1] for line in out.splitlines() if line.startswith("built "))


def mlflow_env(args, project: Path) -> Path | None:
    """A separate venv with mlflow and the project's pinned scientific stack, or None if it cannot install."""
    venv = args.out / "mlflow-venv"
    step(f"installing {MLFLOW} into {venv}")
    try:
        sh([sys.executable, "-m", "venv", str(venv)], project)
        uv = str(project / ".venv/bin/uv")
        pins = [
            line.split(";")[0].strip()
            for line in (project / "requirements.lock").read_text().splitlines()
            if line.split("==")[0] in ("scikit-learn", "pandas", "numpy", "joblib", "threadpoolctl")
        ]
        sh([uv, "pip", "install", "-q", "--python", str(venv / "bin/python"), MLFLOW, *pins], project)
    except SystemExit as exc:
        print(f"mlflow skipped: it did not install here ({str(exc)[-300:]})")
        return None
    return venv


def table(rows: list[dict]) -> str:
    bare = {r["model"]: r["rps"] for r in rows if r["server"].startswith("bare") and "rps" in r}
    mlflow = {}
    for r in rows:
        if r["server"].startswith("mlflow") and "rps" in r:
            mlflow[r["model"]] = max(mlflow.get(r["model"], 0), r["rps"])
    lines = [
        "| model | server | req/s | p50 / p95 / p99 ms | failures | × bare | × best mlflow |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['server']} | error: {r['error']} | | | | |")
            continue
        vs_bare = f"{r['rps'] / bare[r['model']]:.2f}" if bare.get(r["model"]) else "—"
        vs_mlflow = f"{r['rps'] / mlflow[r['model']]:.2f}" if mlflow.get(r["model"]) else "—"
        lines.append(
            f"| {r['model']} | {r['server']} | {r['rps']:.0f} | {r['p50']:.0f} / {r['p95']:.0f} / {r['p99']:.0f} "
            f"| {r['failures']} | {vs_bare} | {vs_mlflow} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, default=TEMPLATE / "build" / "bench", help="work folder (default: %(default)s)"
    )
    parser.add_argument("--seconds", type=int, default=30, help="Locust run time per server (default: %(default)s)")
    parser.add_argument("--users", type=int, default=50, help="Locust users (default: %(default)s)")
    parser.add_argument("--spawn-rate", type=float, default=10, help="Locust spawn rate (default: %(default)s)")
    parser.add_argument(
        "--models",
        default="logistic_regression,hist_gradient_boosting,random_forest",
        help="train.model values to serve, the first one also under mlflow (default: %(default)s)",
    )
    parser.add_argument("--no-mlflow", action="store_true", help="skip `mlflow models serve`")
    args = parser.parse_args()
    args.out = args.out.resolve()
    project, package = generate(args)
    env = {**os.environ, "BENTOML_HOME": str(args.out / "bentoml")}
    venv = None if args.no_mlflow else mlflow_env(args, project)
    rows = []
    for index, model in enumerate(args.models.split(",")):
        tag = train_and_build(project, model, env)
        bentoml = str(project / ".venv/bin/bentoml")
        runs = [
            ("bentoml service (2 workers, lean path)", [bentoml, "serve", tag, "--port", "{port}"], "/readyz", {}),
            (
                "bare uvicorn (1 worker)",
                [str(project / ".venv/bin/uvicorn"), "bare_app:app", "--app-dir", str(HERE), "--port", "{port}",
                 "--log-level", "warning", "--no-access-log"],
                "/readyz",
                {"BENCH_PACKAGE": package},
            ),
        ]  # fmt: skip
        if venv and index == 0:
            model_dir = args.out / "mlflow-model"
            shutil.rmtree(model_dir, ignore_errors=True)
            sh([str(venv / "bin/python"), str(HERE / "mlflow_model.py"), str(project), str(model_dir)], project)
            for workers in (1, 2):
                command = [str(venv / "bin/mlflow"), "models", "serve", "-m", str(model_dir), "--env-manager", "local",
                           "--host", "127.0.0.1", "--port", "{port}", "--workers", str(workers)]  # fmt: skip
                runs.append((f"mlflow models serve ({workers} worker{'s' * (workers > 1)})", command, "/ping", {}))
        for server, command, ready, extra in runs:
            step(f"{model}: {server}, {args.users} users, {args.seconds} s")
            bench_env = {"BENCH_PAYLOAD": "mlflow", "BENCH_PATH": "/invocations"} if server.startswith("mlflow") else {}
            figures = load(
                project,
                command,
                ready,
                {**env, **extra, "PATH": f"{venv}/bin:{env['PATH']}" if venv else env["PATH"]},
                args,
                bench_env,
            )
            rows.append({"model": model, "server": server, **figures})
            print(f"    {figures}", flush=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    print()
    print(f"Locust {args.users} users, spawn {args.spawn_rate}/s, {args.seconds} s per server, one record per request,")
    print(f"Locust and the server on the same {os.cpu_count()} cores.")
    print(table(rows))


if __name__ == "__main__":
    main()
