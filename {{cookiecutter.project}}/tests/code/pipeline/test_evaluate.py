"""Unit tests of the evaluate stage: metrics, the trivial baseline and the criteria gate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def test_check_gate_min_and_max(pkg):
    check_gate = pkg.pipeline.evaluate.check_gate
    metrics = {"accuracy": 0.9, "rmse_vs_baseline": 0.5}
    gate = {"accuracy": {"min": 0.9}, "rmse_vs_baseline": {"max": 0.4}}
    checks = {c["metric"]: c for c in check_gate(metrics, gate)}
    assert checks["accuracy"]["passed"] is True  # the threshold itself passes
    assert checks["rmse_vs_baseline"] == {
        "metric": "rmse_vs_baseline",
        "value": 0.5,
        "rule": "max",
        "threshold": 0.4,
        "passed": False,
    }
    assert check_gate(metrics, {"accuracy": {"min": 0.95}})[0]["passed"] is False


def test_gate_record_nests_every_rule_so_dvc_can_read_it(pkg):
    evaluate = pkg.pipeline.evaluate
    checks = evaluate.check_gate({"r2": 0.5, "rmse_vs_baseline": 0.5}, {"r2": {"min": 0.3, "max": 0.4}})
    record = evaluate.gate_record(checks)
    assert record == {
        "passed": False,
        "checks": {"r2": {"min": {"threshold": 0.3, "passed": True}, "max": {"threshold": 0.4, "passed": False}}},
    }

    def leaves(value):
        if isinstance(value, dict):
            return [leaf for v in value.values() for leaf in leaves(v)]
        return [value]

    assert not any(isinstance(leaf, list) for leaf in leaves(record))  # dvc metrics cannot read lists


def test_check_gate_never_passes_nan(pkg):
    assert pkg.pipeline.evaluate.check_gate({"roc_auc": float("nan")}, {"roc_auc": {"min": 0.5}})[0]["passed"] is False


def test_check_gate_unknown_metric_is_named(pkg):
    with pytest.raises(SystemExit, match="'auprc'"):
        pkg.pipeline.evaluate.check_gate({"accuracy": 1.0}, {"auprc": {"min": 0.5}})


def test_check_gate_unknown_rule_is_named(pkg):
    with pytest.raises(SystemExit, match="'above'"):
        pkg.pipeline.evaluate.check_gate({"accuracy": 1.0}, {"accuracy": {"above": 0.5}})


def test_classification_metrics_of_perfect_predictions(pkg):
    y = np.array([0, 1, 1, 0, 1])
    proba = np.column_stack([1 - y, y]).astype(float)
    metrics = pkg.pipeline.evaluate.classification_metrics(y, y, proba, [0, 1])
    assert metrics == {"accuracy": 1.0, "precision_macro": 1.0, "recall_macro": 1.0, "f1_macro": 1.0, "roc_auc": 1.0}


def test_classification_metrics_multiclass_and_wrong_predictions(pkg):
    y = np.array(["a", "b", "c", "a", "b", "c"])
    wrong = np.array(["b", "c", "a", "b", "c", "a"])
    proba = np.full((6, 3), 1 / 3)
    metrics = pkg.pipeline.evaluate.classification_metrics(y, wrong, proba, ["a", "b", "c"])
    assert metrics["accuracy"] == 0.0
    assert metrics["roc_auc"] == 0.5


def test_regression_metrics(pkg):
    regression_metrics = pkg.pipeline.evaluate.regression_metrics
    y = np.array([1.0, 2.0, 3.0, 6.0])
    mean = np.full_like(y, y.mean())
    perfect = regression_metrics(y, y, mean)
    assert perfect["rmse"] == 0.0 and perfect["r2"] == 1.0 and perfect["rmse_vs_baseline"] == 0.0
    baseline = regression_metrics(y, mean, mean)
    assert baseline["rmse_vs_baseline"] == 1.0
    assert baseline["r2"] == 0.0
    assert baseline["mae"] == pytest.approx(np.abs(y - y.mean()).mean(), abs=1e-6)


def test_score_compares_the_model_with_a_trivial_baseline(pkg, toy):
    x = pd.DataFrame({"size": toy["size"]})
    y = toy["target"]
    model = pkg.core.estimators.build_estimator("classification", {"model": "logistic_regression", "seed": 0})
    model.fit(x.to_numpy(), y.to_numpy())
    ours, base, pred = pkg.pipeline.evaluate.score("classification", model, x, y, x, y)
    assert len(pred) == len(y)
    assert base["accuracy"] == pytest.approx(y.value_counts(normalize=True).max(), abs=1e-6)
    assert ours["accuracy"] > base["accuracy"]
    assert base["roc_auc"] == 0.5
