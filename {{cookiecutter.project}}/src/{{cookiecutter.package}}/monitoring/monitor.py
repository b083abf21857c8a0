"""Monitor: judge the live model against its targets and decide — keep, retrain or retire.

Reads the service's prediction log and feedback (`--data`, default the local deployment's
`.deploy/local/monitoring`; or the log sink's URL, e.g. s3://bucket/logs/production, whose
days in the window are first copied into .deploy/fetched/ — incrementally, every replica's
segments) for the last
`live.window_days` of docs/criteria.yaml — only what the version serving now answered (the
newest record's; `--version` names another) — and computes, each against its target:
  quality   live metrics on the labelled records vs `live.targets` ("insufficient data" below
            `live.min_labels` labels), and the retire floor (the trivial baseline)
  drift     per input feature and for the prediction, PSI and a chi-square test against the
            drift reference (features/stats.json, reports/plots/predictions.csv), read like
            the targets at the served version's commit
  service   latency percentiles and error rate of the logged requests vs `slo`, and the rows
            the service dropped from its log (its buffer full)
Writes reports/monitoring/<date>.md with plots and reports/monitoring/summary.json.

Decision and exit code: keep 0; retrain 10 (a quality target missed, or drift, with enough
data); retire 20 (live quality no better than the baseline); 3 when there is no log to judge.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..core import cli, config, paths
from ..core.artifacts import read_json, require
from ..core.git import commit_of, git_or_none
from ..core.metrics import HIGHER_IS_BETTER, live_metrics
from ..core.records import Decision, MonitorSummary
from ..core.schema import Schema
from ..reporting.monitoring import monitoring_report
from ..serving.predictionlog import HASHED
from . import drift, plots
from .logs import LiveData, local_copy, read_live

log = logging.getLogger(__name__)
EXIT = {"keep": 0, "retrain": 10, "retire": 20}
NO_DATA = 3


def quality(task: str, labelled: pd.DataFrame, live: dict[str, Any], classes: list[Any]) -> dict[str, Any]:
    """Live metrics on the labelled records against `live.targets`, or "insufficient data"."""
    targets: dict[str, dict[str, float]] = live.get("targets") or {}
    minimum = int(live.get("min_labels", 50))
    result: dict[str, Any] = {"min_labels": minimum, "labelled": len(labelled), "metrics": {}}
    if not targets:
        raise SystemExit(f"error: no live.targets in {paths.CRITERIA} — run `dvc repro evaluate` (it writes them)")
    if len(labelled) < minimum:
        result["verdict"] = "insufficient data"
        return result
    values = live_metrics(task, labelled["label"].to_numpy(), labelled["output"].to_numpy(), classes)
    verdicts = set()
    for metric, target in targets.items():
        value = values[metric]
        higher = HIGHER_IS_BETTER[metric]
        goal = target["min" if higher else "max"]
        floor = target["retire_below" if higher else "retire_above"]
        passed = value >= goal if higher else value <= goal
        retired = value <= floor if higher else value >= floor
        verdicts.add("retire" if retired else "ok" if passed else "missed")
        result["metrics"][metric] = {
            "value": round(value, 4),
            "target": goal,
            "rule": "min" if higher else "max",
            "retire_below" if higher else "retire_above": floor,
            "passed": bool(passed),
            "retired": bool(retired),
        }
    result["verdict"] = next(v for v in ("retire", "missed", "ok") if v in verdicts)
    return result


def drifts(
    data: LiveData, schema: Schema, stats: dict[str, Any], reference_predictions: pd.Series, live: dict[str, Any]
) -> dict[str, Any]:
    """PSI and p-value per input feature and for the prediction, or "insufficient data"."""
    policy = live.get("drift") or {}
    default = {"psi_max": float(policy.get("psi_max", 0.25)), "p_value_max": float(policy.get("p_value_max", 0.01))}
    overrides = policy.get("features") or {}
    unknown = set(overrides) - set(schema.names)
    if unknown:
        raise SystemExit(
            f"error: {paths.CRITERIA} live.drift.features names {', '.join(sorted(unknown))}: not an input"
        )
    minimum = int(live.get("min_predictions", 100))
    result: dict[str, Any] = {"min_predictions": minimum, "features": {}, "drifted": [], "skipped": []}
    if len(data.records) < minimum:
        result["verdict"] = "insufficient data"
        return result
    for feature in schema.features:
        if feature.name not in data.records:
            result["skipped"].append(feature.name)  # dropped from the log (MODELOPS_LOG_DROP)
            continue
        column = data.records[feature.name]
        if column.dtype == object and column.astype(str).str.startswith(HASHED).any():
            result["skipped"].append(feature.name)  # hashed (MODELOPS_LOG_HASH): no reference to compare
            continue
        reference = drift.Reference.from_stats(stats[feature.name])
        values = pd.to_numeric(column, errors="coerce").to_numpy(float) if feature.numeric else column.to_numpy()
        verdict = drift.judge(reference, values, {**default, **(overrides.get(feature.name) or {})})
        result["features"][feature.name] = verdict
        if verdict["drifted"]:
            result["drifted"].append(feature.name)
    result["drifted"].sort(key=lambda name: -result["features"][name]["psi"])
    numeric = schema.task == "regression"
    reference = drift.Reference.from_values(reference_predictions.tolist(), numeric)
    outputs = data.records["output"].to_numpy(float) if numeric else data.records["output"].tolist()
    result["prediction"] = drift.judge(reference, outputs, {**default, **(policy.get("prediction") or {})})
    result["verdict"] = "drift" if result["drifted"] or result["prediction"]["drifted"] else "ok"
    return result


def service(data: LiveData, slo: dict[str, Any]) -> dict[str, Any]:
    """Latency percentiles and error rate of the logged requests against the SLO."""
    latency = data.requests["latency_ms"].to_numpy(float)
    errors = int((data.requests["status"] != 200).sum())
    p50, p95, p99 = (float(np.percentile(latency, q)) for q in (50, 95, 99)) if latency.size else (0.0, 0.0, 0.0)
    rate = errors / len(data.requests) if len(data.requests) else 0.0
    passed = p95 <= slo.get("p95_ms", float("inf")) and rate <= slo.get("max_error_rate", 1.0)
    return {
        "requests": len(data.requests),
        "p50_ms": round(p50, 3),
        "p95_ms": round(p95, 3),
        "p99_ms": round(p99, 3),
        "error_rate": round(rate, 6),
        "p95_target_ms": slo.get("p95_ms"),
        "max_error_rate": slo.get("max_error_rate"),
        "passed": bool(passed),
        "dropped_rows": data.dropped,
    }


def decide(
    judged_quality: dict[str, Any], judged_drift: dict[str, Any], judged_service: dict[str, Any]
) -> tuple[Decision, list[str]]:
    """One decision and the reasons for it."""
    reasons = []
    for metric, m in judged_quality["metrics"].items():
        if not m["passed"]:
            sign = "<" if m["rule"] == "min" else ">"
            reasons.append(
                f"live {metric} {m['value']:.4f} {sign} target {m['target']} ({paths.CRITERIA} live.targets)"
            )
    if judged_quality["verdict"] == "insufficient data":
        reasons.append(
            f"quality not judged: {judged_quality['labelled']} labelled records < live.min_labels"
            f" {judged_quality['min_labels']}"
        )
    if judged_drift["drifted"]:
        named = ", ".join(judged_drift["drifted"])
        reasons.append(f"drift in {len(judged_drift['drifted'])} feature(s): {named}")
    if judged_drift.get("prediction", {}).get("drifted"):
        reasons.append(f"prediction drift: PSI {judged_drift['prediction']['psi']}")
    if judged_drift["verdict"] == "insufficient data":
        reasons.append(f"drift not judged: fewer than live.min_predictions {judged_drift['min_predictions']} records")
    if not judged_service["passed"]:
        reasons.append(
            f"service outside the SLO: p95 {judged_service['p95_ms']} ms, error rate {judged_service['error_rate']}"
        )
    if judged_service.get("dropped_rows"):
        reasons.append(
            f"the service's log dropped {judged_service['dropped_rows']} rows in the window (its queue or"
            " MODELOPS_LOG_BUFFER_MB full): what they held is not judged"
        )
    if judged_quality["verdict"] == "retire":
        floors = sum(m["retired"] for m in judged_quality["metrics"].values())
        return "retire", [f"live quality no better than the trivial baseline ({floors} metric(s))", *reasons]
    if judged_quality["verdict"] == "missed" or judged_drift["verdict"] == "drift":
        return "retrain", reasons
    return "keep", reasons or ["every target met"]


def at_version(versions: list[str], path: Path | str) -> tuple[str | None, str]:
    """A file as the served version's commit holds it, and where it was read.

    A version is `<semver>-<commit>`: when the log holds one version, the file is read at that
    commit (after a rollback or a merged retraining the work tree may hold another model's). None,
    for the caller to read the work tree: several versions, a build made outside git, no repository
    here, or a file the commit does not hold. A commit this repository lacks stops the monitor: a
    shallow clone would otherwise judge the served model against another model's reference.
    """
    commits = {version.rpartition("-")[2] for version in versions}
    if len(commits) != 1:
        return None, str(path)
    commit = commits.pop()
    if not commit or commit == "nogit" or git_or_none("rev-parse", "--git-dir") is None:
        return None, str(path)
    if commit_of(commit) is None:
        if git_or_none("rev-parse", "--is-shallow-repository") == "true":
            raise SystemExit(
                f"error: the served version's commit {commit} is not in this shallow clone — fetch the whole"
                " history (actions/checkout with `fetch-depth: 0`, or `git fetch --unshallow`)"
            )
        raise SystemExit(
            f"error: the served version's commit {commit} is not in this repository — `git fetch origin`, or"
            " judge a version built here with --version"
        )
    text = git_or_none("show", f"{commit}:{Path(path).as_posix()}")
    return (text, f"{path} at {commit}") if text else (None, str(path))


def criteria_of(versions: list[str], path: Path | str, work_tree: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The criteria the served version was built with (`work_tree` when git lacks them), and where."""
    text, source = at_version(versions, path)
    return (yaml.safe_load(text) or {} if text is not None else work_tree), source


def references_of(versions: list[str]) -> tuple[dict[str, Any], pd.Series, str]:
    """The served version's drift reference and reference predictions, and where they were read."""
    text, source = at_version(versions, paths.FEATURE_STATS)
    stats = json.loads(text) if text is not None else read_json(paths.FEATURE_STATS, "featurize")
    predictions, _ = at_version(versions, paths.PREDICTIONS)
    table = io.StringIO(predictions) if predictions is not None else require(paths.PREDICTIONS, "evaluate")
    return stats, pd.read_csv(table)["predicted"], source


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument(
        "--data",
        default=str(paths.live_data()),
        help="the service's monitoring folder, or its log sink's URL (default: %(default)s)",
    )
    parser.add_argument("--days", type=float, help="judge this many days up to now (default: live.window_days)")
    parser.add_argument(
        "--out", type=Path, default=paths.MONITORING, help="where the report goes (default: %(default)s)"
    )
    parser.add_argument("--version", help="judge this model version (default: the one serving now, the newest)")
    args = parser.parse_args(argv)
    settings = cli.start(args)
    params = config.load_params(args.params)
    current = config.load_criteria(params["evaluate"]["criteria"])
    window_days = (current.get("live") or {}).get("window_days", 7)
    schema = Schema.load()
    until = datetime.now(UTC)
    since = until - timedelta(days=args.days if args.days is not None else float(window_days))
    started = time.perf_counter()
    folder = local_copy(args.data, since, until)
    data = read_live(folder, schema, since, until, settings.database_url)
    if data is None or data.requests.empty:
        print(
            f"no prediction log to judge in {args.data} since {since:%Y-%m-%d %H:%M} UTC — deploy and send"
            " traffic first (`make deploy`, `make simulate`), or fetch the service's log (`make fetch-logs SOURCE=...`)"
        )
        raise SystemExit(NO_DATA)
    log.info(
        "read %d records of %d requests from %d files (%.0f MB) in %.1f s; %d corrupt lines skipped",
        len(data.records),
        len(data.requests),
        data.files,
        data.megabytes,
        time.perf_counter() - started,
        data.corrupt,
    )
    logged = data.versions
    version = args.version or data.latest_version
    if logged and version not in logged:
        raise SystemExit(f"error: no record of version {version!r} in {args.data} — logged: {', '.join(logged)}")
    if logged:
        data = data.of_version(version)
    if len(logged) > 1:
        log.info("judging %s only; the log also holds %s", version, ", ".join(v for v in logged if v != version))
    criteria, source = criteria_of(data.versions, params["evaluate"]["criteria"], current)
    stats, reference_predictions, reference = references_of(data.versions)
    log.info("drift reference from %s", reference)
    live = criteria.get("live") or {}
    log.info("targets from %s", source)
    labelled = data.labelled()
    classes = list(schema.target.classes)
    judged = {
        "quality": quality(schema.task, labelled, live, classes),
        "drift": drifts(data, schema, stats, reference_predictions, live),
        "service": service(data, criteria.get("slo") or {}),
    }
    decision, reasons = decide(judged["quality"], judged["drift"], judged["service"])
    day = until.strftime("%Y-%m-%d")
    args.out.mkdir(parents=True, exist_ok=True)
    images = plots.draw(args.out, day, schema.task, data, labelled, judged, live, classes)
    summary = MonitorSummary(
        decision=decision,
        exit_code=EXIT[decision],
        reasons=reasons,
        window={"start": data.first, "end": data.last, "since": since.isoformat(timespec="seconds")},
        model_versions=data.versions,
        versions_in_log=logged,
        criteria=source,
        reference=reference,
        predictions=len(data.records),
        requests=len(data.requests),
        labelled=len(labelled),
        corrupt_lines=data.corrupt,
        quality=judged["quality"],
        drift=judged["drift"],
        service=judged["service"],
        report=str(args.out / f"{day}.md"),
        seconds=round(time.perf_counter() - started, 2),
    )
    (args.out / f"{day}.md").write_text(monitoring_report(asdict(summary), images))
    summary.write(args.out / paths.MONITOR_SUMMARY.name)
    print(f"decision: {decision} — " + "; ".join(reasons))
    print(f"report: {summary.report}")
    sys.exit(EXIT[decision])


if __name__ == "__main__":
    main()
