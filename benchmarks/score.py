"""Batch scoring benchmark: `make score` over 1,000,000 rows of a generated project's default model.

Takes a generated project whose pipeline has run (`make install pipeline` in it: its model, schema
and train split), writes `--rows` records drawn with replacement from its train split (seeded) to a
CSV, compiles the venv's bytecode first (`python -m compileall`: with PYTHONDONTWRITEBYTECODE set,
as on this machine, every run would otherwise recompile the imports), then times

    python -m <package>.serving.score --input <the CSV> --output <scores> --no-progress

under `/usr/bin/time -v`, the prediction log on (a fresh monitoring folder): wall seconds, rows/s
and peak memory (GNU time's "Maximum resident set size"). Runs twice and checks that both runs
wrote the same bytes. Writes --results (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SAMPLE = """
import json, sys
import pandas as pd
names = [f["name"] for f in json.load(open("data/processed/schema.json"))["features"]]
frame = pd.read_csv("data/processed/train.csv")[names]
frame.sample(n=int(sys.argv[2]), replace=True, random_state=0).to_csv(sys.argv[1], index=False)
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, required=True, help="a generated project after `make pipeline`")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows scored (default: %(default)s)")
    parser.add_argument("--chunk-rows", type=int, default=50_000, help="rows per chunk (default: %(default)s)")
    parser.add_argument("--work", type=Path, default=HERE.parent / "build" / "bench-score", help="work folder")
    parser.add_argument("--results", type=Path, default=HERE / "score.json", help="results file")
    return parser.parse_args(argv)


def package_of(project: Path) -> str:
    found = [p.name for p in (project / "src").iterdir() if (p / "__init__.py").is_file()]
    if len(found) != 1:
        raise SystemExit(f"error: {project} is not a generated project (src/ holds {found}) — pass --project")
    return found[0]


def timed(project: Path, package: str, source: Path, output: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One run under GNU time: seconds, rows/s, peak resident memory."""
    monitoring = output.with_suffix(".monitoring")
    env = {**os.environ, "MODELOPS_MONITORING_DIR": str(monitoring)}
    command = [".venv/bin/python", "-m", f"{package}.serving.score", "--input", str(source), "--output", str(output)]
    command += ["--chunk-rows", str(args.chunk_rows), "--no-progress"]
    done = subprocess.run(["/usr/bin/time", "-v", *command], cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: the scoring run failed:\n{done.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    assert wall and peak, done.stderr
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    logged = sum(1 for path in (monitoring / "predictions").glob("*.jsonl") for _ in path.open("rb"))
    return {
        "seconds": round(seconds, 1),
        "rows_per_s": round(args.rows / seconds),
        "peak_rss_mb": round(int(peak.group(1)) / 1024),
        "logged_rows": logged,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    project = args.project.resolve()
    package = package_of(project)
    args.work.mkdir(parents=True, exist_ok=True)
    source = (args.work / f"rows-{args.rows}.csv").resolve()
    if not source.exists():
        subprocess.run([".venv/bin/python", "-c", SAMPLE, str(source), str(args.rows)], cwd=project, check=True)
    compiled = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}
    subprocess.run([".venv/bin/python", "-m", "compileall", "-q", ".venv/lib", "src"], cwd=project, env=compiled)
    runs = [timed(project, package, source, (args.work / f"scores-{n}.csv").resolve(), args) for n in (1, 2)]
    same = (args.work / "scores-1.csv").read_bytes() == (args.work / "scores-2.csv").read_bytes()
    results = {
        "rows": args.rows,
        "chunk_rows": args.chunk_rows,
        "runs": runs,
        "same_bytes": same,
        "nproc": os.cpu_count(),
    }
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    json.dump(results, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
