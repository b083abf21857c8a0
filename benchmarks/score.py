"""Batch scoring benchmark: `make score` over 1,000,000 rows with the default model, and each model family.

Takes generated projects whose pipeline has run (`make install pipeline` in each: the model,
schema and train split): `--project` (its own model, the default one) and, with `--also`, more
(e.g. one generated with `task=regression`). Without `--project` it generates both from the
template (default answers, and `task=regression`) under the work folder and runs their pipelines.
For each project writes `--rows` records drawn with replacement from its train split (seeded) to a
CSV, compiles the venv's bytecode first (`python -m compileall`: with PYTHONDONTWRITEBYTECODE set,
as on this machine, every run would otherwise recompile the imports), then times

    python -m <package>.serving.score --input <the CSV> --output <scores> --no-progress

under `/usr/bin/time -v`, the prediction log on (a fresh monitoring folder), one model thread as
in the image (IMAGE_THREADS): wall seconds, rows/s and peak memory (GNU time's "Maximum resident
set size"). The default model runs twice (both runs must write the same bytes); then every family
`train.model` can name for the project's task (core/estimators.py) is fitted on the project's train
features with its params.yaml section and scored once, in a copy of the project (its git history,
data and features; not its venv). Writes --results (benchmarks/score.json) and its section of
docs/benchmarks.md (`--render-only`: the section only, from --results).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import bench
import render

HERE = Path(__file__).resolve().parent
LIMITS = {"seconds": 30, "peak_rss_mb": 1536}  # issue 19: 1,000,000 rows with the default model
IMAGE_THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # as Dockerfile.j2
SAMPLE = """
import json, sys
import pandas as pd
names = [f["name"] for f in json.load(open("data/processed/schema.json"))["features"]]
frame = pd.read_csv("data/processed/train.csv")[names]
frame.sample(n=int(sys.argv[2]), replace=True, random_state=0).to_csv(sys.argv[1], index=False)
"""
# Run in a project's venv from a copy of it: fit one family on the train features, as the train stage does.
FIT = """
import json, sys
import joblib, yaml
from {package}.core import paths
from {package}.core.artifacts import read_table
from {package}.core.estimators import ESTIMATORS, build_estimator, split_xy
params = yaml.safe_load(open("params.yaml"))
if sys.argv[1] == "--list":
    print(json.dumps({{"task": params["task"], "families": list(ESTIMATORS[params["task"]])}}))
    raise SystemExit
x, y = split_xy(read_table(paths.FEATURES_TRAIN, "featurize"), params["ingest"]["target"])
model = build_estimator(params["task"], {{**params["train"], "model": sys.argv[1]}}).fit(x.to_numpy(), y.to_numpy())
joblib.dump(model, paths.MODEL)
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, help="a generated project after `make pipeline` (its default model)")
    parser.add_argument("--also", type=Path, action="append", default=[], help="another project whose families to time")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows scored per run (default: %(default)s)")
    parser.add_argument("--chunk-rows", type=int, default=50_000, help="rows per chunk (default: %(default)s)")
    parser.add_argument("--no-families", action="store_true", help="time the default model only")
    parser.add_argument("--work", type=Path, default=HERE.parent / "build" / "bench-score", help="work folder")
    parser.add_argument("--results", type=Path, default=HERE / "score.json", help="results file")
    parser.add_argument("--docs", type=Path, default=HERE.parent / "docs" / "benchmarks.md", help="page to update")
    parser.add_argument("--render-only", action="store_true", help="only re-render the page's section from --results")
    return parser.parse_args(argv)


def generate(work: Path) -> list[Path]:
    """A default project and a regression one from this template, installed, their pipelines run."""
    projects = []
    for name, answers in (("default", []), ("regression", ["task=regression"])):
        out = work / "projects" / name
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        bench.step(f"generating a project ({name}) in {out}")
        cookiecutter = str(Path(sys.executable).with_name("cookiecutter"))
        bench.sh([cookiecutter, "--no-input", "-o", str(out), str(HERE.parent), *answers], HERE.parent)
        project = next(p for p in out.iterdir() if p.is_dir())
        bench.sh(["make", "install"], project)
        bench.sh([".venv/bin/dvc", "config", "--local", "core.site_cache_dir", str(out / "dvc-site")], project)
        bench.step(f"{name}: make pipeline")
        bench.sh(["make", "pipeline"], project)
        projects.append(project)
    return projects


def package_of(project: Path) -> str:
    found = [p.name for p in (project / "src").iterdir() if (p / "__init__.py").is_file()]
    if len(found) != 1:
        raise SystemExit(f"error: {project} is not a generated project (src/ holds {found}) — pass --project")
    return found[0]


def timed(
    cwd: Path, python: Path, package: str, source: Path, output: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """One run under GNU time: wall and CPU seconds, rows/s, peak resident memory, rows in the prediction log."""
    monitoring = output.with_suffix(".monitoring")
    shutil.rmtree(monitoring, ignore_errors=True)
    env = {**os.environ, **IMAGE_THREADS, "MODELOPS_MONITORING_DIR": str(monitoring)}
    command = [str(python), "-m", f"{package}.serving.score", "--input", str(source), "--output", str(output)]
    command += ["--chunk-rows", str(args.chunk_rows), "--no-progress"]
    done = subprocess.run(["/usr/bin/time", "-v", *command], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: the scoring run failed:\n{done.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    cpu = re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", done.stderr)
    assert wall and peak and len(cpu) == 2, done.stderr
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    logged = sum(1 for path in (monitoring / "predictions").glob("*.jsonl") for _ in path.open("rb"))
    return {
        "seconds": round(seconds, 1),
        "rows_per_s": round(args.rows / seconds),
        "cpu_s": round(sum(map(float, cpu)), 1),  # user + system: what the run costs, whatever else runs
        "peak_rss_mb": round(int(peak.group(1)) / 1024),
        "logged_rows": logged,
    }


def sample(project: Path, python: Path, work: Path, rows: int, name: str) -> Path:
    """`rows` records of the project's train split (seeded, with replacement) as a CSV, made once."""
    source = (work / f"rows-{name}-{rows}.csv").resolve()
    if not source.exists():
        subprocess.run([str(python), "-c", SAMPLE, str(source), str(rows)], cwd=project, check=True)
    return source


def families(project: Path, package: str, source: Path, args: argparse.Namespace, name: str) -> list[dict[str, Any]]:
    """Every family of the project's task fitted on its train features and timed once, in a copy of the project."""
    python = project / ".venv" / "bin" / "python"
    fit = FIT.format(package=package)
    listed = subprocess.run([str(python), "-c", fit, "--list"], cwd=project, check=True, capture_output=True, text=True)
    found = json.loads(listed.stdout)
    copy = args.work / f"project-{name}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".venv", "build", "__pycache__"))
    measured = []
    for family in found["families"]:
        print(f"==> {found['task']} {family}", file=sys.stderr)
        subprocess.run([str(python), "-c", fit, family], cwd=copy, check=True)
        run = timed(copy, python, package, source, (args.work / f"scores-{name}-{family}.csv").resolve(), args)
        measured.append({"task": found["task"], "model": family, **run})
    return measured


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.render_only:
        write_docs(json.loads(args.results.read_text()), args.docs)
        return
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    host = bench.machine()
    compiled = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}
    projects = [p.resolve() for p in [args.project, *args.also]] if args.project else generate(args.work)
    sources = {}
    for n, project in enumerate(projects):
        python = project / ".venv" / "bin" / "python"
        subprocess.run([str(python), "-m", "compileall", "-q", ".venv/lib", "src"], cwd=project, env=compiled)
        sources[project] = sample(project, python, args.work, args.rows, f"p{n}")
    project, package = projects[0], package_of(projects[0])
    python = project / ".venv" / "bin" / "python"
    runs = [
        timed(project, python, package, sources[project], (args.work / f"scores-{n}.csv").resolve(), args)
        for n in (1, 2)
    ]
    same = (args.work / "scores-1.csv").read_bytes() == (args.work / "scores-2.csv").read_bytes()
    worst = {"seconds": max(r["seconds"] for r in runs), "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}
    measured = [] if args.no_families else [
        row
        for n, other in enumerate(projects)
        for row in families(other, package_of(other), sources[other], args, f"p{n}")
    ]  # fmt: skip
    results = {
        "date": datetime.date.today().isoformat(),
        "machine": host,
        "rows": args.rows,
        "chunk_rows": args.chunk_rows,
        "runs": runs,
        "same_bytes": same,
        "limits": LIMITS,
        "within_limits": all(worst[k] <= v for k, v in LIMITS.items()),
        "families": measured,
    }
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    json.dump(results, sys.stdout, indent=2)
    print()
    write_docs(results, args.docs)


def write_docs(results: dict[str, Any], docs: Path) -> None:
    """Replace (or append) the batch scoring section of the benchmarks page (and the impact one, from its file)."""
    page = docs.read_text() if docs.exists() else render.render(None)
    page = render.with_section(page, render.SCORE, render.score_section(results))
    docs.write_text(render.with_section(page, render.IMPACT, render.impact_section(render.measured("impact.json"))))
    print(f"wrote {docs}", file=sys.stderr)


if __name__ == "__main__":
    main()
