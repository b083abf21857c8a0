"""The records one command writes and others read, each one typed shape with its `read` and `write` here.

- `MonitorSummary`: `make monitor`'s decision (reports/monitoring/summary.json); the alert, the
  retraining plan and the evidence check read it.
- `ImprovementSummary`: `make retrain`'s outcome (reports/improvement/summary.json); `make publish`
  and the demo read it.
- `DeploymentEvent`: one line of the deployment history (.deploy/history.jsonl); `make deploy`
  appends, `make history`, the rollback and the evidence check read.
- `BuildRecord`: what `make build` built (reports/build.json); promotion, the image push and the
  service's metadata read it.
- `LoadRecord`: the last load test's figures (reports/load.json); the pull-request report, the
  release notes and the retraining's comparison read it, at a revision or in the work tree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from . import paths
from .artifacts import write_json
from .git import record_at

DECISIONS = ("keep", "retrain", "retire")
Decision = Literal["keep", "retrain", "retire"]


class RecordError(SystemExit):
    """A record that is missing or malformed; the message names the command that writes it."""


def _load(path: Path, command: str) -> dict[str, Any]:
    if not path.is_file():
        raise RecordError(f"error: no {path} — run `{command}` first (it writes the record this command reads)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise RecordError(f"error: {path} is not JSON ({error}) — rerun `{command}`") from None
    if not isinstance(data, dict):
        raise RecordError(f"error: {path} holds no record — rerun `{command}`")
    return data


def _known(cls: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of dataclass `cls` in `data`, keys it does not declare dropped (older or newer writers)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class MonitorSummary:
    """What the monitor judged in one window and what it decided."""

    decision: Decision
    reasons: list[str] = field(default_factory=list)
    exit_code: int = 0
    window: dict[str, Any] = field(default_factory=dict)  # start, end, since
    model_versions: list[str] = field(default_factory=list)  # the version judged
    versions_in_log: list[str] = field(default_factory=list)  # every version the window's log holds
    criteria: str = ""  # where the targets were read
    reference: str = ""  # where the drift reference was read
    predictions: int = 0
    requests: int = 0
    labelled: int = 0
    corrupt_lines: int = 0
    quality: dict[str, Any] = field(default_factory=dict)  # metrics: name → value, target, rule, passed
    drift: dict[str, Any] = field(default_factory=dict)  # features, drifted, prediction
    service: dict[str, Any] | None = None  # latency and errors against the SLO; None: not judged
    report: str = ""
    seconds: float = 0.0

    def missed_metrics(self) -> list[str]:
        """The live metrics judged and below (or above) their targets."""
        metrics = self.quality.get("metrics") or {}
        return sorted(name for name, metric in metrics.items() if metric.get("passed") is False)

    def drifted_features(self) -> list[str]:
        """The features whose distribution moved past the drift threshold."""
        features = self.drift.get("features") or {}
        return sorted(self.drift.get("drifted") or [name for name, f in features.items() if f.get("drifted")])

    @property
    def prediction_drifted(self) -> bool:
        return bool((self.drift.get("prediction") or {}).get("drifted"))

    @classmethod
    def read(cls, path: Path = paths.MONITOR_SUMMARY) -> MonitorSummary:
        data = _load(path, "make monitor")
        if data.get("decision") not in DECISIONS:
            raise RecordError(
                f"error: {path} has decision {data.get('decision')!r}, not one of {', '.join(DECISIONS)}"
                " — rerun `make monitor`"
            )
        return cls(**_known(cls, data))

    def write(self, path: Path = paths.MONITOR_SUMMARY) -> Path:
        return write_json(path, asdict(self))


@dataclass(frozen=True)
class ImprovementSummary:
    """What one `make retrain` did: a proposal on a branch, or the reasons there is none."""

    proposed: bool
    decision: str  # "propose" | "no proposal"
    branch: str | None = None
    title: str | None = None
    body: str = str(paths.PR_BODY)  # the report that becomes the pull request's body
    reasons: list[str] = field(default_factory=list)
    champion: str | None = None
    comparison: dict[str, Any] | None = None
    tuning: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)  # the refreshed data's counts
    step_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def read(cls, path: Path = paths.IMPROVEMENT_SUMMARY) -> ImprovementSummary:
        data = _load(path, "make retrain")
        if not isinstance(data.get("proposed"), bool):
            raise RecordError(f"error: {path} has no `proposed: true|false` — rerun `make retrain`")
        return cls(**_known(cls, data))

    def write(self, path: Path = paths.IMPROVEMENT_SUMMARY) -> Path:
        return write_json(path, asdict(self))


@dataclass(frozen=True)
class DeploymentEvent:
    """One deployment of a version to an environment, and how it ended."""

    env: str
    version: str
    time: str = ""  # ISO 8601, UTC
    commit: str = ""
    rolled_back: bool = False
    result: str = ""  # deployed | unchanged | stopped | failed | rolled back
    previous: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # anything else the deploy recorded

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeploymentEvent:
        names = {f.name for f in fields(cls)} - {"facts"}
        return cls(
            **{k: v for k, v in data.items() if k in names},
            facts={k: v for k, v in data.items() if k not in names},
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {**{k: v for k, v in data.items() if k != "facts"}, **self.facts}


def read_history(path: Path = paths.DEPLOY_HISTORY, env: str | None = None) -> list[DeploymentEvent]:
    """The deployment history, oldest first (of `env` only when given); a line cut short by a crash is skipped."""
    if not path.is_file():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue  # says nothing about what runs
        if isinstance(data, dict) and {"env", "version"} <= data.keys():
            event = DeploymentEvent.from_json(data)
            if env is None or event.env == env:
                events.append(event)
    return events


def append_history(event: DeploymentEvent, path: Path = paths.DEPLOY_HISTORY) -> None:
    """Add one event to the deployment history."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(event.to_json(), sort_keys=True) + "\n")


@dataclass(frozen=True)
class BuildRecord:
    """The build `make build` made: its version (`<semver>-<commit>`), the model it holds, and the rest."""

    version: str
    model_sha256: str = ""
    facts: dict[str, Any] = field(default_factory=dict)  # commit, built_at, metrics, ... as build wrote them

    @classmethod
    def read(cls, path: Path = paths.BUILD_RECORD) -> BuildRecord:
        data = _load(path, "make build")
        if not isinstance(data.get("version"), str) or not data["version"]:
            raise RecordError(f"error: {path} names no version — rerun `make build`")
        rest = {k: v for k, v in data.items() if k not in ("version", "model_sha256")}
        return cls(version=data["version"], model_sha256=str(data.get("model_sha256", "")), facts=rest)

    def to_json(self) -> dict[str, Any]:
        return {**self.facts, "version": self.version, "model_sha256": self.model_sha256}


LOAD_FIGURES = ("users", "requests", "failures", "error_rate", "rps", "p50_ms", "p95_ms", "p99_ms", "server_rss_mb")


@dataclass(frozen=True)
class LoadRecord:
    """One load test against the SLO: its figures, the verdict and what was tested."""

    figures: dict[str, float | None]  # LOAD_FIGURES that were measured
    slo_passed: bool | None = None
    target: str = ""

    @classmethod
    def at(cls, rev: str | None = None, path: Path = paths.LOAD_RECORD) -> LoadRecord | None:
        """The record committed at `rev` (None: the work tree), or None when there is none."""
        data = record_at(rev, path)
        if not data:
            return None
        figures = {k: data[k] for k in LOAD_FIGURES if k in data}
        return cls(figures=figures, slo_passed=data.get("slo_passed"), target=str(data.get("target", "")))

    def to_json(self) -> dict[str, Any]:
        return {**self.figures, "slo_passed": self.slo_passed, "target": self.target}
