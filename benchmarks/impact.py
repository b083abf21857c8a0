"""Impact benchmark: `make impact` replaying 1,000,000 logged requests through a candidate and its champion.

Generates a project with default answers and trains two models of its default family (logistic
regression): the champion as generated, the candidate with another `train.logistic_regression.C`,
each committed, so that both are build versions (`0.1.0-<commit>`) whose model DVC reads at its
commit, as `make impact` reads any version. Writes `--rows` records into a local log folder with
the service's own writer (PredictionLog, one request each, the test set's records with their numbers
jittered so that they are not ~100 values repeated), labels `--labelled-share` of them in the folder's
SQLite label store, points deploy/local at the champion, then times

    make impact CANDIDATE=<candidate> DATA=<the folder>

under `/usr/bin/time -v`, its bytecode compiled first (`python -m compileall`: a machine that sets
PYTHONDONTWRITEBYTECODE, as this one does, would otherwise recompile ~2,500 modules on every run, ~10 s
that a laptop's second run or a cached CI does not pay): wall seconds (Python's start, DuckDB's read
of the log, both models on every record, the segments, PSI, 2 x 200 one-record latency calls, the
report and its plot) and peak memory —
GNU time's "Maximum resident set size", the largest resident set of any process it waited for (the
one Python process: DuckDB and scikit-learn run inside it). Writes --results (benchmarks/impact.json).
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bench
import yaml

HERE = Path(__file__).resolve().parent
LIMITS = {"seconds": 60, "peak_rss_mb": 2048}  # issue 18: 1,000,000 rows through both models
# The project's own writer and label store, run in its venv from its root.
WRITER = """
import json, random, sys, time
from pathlib import Path
sys.path.insert(0, "src")
import numpy as np
from {package}.core.labels import Label, open_store
from {package}.core.requestids import RequestIds
from {package}.core.schema import Schema
from {package}.serving.predictionlog import PredictionLog
folder, count, share, version = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
schema = Schema.load()
test = schema.read_split(Path("data/processed/test.csv"))
classes = list(schema.target.classes)
ids = RequestIds(b"b" * 32)
rng = np.random.default_rng(0)
random.seed(0)
started = time.monotonic()
log = PredictionLog(folder, version, 1, segment_seconds=3600, queue_rows=count + 1, buffer_bytes=2**40)
start, labels = time.time() - 3600, []
for first in range(0, count, 10_000):  # in chunks: a million dicts at once would be gigabytes
    size = min(10_000, count - first)
    rows = test.loc[rng.integers(0, len(test), size)].reset_index(drop=True)
    for name in schema.numeric:  # a few percent of jitter: distinct values, the same distribution's shape
        rows[name] = (rows[name] * rng.normal(1.0, 0.03, size)).round(4)
    for k, record in enumerate(schema.client_records(rows)):
        n = first + k
        arrived = start + n * 3000 / count
        rid = ids.mint(1, arrived)
        log.put((rid, arrived, "predict", 200, 0.5, [record], [classes[n % len(classes)]]))
        if random.random() < share:
            labels.append(Label(rid, 0, json.dumps(random.choice(classes)), arrived + 60, "bench"))
    while log.queue.qsize():
        time.sleep(0.005)
log.close(timeout=3600)
store = open_store(None, folder)
for first in range(0, len(labels), 10_000):
    store.insert(labels[first : first + 10_000])
store.close()
print(json.dumps({{"written": log.written, "dropped": log.dropped, "labels": len(labels),
                  "write_s": round(time.monotonic() - started, 1)}}))
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=bench.TEMPLATE / "build" / "bench-impact", help="work folder")
    parser.add_argument("--template", type=Path, default=bench.TEMPLATE, help="template to generate from")
    parser.add_argument("--rows", type=int, default=1_000_000, help="logged records (default: %(default)s)")
    parser.add_argument("--labelled-share", type=float, default=0.1, help="share of them labelled")
    parser.add_argument("--candidate-c", type=float, default=0.05, help="the candidate's logistic_regression.C")
    parser.add_argument("--results", type=Path, default=HERE / "impact.json", help="results file")
    parser.add_argument("--reuse", action="store_true", help="time again on the project and log of the last run")
    args = parser.parse_args(argv)
    args.out, args.template = args.out.resolve(), args.template.resolve()
    return args


def commit_model(project: Path, message: str) -> str:
    """`make pipeline`, commit everything; the version `make impact` takes for this commit."""
    bench.sh(["make", "pipeline"], project)
    bench.sh(["git", "add", "--all"], project)
    bench.sh(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", message], project)
    return "0.1.0-" + bench.sh(["git", "rev-parse", "--short=7", "HEAD"], project).strip()


def timed_impact(project: Path, candidate: str, folder: Path) -> dict[str, Any]:
    """`make impact` under /usr/bin/time -v: wall seconds, peak RSS, exit code."""
    command = ["/usr/bin/time", "-v", "make", "--no-print-directory", "impact", f"CANDIDATE={candidate}"]
    done = subprocess.run([*command, f"DATA={folder}"], cwd=project, capture_output=True, text=True)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if not wall or not peak or done.returncode not in (0, 1):
        sys.exit(f"error: `make impact` exited {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}")
    hours, minutes, seconds = int(wall.group(1) or 0), int(wall.group(2)), float(wall.group(3))
    return {
        "seconds": round(3600 * hours + 60 * minutes + seconds, 1),
        "peak_rss_mb": round(int(peak.group(1)) / 1024),
        "exit": done.returncode,
    }


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    """The project, its two committed models and the written log; what `--reuse` finds again (state.json)."""
    bench_args = bench.parse_args(["--out", str(args.out), "--template", str(args.template), "--no-mlflow"])
    project, package = bench.generate(bench_args)
    bench.step("the champion: make pipeline (logistic regression as generated), commit")
    champion = commit_model(project, "bench: champion")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["logistic_regression"]["C"] = args.candidate_c
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    bench.step(f"the candidate: make pipeline with logistic_regression.C={args.candidate_c}, commit")
    candidate = commit_model(project, "bench: candidate")
    (project / "deploy/local/environment.yaml").write_text(f"version: '{champion}'\n")
    folder = args.out / "log"
    bench.step(f"writing {args.rows:,} logged requests with the service's PredictionLog into {folder}")
    code = WRITER.format(package=package)
    python = str(project / ".venv/bin/python")
    written = json.loads(
        bench.sh([python, "-c", code, str(folder), str(args.rows), str(args.labelled_share), champion], project)
        .strip()
        .splitlines()[-1]
    )
    state = {"project": str(project), "folder": str(folder), "champion": champion, "candidate": candidate}
    state |= {"written": written, "candidate_c": args.candidate_c}
    (args.out / "state.json").write_text(json.dumps(state, indent=2))
    return state


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    kept = args.out / "state.json"
    state = json.loads(kept.read_text()) if args.reuse and kept.is_file() else prepare(args)
    project, folder = Path(state["project"]), Path(state["folder"])
    champion, candidate, written = state["champion"], state["candidate"], state["written"]
    bench.step("compiling the project's bytecode (python -m compileall)")
    python = str(project / ".venv/bin/python")
    subprocess.run([python, "-m", "compileall", "-q", "-j", "0", ".venv/lib", "src"], cwd=project, check=False)
    bench.step(f"make impact CANDIDATE={candidate} DATA={folder} (timed)")
    started = time.monotonic()
    timed = timed_impact(project, candidate, folder)
    report = json.loads((project / f"reports/impact/local-{candidate}.json").read_text())
    rows = report["rows"]["replayed"]
    results = {
        "date": datetime.date.today().isoformat(),
        "machine": bench.machine(),
        "model": "logistic_regression",
        "champion": champion,
        "candidate": f"{candidate} (logistic_regression.C={state['candidate_c']})",
        "log": {**written, "megabytes": round(sum(p.stat().st_size for p in folder.rglob("*.jsonl")) / 1e6, 1)},
        "replayed": rows,
        "labelled": report["rows"]["labelled"],
        "seconds": timed["seconds"],
        "rows_per_second": round(rows / timed["seconds"]) if timed["seconds"] else None,
        "peak_rss_mb": timed["peak_rss_mb"],
        "memory_measured_as": "GNU time -v: Maximum resident set size of the make impact run (its one Python process)",
        "limits": LIMITS,
        "within_limits": timed["seconds"] <= LIMITS["seconds"] and timed["peak_rss_mb"] <= LIMITS["peak_rss_mb"],
        "verdict": report["verdict"],
        "disagreement": report["disagreement"],
        "score_psi": report["score_psi"],
        "segments": len(report["segments"]),
        "latency_ms": report["latency"],
        "benchmark_seconds": round(time.monotonic() - started, 1),
    }
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
