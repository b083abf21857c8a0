"""Monitoring benchmark: what the production data plane costs the service, and how `make monitor` scales.

Generates a project with default answers, trains and builds its default model, and starts the
services the generated project's own tests start (its tests/services.py: moto's S3 server from the
project's venv and a throwaway PostgreSQL from the installed binaries). Then, in one run:
1. loads, in each of `--rounds` rounds (Locust, `--users`, `--seconds`), the bare app (bare_app.py,
   the same Predictor and request model) at `--bare-workers`, then the built bento with the
   prediction log off and on, feedback in PostgreSQL in both. A logged round ships its segments to the
   bucket (MODELOPS_LOG_SINK=s3://bench/logs/round-N); after it the server is stopped with SIGTERM
   (as a deploy does) and the rows in the bucket are counted against the answered requests;
2. times feedback as a client sees it: `--feedback-labels` predictions, then one label per request
   for each, sequentially, with PostgreSQL (MODELOPS_DATABASE_URL) and with the embedded SQLite;
3. writes `--predictions` records with the service's own writer (PredictionLog, the test set's
   records) into the bucket as the service ships them (segments), labels `--feedback-share` of them
   in PostgreSQL through the label store the feedback endpoint writes, and times
   `make monitor DATA=s3://bench/scale` with the database URL (`/usr/bin/time -v`: wall seconds and
   peak memory), the monitor copying the bucket's segments first.
Writes --results (benchmarks/monitoring.json) and the section of docs/benchmarks.md rendered from it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import importlib.util
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import bench
import payloads
import render
from render import Results, Row

HERE = Path(__file__).resolve().parent
BUCKET = "bench"
FEEDBACK_TOKEN = "bench-feedback-token-" + "0" * 16
# The project's own writer and label store, run in its venv from its root: `--predictions` rows into the
# sink as segments (uploaded by the writer), `--feedback-share` of them labelled in the store.
WRITER = """
import json, os, random, sys, time
from pathlib import Path
sys.path.insert(0, "src")
from {package}.core.labels import Label, open_store
from {package}.core.requestids import RequestIds
from {package}.core.schema import Schema
from {package}.serving.predictionlog import PredictionLog
folder, sink, count, share = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
schema = Schema.load()
records = schema.client_records(schema.read_split(Path("data/processed/test.csv")))
classes = list(schema.target.classes)
ids = RequestIds(os.environ["MODELOPS_SIGNING_KEY"].encode())
random.seed(0)
started = time.monotonic()
# queue and buffer as large as the run: the bench writes far faster than a service answers
log = PredictionLog(folder, "bench", 1, sink=sink, segment_seconds=3600, queue_rows=count + 1, buffer_bytes=2**40)
start, labels = time.time() - 3600, []
for n in range(count):
    arrived = start + n * 3600 / count
    rid = ids.mint(1, arrived)
    log.put((rid, arrived, "predict", 200, 0.5, [records[n % len(records)]], [classes[n % len(classes)]]))
    if random.random() < share:
        labels.append(Label(rid, 0, json.dumps(random.choice(classes)), arrived + 60, "bench"))
    if n % 10_000 == 9_999:  # batches of a busy service's size, so segments close by size as they would
        while log.queue.qsize():
            time.sleep(0.005)
log.close(timeout=3600)
logged = time.monotonic() - started
store = open_store(os.environ.get("MODELOPS_DATABASE_URL"), folder)
for first in range(0, len(labels), 10_000):
    store.insert(labels[first : first + 10_000])
store.close()
print(json.dumps({{"written": log.written, "dropped": log.dropped, "uploaded": log.uploaded,
                  "labels": len(labels), "write_s": round(logged, 1)}}))
"""
# Rows and segments under a sink URL, read with the project's storage client.
COUNTER = """
import json, sys
sys.path.insert(0, "src")
from {package}.core.storage import filesystem
fs, root = filesystem(sys.argv[1])
found = [p for p in (fs.find(root) if fs.exists(root) else []) if p.endswith(".jsonl")]
rows = sum(fs.cat_file(p).count(b"\\n") for p in found)
print(json.dumps({{"rows": rows, "segments": len(found), "mb": round(sum(fs.size(p) for p in found) / 1e6, 1)}}))
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=bench.TEMPLATE / "build" / "bench-monitoring", help="work folder")
    parser.add_argument("--template", type=Path, default=bench.TEMPLATE, help="template to generate from")
    parser.add_argument("--seconds", type=int, default=20, help="Locust run time per round (default: %(default)s)")
    parser.add_argument("--users", type=int, default=50, help="Locust users (default: %(default)s)")
    parser.add_argument("--spawn-rate", type=float, default=10, help="Locust spawn rate (default: %(default)s)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of loads: bare, log off, log on (default: %(default)s)"
    )
    parser.add_argument(
        "--bare-workers",
        type=bench.ints,
        default="2",
        help="bare uvicorn worker counts loaded first in each round (default: %(default)s, the best in"
        " bench-serving's results; '' for none)",
    )
    parser.add_argument(
        "--feedback-labels", type=int, default=300, help="labels timed per store (default: %(default)s)"
    )
    parser.add_argument("--predictions", type=int, default=1_000_000, help="records in the monitored log")
    parser.add_argument("--feedback-share", type=float, default=0.1, help="share of them labelled")
    parser.add_argument("--results", type=Path, default=HERE / "monitoring.json", help="results file")
    parser.add_argument("--docs", type=Path, default=bench.TEMPLATE / "docs" / "benchmarks.md", help="page to update")
    parser.add_argument("--render-only", action="store_true", help="only re-render the page's section")
    args = parser.parse_args(argv)
    args.out, args.template = args.out.resolve(), args.template.resolve()
    return args


def test_services(project: Path) -> ModuleType:
    """The generated project's tests/services.py (standard library only), imported by path."""
    spec = importlib.util.spec_from_file_location("project_services", project / "tests" / "services.py")
    if spec is None or spec.loader is None:
        sys.exit(f"error: no tests/services.py in {project} — generate from a template that has it")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def project_python(args: argparse.Namespace, project: Path, code: str, *argv: str, env: Mapping[str, str]) -> Any:
    """Run `code` (formatted with the package) in the project's venv from its root; its last line as JSON."""
    command = [str(project / ".venv/bin/python"), "-c", code.format(package=args.package), *argv]
    return json.loads(bench.sh(command, project, {**os.environ, **env}).splitlines()[-1])


def logging_cost(args: argparse.Namespace, project: Path, tag: str, env: Mapping[str, str]) -> list[Row]:
    """Rounds of loads: the bare app at each --bare-workers, then the bento with the log off and on; each
    logged round's rows in the bucket against its answered requests."""
    rows = []
    check_rows = payloads.records(project)[: bench.CHECK_RECORDS]
    expected = bench.reference_predictions(project, args.package, check_rows)
    command = [str(project / ".venv/bin/bentoml"), "serve", tag, "--port", "{port}"]
    workers = bench.bento_workers(args.out / "bentoml", tag)
    bare = [str(project / ".venv/bin/uvicorn"), "bare_app:create_app", "--factory", "--app-dir", str(HERE),
            "--port", "{port}", "--log-level", "warning", "--no-access-log", "--workers"]  # fmt: skip
    for round_ in range(1, args.rounds + 1):
        for count in args.bare_workers:
            setting = bench.Setting("logistic_regression", "bare", count, "records", [*bare, str(count)], "/readyz",
                                    {"BENCH_PACKAGE": args.package})  # fmt: skip
            bench.step(f"round {round_}: bare uvicorn, {count} workers, {args.seconds} s")
            row = {**bench.measure(setting, project, args, check_rows, expected), "round": round_}
            rows.append(row)
            print(f"    {row}", flush=True)
        for logged in (False, True):
            folder = args.out / "monitoring" / f"round-{round_}-{'on' if logged else 'off'}"
            sink = f"s3://{BUCKET}/logs/round-{round_}"
            settings = {
                **env,
                "MODELOPS_PREDICTION_LOG": str(logged).lower(),
                "MODELOPS_MONITORING_DIR": str(folder),
                **({"MODELOPS_LOG_SINK": sink} if logged else {}),
            }
            setting = bench.Setting("logistic_regression", "bentoml", workers, "records", command, "/readyz", settings)
            bench.step(f"round {round_}: prediction log {'on, to ' + sink if logged else 'off'}, {args.seconds} s")
            row = bench.measure(setting, project, args, check_rows, expected)
            row.update(round=round_, prediction_log=logged)
            if logged and "error" not in row:
                counted = project_python(args, project, COUNTER, sink, env=env)
                row["log_rows"] = counted["rows"]
                row["log_segments"] = counted["segments"]
                row["left_local"] = bench_rows(folder)
                row["answered"] = row["requests"] - row["failures"] + row["agree"]  # Locust's, and the answer check's
            rows.append(row)
            print(f"    {row}", flush=True)
    return rows


def bench_rows(folder: Path) -> int:
    """Rows still in the service's local folder (not uploaded) after it stopped."""
    return sum(path.read_bytes().count(b"\n") for path in (folder / "predictions").rglob("*.jsonl"))


@contextlib.contextmanager
def serving(project: Path, tag: str, env: Mapping[str, str], log_path: Path) -> Iterator[str]:
    """The built bento on a free port until the block ends (then SIGTERM, as a deploy stops it)."""
    port = bench.free_port()
    command = [str(project / ".venv/bin/bentoml"), "serve", tag, "--port", str(port)]
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            command, cwd=project, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            bench.wait_ready(f"http://127.0.0.1:{port}/readyz", server)
            yield f"127.0.0.1:{port}"
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def post(connection: http.client.HTTPConnection, path: str, body: object, token: str | None = None) -> tuple[int, Any]:
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
    connection.request("POST", path, body=json.dumps(body), headers=headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"null")


def feedback_latency(args: argparse.Namespace, project: Path, tag: str, store: str, env: Mapping[str, str]) -> Row:
    """`--feedback-labels` predictions, then one label per request, timed one by one (ms, client side)."""
    folder = args.out / "feedback" / store
    bench.step(f"feedback in {store}: {args.feedback_labels} labels, one per request")
    log_path = args.out / "logs" / f"feedback-{store}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    records = payloads.records(project)
    with serving(project, tag, {**env, "MODELOPS_MONITORING_DIR": str(folder)}, log_path) as host:
        connection = http.client.HTTPConnection(host, timeout=30)
        answered = []
        for n in range(args.feedback_labels):
            status, body = post(connection, "/predict", {"records": [records[n % len(records)]]})
            if status == 200:
                answered.append((body["request_id"], body["predictions"][0]))
        time.sleep(1)  # the log's writer indexes requests up to FLUSH_SECONDS after their answer
        timings: list[float] = []
        statuses: dict[str, int] = {}
        for request_id, label in answered:
            started = time.perf_counter()
            status, _ = post(connection, "/feedback", {"request_id": request_id, "label": label}, FEEDBACK_TOKEN)
            timings.append((time.perf_counter() - started) * 1000)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        connection.close()
    cuts = statistics.quantiles(timings, n=100) if len(timings) > 1 else timings * 99
    return {
        "store": store,
        "labels": len(timings),
        "statuses": statuses,
        "p50_ms": round(statistics.median(timings), 2) if timings else None,
        "p95_ms": round(cuts[94], 2) if timings else None,
        "mean_ms": round(statistics.fmean(timings), 2) if timings else None,
    }


def monitor_scale(args: argparse.Namespace, project: Path, env: Mapping[str, str]) -> Row:
    """Write args.predictions records into the bucket with the service's writer, label a share in the
    database, then time `make monitor` reading the bucket."""
    folder, sink = args.out / "scale", f"s3://{BUCKET}/scale"
    bench.step(f"writing {args.predictions:,} logged predictions to {sink} ({args.feedback_share:.0%} labelled)")
    written = project_python(
        args, project, WRITER, str(folder), sink, str(args.predictions), str(args.feedback_share), env=env
    )
    print(f"    {written}", flush=True)
    counted = project_python(args, project, COUNTER, sink, env=env)
    bench.step(f"make monitor DATA={sink}")
    timed = subprocess.run(
        ["/usr/bin/time", "-v", "make", "--no-print-directory", "monitor", f"DATA={sink}"],
        cwd=project, capture_output=True, text=True, env={**os.environ, **env},
    )  # fmt: skip
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", timed.stderr)
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timed.stderr)
    if not wall or not peak:
        sys.exit(f"error: no /usr/bin/time figures: {timed.stderr[-1000:]}")
    hours, minutes, seconds = int(wall.group(1) or 0), int(wall.group(2)), float(wall.group(3))
    summary_path = project / "reports/monitoring/summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return {
        "sink": sink,
        "database": "postgresql",
        "predictions": written["written"],
        "dropped": written["dropped"],
        "write_s": written["write_s"],
        "labels": written["labels"],
        "log_mb": counted["mb"],
        "segments": counted["segments"],
        "rows_in_bucket": counted["rows"],
        "wall_s": round(hours * 3600 + minutes * 60 + seconds, 2),
        "peak_rss_mb": round(int(peak.group(1)) / 1024, 1),
        "judged_records": summary.get("predictions"),
        "judged_labelled": summary.get("labelled"),
        "decision": summary.get("decision"),
        "monitor_exit": timed.returncode,
        **({} if summary else {"monitor_output": (timed.stdout + timed.stderr)[-1500:]}),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.render_only:
        bench_args = bench.parse_args(["--out", str(args.out), "--template", str(args.template), "--no-mlflow"])
        project, args.package = bench.generate(bench_args)
        bentoml_home = {"BENTOML_HOME": str(args.out / "bentoml")}
        tag = bench.train_and_build(project, "logistic_regression", {**os.environ, **bentoml_home})
        services = test_services(project)
        bench.step("starting the test services: moto's S3 server, a throwaway PostgreSQL (tests/services.py)")
        s3 = services.start_s3(python=project / ".venv/bin/python")
        postgres = None
        try:
            services.create_bucket(s3.url, BUCKET)
            postgres = services.start_postgres()
            stores = {
                **bentoml_home, **services.S3_CREDENTIALS, "AWS_ENDPOINT_URL": s3.url,
                "MODELOPS_SIGNING_KEY": secrets.token_hex(32), "MODELOPS_FEEDBACK_TOKENS": f"bench={FEEDBACK_TOKEN}",
            }  # fmt: skip
            production = {**stores, "MODELOPS_DATABASE_URL": postgres.url}
            results: Results = {
                "date": datetime.date.today().isoformat(),
                "machine": bench.machine(),
                "settings": {
                    "users": args.users,
                    "seconds": args.seconds,
                    "rounds": args.rounds,
                    "bare_workers": args.bare_workers,
                    "sink": "moto's S3 server on loopback",
                    "database": "PostgreSQL 15 on loopback",
                    "versions": bench.versions(project),
                },
                "logging": logging_cost(args, project, tag, production),
                "feedback": [
                    feedback_latency(args, project, tag, "postgresql", production),
                    feedback_latency(args, project, tag, "sqlite", stores),
                ],
                "scale": monitor_scale(args, project, production),
            }
        finally:
            if postgres is not None:
                postgres.stop()
            s3.stop()
        args.results.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.results}")
    measured = json.loads(args.results.read_text()) if args.results.exists() else None
    page = args.docs.read_text() if args.docs.exists() else render.render(None)
    args.docs.write_text(render.with_monitoring(page, measured))
    print(f"wrote {args.docs}")


if __name__ == "__main__":
    main()
