"""Champion against challenger: both scored on the same holdout and recent window, judged by the criteria.

The champion is the version an environment's desired state deploys (`deploy/<env>/`); its model
and feature transform are read at its commit from DVC. The challenger is the work tree's, just
reproduced. A proposal needs every check of `verdict` to pass.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import joblib
import pandas as pd

from ..core import environments, paths
from ..core.estimators import load_model
from ..core.features import Features, load_transformer
from ..core.git import record_at
from ..core.metrics import HIGHER_IS_BETTER, LIVE, live_metrics
from ..core.schema import Schema

WINDOWS = ("holdout", "recent")


@dataclass(frozen=True)
class Candidate:
    """One model with its own feature transform."""

    role: str  # champion | challenger
    version: str
    model: Any
    features: Features

    def predict(self, frame: pd.DataFrame, schema: Schema) -> list[Any]:
        return list(self.model.predict(self.features.from_frame(frame, schema)))


@dataclass(frozen=True)
class Check:
    """One rule of the proposal and whether the challenger met it."""

    name: str
    passed: bool
    detail: str


def champion(env: str) -> Candidate:
    """The version `env` deploys, loaded from its commit; or say what to deploy first."""
    environment = environments.get(env)
    if not environment.version:
        raise SystemExit(f"error: nothing is deployed to {env} ({environment.path}) — promote and deploy a model first")
    return at_version(environment.version, "champion")


def at_version(version: str, role: str) -> Candidate:
    """The model and transform of a build version `X.Y.Z-<commit>`, read at its commit through DVC."""
    commit = version.rpartition("-")[2]
    from dvc.api import DVCFileSystem  # imported here: ~1 s, only what reads a built version's model needs it

    try:
        fs = DVCFileSystem(".", rev=commit)
        model = joblib.load(io.BytesIO(fs.read_bytes(paths.MODEL.as_posix())))
        transformer = joblib.load(io.BytesIO(fs.read_bytes(paths.TRANSFORMER.as_posix())))
    except Exception as exc:  # noqa: BLE001 - DVC raises many kinds; each means the same fix
        raise SystemExit(
            f"error: cannot read the {role} {version}'s model at commit {commit} ({exc}) — `make pull` its data"
        ) from None
    return Candidate(role, version, model, Features(transformer))


def challenger(version: str) -> Candidate:
    """The model the work tree's pipeline just made."""
    return Candidate("challenger", version, load_model(), Features(load_transformer()))


def holdout_of(version: str | None) -> str | None:
    """The sha256 of the holdout a version was judged on (its commit's prepare record; None: the work tree's)."""
    record = record_at(version.rpartition("-")[2] if version else None, paths.PREPARE_RECORD)
    return (record.get("test") or {}).get("sha256")


def score(candidate: Candidate, frame: pd.DataFrame, schema: Schema) -> dict[str, float]:
    """The live metrics of `candidate` on the labelled records of `frame`."""
    if frame.empty:
        return {}
    y = frame[schema.target.name].to_numpy()
    return live_metrics(schema.task, y, candidate.predict(frame, schema), list(schema.target.classes))


def better(metric: str, new: float, old: float, margin: float) -> bool:
    """`new` beats `old` by at least `margin` of |old| (lower is better for an error metric)."""
    if HIGHER_IS_BETTER[metric]:
        return new >= old + margin * abs(old)
    return new <= old - margin * abs(old)


def check_policy(policy: dict[str, Any], task: str) -> dict[str, Any]:
    """The `retrain` section of the criteria file, complete, or say what is wrong."""
    if not policy:
        raise SystemExit(f"error: no `retrain` section in {paths.CRITERIA} — add metric, min_margin, holdout_tolerance")
    metric = policy.get("metric")
    if metric not in LIVE[task]:
        raise SystemExit(
            f"error: {paths.CRITERIA} retrain.metric {metric!r} — use one the monitor computes: {', '.join(LIVE[task])}"
        )
    return {"min_margin": 0.01, "holdout_tolerance": 0.02, "min_recent": 30, **policy}


def verdict(
    scores: dict[str, dict[str, dict[str, float]]],
    policy: dict[str, Any],
    recent_rows: int,
    gate_passed: bool,
    load: dict[str, Any],
    live_targets: dict[str, Any],
    holdout_fixed: bool,
) -> list[Check]:
    """Every rule a challenger must meet to be proposed; scores[role][window][metric]."""
    metric = policy["metric"]
    champion, challenger = scores["champion"], scores["challenger"]
    checks = [
        Check(
            "holdout",
            holdout_fixed,
            "the same holdout as the champion's"
            if holdout_fixed
            else "the holdout changed since the champion (prepare params or raw data): restore them to compare",
        ),
        Check("gate", gate_passed, f"the offline gate of {paths.CRITERIA} on the holdout"),
        Check(
            "slo",
            bool(load.get("slo_passed")),
            f"served: p95 {load.get('p95_ms', float('nan')):.0f} ms, {load.get('rps', 0):.0f} req/s,"
            f" {load.get('failures', '?')} failures (slo)",
        ),
        Check(
            "recent window",
            recent_rows >= int(policy["min_recent"]),
            f"{recent_rows} labelled recent records (retrain.min_recent {policy['min_recent']})",
        ),
    ]
    if recent_rows and champion.get("recent") and challenger.get("recent"):
        new, old = challenger["recent"][metric], champion["recent"][metric]
        checks.append(
            Check(
                "margin",
                better(metric, new, old, float(policy["min_margin"])),
                f"recent {metric}: challenger {new:.4f} vs champion {old:.4f} (min_margin {policy['min_margin']})",
            )
        )
        for name, target in live_targets.items():
            if name in challenger["recent"]:
                value = challenger["recent"][name]
                rule, floor = next(iter(target.items()))
                met = value >= floor if rule == "min" else value <= floor
                sign = "≥" if rule == "min" else "≤"
                checks.append(Check(f"live target {name}", met, f"recent {name} {value:.4f} {sign} {floor}"))
    tolerance = float(policy["holdout_tolerance"])
    for name, new in challenger["holdout"].items():
        old = champion["holdout"][name]
        kept = better(name, new, old, -tolerance)
        checks.append(
            Check(f"holdout {name}", kept, f"holdout {name}: {new:.4f} vs {old:.4f} (holdout_tolerance {tolerance})")
        )
    return checks
