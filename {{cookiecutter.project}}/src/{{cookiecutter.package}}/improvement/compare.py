"""Champion against challenger: both scored on the same holdout and recent window, judged by the criteria.

The champion is the version an environment's desired state deploys (`deploy/<env>/`); its model
and feature transform are read at its commit from DVC. The challenger is the work tree's, just
reproduced. A proposal needs every check of `verdict` to pass.

The margin is the challenger's change in % of the champion's value, signed so that positive is
better (`margin`; `better` compares it with a threshold). On each window it comes with a paired
bootstrap interval (`paired`): the same resampled records score both models, so what the two share
cancels out. For classification, McNemar's exact test on the records only one model got right is
the extra figure.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import joblib
import numpy as np
import pandas as pd
from scipy.stats import binomtest

from ..core import environments, paths
from ..core.estimators import load_model
from ..core.features import Features, load_transformer
from ..core.git import record_at
from ..core.metrics import HIGHER_IS_BETTER, LIVE, live_metrics
from ..core.schema import Schema
from ..reporting.improvement import margin_text

WINDOWS = ("holdout", "recent")
SEED = 20260418  # the bootstrap's resamples: the same records and predictions give the same interval
CELLS = 4_000_000  # resampled record weights held at once (resamples per chunk × records)
DEFAULTS = {
    "min_margin": 0.01,
    "holdout_tolerance": 0.02,
    "min_recent": 30,
    "confidence": 0.95,
    "resamples": 2000,
    "require_significant": True,
}


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


def margin(metric: str, new: float, old: float) -> float:
    """The change from `old` (the champion's value) to `new` as a fraction of |old|, positive when
    better (lower is better for an error metric); of the raw difference when `old` is 0."""
    change = (new - old) / (abs(old) or 1.0)
    return change if HIGHER_IS_BETTER[metric] else -change


def better(metric: str, new: float, old: float, threshold: float) -> bool:
    """`new` beats `old` by at least `threshold` of |old| (a negative threshold: trails it by at most that)."""
    return margin(metric, new, old) >= threshold


@dataclass(frozen=True)
class McNemar:
    """McNemar's exact test on one window: the records only one of the two models classified right."""

    only_challenger: int
    only_champion: int
    p_value: float  # two-sided: the chance of a split this uneven if both models were as accurate


@dataclass(frozen=True)
class Interval:
    """The challenger's margin over the champion on one window and metric, with its paired bootstrap
    interval: fractions of the champion's value, positive is better."""

    metric: str
    margin: float
    low: float
    high: float
    confidence: float
    n: int  # records in the window
    resamples: int
    mcnemar: McNemar | None = None  # classification only

    @property
    def shown_better(self) -> bool:
        """Better beyond the noise of which records the window happened to hold."""
        return self.low > 0

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain data: the summary's `comparison.intervals[window][metric]`, the report's input."""
        return asdict(self)


def check_policy(policy: dict[str, Any], task: str) -> dict[str, Any]:
    """The `retrain` section of the criteria file, complete, or say what is wrong."""
    if not policy:
        raise SystemExit(f"error: no `retrain` section in {paths.CRITERIA} — add metric, min_margin, holdout_tolerance")
    metric = policy.get("metric")
    if metric not in LIVE[task]:
        raise SystemExit(
            f"error: {paths.CRITERIA} retrain.metric {metric!r} — use one the monitor computes: {', '.join(LIVE[task])}"
        )
    found = {**DEFAULTS, **policy}
    if not 0.5 <= float(found["confidence"]) < 1:
        raise SystemExit(f"error: {paths.CRITERIA} retrain.confidence {found['confidence']} — use a level such as 0.95")
    if int(found["resamples"]) < 100:
        raise SystemExit(f"error: {paths.CRITERIA} retrain.resamples {found['resamples']} — use 2000 (at least 100)")
    if not isinstance(found["require_significant"], bool):
        raise SystemExit(f"error: {paths.CRITERIA} retrain.require_significant — use true or false")
    return found


# --- the paired bootstrap ----------------------------------------------------------------------------


def _columns(task: str, y: np.ndarray, predicted: list[np.ndarray]) -> np.ndarray:
    """Per-record sums the live metrics are made of (records × columns), for each model in turn:
    classification: right, then per class true positive, false positive, false negative;
    regression: squared error, absolute error; then the label less the mean label, and its square."""
    columns: list[np.ndarray] = []
    if task == "classification":
        codes, _ = pd.factorize(np.concatenate([y, *predicted]).astype(object))
        truth, *answers = np.split(codes, len(predicted) + 1)
        for answer in answers:
            columns.append(answer == truth)
            for k in range(int(codes.max()) + 1):
                said, true = answer == k, truth == k
                columns += [said & true, said & ~true, ~said & true]
    else:
        for answer in predicted:
            error = answer.astype(float) - y.astype(float)
            columns += [error**2, np.abs(error)]
        centred = y.astype(float) - float(np.mean(y))  # a resample's spread of labels does not move with their level
        columns += [centred, centred**2]
    return np.column_stack(columns).astype(float)


def _metrics(task: str, sums: np.ndarray, n: int, models: int) -> list[dict[str, np.ndarray]]:
    """The live metrics of each model from the column sums of resamples (resamples × columns)."""
    found: list[dict[str, np.ndarray]] = []
    if task == "classification":
        width = (sums.shape[1] // models - 1) // 3
        for j in range(models):
            block = sums[:, j * (1 + 3 * width) : (j + 1) * (1 + 3 * width)]
            tp, fp, fn = block[:, 1::3], block[:, 2::3], block[:, 3::3]
            present = (tp + fp + fn) > 0  # a class neither in the labels nor the answers is not averaged
            classes = np.maximum(present.sum(axis=1), 1)

            def macro(top: np.ndarray, bottom: np.ndarray, present: np.ndarray = present) -> np.ndarray:
                ratio = np.divide(top, bottom, out=np.zeros_like(top), where=bottom > 0)
                return np.asarray((ratio * present).sum(axis=1))

            found.append(
                {
                    "accuracy": block[:, 0] / n,
                    "precision_macro": macro(tp, tp + fp) / classes,
                    "recall_macro": macro(tp, tp + fn) / classes,
                    "f1_macro": macro(2 * tp, 2 * tp + fp + fn) / classes,
                }
            )
    else:
        label, square = sums[:, -2], sums[:, -1]
        total = square - label**2 / n  # the labels' sum of squares around their resample's mean
        for j in range(models):
            squared, absolute = sums[:, 2 * j], sums[:, 2 * j + 1]
            fitted = np.where(squared == 0, 1.0, 0.0)  # scikit-learn's r2 when the labels are constant
            unexplained = np.divide(squared, total, out=np.zeros_like(total), where=total > 1e-12)
            found.append(
                {
                    "rmse": np.sqrt(squared / n),
                    "mae": absolute / n,
                    "r2": np.where(total > 1e-12, 1 - unexplained, fitted),
                }
            )
    return found


def resampled(
    task: str, y: Any, predicted: list[Any], resamples: int, seed: int = SEED
) -> tuple[list[dict[str, float]], list[dict[str, np.ndarray]]]:
    """Each model's live metrics on the records, and on `resamples` bootstrap resamples of them drawn
    once for all models (the pairing): ([model][metric] value, [model][metric] array)."""
    y = np.asarray(y)
    answers = [np.asarray(p) for p in predicted]
    columns = _columns(task, y, answers)
    n = len(y)
    point = _metrics(task, columns.sum(axis=0, keepdims=True), n, len(answers))
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, CELLS // max(n, 1)))
    parts = []
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        drawn = rng.integers(0, n, size=(rows, n))
        weights = np.bincount((drawn + n * np.arange(rows)[:, None]).ravel(), minlength=rows * n)
        parts.append(weights.reshape(rows, n).astype(float) @ columns)
    spread = _metrics(task, np.vstack(parts), n, len(answers))
    return [{k: float(v[0]) for k, v in model.items()} for model in point], spread


def mcnemar(y: Any, old: Any, new: Any) -> McNemar:
    """McNemar's exact test of the champion's (`old`) and the challenger's (`new`) answers."""
    y, old, new = np.asarray(y), np.asarray(old), np.asarray(new)
    only_new = int(np.sum((new == y) & (old != y)))
    only_old = int(np.sum((old == y) & (new != y)))
    discordant = only_new + only_old
    p = binomtest(only_new, discordant, 0.5).pvalue if discordant else 1.0
    return McNemar(only_new, only_old, round(float(p), 6))


def paired(task: str, y: Any, old: Any, new: Any, policy: Mapping[str, Any]) -> dict[str, Interval]:
    """The challenger's (`new`) margin over the champion (`old`) on every live metric of the records
    labelled `y`, each with its paired bootstrap interval at `policy` confidence."""
    confidence, resamples = float(policy["confidence"]), int(policy["resamples"])
    (champion, challenger), (spread_old, spread_new) = resampled(task, y, [old, new], resamples)
    tail = 100 * (1 - confidence) / 2
    test = mcnemar(y, old, new) if task == "classification" else None
    found = {}
    for name in LIVE[task]:
        scale = abs(champion[name]) or 1.0  # the interval in % of the champion's value on the window itself
        change = (spread_new[name] - spread_old[name]) / scale
        signed = change if HIGHER_IS_BETTER[name] else -change
        low, high = np.percentile(signed, [tail, 100 - tail])
        found[name] = Interval(
            metric=name,
            margin=round(margin(name, challenger[name], champion[name]), 6),
            low=round(float(low), 6),
            high=round(float(high), 6),
            confidence=confidence,
            n=len(np.asarray(y)),
            resamples=resamples,
            mcnemar=test,
        )
    return found


def compared(
    candidates: Iterable[Candidate], windows: Mapping[str, pd.DataFrame], schema: Schema, policy: Mapping[str, Any]
) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, dict[str, Interval]]]:
    """Champion and challenger on each window that has records: their live metrics
    (scores[role][window][metric]) and the challenger's margins with their intervals
    (intervals[window][metric]). Each model predicts each window once."""
    by_role = {c.role: c for c in candidates}
    scores: dict[str, dict[str, dict[str, float]]] = {role: {} for role in by_role}
    intervals: dict[str, dict[str, Interval]] = {}
    classes = list(schema.target.classes)
    for window, frame in windows.items():
        if frame.empty:
            continue
        y = frame[schema.target.name].to_numpy()
        answers = {role: np.asarray(c.predict(frame, schema)) for role, c in by_role.items()}
        for role, answer in answers.items():
            scores[role][window] = live_metrics(schema.task, y, answer, classes)
        intervals[window] = paired(schema.task, y, answers["champion"], answers["challenger"], policy)
    return scores, intervals


def margin_check(
    metric: str, old: float, new: float, intervals: Mapping[str, Mapping[str, Interval]], policy: Mapping[str, Any]
) -> Check:
    """The challenger beats the champion on the recent window by `min_margin` or more, and (when
    `require_significant`) the interval of that margin lies above zero: better, not lucky."""
    interval = (intervals.get("recent") or {}).get(metric)
    large = better(metric, new, old, float(policy["min_margin"]))
    shown = interval is not None and interval.shown_better
    required = bool(policy["require_significant"])
    scored = f"recent {metric}: challenger {new:.4f} vs champion {old:.4f} (min_margin {policy['min_margin']})"
    if interval is None:
        return Check("margin", large and not required, f"no interval: {scored}")
    text = margin_text(interval.to_dict())
    if metric == "accuracy" and interval.mcnemar:
        text += f", McNemar p={interval.mcnemar.p_value:.3g}"
    if not large:
        verdict = f"below min_margin {policy['min_margin']}"
    elif shown:
        verdict = "shown better"
    else:
        verdict = "not shown better" + ("" if required else " (retrain.require_significant is off)")
    return Check("margin", large and (shown or not required), f"{verdict}: {text}; {scored}")


def verdict(
    scores: dict[str, dict[str, dict[str, float]]],
    intervals: Mapping[str, Mapping[str, Interval]],
    policy: dict[str, Any],
    recent_rows: int,
    gate_passed: bool,
    load: dict[str, Any],
    live_targets: dict[str, Any],
    holdout_fixed: bool,
) -> list[Check]:
    """Every rule a challenger must meet to be proposed; scores[role][window][metric],
    intervals[window][metric]."""
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
        checks.append(margin_check(metric, champion["recent"][metric], challenger["recent"][metric], intervals, policy))
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
