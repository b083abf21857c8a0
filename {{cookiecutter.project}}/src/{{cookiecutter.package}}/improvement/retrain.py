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

import argparse
import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib

from ..core import cli, config, paths
from ..core.artifacts import read_json, read_table, write_json
from ..core.estimators import split_xy
from ..core.git import current_branch, git, on_new_branch, require_clean
from ..core.params import update
from ..core.records import ImprovementSummary, LoadRecord, MonitorSummary
from ..core.schema import Schema
from ..monitoring.logs import local_copy, read_live
from ..reporting.improvement import improvement_report
from . import compare, impact, refresh, tune

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

log = logging.getLogger(__name__)
PACKAGE = (__package__ or __name__).split(".")[0]
TUNING_KEYS = ("model", "best_params", "best_value", "baseline_value", "stopped_by", "seconds", "trials_per_second")


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


@dataclass(frozen=True)
class Setup:
    """What the steps read, gathered and checked before the first: nothing has changed yet."""

    params_file: Path
    params: dict[str, Any]
    criteria: dict[str, Any]
    schema: Schema
    policy: dict[str, Any]  # docs/criteria.yaml `retrain`, checked
    data: dict[str, Any]  # params.yaml `retrain.data`
    tune: dict[str, Any]  # params.yaml `retrain.tune`, with the command line's budget
    monitor: MonitorSummary
    champion: compare.Candidate
    start: str  # the branch the run began on, and ends on
    day: str

    @property
    def window_days(self) -> float:
        return float((self.criteria.get("live") or {}).get("window_days", 7))


def setup(args: argparse.Namespace) -> Setup:
    """Check the work tree, the parameters and the monitor's decision; load the champion."""
    require_clean("`make retrain`")
    start = current_branch()
    params = config.load_params(args.params)
    criteria = config.load_criteria(params["evaluate"]["criteria"])
    schema = Schema.load()
    policy = compare.check_policy(criteria.get("retrain") or {}, schema.task)
    settings = params.get("retrain") or {}
    if "tune" not in settings or "data" not in settings:
        raise SystemExit(
            "error: params.yaml has no `retrain` section with `data` and `tune` — see the template's params.yaml"
        )
    budget = {k: v for k, v in (("trials", args.trials), ("seconds", args.seconds)) if v}
    monitor = MonitorSummary.read(args.summary)
    if monitor.decision != "retrain" and not args.force:
        raise SystemExit(
            f"the monitor decided {monitor.decision!r}, not retrain — nothing to do (--force retrains anyway)"
        )
    return Setup(
        params_file=args.params,
        params=params,
        criteria=criteria,
        schema=schema,
        policy=policy,
        data=settings["data"],
        tune={**settings["tune"], **budget},
        monitor=monitor,
        champion=compare.champion(args.env),
        start=start,
        day=datetime.now(UTC).strftime("%Y-%m-%d"),
    )


def findings(monitor: MonitorSummary) -> dict[str, Any]:
    """What the monitor found, as the plan states it."""
    return {
        "decision": monitor.decision,
        "reasons": monitor.reasons,
        "missed": monitor.missed_metrics(),
        "drifted": monitor.drifted_features(),
        "prediction_drift": monitor.prediction_drifted,
        "window": monitor.window,
        "model_versions": monitor.model_versions,
    }


def plan_changes(
    params: dict[str, Any], drifted: list[str], counts: dict[str, Any], window_days: float
) -> list[list[str]]:
    """The rows of "what the retraining changes": now, and in the challenger."""
    train, settings = params["train"], params["retrain"]["tune"]
    model = train["model"]
    reference = params["featurize"].get("reference", "train")
    new_reference = "recent" if drifted or reference == "recent" else reference
    return [
        [
            "data window",
            "the original train set",
            f"+ {counts['production_train']} labelled production records"
            f" (last {window_days:g} days; {counts['quarantined_total']} quarantined)",
        ],
        ["recent window (judge)", "—", f"{counts['recent']} records of {counts['judged_by']}, never trained on"],
        [
            "features",
            "drifted: " + (", ".join(drifted) or "none"),
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


def comparison_plot(intervals: dict[str, dict[str, dict[str, Any]]], policy: dict[str, Any], path: Path) -> None:
    """The challenger's margin over the champion per window and metric (compare.Interval's fields), in %
    of the champion's value and signed so that right is better, with its interval as an error bar,
    beside the margin and the tolerance it must meet."""
    rows = [(f"{window} {metric}", found) for window, metrics in intervals.items() for metric, found in metrics.items()]
    signed = [100 * found["margin"] for _, found in rows]
    spread = [
        [max(0.0, 100 * (found["margin"] - found["low"])) for _, found in rows],
        [max(0.0, 100 * (found["high"] - found["margin"])) for _, found in rows],
    ]
    level = f"{100 * rows[0][1]['confidence']:g} %" if rows else ""
    # green: shown better (the interval above zero); olive: better, within the noise; red: worse
    colors = [
        "tab:green" if found["low"] > 0 else "tab:olive" if found["margin"] >= 0 else "tab:red" for _, found in rows
    ]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    ax.barh([label for label, _ in rows], signed, xerr=spread, capsize=3, color=colors)
    ax.axvline(
        100 * float(policy["min_margin"]), color="tab:blue", ls="--", label=f"min_margin (recent {policy['metric']})"
    )
    ax.axvline(-100 * float(policy["holdout_tolerance"]), color="grey", ls=":", label="holdout_tolerance")
    ax.axvline(0, color="black", lw=0.8)
    ax.invert_yaxis()
    ax.set_xlabel(f"margin over the champion, % of its value (right is better); whiskers: {level} interval")
    ax.set_title("champion against challenger, on the same records")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --- the steps, in the order `make retrain` runs them ------------------------------------------------


def plan(run: Setup, env: str, data: str, database_url: str | None) -> tuple[dict[str, Any], refresh.Refreshed]:
    """1 plan: the window's labelled records refreshed, and the plan (plan.json) of what will change."""
    until = datetime.now(UTC)
    since = until - timedelta(days=run.window_days)
    live = read_live(local_copy(data, since, until), run.schema, since, until, database_url)
    if live is None or live.records.empty:
        raise SystemExit(f"error: no prediction log in {data} — `make fetch-logs` or deploy and send traffic first")
    production_rows = int((read_json(paths.PREPARE_RECORD, "prepare").get("production") or {}).get("rows", 0))
    refreshed = refresh.refresh(live, run.schema, refresh.read_known(run.schema, production_rows, run.data), run.data)
    monitor = findings(run.monitor)
    found = {
        "env": env,
        "champion": run.champion.version,
        "monitor": monitor,
        "data": refreshed.counts,
        "changes": plan_changes(run.params, monitor["drifted"], refreshed.counts, run.window_days),
        "tune": run.tune,
        "policy": run.policy,
    }
    write_json(paths.IMPROVEMENT / "plan.json", found)
    return found, refreshed


def add_data(refreshed: refresh.Refreshed, drifted: bool) -> None:
    """2 data: the accepted records into data/production/; after drift, the recent window becomes the reference."""
    refresh.write(refreshed)
    if drifted:
        update({"featurize.reference": "recent"})


def features() -> None:
    """3 features: the train set's features now hold the new records (the holdout's do not)."""
    if dvc("repro", "--quiet", "featurize").returncode != 0:
        raise SystemExit("error: `dvc repro featurize` failed on the refreshed data — see the log above")


def tune_model(run: Setup) -> dict[str, Any]:
    """4 tune: the seeded search on the refreshed features; the best values land in params.yaml `train`."""
    params = config.load_params(run.params_file)
    x, y = split_xy(read_table(paths.FEATURES_TRAIN, "featurize"), run.schema.target.name)
    found = tune.tune(
        x.to_numpy(),
        y.to_numpy(),
        run.schema.task,
        params["train"],
        run.tune,
        run.policy["metric"],
        paths.IMPROVEMENT / "tuning.sqlite",
        f"{run.day}-{run.champion.version}",
    )
    tune.write_record(found, paths.IMPROVEMENT)
    paths.PARAMS.write_text(tune.apply(paths.PARAMS, found.model, found.best_params))
    print(
        f"    {found.model}: {found.metric} {found.baseline_value:.4f} → {found.best_value:.4f}"
        f" in {len(found.trials)} trials ({found.trials_per_second} trials/s, stopped by {found.stopped_by})"
    )
    return found.to_dict()


def train() -> bool:
    """5 train: `dvc repro` makes the challenger from params.yaml; whether it passed the gate."""
    return dvc("repro", "--quiet").returncode == 0


def serve(seconds: int) -> dict[str, Any]:
    """6 serve: a short load test of the challenger; its record ({} when there is none)."""
    run(sys.executable, "-m", f"{PACKAGE}.packaging.loadtest", "--seconds", str(seconds))
    record = LoadRecord.at(None)
    return record.to_json() if record else {}


def judge(
    run: Setup, refreshed: refresh.Refreshed, gate_passed: bool, load: dict[str, Any]
) -> tuple[dict[str, Any] | None, list[str]]:
    """7 compare: champion and challenger on the holdout and the recent window; the comparison and
    the reasons not to propose (none: propose)."""
    if not gate_passed:
        return None, [f"the challenger fails the gate of {paths.CRITERIA} (or its pipeline failed): see `dvc repro`"]
    champion = run.champion
    challenger = compare.challenger(f"retrained from {champion.version}")
    windows = {"holdout": run.schema.read_split(paths.TEST), "recent": refreshed.recent}
    # each window's labels and both models' answers: the scores, and the margins' paired intervals
    scores, intervals = compare.compared((champion, challenger), windows, run.schema, run.policy)
    metrics = read_json(paths.METRICS, "evaluate")
    holdout_fixed = compare.holdout_of(champion.version) == compare.holdout_of(None)
    targets = (run.criteria.get("live") or {}).get("targets") or {}
    found = compare.verdict(
        scores,
        intervals,
        run.policy,
        len(refreshed.recent),
        bool(metrics["gate"]["passed"]),
        load,
        targets,
        holdout_fixed,
    )
    checks = [c.__dict__ for c in found]
    margins = {w: {m: interval.to_dict() for m, interval in each.items()} for w, each in intervals.items()}
    comparison = {
        "scores": scores,
        "intervals": margins,
        "checks": checks,
        "rows": {w: len(f) for w, f in windows.items()},
    }
    # the window's logged inputs replayed through both: a change confined to one segment (a trigger) stops it
    replayed = impact.analyse(
        refreshed.inputs, run.schema, champion, challenger, impact.Thresholds.from_criteria(run.criteria)
    )
    comparison["impact"] = replayed
    checks.append({"name": "impact", "passed": replayed["verdict"] != "fail", "detail": impact.summary(replayed)})
    if replayed.get("segments"):
        impact.plot(replayed, paths.IMPROVEMENT / "impact.png")
    if scores.get("challenger", {}).get("holdout"):
        comparison_plot(margins, run.policy, paths.IMPROVEMENT / "comparison.png")
    return comparison, [f"{c['name']}: {c['detail']}" for c in checks if not c["passed"]]


def restore(start: str) -> None:
    """The work tree as it was: tracked files from git, the data and artifacts from DVC's cache."""
    git("checkout", "--quiet", "--force", start)
    git("checkout", "--quiet", "--", ".")
    dvc("checkout", "--force", "--quiet")


def propose(branch: str, start: str, message: str) -> None:
    """Commit the challenger on a new `branch` (all or nothing), then come back to `start` with the
    champion's work tree.

    The first proposal moves data/production/ from git (its empty files) to DVC (`dvc add`).
    """
    try:
        with on_new_branch(branch):
            if git("ls-files", str(paths.PRODUCTION)):
                git("rm", "-r", "--quiet", "--cached", str(paths.PRODUCTION))
            if dvc("add", "--quiet", str(paths.PRODUCTION)).returncode != 0:
                raise SystemExit(f"error: `dvc add {paths.PRODUCTION}` failed — see the log above")
            git("add", "--update")
            records = [
                paths.IMPROVEMENT,
                paths.LOAD_RECORD,
                paths.PRODUCTION_POINTER,
                paths.PRODUCTION.parent / ".gitignore",
            ]
            git("add", "--", *map(str, records))
            git("commit", "--quiet", "--no-verify", "-m", message)  # the pull request's CI runs every hook
    finally:
        restore(start)


def outcome(
    run: Setup,
    counts: dict[str, Any],
    tuning: dict[str, Any] | None,
    comparison: dict[str, Any] | None,
    reasons: list[str],
    times: dict[str, float],
    seconds: float,
) -> ImprovementSummary:
    """What this run comes to: a proposal on a new branch when no reason stands against it."""
    proposed = not reasons
    if proposed:
        delta = next(c["detail"] for c in comparison["checks"] if c["name"] == "margin") if comparison else ""
        reasons = [f"every check passed; {delta}"]
    tuned = tuning["model"] if tuning else ""
    return ImprovementSummary(
        proposed=proposed,
        decision="propose" if proposed else "no proposal",
        branch=f"retrain/{run.day}-{git('rev-parse', '--short=7', 'HEAD')}" if proposed else None,
        title=f"feat(model): retrain on {counts['production_train']} production records, tuned {tuned}",
        body=str(paths.PR_BODY),
        reasons=reasons,
        champion=run.champion.version,
        comparison=comparison,
        tuning={k: tuning[k] for k in TUNING_KEYS} if tuning else None,
        data=counts,
        step_seconds=times,
        seconds=seconds,
    )


def finish(summary: ImprovementSummary, start: str, report: Path) -> None:
    """The proposal committed on its branch, or nothing changed; either way the champion's work tree."""
    if summary.branch:
        propose(summary.branch, start, str(summary.title))
        print(f"proposed: {summary.branch} — {summary.reasons[0]}")
        print(f"report: {report} on {summary.branch}; next: `make publish` (CI) or merge {summary.branch}")
    else:
        restore(start)
        print("no proposal — nothing changed:")
        for reason in summary.reasons:
            print(f"  - {reason}")
        print(f"report: {report}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(__doc__)
    parser.add_argument(
        "--data",
        default=str(paths.live_data()),
        help="the service's monitoring folder, or its log sink (s3://…/logs/<env>) (default: %(default)s)",
    )
    parser.add_argument(
        "--env", default="local", help="the environment whose deployed model is the champion (default: %(default)s)"
    )
    parser.add_argument(
        "--summary", type=Path, default=paths.MONITOR_SUMMARY, help="the monitor's summary (default: %(default)s)"
    )
    parser.add_argument("--force", action="store_true", help="retrain even when the monitor did not ask")
    parser.add_argument("--trials", type=int, help="override retrain.tune.trials")
    parser.add_argument("--seconds", type=float, help="override retrain.tune.seconds")
    parser.add_argument(
        "--load-seconds", type=int, default=10, help="length of the challenger's load test (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    args.database_url = cli.start(args).database_url  # the labels' store: PostgreSQL, or the folder's SQLite
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    run = setup(args)
    report = paths.IMPROVEMENT / f"{run.day}.md"
    paths.IMPROVEMENT.mkdir(parents=True, exist_ok=True)
    step = Step()
    with step("plan", f"what the monitor found, what will change ({report})"):
        planned, refreshed = plan(run, args.env, args.data, args.database_url)
        report.write_text(improvement_report(planned, None, None, "planned", []))
    counts = refreshed.counts
    try:
        with step(
            "data", f"{counts['accepted']} accepted, {counts['quarantined_total']} quarantined → {paths.PRODUCTION}/"
        ):
            add_data(refreshed, bool(planned["monitor"]["drifted"]))
        with step("features", "`dvc repro featurize`"):
            features()
        with step("tune", f"{run.tune['trials']} trials or {run.tune['seconds']} s"):
            tuning = tune_model(run)
        with step("train", "`dvc repro`: the challenger from params.yaml, through the gate"):
            gate_passed = train()
        load: dict[str, Any] = {}
        if gate_passed:
            with step("serve", f"load test of the challenger, {args.load_seconds} s"):
                load = serve(args.load_seconds)
        with step("compare", f"champion {run.champion.version} against the challenger"):
            comparison, reasons = judge(run, refreshed, gate_passed, load)
    except BaseException:
        restore(run.start)
        raise

    summary = outcome(run, counts, tuning, comparison, reasons, step.times, round(time.perf_counter() - started, 2))
    text = improvement_report(
        planned, tuning, comparison, "proposed" if summary.proposed else "no proposal", summary.reasons
    )
    report.write_text(text)
    paths.PR_BODY.write_text(text)
    summary.write()
    finish(summary, run.start, report)


if __name__ == "__main__":
    main()
