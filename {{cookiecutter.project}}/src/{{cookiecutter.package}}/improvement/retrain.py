"""Retrain: improve the deployed model when the monitor asks, and propose it through a pull request.

`make retrain` runs, in order, each step timed:
  1 plan      the monitor's findings (reports/monitoring/summary.json) and what will change,
              written first to reports/improvement/<date>.md and plan.json
  2 data      labelled production records from the log and feedback (`--data`), checked
              (improvement/refresh.py), into data/production/ (tracked with `dvc add`)
  3 features  `dvc repro featurize`: the train set now holds the new records; the holdout does not
  4 tune      a seeded hyperparameter search (params.yaml `retrain.tune`); the chosen values land
              in params.yaml `train`
  5 train     `dvc repro`: the pipeline reproduces the challenger from params.yaml; the gate checks it
  6 serve     a short load test of the challenger against the SLO
  7 compare   champion (deployed to `--env`) and challenger on the holdout and the recent window
A challenger that passes every check of docs/criteria.yaml `retrain` is committed on a new branch
`retrain/<date>-<commit>` (params.yaml, dvc.lock, data/production.dvc, the documents and this
report); otherwise nothing changes and the reasons are printed. Either way the work tree ends as
it began, the champion's. reports/improvement/summary.json says which; `make publish` opens the
pull request, and merging it is the approval.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib

from ..core import cli, config, paths
from ..core.artifacts import read_json, read_table, write_json
from ..core.estimators import split_xy
from ..core.git import git, require_clean
from ..core.metrics import HIGHER_IS_BETTER
from ..core.schema import Schema
from ..monitoring.logs import read_live
from ..reporting.improvement import improvement_report
from . import compare, refresh, tune

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

log = logging.getLogger(__name__)
SUMMARY = paths.IMPROVEMENT / "summary.json"  # this run's outcome; not committed (see .gitignore)
PR_BODY = paths.IMPROVEMENT / "pr-body.md"  # the report, kept beside the summary for `make publish`
MONITOR_SUMMARY = Path("reports/monitoring/summary.json")
DEFAULT_DATA = Path(".deploy/local/monitoring")
PACKAGE = (__package__ or __name__).split(".")[0]


class Step:
    """Prints `==> n/7 name` and, when done, how long it took; the times go into the summary."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.number = 0

    def __call__(self, name: str, what: str) -> Step:
        self.number += 1
        self.name, self.started = name, time.perf_counter()
        print(f"==> {self.number}/7 {name}: {what}", flush=True)
        return self

    def __enter__(self) -> Step:
        return self

    def __exit__(self, *exc: object) -> None:
        self.times[self.name] = round(time.perf_counter() - self.started, 2)


def run(*command: str) -> subprocess.CompletedProcess[str]:
    """A project command; its output is logged only when it fails."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        log.info("`%s` exited %d:\n%s", " ".join(command[:4]), done.returncode, (done.stdout + done.stderr)[-3000:])
    return done


def dvc(*args: str) -> subprocess.CompletedProcess[str]:
    return run(str(Path(sys.executable).with_name("dvc")), *args)


def findings(summary: dict[str, Any]) -> dict[str, Any]:
    """What the monitor found, as the plan states it."""
    metrics = (summary.get("quality") or {}).get("metrics") or {}
    drift = summary.get("drift") or {}
    return {
        "decision": summary.get("decision"),
        "reasons": summary.get("reasons") or [],
        "missed": sorted(name for name, m in metrics.items() if not m.get("passed", True)),
        "drifted": sorted(drift.get("drifted") or []),
        "prediction_drift": bool((drift.get("prediction") or {}).get("drifted")),
        "window": summary.get("window") or {},
        "model_versions": summary.get("model_versions") or [],
    }


def plan_changes(
    params: dict[str, Any], monitor: dict[str, Any], counts: dict[str, Any], window_days: float
) -> list[list[str]]:
    """The rows of "what the retraining changes": now, and in the challenger."""
    train, settings = params["train"], params["retrain"]["tune"]
    model = train["model"]
    reference = params["featurize"].get("reference", "train")
    new_reference = "recent" if monitor["drifted"] or reference == "recent" else reference
    return [
        [
            "data window",
            "the original train set",
            f"+ {counts['production_train']} labelled production records"
            f" (last {window_days:g} days; {counts['quarantined_total']} quarantined)",
        ],
        ["recent window (judge)", "—", f"{counts['recent']} newest labelled records, never trained on"],
        [
            "features",
            "drifted: " + (", ".join(monitor["drifted"]) or "none"),
            "same inputs and transform, refitted on the new train set",
        ],
        [
            "drift reference",
            reference,
            new_reference + (" (the world the challenger is judged on)" if new_reference != reference else ""),
        ],
        ["model family", model, model],
        ["search space", json.dumps(train.get(model) or {}), json.dumps(settings["space"].get(model) or {})],
        [
            "budget",
            "—",
            f"{settings['trials']} trials or {settings['seconds']} s, {settings['folds']}-fold CV,"
            f" seed {settings['seed']}",
        ],
    ]


def comparison_plot(scores: dict[str, dict[str, dict[str, float]]], policy: dict[str, Any], path: Path) -> None:
    """The challenger's change against the champion per window and metric, in % of the champion's
    value and signed so that right is better, beside the margin and the tolerance it must meet."""
    rows = [
        (
            f"{window} {metric}",
            100 * (new - scores["champion"][window][metric]) / abs(scores["champion"][window][metric] or 1),
        )
        for window, metrics in scores["challenger"].items()
        for metric, new in metrics.items()
    ]
    signed = [change if HIGHER_IS_BETTER[label.split()[1]] else -change for label, change in rows]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    ax.barh([label for label, _ in rows], signed, color=["tab:green" if v >= 0 else "tab:red" for v in signed])
    ax.axvline(
        100 * float(policy["min_margin"]), color="tab:blue", ls="--", label=f"min_margin (recent {policy['metric']})"
    )
    ax.axvline(-100 * float(policy["holdout_tolerance"]), color="grey", ls=":", label="holdout_tolerance")
    ax.axvline(0, color="black", lw=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("change against the champion, % of its value (right is better)")
    ax.set_title("champion against challenger, on the same records")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def set_reference(text: str, value: str) -> str:
    """params.yaml with `featurize.reference` set (only that line changes)."""
    new, count = re.subn(r"(?m)^(  reference: )\w+", rf"\g<1>{value}", text)
    if count != 1:
        raise SystemExit(
            "error: params.yaml has no `featurize.reference:` line — add `  reference: train` under featurize"
        )
    return new


def restore(start: str) -> None:
    """The work tree as it was: tracked files from git, the data and artifacts from DVC's cache."""
    git("checkout", "--quiet", "--force", start)
    git("checkout", "--quiet", "--", ".")
    dvc("checkout", "--force", "--quiet")


def propose(branch: str, start: str, message: str) -> None:
    """Commit the challenger on `branch`, then come back to `start` with the champion's work tree.

    The first proposal moves data/production/ from git (its empty files) to DVC (`dvc add`).
    """
    git("switch", "--quiet", "-c", branch)
    try:
        if git("ls-files", str(paths.PRODUCTION)):
            git("rm", "-r", "--quiet", "--cached", str(paths.PRODUCTION))
        if dvc("add", "--quiet", str(paths.PRODUCTION)).returncode != 0:
            raise SystemExit(f"error: `dvc add {paths.PRODUCTION}` failed — see the log above")
        git("add", "--update")
        records = [
            paths.IMPROVEMENT,
            paths.LOAD_RECORD,
            Path(f"{paths.PRODUCTION}.dvc"),
            paths.PRODUCTION.parent / ".gitignore",
        ]
        git("add", "--", *map(str, records))
        git("commit", "--quiet", "--no-verify", "-m", message)  # the pull request's CI runs every hook
    finally:
        restore(start)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the service's monitoring folder (default: %(default)s)"
    )
    parser.add_argument(
        "--env", default="local", help="the environment whose deployed model is the champion (default: %(default)s)"
    )
    parser.add_argument(
        "--summary", type=Path, default=MONITOR_SUMMARY, help="the monitor's summary (default: %(default)s)"
    )
    parser.add_argument("--force", action="store_true", help="retrain even when the monitor did not ask")
    parser.add_argument("--trials", type=int, help="override retrain.tune.trials")
    parser.add_argument("--seconds", type=float, help="override retrain.tune.seconds")
    parser.add_argument(
        "--load-seconds", type=int, default=10, help="length of the challenger's load test (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    cli.start(args)
    started = time.perf_counter()
    require_clean("`make retrain`")
    start = git("rev-parse", "--abbrev-ref", "HEAD")
    params = config.load_params(args.params)
    criteria = config.load_criteria(params["evaluate"]["criteria"])
    schema = Schema.load()
    policy = compare.check_policy(criteria.get("retrain") or {}, schema.task)
    settings = params.get("retrain") or {}
    if "tune" not in settings or "data" not in settings:
        raise SystemExit(
            "error: params.yaml has no `retrain` section with `data` and `tune` — see the template's params.yaml"
        )
    tune_settings = {**settings["tune"], **{k: v for k, v in (("trials", args.trials), ("seconds", args.seconds)) if v}}
    if not args.summary.is_file():
        raise SystemExit(f"error: no {args.summary} — run `make monitor` first (it decides whether to retrain)")
    monitor = findings(json.loads(args.summary.read_text()))
    if monitor["decision"] != "retrain" and not args.force:
        raise SystemExit(
            f"the monitor decided {monitor['decision']!r}, not retrain — nothing to do (--force retrains anyway)"
        )
    champion = compare.champion(args.env)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    report = paths.IMPROVEMENT / f"{day}.md"
    paths.IMPROVEMENT.mkdir(parents=True, exist_ok=True)
    step = Step()
    outcome, reasons = "no proposal", []
    tuning: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = None

    with step("plan", f"what the monitor found, what will change ({report})"):
        window_days = float((criteria.get("live") or {}).get("window_days", 7))
        until = datetime.now(UTC)
        live = read_live(args.data, schema, until - timedelta(days=window_days), until)
        if live is None or live.records.empty:
            raise SystemExit(
                f"error: no prediction log in {args.data} — `make fetch-logs` or deploy and send traffic first"
            )
        production_rows = int((read_json(paths.PREPARE_RECORD, "prepare").get("production") or {}).get("rows", 0))
        refreshed = refresh.refresh(live, schema, refresh.read_known(schema, production_rows), settings["data"])
        plan = {
            "env": args.env,
            "champion": champion.version,
            "monitor": monitor,
            "data": refreshed.counts,
            "changes": plan_changes(params, monitor, refreshed.counts, window_days),
            "tune": tune_settings,
            "policy": policy,
        }
        write_json(paths.IMPROVEMENT / "plan.json", plan)
        report.write_text(improvement_report(plan, None, None, "planned", []))

    try:
        with step(
            "data",
            f"{refreshed.counts['accepted']} accepted, {refreshed.counts['quarantined_total']} quarantined"
            f" → {paths.PRODUCTION}/",
        ):
            refresh.write(refreshed)
            text = paths.PARAMS.read_text()
            if monitor["drifted"]:
                paths.PARAMS.write_text(set_reference(text, "recent"))
        with step("features", "`dvc repro featurize`"):
            if dvc("repro", "--quiet", "featurize").returncode != 0:
                raise SystemExit("error: `dvc repro featurize` failed on the refreshed data — see the log above")
        with step("tune", f"{tune_settings['trials']} trials or {tune_settings['seconds']} s"):
            params = config.load_params(args.params)
            x, y = split_xy(read_table(paths.FEATURES_TRAIN, "featurize"), schema.target.name)
            found = tune.tune(
                x.to_numpy(),
                y.to_numpy(),
                schema.task,
                params["train"],
                tune_settings,
                policy["metric"],
                paths.IMPROVEMENT / "tuning.sqlite",
                f"{day}-{champion.version}",
            )
            tune.write_record(found, paths.IMPROVEMENT)
            tuning = found.to_dict()
            paths.PARAMS.write_text(tune.apply(paths.PARAMS, found.model, found.best_params))
            print(
                f"    {found.model}: {found.metric} {found.baseline_value:.4f} → {found.best_value:.4f}"
                f" in {len(found.trials)} trials ({found.trials_per_second} trials/s, stopped by {found.stopped_by})"
            )
        with step("train", "`dvc repro`: the challenger from params.yaml, through the gate"):
            gate_passed = dvc("repro", "--quiet").returncode == 0
        load: dict[str, Any] = {}
        if gate_passed:
            with step("serve", f"load test of the challenger, {args.load_seconds} s"):
                run(sys.executable, "-m", f"{PACKAGE}.packaging.loadtest", "--seconds", str(args.load_seconds))
                load = json.loads(paths.LOAD_RECORD.read_text()) if paths.LOAD_RECORD.is_file() else {}
        with step("compare", f"champion {champion.version} against the challenger"):
            if not gate_passed:
                reasons.append(
                    f"the challenger fails the gate of {paths.CRITERIA} (or its pipeline failed): see `dvc repro`"
                )
                checks = []
            else:
                challenger = compare.challenger(f"retrained from {champion.version}")
                windows = {"holdout": schema.read_split(paths.TEST), "recent": refreshed.recent}
                scores = {
                    c.role: {w: compare.score(c, frame, schema) for w, frame in windows.items() if len(frame)}
                    for c in (champion, challenger)
                }
                metrics = read_json(paths.METRICS, "evaluate")
                holdout_fixed = compare.holdout_of(champion.version) == compare.holdout_of(None)
                targets = (criteria.get("live") or {}).get("targets") or {}
                found_checks = compare.verdict(
                    scores, policy, len(refreshed.recent), bool(metrics["gate"]["passed"]), load, targets, holdout_fixed
                )
                checks = [c.__dict__ for c in found_checks]
                comparison = {"scores": scores, "checks": checks, "rows": {w: len(f) for w, f in windows.items()}}
                if scores.get("challenger", {}).get("holdout"):
                    comparison_plot(scores, policy, paths.IMPROVEMENT / "comparison.png")
                reasons += [f"{c['name']}: {c['detail']}" for c in checks if not c["passed"]]
            if not reasons:
                outcome = "propose"
    except BaseException:
        restore(start)
        raise

    branch = f"retrain/{day}-{git('rev-parse', '--short=7', 'HEAD')}" if outcome == "propose" else None
    if outcome == "propose":
        delta = next(c["detail"] for c in comparison["checks"] if c["name"] == "margin") if comparison else ""
        reasons = [f"every check passed; {delta}"]
    rows = refreshed.counts["production_train"]
    title = f"feat(model): retrain on {rows} production records, tuned {tuning['model'] if tuning else ''}"
    summary = {
        "proposed": outcome == "propose",
        "decision": outcome if outcome == "propose" else "no proposal",
        "branch": branch,
        "title": title,
        "body": str(PR_BODY),
        "reasons": reasons,
        "champion": champion.version,
        "comparison": comparison,
        "tuning": {
            k: tuning[k]
            for k in (
                "model",
                "best_params",
                "best_value",
                "baseline_value",
                "stopped_by",
                "seconds",
                "trials_per_second",
            )
        }
        if tuning
        else None,
        "data": refreshed.counts,
        "step_seconds": step.times,
        "seconds": round(time.perf_counter() - started, 2),
    }
    text = improvement_report(plan, tuning, comparison, "proposed" if branch else "no proposal", reasons)
    report.write_text(text)
    PR_BODY.write_text(text)
    write_json(SUMMARY, summary)
    if branch:
        propose(branch, start, title)
        print(f"proposed: {branch} — {reasons[0]}")
        print(f"report: {report} on {branch}; next: `make publish` (CI) or merge {branch}")
    else:
        restore(start)
        print("no proposal — nothing changed:")
        for reason in reasons:
            print(f"  - {reason}")
        print(f"report: {report}")


if __name__ == "__main__":
    main()
