"""Canary analysis: a new version live beside the old one, judged on errors, latency and behaviour.

Argo Rollouts runs this command in a Job at each analysis step of a canary update
(deploy/components/canary/): the new image's own command, against the canary's and the stable
version's Services. It judges, with the thresholds of the `canary:` section of docs/criteria.yaml:

- traffic: the canary answered at least `min_requests` prediction requests (its /metrics) — fewer
  is "too little traffic to judge", not a pass;
- errors: the share of the canary's prediction requests answered 5xx is at most `max_error_rate`;
- latency: the canary's p95 (its /metrics histogram) is at most `max_p95_ms`, and at most
  `max_p95_ratio` times the stable version's plus `p95_slack_ms`;
- disagreement: the canary's own logged requests (its rows in the prediction log, `model_version`
  = the canary's version, read from MODELOPS_LOG_SINK or `--log`) replayed on the stable version's
  /predict, in batches: the share of records whose prediction changed (`changes.changed`, the impact
  analysis' rule: another class, or a value moved beyond `tolerance`) is at most `max_disagreement`,
  once `min_records` records are logged. A log with a schema field dropped or hashed (MODELOPS_LOG_DROP/HASH) cannot be
  replayed: the check is skipped, and says so.

/metrics counts BentoML's prediction requests only when MODELOPS_METRICS is on (the component turns
it on); through a Service it is one pod's counters, a sample when a version runs several pods. On
one machine, servers sharing a BentoML home share those counters: give each its own BENTOML_HOME.

It prints one line per check (PASS, FAIL, WAIT or SKIP, with the numbers) and the analysis as one
JSON line, and exits 0 when every check passes, 1 when one fails, 3 when there is still too little
traffic after `--wait` seconds, as `make impact` does (Argo Rollouts' job provider knows only
success and failure: 3 fails the step too — a canary not shown safe is not promoted). The canary's
version is read from its /metadata. `make canary-analysis CANARY=<url> STABLE=<url>` runs it here.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ..core import cli, config, paths, serviceclient, storage
from ..core.schema import Schema
from ..serving.predictionlog import PREDICTIONS
from .changes import changed

PREDICT_ENDPOINTS = frozenset({"/predict", "/predict_proba"})
REQUESTS = "_request_total"  # BentoML's counter of HTTP requests, by endpoint and status
DURATION = "_request_duration_seconds"  # and its histogram of their durations
PASS, FAIL, WAIT, SKIP = "PASS", "FAIL", "WAIT", "SKIP"
EXIT = {PASS: 0, FAIL: 1, WAIT: 3}  # 3: too little traffic to judge, as `make impact`


class CanaryError(SystemExit):
    """The analysis cannot run (a service unreachable, criteria missing); the message names the fix."""


@dataclass(frozen=True)
class Thresholds:
    """The `canary:` section of docs/criteria.yaml."""

    max_error_rate: float
    max_p95_ms: float
    max_p95_ratio: float
    max_disagreement: float
    min_requests: int
    min_records: int
    p95_slack_ms: float = 0.0  # added to the stable version's p95 times the ratio: a few ms of noise are no change
    tolerance: float = 0.0  # regression: a change of at most this much is no change (`impact.tolerance`)

    @classmethod
    def from_criteria(cls, criteria: dict[str, Any], path: Path = paths.CRITERIA) -> Thresholds:
        section = criteria.get("canary")
        if not isinstance(section, dict):
            raise CanaryError(
                f"error: {path} has no `canary:` section — add it (see docs/criteria.yaml in the template)"
            )
        values = {**section, "tolerance": (criteria.get("impact") or {}).get("tolerance", 0.0)}
        try:
            return cls(**{name: values[name] for name in cls.__dataclass_fields__ if name in values})
        except TypeError as exc:
            raise CanaryError(f"error: {path}: `canary:` is incomplete ({exc}) — set every threshold") from exc


@dataclass(frozen=True)
class Traffic:
    """What one service's /metrics says about its prediction requests."""

    requests: int
    errors: int
    p95_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str
    detail: str

    def line(self) -> str:
        return f"{self.verdict} {self.name}: {self.detail}"


@dataclass(frozen=True)
class Replay:
    """The canary's logged records replayed on the stable version."""

    records: int
    changed: int
    unreplayable: str = ""  # why the log cannot be replayed, when it cannot

    @property
    def share(self) -> float:
        return self.changed / self.records if self.records else 0.0


@dataclass(frozen=True)
class Analysis:
    canary_version: str
    stable_version: str
    canary: Traffic
    stable: Traffic
    replay: Replay
    checks: list[Check] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        verdicts = {check.verdict for check in self.checks}
        return FAIL if FAIL in verdicts else WAIT if WAIT in verdicts else PASS

    def record(self) -> dict[str, Any]:
        return {"verdict": self.verdict, **asdict(self)}


# --- /metrics ----------------------------------------------------------------------------------------


def quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The q-quantile of a cumulative histogram (upper bound, count), interpolated within its bucket as
    Prometheus' histogram_quantile does; the largest finite bound when it falls in the +Inf bucket."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if bound == float("inf"):
                return lower
            share = (rank - below) / (count - below) if count > below else 1.0
            return lower + (bound - lower) * share
        lower, below = bound, count
    return lower


def parse_metrics(text: str) -> Traffic:
    """The prediction requests, their 5xx answers and their p95 latency from Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    requests = errors = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("endpoint") not in PREDICT_ENDPOINTS:
                continue
            if sample.name.endswith(REQUESTS):
                requests += sample.value
                errors += sample.value if str(sample.labels.get("http_response_code", "")).startswith("5") else 0
            elif sample.name.endswith(f"{DURATION}_bucket"):
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    p95 = quantile(0.95, list(buckets.items()))
    return Traffic(int(requests), int(errors), None if p95 is None else round(p95 * 1000, 3))


# --- the services ------------------------------------------------------------------------------------


def call(url: str, api_key: str | None, body: object | None = None, timeout: float = 30) -> Any:
    """GET (or POST `body` as JSON) `url`; the answer's JSON, or its text when it is not JSON."""
    status, answer = serviceclient.call(url, api_key, body, timeout)
    if status == 0:
        raise CanaryError(f"error: cannot reach {url}: {answer} — is the service up (and its Service named so)?")
    if status >= 400:
        raise CanaryError(f"error: {url} answered {status} — check the service and MODELOPS_API_KEY")
    return answer


def version_of(url: str, api_key: str | None) -> str:
    info = call(f"{url}/metadata", api_key)
    if not isinstance(info, dict) or not info.get("version"):
        raise CanaryError(f"error: {url}/metadata names no version — is {url} this project's service?")
    return str(info["version"])


def traffic_of(url: str) -> Traffic:
    text = call(f"{url}/metrics", None)
    return parse_metrics(text if isinstance(text, str) else json.dumps(text))


def predictions(url: str, api_key: str | None, records: list[dict[str, Any]], batch: int) -> list[Any]:
    """`records` sent to `url`/predict in batches; its predictions in order."""
    answers: list[Any] = []
    for start in range(0, len(records), batch):
        answer = call(f"{url}/predict", api_key, {"records": records[start : start + batch]})
        if not isinstance(answer, dict) or len(answer.get("predictions") or []) != len(records[start : start + batch]):
            raise CanaryError(f"error: {url}/predict answered {str(answer)[:200]!r} — not this project's service?")
        answers += answer["predictions"]
    return answers


# --- the prediction log ------------------------------------------------------------------------------


def segments(log: str, since: datetime) -> Iterator[tuple[Any, str]]:
    """Each segment of the log (a folder or a sink URL) written from `since`'s day on: (filesystem, path)."""
    fs, root = storage.filesystem(log)
    first = since.strftime("%Y-%m-%d")
    try:
        found = fs.glob(f"{root}/{PREDICTIONS}/*.jsonl") + fs.glob(f"{root}/{PREDICTIONS}/*/*.jsonl")
    except Exception as exc:  # each protocol has its own errors: credentials, network, a missing bucket
        message = f"error: cannot list {log}/{PREDICTIONS}: {exc} — check the URL and the credentials (AWS_* for s3://)"
        raise storage.StorageError(message) from exc
    for path in sorted(str(p) for p in found):
        if path.rpartition("/")[2][:10] >= first:  # a segment's name starts with its day
            yield fs, path


def logged(log: str, version: str, since: datetime, limit: int) -> tuple[list[dict[str, Any]], list[Any]]:
    """The inputs and outputs `version` logged from `since` (its answered records, at most `limit`)."""
    inputs: list[dict[str, Any]] = []
    outputs: list[Any] = []
    for fs, path in segments(log, since):
        with fs.open(path, "rb") as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a segment still being written ends mid-line
                if row.get("model_version") != version or row.get("status") != 200 or "output" not in row:
                    continue
                inputs.append(row.get("inputs") or {})
                outputs.append(row["output"])
                if len(inputs) >= limit:
                    return inputs, outputs
    return inputs, outputs


def replay(
    log: str | None,
    version: str,
    stable_url: str,
    schema: Schema,
    redacted: Sequence[str],
    api_key: str | None,
    since: datetime,
    limit: int,
    batch: int,
    tolerance: float,
) -> Replay:
    """The canary's logged records replayed on the stable version: how many, how many changed."""
    if not log:
        return Replay(0, 0, "no prediction log in this environment (MODELOPS_LOG_SINK unset, or `--log`)")
    hidden = sorted(set(redacted) & set(schema.names))
    if hidden:
        return Replay(0, 0, f"the log drops or hashes {', '.join(hidden)}: its records cannot be replayed")
    inputs, outputs = logged(log, version, since, limit)
    complete = [i for i, record in enumerate(inputs) if set(schema.names) <= set(record)]
    if not complete:
        return Replay(0, 0)
    records = [{name: inputs[i][name] for name in schema.names} for i in complete]
    answers = predictions(stable_url, api_key, records, batch)
    task = "classification" if schema.classification else "regression"
    old, new = np.asarray(answers), np.asarray([outputs[i] for i in complete])
    if task == "classification":
        old, new = old.astype(str), new.astype(str)
    return Replay(len(records), int(changed(task, old, new, tolerance).sum()))


# --- the judgement -----------------------------------------------------------------------------------


def judge(canary: Traffic, stable: Traffic, replayed: Replay, limits: Thresholds) -> list[Check]:
    """Each check's verdict with its numbers (plain data in, plain data out)."""
    checks = []
    enough = canary.requests >= limits.min_requests
    checks.append(
        Check(
            "traffic",
            PASS if enough else WAIT,
            f"{canary.requests} prediction requests to the canary (at least {limits.min_requests} to judge)"
            + ("" if enough else ": too little traffic to judge"),
        )
    )
    if enough:
        ok = canary.error_rate <= limits.max_error_rate
        detail = f"{canary.error_rate:.2%} of the canary's requests failed (5xx), stable {stable.error_rate:.2%};"
        checks.append(Check("errors", PASS if ok else FAIL, f"{detail} at most {limits.max_error_rate:.2%}"))
        if canary.p95_ms is None:
            checks.append(Check("latency", FAIL, "the canary's /metrics has no request durations (MODELOPS_METRICS)"))
        else:
            ceiling = limits.max_p95_ms
            if stable.p95_ms:
                ceiling = min(ceiling, limits.max_p95_ratio * stable.p95_ms + limits.p95_slack_ms)
            ok = canary.p95_ms <= ceiling
            stable_text = f"{stable.p95_ms:g} ms" if stable.p95_ms is not None else "unknown"
            detail = (
                f"p95 {canary.p95_ms:g} ms, stable {stable_text}; at most {ceiling:g} ms"
                f" ({limits.max_p95_ms:g} ms, {limits.max_p95_ratio:g} x stable + {limits.p95_slack_ms:g} ms)"
            )
            checks.append(Check("latency", PASS if ok else FAIL, detail))
    if replayed.unreplayable:
        checks.append(Check("disagreement", SKIP, f"not judged: {replayed.unreplayable}"))
    elif replayed.records < limits.min_records:
        detail = f"{replayed.records} logged records of the canary (at least {limits.min_records} to judge)"
        checks.append(Check("disagreement", WAIT, f"{detail}: too little traffic to judge"))
    else:
        ok = replayed.share <= limits.max_disagreement
        detail = (
            f"{replayed.share:.2%} of {replayed.records} logged records predicted differently by the stable version"
            f" ({replayed.changed} changed); at most {limits.max_disagreement:.2%}"
        )
        checks.append(Check("disagreement", PASS if ok else FAIL, detail))
    return checks


def analyse(
    canary_url: str,
    stable_url: str,
    log: str | None,
    limits: Thresholds,
    schema: Schema,
    redacted: Sequence[str],
    api_key: str | None,
    since: datetime,
    limit: int,
    batch: int,
) -> Analysis:
    canary_version, stable_version = version_of(canary_url, api_key), version_of(stable_url, api_key)
    canary, stable = traffic_of(canary_url), traffic_of(stable_url)
    replayed = replay(log, canary_version, stable_url, schema, redacted, api_key, since, limit, batch, limits.tolerance)
    return Analysis(canary_version, stable_version, canary, stable, replayed, judge(canary, stable, replayed, limits))


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--canary-url", required=True, help="base URL of the canary (e.g. http://<project>-canary)")
    parser.add_argument("--stable-url", required=True, help="base URL of the stable version")
    parser.add_argument("--log", help="the prediction log: a folder or sink URL (default: MODELOPS_LOG_SINK)")
    parser.add_argument("--criteria", type=Path, default=paths.CRITERIA, help="criteria file (its `canary:`)")
    parser.add_argument("--schema", type=Path, default=paths.SCHEMA, help="the model's input schema")
    parser.add_argument("--days", type=float, default=1, help="read log segments of this many days back (default 1)")
    parser.add_argument("--max-records", type=int, default=5000, help="replay at most this many records")
    parser.add_argument("--wait", type=float, default=0, help="retry while too little traffic, up to this many seconds")
    parser.add_argument("--record", type=Path, help="also write the analysis as JSON to this file")
    args = parser.parse_args(argv)
    settings = cli.start(args)
    limits = Thresholds.from_criteria(config.load_criteria(args.criteria), args.criteria)
    if not args.schema.is_file():
        raise CanaryError(f"error: no {args.schema} — run from the bento's folder (the Job's workingDir) or `dvc pull`")
    schema = Schema.load(args.schema)
    log = args.log or settings.log_sink
    since = datetime.now(UTC) - timedelta(days=args.days)
    batch = max(1, min(settings.max_records, 200))
    deadline = time.monotonic() + args.wait
    while True:
        analysis = analyse(
            args.canary_url.rstrip("/"),
            args.stable_url.rstrip("/"),
            log,
            limits,
            schema,
            settings.log_drop + settings.log_hash,
            settings.api_key,
            since,
            args.max_records,
            batch,
        )
        if analysis.verdict != WAIT or time.monotonic() >= deadline:
            break
        time.sleep(15)
    print(f"canary {analysis.canary_version} against stable {analysis.stable_version}:")
    for check in analysis.checks:
        print(check.line())
    record = json.dumps(analysis.record(), sort_keys=True)
    print(record)
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(record + "\n")
    verdict = analysis.verdict
    reason = " (too little traffic to judge)" if verdict == WAIT else ""
    print(f"canary {analysis.canary_version}: {verdict}{reason}")
    sys.exit(EXIT[verdict])


if __name__ == "__main__":
    main()
