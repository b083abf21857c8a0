"""Monitoring benchmark: what the prediction log costs the service, and how `make monitor` scales.

Generates a project with default answers, trains and builds its default model, then:
1. loads the built bento with the prediction log off and on, alternating `--rounds` times
   (Locust, `--users`, `--seconds`), and counts the log's rows against Locust's successful
   requests after each logged round (the server is stopped with SIGTERM first, as a deploy does);
2. writes a log of `--predictions` records with the service's own writer (PredictionLog, the
   test set's records, outputs from the model's classes) and `--feedback-share` of them labelled
   through the store the feedback endpoint uses, then times `make monitor` over it
   (`/usr/bin/time -v`: wall seconds and peak memory).
Writes --results (benchmarks/monitoring.json) and the section of docs/benchmarks.md rendered from it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import bench
import payloads
import render
from render import Results, Row

HERE = Path(__file__).resolve().parent
WRITER = """
import json, os, random, sys, time
from pathlib import Path
sys.path.insert(0, "src")
from {package}.serving.predictionlog import PredictionLog, connect
from {package}.core.schema import Schema
folder, count, share = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
schema = Schema.load()
records = schema.client_records(schema.read_split(Path("data/processed/test.csv")))
classes = list(schema.target.classes)
random.seed(0)
log = PredictionLog(folder, "bench", worker=1)
start, labels = time.time() - 3600, []
for n in range(count):
    rid = os.urandom(16).hex()
    output = classes[n % len(classes)]
    log.put((rid, start + n * 3600 / count, "predict", 200, 0.5, [records[n % len(records)]], [output]))
    if random.random() < share:
        labels.append((rid, 0, json.dumps(random.choice(classes)), "2026-01-01T00:00:00.000000Z"))
    if n % 50000 == 0:
        time.sleep(0.05)  # let the writer keep up instead of queueing everything in memory
log.close()
store = connect(folder)
store.execute("BEGIN")
store.executemany("INSERT INTO feedback VALUES (?, ?, ?, ?)", labels)
store.execute("COMMIT")
print(json.dumps({{"written": log.written, "labels": len(labels)}}))
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=bench.TEMPLATE / "build" / "bench-monitoring", help="work folder")
    parser.add_argument("--template", type=Path, default=bench.TEMPLATE, help="template to generate from")
    parser.add_argument("--seconds", type=int, default=20, help="Locust run time per round (default: %(default)s)")
    parser.add_argument("--users", type=int, default=50, help="Locust users (default: %(default)s)")
    parser.add_argument("--spawn-rate", type=float, default=10, help="Locust spawn rate (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="off/on pairs of loads (default: %(default)s)")
    parser.add_argument("--predictions", type=int, default=1_000_000, help="records in the monitored log")
    parser.add_argument("--feedback-share", type=float, default=0.1, help="share of them labelled")
    parser.add_argument("--results", type=Path, default=HERE / "monitoring.json", help="results file")
    parser.add_argument("--docs", type=Path, default=bench.TEMPLATE / "docs" / "benchmarks.md", help="page to update")
    parser.add_argument("--render-only", action="store_true", help="only re-render the page's section")
    args = parser.parse_args(argv)
    args.out, args.template = args.out.resolve(), args.template.resolve()
    return args


def log_rows(folder: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in (folder / "predictions").glob("*.jsonl"))


def logging_cost(args: argparse.Namespace, project: Path, tag: str, env: Mapping[str, str]) -> list[Row]:
    """Off/on pairs of loads of the bento; each logged round's rows against its successful requests."""
    rows = []
    check_rows = payloads.records(project)[: bench.CHECK_RECORDS]
    expected = bench.reference_predictions(project, args.package, check_rows)
    command = [str(project / ".venv/bin/bentoml"), "serve", tag, "--port", "{port}"]
    for round_ in range(1, args.rounds + 1):
        for logged in (False, True):
            folder = args.out / "monitoring" / f"round-{round_}-{'on' if logged else 'off'}"
            settings = {"MODELOPS_PREDICTION_LOG": str(logged).lower(), "MODELOPS_MONITORING_DIR": str(folder)}
            setting = bench.Setting(
                "logistic_regression", "bentoml", None, "records", command, "/readyz", {**env, **settings}
            )
            bench.step(f"round {round_}: prediction log {'on' if logged else 'off'}, {args.seconds} s")
            row = bench.measure(setting, project, args, check_rows, expected)
            row.update(round=round_, prediction_log=logged)
            if logged:
                row["log_rows"] = log_rows(folder)
                row["answered"] = row["requests"] - row["failures"] + row["agree"]  # Locust's, and the answer check's
            rows.append(row)
            print(f"    {row}", flush=True)
    return rows


def monitor_scale(args: argparse.Namespace, project: Path) -> Row:
    """Write a log of args.predictions records with the service's writer, then time `make monitor` on it."""
    folder = args.out / "scale"
    bench.step(f"writing {args.predictions:,} logged predictions ({args.feedback_share:.0%} labelled) to {folder}")
    python = str(project / ".venv/bin/python")
    writer = [python, "-c", WRITER.format(package=args.package), str(folder), str(args.predictions)]
    written = json.loads(bench.sh([*writer, str(args.feedback_share)], project))
    size_mb = sum(p.stat().st_size for p in (folder / "predictions").glob("*.jsonl")) / 1e6
    bench.step("make monitor over it")
    timed = subprocess.run(
        ["/usr/bin/time", "-v", "make", "--no-print-directory", "monitor", f"DATA={folder}"],
        cwd=project, capture_output=True, text=True,
    )  # fmt: skip
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", timed.stderr)
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timed.stderr)
    if not wall or not peak:
        sys.exit(f"error: no /usr/bin/time figures: {timed.stderr[-1000:]}")
    hours, minutes, seconds = int(wall.group(1) or 0), int(wall.group(2)), float(wall.group(3))
    summary = json.loads((project / "reports/monitoring/summary.json").read_text())
    with sqlite3.connect(folder / "feedback.sqlite") as connection:
        labels = connection.execute("SELECT count(*) FROM feedback").fetchone()[0]
    return {
        "predictions": written["written"],
        "labels": labels,
        "log_mb": round(size_mb, 1),
        "wall_s": round(hours * 3600 + minutes * 60 + seconds, 2),
        "peak_rss_mb": round(int(peak.group(1)) / 1024, 1),
        "judged_records": summary["predictions"],
        "judged_labelled": summary["labelled"],
        "decision": summary["decision"],
        "monitor_exit": timed.returncode,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.render_only:
        bench_args = bench.parse_args(["--out", str(args.out), "--template", str(args.template), "--no-mlflow"])
        project, args.package = bench.generate(bench_args)
        env = {"BENTOML_HOME": str(args.out / "bentoml")}
        tag = bench.train_and_build(project, "logistic_regression", {**os.environ, **env})
        results: Results = {
            "date": datetime.date.today().isoformat(),
            "machine": bench.machine(),
            "settings": {
                "users": args.users,
                "seconds": args.seconds,
                "rounds": args.rounds,
                "versions": bench.versions(project),
            },
            "logging": logging_cost(args, project, tag, env),
            "scale": monitor_scale(args, project),
        }
        args.results.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.results}")
    measured = json.loads(args.results.read_text()) if args.results.exists() else None
    page = args.docs.read_text() if args.docs.exists() else render.render(None)
    args.docs.write_text(render.with_monitoring(page, measured))
    print(f"wrote {args.docs}")


if __name__ == "__main__":
    main()
