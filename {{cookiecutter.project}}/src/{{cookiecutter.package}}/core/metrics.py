"""Quality metrics: one definition for the offline evaluation and the live monitor."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

# Whether a larger value is better, for every metric either side computes.
HIGHER_IS_BETTER = {
    "accuracy": True,
    "precision_macro": True,
    "recall_macro": True,
    "f1_macro": True,
    "roc_auc": True,
    "rmse": False,
    "mae": False,
    "r2": True,
    "rmse_vs_baseline": False,
}
# What the monitor can compute from logged predictions and their labels (no probabilities needed).
LIVE = {
    "classification": ("accuracy", "precision_macro", "recall_macro", "f1_macro"),
    "regression": ("rmse", "mae", "r2"),
}


def classification_metrics(y_true: Any, y_pred: Any, proba: Any, classes: list[Any]) -> dict[str, float]:
    """Accuracy, macro precision/recall/F1 and ROC AUC (one-vs-rest when multi-class)."""
    result = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "precision_macro": skm.precision_score(y_true, y_pred, average="macro", zero_division=0),
        "recall_macro": skm.recall_score(y_true, y_pred, average="macro", zero_division=0),
        "f1_macro": skm.f1_score(y_true, y_pred, average="macro", zero_division=0),
    }
    if proba is None or len(np.unique(y_true)) < len(classes):
        result["roc_auc"] = float("nan")  # undefined when a class is absent from the test set
    elif len(classes) == 2:
        result["roc_auc"] = skm.roc_auc_score(y_true == classes[1], proba[:, 1])
    else:
        result["roc_auc"] = skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)
    return {k: round(float(v), 6) for k, v in result.items()}


def regression_metrics(y_true: Any, y_pred: Any, baseline_pred: Any) -> dict[str, float]:
    """RMSE, MAE, R² and the model's RMSE as a fraction of the mean-predicting baseline's."""
    rmse = skm.root_mean_squared_error(y_true, y_pred)
    baseline = skm.root_mean_squared_error(y_true, baseline_pred)
    result = {
        "rmse": rmse,
        "mae": skm.mean_absolute_error(y_true, y_pred),
        "r2": skm.r2_score(y_true, y_pred),
        "rmse_vs_baseline": rmse / baseline if baseline else float("inf"),
    }
    return {k: round(float(v), 6) for k, v in result.items()}


def live_metrics(task: str, y_true: Any, y_pred: Any, classes: list[Any]) -> dict[str, float]:
    """The metrics of LIVE[task] on labelled live traffic."""
    if task == "classification":
        scored = classification_metrics(y_true, y_pred, None, classes)
    else:
        scored = regression_metrics(y_true, y_pred, np.full(len(y_true), float(np.mean(y_true))))
    return {name: scored[name] for name in LIVE[task]}
