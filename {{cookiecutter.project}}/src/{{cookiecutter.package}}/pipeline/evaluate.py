"""Evaluate: score the model on the test set, compare it with the criteria gate, write the report.

The gate is `gate` in docs/criteria.yaml: `<metric>: {min: x}` or `{max: x}`. Below a
threshold the report says FAIL and the command exits non-zero naming metric, value and
threshold, after writing every record, so the failure can be read.

It also sets the operating targets of the deployed model (`live.targets` in the same file):
per metric of `live.tolerance`, the offline value made worse by that fraction, and the hard
floor of `live.retire` (the trivial baseline's value) below which the model is retired.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier, DummyRegressor

from ..core import cli, config, paths
from ..core.artifacts import read_json, read_table, write_json, write_table
from ..core.estimators import load_model, split_xy
from ..core.metrics import HIGHER_IS_BETTER, LIVE, classification_metrics, regression_metrics
from ..reporting.evaluation import evaluation_report

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

log = logging.getLogger(__name__)


def score(
    task: str, model: Any, x_train: pd.DataFrame, y_train: pd.Series, x_test: pd.DataFrame, y_test: pd.Series
) -> tuple[dict[str, float], dict[str, float], np.ndarray]:
    """Model metrics, trivial-baseline metrics and the model's test predictions."""
    train, test = x_train.to_numpy(), x_test.to_numpy()
    if task == "classification":
        baseline = DummyClassifier(strategy="most_frequent").fit(train, y_train)
        classes = list(model.classes_)
        pred = model.predict(test)
        proba = model.predict_proba(test) if hasattr(model, "predict_proba") else None
        ours = classification_metrics(y_test, pred, proba, classes)
        base = classification_metrics(y_test, baseline.predict(test), baseline.predict_proba(test), classes)
        return ours, base, pred
    baseline = DummyRegressor(strategy="mean").fit(train, y_train)
    pred = model.predict(test)
    base_pred = baseline.predict(test)
    return regression_metrics(y_test, pred, base_pred), regression_metrics(y_test, base_pred, base_pred), pred


def check_gate(metrics: dict[str, float], gate: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One check per gate entry: metric, value, rule, threshold, passed."""
    checks = []
    for metric, rule in gate.items():
        value = metrics.get(metric)
        if value is None:
            raise SystemExit(
                f"error: criteria gate names {metric!r}, which evaluate does not compute ({', '.join(metrics)})"
            )
        for op, threshold in rule.items():
            if op not in ("min", "max"):
                raise SystemExit(f"error: criteria gate {metric}: use 'min' or 'max', not {op!r}")
            passed = bool(value >= threshold if op == "min" else value <= threshold)  # NaN never passes
            checks.append({"metric": metric, "value": value, "rule": op, "threshold": threshold, "passed": passed})
    return checks


def gate_record(checks: list[dict[str, Any]]) -> dict[str, Any]:
    """The gate as metrics.json holds it: the verdict, and per metric and rule its threshold and result.

    Nested objects, not a list, so `dvc metrics show/diff` can read every value.
    """
    rules: dict[str, dict[str, Any]] = {}
    for c in checks:
        rules.setdefault(c["metric"], {})[c["rule"]] = {"threshold": c["threshold"], "passed": c["passed"]}
    return {"passed": all(c["passed"] for c in checks), "checks": rules}


def live_targets(
    metrics: dict[str, float], baseline: dict[str, float], live: dict[str, Any], judged: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """Per live metric: the target (`min` or `max`) and the retire floor, from the offline report.

    `judged` are the metrics the monitor can compute from labelled traffic (core.metrics.LIVE).
    """
    tolerance = live.get("tolerance") or {}
    unjudged = set(tolerance) - set(judged)
    if unjudged:
        raise SystemExit(
            f"error: {paths.CRITERIA} live.tolerance: the monitor cannot compute {', '.join(sorted(unjudged))}"
            f" from labelled traffic — use {', '.join(judged)}"
        )
    if live.get("retire", "baseline") != "baseline":
        raise SystemExit(f"error: {paths.CRITERIA} live.retire: only `baseline` is supported, not {live['retire']!r}")
    targets = {}
    for metric, fraction in tolerance.items():
        if not 0 <= fraction < 1:
            raise SystemExit(f"error: {paths.CRITERIA} live.tolerance.{metric} = {fraction}: use a fraction in [0, 1)")
        value, floor = metrics[metric], baseline[metric]
        if HIGHER_IS_BETTER[metric]:
            targets[metric] = {"min": round(value * (1 - fraction), 4), "retire_below": round(floor, 4)}
        else:
            targets[metric] = {"max": round(value * (1 + fraction), 4), "retire_above": round(floor, 4)}
    return targets


def plot(task: str, y_true: np.ndarray, y_pred: np.ndarray, classes: list[Any] | None) -> str:
    """Confusion matrix (classification) or predicted-vs-actual and residuals (regression) as a PNG."""
    paths.PLOTS.mkdir(parents=True, exist_ok=True)
    if task == "classification":
        path = paths.PLOTS / "confusion_matrix.png"
        fig, ax = plt.subplots(figsize=(5, 4.5))
        skm.ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=classes, ax=ax, colorbar=False)
        ax.set_title("Confusion matrix (test set)")
    else:
        path = paths.PLOTS / "residuals.png"
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
        left.scatter(y_true, y_pred, s=12, alpha=0.7)
        lims = [min(np.min(y_true), np.min(y_pred)), max(np.max(y_true), np.max(y_pred))]
        left.plot(lims, lims, color="grey", linestyle="--")
        left.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual (test set)")
        right.hist(np.asarray(y_true) - np.asarray(y_pred), bins=20)
        right.set(xlabel="actual − predicted", ylabel="rows", title="Residuals")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    log.info("wrote %s", path)
    return path.name


def main(argv: list[str] | None = None) -> None:
    args = cli.parser(__doc__).parse_args(argv)
    cli.start(args)
    params = config.load_params(args.params)
    task, target = params["task"], params["ingest"]["target"]
    criteria = config.load_criteria(params["evaluate"]["criteria"])
    model = load_model()
    x_train, y_train = split_xy(read_table(paths.FEATURES_TRAIN, "featurize"), target)
    x_test, y_test = split_xy(read_table(paths.FEATURES_TEST, "featurize"), target)
    log.info("scoring %s on %d test rows", type(model).__name__, len(x_test))
    ours, base, pred = score(task, model, x_train, y_train, x_test, y_test)
    checks = check_gate(ours, criteria.get("gate", {}))
    result = {
        "task": task,
        "metrics": ours,
        "baseline": base,
        "gate": gate_record(checks),
    }
    classes = list(model.classes_) if task == "classification" else None
    write_json(paths.METRICS, result)
    write_table(paths.PREDICTIONS, pd.DataFrame({"actual": y_test.to_numpy(), "predicted": pred}))
    image = plot(task, y_test.to_numpy(), pred, classes)
    prepare = read_json(paths.PREPARE_RECORD, "prepare")
    trained = read_json(paths.TRAIN_RECORD, "train")
    versions = {  # what the result depends on; no clock and no commit, so a re-run writes the same bytes
        "train data sha256": prepare["train"]["sha256"][:16],
        "test data sha256": prepare["test"]["sha256"][:16],
        "model sha256": trained["model_sha256"][:16],
        "model": f"{trained['estimator']} ({trained['model']})",
    }
    paths.EVALUATION_REPORT.write_text(evaluation_report(task, result, checks, image, versions))
    log.info("wrote %s", paths.EVALUATION_REPORT)
    failed = [c for c in checks if not c["passed"]]
    for c in failed:
        print(
            f"gate FAILED: {c['metric']} = {c['value']:.4f}, {c['rule']} threshold {c['threshold']} ({paths.CRITERIA})",
            file=sys.stderr,
        )
    targets = live_targets(ours, base, criteria.get("live") or {}, LIVE[task])
    config.write_live_targets(params["evaluate"]["criteria"], targets)
    log.info("wrote live.targets to %s", params["evaluate"]["criteria"])
    if failed:
        raise SystemExit(1)
    log.info("gate passed: %s", ", ".join(f"{c['metric']}={c['value']:.4f}" for c in checks))


if __name__ == "__main__":
    main()
