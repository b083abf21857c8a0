"""Impact: the logged requests of an environment replayed through a candidate model and its champion, compared.

`make impact CANDIDATE=<version> [ENV=local] [DAYS=…]` reads the environment's prediction log of
the last DAYS (docs/criteria.yaml `live.window_days`) — the folder `.deploy/<env>/monitoring`, or
the log sink its overlay names (`MODELOPS_LOG_SINK`), or `--data` — and predicts every replayable
record with both models, in this process, in batches:

  disagreement  the share of records whose prediction changed (classification: another class;
                regression: moved more than `impact.tolerance`), overall and per segment — each
                value of a categorical input, each quantile bin of a numeric one (of the window)
  change        regression: quantiles of candidate − champion
  score PSI     how far the distribution of the predicted score moved (monitoring/drift.py's PSI)
  latency       one-record calls of both, in process, on a fixed sample (median, p95)
  live metrics  both on the records that have labels

Inputs are replayed as logged: a field the service dropped (MODELOPS_LOG_DROP) or hashed
(MODELOPS_LOG_HASH) is named as excluded, and the records it leaves incomplete are counted as
not replayable, never guessed. The verdict against docs/criteria.yaml `impact`: pass (exit 0),
fail (exit 1, naming the overall rate or each segment that broke its threshold, with its rows),
or too little traffic to judge (exit 3: fewer than `min_rows` replayed — a verdict, not a pass).
It writes reports/impact/<env>-<candidate>.json, .md and .png; the same log gives the same files,
but for the measured latency. `--changed BASE` judges every environment whose version this work
tree changes against BASE (a promotion pull request's check); `--note-only` never fails (the
promotion's pull-request body).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd

from ..core import cli, config, environments, paths
from ..core.artifacts import write_json
from ..core.git import file_at
from ..core.metrics import live_metrics
from ..core.records import BuildRecord
from ..core.schema import Schema
from ..monitoring.drift import Reference, psi
from ..monitoring.logs import local_copy, read_live
from ..reporting.impact import CHECKED, impact_markdown, report_path
from ..serving.predictionlog import HASHED
from . import compare
from .changes import changed
from .compare import Candidate

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

log = logging.getLogger(__name__)

EXIT = {"pass": 0, "fail": 1, "too little traffic": 3, "not judged": 0}
BATCH = 200_000  # records per prediction batch: bounds the memory of the transform's output
LATENCY_SAMPLE = 200  # one-record calls per model for the latency figures
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
SHOWN_SEGMENTS = 10


@dataclass(frozen=True)
class Thresholds:
    """docs/criteria.yaml `impact`: what a candidate may change in the replayed traffic."""

    max_disagreement: float
    max_segment_disagreement: float
    min_segment_rows: int
    min_rows: int
    tolerance: float = 0.0  # regression: a change up to this is no change
    bins: int = 4  # quantile bins per numeric input
    require_traffic: tuple[str, ...] = ("production",)  # a promotion check fails on too little traffic only here

    @classmethod
    def from_criteria(cls, criteria: dict[str, Any]) -> Thresholds:
        section = criteria.get("impact")
        if not isinstance(section, dict):
            raise SystemExit(
                f"error: no `impact` section in {paths.CRITERIA} — add max_disagreement, max_segment_disagreement,"
                " min_segment_rows, min_rows (see the template's criteria.yaml)"
            )
        try:
            required = section.get("require_traffic", cls.require_traffic)
            if isinstance(required, str) or not all(isinstance(env, str) for env in required):
                raise TypeError(f"require_traffic must be a list of environment names, not {required!r}")
            return cls(**{**section, "require_traffic": tuple(required)})
        except TypeError as exc:
            raise SystemExit(f"error: {paths.CRITERIA} `impact`: {exc} — see the template's criteria.yaml") from None


def at_version(version: str) -> Candidate:
    """A build version `X.Y.Z-<commit>` as a candidate: its model and transform read at its commit."""
    return compare.at_version(environments.check_version(version), "candidate")


@dataclass(frozen=True)
class Replayable:
    """The logged records that can be replayed as the service received them."""

    frame: pd.DataFrame  # inputs (and `label` where one came back)
    excluded: dict[str, str]  # input field → why it is not in the log as sent
    logged: int
    not_replayable: int  # records an excluded field leaves incomplete


def replayable(records: pd.DataFrame, schema: Schema) -> Replayable:
    """Keep the records whose every input was logged as sent: name the dropped and hashed fields, count the rest."""
    excluded: dict[str, str] = {}
    incomplete = np.zeros(len(records), dtype=bool)
    for feature in schema.features:
        if feature.name not in records.columns:
            excluded[feature.name] = "dropped from the log by the service (MODELOPS_LOG_DROP)"
            incomplete[:] = True
            continue
        column = records[feature.name]
        if column.dtype != object and not pd.api.types.is_string_dtype(column):
            continue  # numbers as logged: nothing was hashed
        present = column.notna().to_numpy()
        text = column.astype(str)
        hashed = present & text.str.startswith(HASHED).to_numpy()
        if feature.numeric:
            hashed |= present & pd.to_numeric(column, errors="coerce").isna().to_numpy()
        if hashed.any():
            excluded[feature.name] = "hashed in the log by the service (MODELOPS_LOG_HASH)"
            incomplete |= hashed
    kept = records.loc[~incomplete] if incomplete.any() else records  # no copy of a million rows for nothing
    return Replayable(kept, excluded, len(records), int(incomplete.sum()))


@dataclass(frozen=True)
class Replay:
    """Both models' predictions on the same records, and the score whose distribution PSI compares."""

    old: np.ndarray
    new: np.ndarray
    old_score: np.ndarray
    new_score: np.ndarray
    score: str  # what the score is: "P(<class>)", "predicted class", "prediction"


def _predict(model: Candidate, frame: pd.DataFrame, schema: Schema) -> tuple[np.ndarray, np.ndarray, str]:
    """Predictions and scores in batches of BATCH records."""
    predictions, scores, kind = [], [], "prediction"
    binary = schema.classification and len(schema.target.classes) == 2 and hasattr(model.model, "predict_proba")
    for start in range(0, len(frame), BATCH):
        x = model.features.from_frame(frame.iloc[start : start + BATCH], schema)
        predicted = np.asarray(model.model.predict(x))
        predictions.append(predicted)
        if binary:
            scores.append(np.asarray(model.model.predict_proba(x))[:, -1].astype(float))
        elif schema.task == "regression":
            scores.append(predicted.astype(float))
    if binary:
        kind = f"P({schema.target.classes[-1]})"
    elif schema.classification:
        kind = "predicted class"
    empty = np.asarray([])
    prediction = np.concatenate(predictions) if predictions else empty
    score = np.concatenate(scores) if scores else (prediction if schema.classification else empty)
    return prediction, score, kind


def replay(champion: Candidate, candidate: Candidate, frame: pd.DataFrame, schema: Schema) -> Replay:
    old, old_score, kind = _predict(champion, frame, schema)
    new, new_score, _ = _predict(candidate, frame, schema)
    return Replay(old, new, old_score, new_score, kind)


def score_psi(replayed: Replay, numeric: bool) -> float:
    """PSI of the candidate's score distribution against the champion's, over the champion's deciles (or classes)."""
    if not len(replayed.old_score):
        return 0.0
    if numeric:
        reference = Reference.from_values(replayed.old_score.tolist(), numeric=True)
        return round(psi(reference.counts, reference.count(replayed.new_score)), 4)
    names = np.unique(np.concatenate([replayed.old_score, replayed.new_score]).astype(str))
    old = pd.Series(replayed.old_score.astype(str)).value_counts().reindex(names, fill_value=0).to_numpy(float)
    new = pd.Series(replayed.new_score.astype(str)).value_counts().reindex(names, fill_value=0).to_numpy(float)
    return round(psi(old, new), 4)


@dataclass(frozen=True)
class Segment:
    """One value of a categorical input, or one quantile bin of a numeric one, and what changed in it."""

    feature: str
    segment: str
    rows: int
    changed: int
    disagreement: float
    judged: bool  # rows ≥ min_segment_rows
    broke: bool


def _number(value: float) -> str:
    return f"{value:.4g}"


def _bins(values: np.ndarray, count: int) -> tuple[np.ndarray, list[str]]:
    """Bin index per value (NaN → the last bin, "missing") and each bin's label, from the window's quantiles."""
    finite = values[~np.isnan(values)]
    cuts = np.unique(np.quantile(finite, np.linspace(0, 1, count + 1)[1:-1])) if finite.size else np.asarray([])
    index = np.searchsorted(cuts, values, side="right")
    labels = [f"< {_number(cuts[0])}"] if cuts.size else ["all"]
    labels += [f"[{_number(a)}, {_number(b)})" for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    labels += [f"≥ {_number(cuts[-1])}"] if cuts.size else []
    index[np.isnan(values)] = len(labels)
    return index, [*labels, "missing"]


def segments(frame: pd.DataFrame, schema: Schema, flags: np.ndarray, thresholds: Thresholds) -> list[Segment]:
    """Disagreement in each value of each categorical input and each quantile bin of each numeric input."""
    found = []
    weights = flags.astype(float)
    for feature in schema.features:
        if feature.name not in frame.columns:
            continue
        column = frame[feature.name]
        if feature.numeric:
            index, labels = _bins(pd.to_numeric(column, errors="coerce").to_numpy(dtype=float), thresholds.bins)
            names = [f"{feature.name} {label}" for label in labels]
        else:
            codes, uniques = pd.factorize(column.astype(object).where(column.notna(), None), sort=True)
            index = np.where(codes < 0, len(uniques), codes)
            names = [f"{feature.name} = {value}" for value in uniques] + [f"{feature.name} missing"]
        rows = np.bincount(index, minlength=len(names))
        hits = np.bincount(index, weights=weights, minlength=len(names))
        for name, n, k in zip(names, rows, hits, strict=True):
            if n == 0:
                continue
            rate = float(k) / float(n)
            judged = int(n) >= thresholds.min_segment_rows
            broke = judged and rate > thresholds.max_segment_disagreement
            found.append(Segment(feature.name, name, int(n), int(round(k)), round(rate, 6), judged, broke))
    return found


def latency(model: Candidate, frame: pd.DataFrame, schema: Schema, sample: int) -> dict[str, float]:
    """Median and p95 milliseconds of one-record predictions on an evenly spaced sample, as the service
    makes them: the record as a client sends it, through the transform's record path and the model."""
    if not sample or frame.empty:
        return {}
    rows = np.unique(np.linspace(0, len(frame) - 1, min(sample, len(frame))).astype(int))
    records = schema.client_records(frame.iloc[rows])
    model.model.predict(model.features.from_records(records[:1]))  # warm up
    times = []
    for record in records:
        started = time.perf_counter()
        model.model.predict(model.features.from_records([record]))
        times.append(1000 * (time.perf_counter() - started))
    return {
        "median_ms": round(float(np.median(times)), 3),
        "p95_ms": round(float(np.quantile(times, 0.95)), 3),
        "calls": len(times),
    }


def labelled_metrics(frame: pd.DataFrame, replayed: Replay, schema: Schema) -> tuple[int, dict[str, dict[str, float]]]:
    """Both models' live metrics on the replayed records that have a label."""
    if "label" not in frame.columns:
        return 0, {}
    has = frame["label"].notna().to_numpy()
    if not has.any():
        return 0, {}
    labels = frame["label"].to_numpy()[has]
    classes = list(schema.target.classes)
    scored = {
        role: {k: round(v, 6) for k, v in live_metrics(schema.task, labels, predicted[has], classes).items()}
        for role, predicted in (("champion", replayed.old), ("candidate", replayed.new))
    }
    return int(has.sum()), scored


def change_distribution(replayed: Replay) -> dict[str, float]:
    """Regression: quantiles, mean and largest size of candidate − champion."""
    delta = replayed.new.astype(float) - replayed.old.astype(float)
    if not delta.size:
        return {}
    found = {
        f"p{round(100 * q):02d}": round(float(v), 6)
        for q, v in zip(QUANTILES, np.quantile(delta, QUANTILES), strict=True)
    }
    return {**found, "mean": round(float(delta.mean()), 6), "max_abs": round(float(np.abs(delta).max()), 6)}


def verdict(rows: int, overall: float, found: Sequence[Segment], thresholds: Thresholds) -> tuple[str, list[str]]:
    """pass, fail (and why: the overall rate, each broken segment with its rows) or too little traffic."""
    if rows < thresholds.min_rows:
        return "too little traffic", [
            f"too little traffic to judge: {rows} replayed records, impact.min_rows is {thresholds.min_rows}"
        ]
    reasons = []
    if overall > thresholds.max_disagreement:
        reasons.append(
            f"overall: {overall:.1%} of {rows} records changed > max_disagreement {thresholds.max_disagreement:.1%}"
        )
    for segment in found:
        if segment.broke:
            reasons.append(
                f"segment {segment.segment}: {segment.changed} of {segment.rows} rows changed"
                f" ({segment.disagreement:.1%} > max_segment_disagreement {thresholds.max_segment_disagreement:.1%})"
            )
    return ("fail" if reasons else "pass"), reasons


def analyse(
    records: pd.DataFrame,
    schema: Schema,
    champion: Candidate,
    candidate: Candidate,
    thresholds: Thresholds,
    latency_sample: int = LATENCY_SAMPLE,
) -> dict[str, Any]:
    """The impact report of `candidate` against `champion` on the logged `records` (inputs, optional `label`)."""
    usable = replayable(records, schema)
    frame = usable.frame
    replayed = replay(champion, candidate, frame, schema)
    flags = changed(schema.task, replayed.old, replayed.new, thresholds.tolerance)
    overall = float(flags.mean()) if flags.size else 0.0
    found = segments(frame, schema, flags, thresholds)
    status, reasons = verdict(len(frame), overall, found, thresholds)
    labelled, metrics = labelled_metrics(frame, replayed, schema)
    numeric_score = replayed.score != "predicted class"
    report: dict[str, Any] = {
        "task": schema.task,
        "champion": champion.version,
        "candidate": candidate.version,
        "verdict": status,
        "reasons": reasons,
        "rows": {
            "logged": usable.logged,
            "replayed": len(frame),
            "not_replayable": usable.not_replayable,
            "labelled": labelled,
        },
        "excluded": usable.excluded,
        "disagreement": {"changed": int(flags.sum()), "rate": round(overall, 6)},
        "score_psi": {"score": replayed.score, "psi": score_psi(replayed, numeric_score)},
        "segments": [asdict(s) for s in found],
        "live_metrics": metrics,
        "latency": {
            "champion": latency(champion, frame, schema, latency_sample),
            "candidate": latency(candidate, frame, schema, latency_sample),
        },
        "thresholds": asdict(thresholds),
    }
    if schema.task == "regression":
        report["change"] = change_distribution(replayed)
    return report


def summary(report: dict[str, Any]) -> str:
    """The verdict in one line: what changed, or why it is not judged."""
    if report["verdict"] == "fail":
        return "; ".join(report["reasons"])
    if report["verdict"] != "pass":
        return str(report["reasons"][0])
    rows, found = report["rows"]["replayed"], report["disagreement"]
    judged = sum(s["judged"] for s in report["segments"])
    limit = report["thresholds"]["max_segment_disagreement"]
    return (
        f"{found['changed']} of {rows} replayed records changed ({found['rate']:.1%}); none of {judged} segments"
        f" over {limit:.0%}"
    )


def with_labels(records: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """The records with the label that came back for each (NaN when none; the last one when several)."""
    if feedback.empty:
        return records
    labels = feedback[["request_id", "index", "label"]].drop_duplicates(["request_id", "index"], keep="last")
    return records.merge(labels, on=["request_id", "index"], how="left")


def plot(report: dict[str, Any], path: Path) -> None:
    """Disagreement of the judged segments (the most changed first) against the thresholds."""
    judged = sorted((s for s in report["segments"] if s["judged"]), key=lambda s: (-s["disagreement"], s["segment"]))
    shown = judged[:20]
    thresholds = report["thresholds"]
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(shown) + 2.2))
    labels = ["overall"] + [f"{s['segment']} ({s['rows']})" for s in shown]
    values = [100 * report["disagreement"]["rate"]] + [100 * s["disagreement"] for s in shown]
    colours = ["tab:grey"] + ["tab:red" if s["broke"] else "tab:blue" for s in shown]
    ax.barh(labels, values, color=colours)
    ax.axvline(100 * thresholds["max_segment_disagreement"], color="tab:red", ls="--", label="max_segment_disagreement")
    ax.axvline(100 * thresholds["max_disagreement"], color="black", ls=":", label="max_disagreement (overall)")
    ax.invert_yaxis()
    ax.set_xlabel("records whose prediction changed, %\n(a segment's rows in brackets)")
    ax.set_title(f"{report['candidate']}\nagainst {report['champion']}: {report['verdict']}", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)


def write(report: dict[str, Any], env: str) -> Path:
    """reports/impact/<env>-<candidate>.json, .md and (when something was replayed) .png; returns the .md."""
    write_json(report_path(env, report["candidate"]), report)
    markdown = report_path(env, report["candidate"], ".md")
    markdown.write_text(impact_markdown(report))
    if report.get("segments"):
        plot(report, report_path(env, report["candidate"], ".png"))
    return markdown


def not_judged(env: str, candidate: str, champion: str, reason: str) -> dict[str, Any]:
    """The report of a replay that could not happen, and why."""
    return {"env": env, "candidate": candidate, "champion": champion, "verdict": "not judged", "reasons": [reason]}


# --- where the models and the log come from -----------------------------------------------------------


def version_at(env: str, commit: str | None) -> str:
    """The version `env`'s desired state names at `commit` (None: the work tree's; '' when none)."""
    environment = environments.get(env)
    if commit is None:
        return environment.version
    text = file_at(commit, environment.path)
    if text is None:
        return ""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / environment.path.name
        copy.write_text(text)
        return replace(environment, path=copy).version


def judge_env(
    env: str,
    candidate_version: str,
    champion_version: str,
    data: str | None,
    days: float | None,
    database_url: str | None,
    latency_sample: int,
    load: Callable[[str], Candidate] | None = None,
) -> dict[str, Any]:
    """The impact report of `candidate_version` against `champion_version` on `env`'s logged window."""
    if not champion_version:
        return not_judged(env, candidate_version, "", f"nothing is deployed to {env}: impact not judged")
    if champion_version == candidate_version:
        return not_judged(env, candidate_version, champion_version, f"{env} runs {candidate_version} already")
    source = data or environments.log_source(env)
    if not source:
        return not_judged(env, candidate_version, champion_version, f"no logged traffic for {env}: impact not judged")
    params = config.load_params()
    criteria = config.load_criteria(params["evaluate"]["criteria"])
    thresholds = Thresholds.from_criteria(criteria)
    window = float(days if days is not None else (criteria.get("live") or {}).get("window_days", 7))
    schema = Schema.load()
    until = datetime.now(UTC)
    since = until - timedelta(days=window)
    live = read_live(local_copy(source, since, until), schema, since, until, database_url)
    if live is None:
        return not_judged(env, candidate_version, champion_version, f"no logged traffic for {env}: impact not judged")
    records = with_labels(live.records, live.feedback)
    read = load or at_version
    report = analyse(records, schema, read(champion_version), read(candidate_version), thresholds, latency_sample)
    window_facts = {"days": window, "first": live.first, "last": live.last, "versions": live.versions}
    return {"env": env, **report, "window": window_facts}


def changed_envs(base: str) -> list[tuple[str, str, str]]:
    """(env, version at `base`, version in the work tree) for each environment whose version differs."""
    found = []
    for env in environments.known():
        before, now = version_at(env, base), version_at(env, None)
        if now and before != now:
            found.append((env, before, now))
    return found


def excused(report: dict[str, Any], required: Sequence[str] | None) -> bool:
    """Too little traffic in an environment a promotion's check (`required`: criteria impact.require_traffic)
    does not require it of: reported, not failing."""
    return required is not None and report["verdict"] == "too little traffic" and report["env"] not in required


def exit_code(reports: Sequence[dict[str, Any]], required: Sequence[str] | None = None) -> int:
    """A failure first, then too little traffic (unless excused), else 0."""
    codes = {0 if excused(r, required) else EXIT[r["verdict"]] for r in reports}
    return 1 if 1 in codes else (3 if 3 in codes else 0)


def as_check(report: dict[str, Any], required: Sequence[str]) -> dict[str, Any]:
    """The report as a promotion's check shows it: an excused verdict says why it does not fail."""
    if not excused(report, required):
        return report
    note = (
        f"{report['env']} is not in impact.require_traffic ({', '.join(required) or 'none'}):"
        " too little traffic is reported, not failing the check"
    )
    return {**report, "reasons": [*report["reasons"], note]}


def show(report: dict[str, Any], env: str) -> None:
    print(impact_markdown(report))
    if report.get("segments") is not None:
        print(f"report: {report_path(env, report['candidate'], '.md')} (.json, .png)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.parser(__doc__)
    parser.add_argument("--env", default="local", help="the environment whose model is the champion (default: local)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--candidate", help="the build version to judge, X.Y.Z-<commit> (default: the last `make build`)")
    what.add_argument("--from", dest="from_env", help="judge the version this other environment runs")
    what.add_argument(
        "--changed", metavar="BASE", help="judge each environment whose version differs from BASE's (a promotion PR)"
    )
    parser.add_argument("--days", type=float, help="days of traffic up to now (default: criteria live.window_days)")
    parser.add_argument("--data", help="a monitoring folder or log sink URL (default: the environment's own)")
    parser.add_argument(
        "--latency-sample", type=int, default=LATENCY_SAMPLE, help="one-record calls per model (default: %(default)s)"
    )
    parser.add_argument(
        "--note-only", action="store_true", help="write the report and exit 0 whatever it says (a PR body's note)"
    )
    args = parser.parse_args(argv)
    args.database_url = cli.start(args).database_url
    return args


def required_traffic() -> tuple[str, ...]:
    """docs/criteria.yaml `impact.require_traffic`: where a promotion needs enough traffic to be judged."""
    params = config.load_params()
    return Thresholds.from_criteria(config.load_criteria(params["evaluate"]["criteria"])).require_traffic


def candidate_of(args: argparse.Namespace) -> str:
    if args.candidate:
        return str(args.candidate)
    if args.from_env:
        return environments.get(args.from_env).version
    if not paths.BUILD_RECORD.is_file():
        raise SystemExit(f"error: no {paths.BUILD_RECORD} — run `make build`, or name the version (CANDIDATE=...)")
    return BuildRecord.read().version


def jobs_of(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(env, candidate, champion) to judge: the one asked for, or each environment the change moves."""
    if not args.changed:
        return [(args.env, candidate_of(args), version_at(args.env, None))]
    moved = [(env, now, before) for env, before, now in changed_envs(args.changed)]
    note = "" if moved else f"nothing to judge: this change moves no environment's version against {args.changed}"
    write_json(CHECKED, {"base": args.changed, "reports": [[env, now] for env, now, _ in moved], "note": note})
    if note:
        print(note)
    return moved


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        jobs = jobs_of(args)
    except SystemExit as exc:
        if not args.note_only:
            raise
        print(f"impact not judged: {exc}")
        return
    reports = []
    required = required_traffic() if args.changed else None
    for env, candidate, champion in jobs:
        try:
            report = judge_env(env, candidate, champion, args.data, args.days, args.database_url, args.latency_sample)
        except (SystemExit, Exception) as exc:  # noqa: BLE001 - a pull request's note never stops the promotion
            if not args.note_only:
                raise
            why = str(exc) if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
            report = not_judged(env, candidate, champion, f"impact not judged: {why}")
        if required is not None:
            report = as_check(report, required)
        write(report, env)
        show(report, env)
        reports.append(report)
    if not args.note_only:
        raise SystemExit(exit_code(reports, required))


if __name__ == "__main__":
    main()
