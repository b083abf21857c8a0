"""The model families `train.model` can name, how to build one, and how to load the trained model."""

from __future__ import annotations

from typing import Any

import joblib
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge

from . import paths
from .artifacts import require

ESTIMATORS: dict[str, dict[str, type[BaseEstimator]]] = {
    "classification": {
        "logistic_regression": LogisticRegression,
        "random_forest": RandomForestClassifier,
        "hist_gradient_boosting": HistGradientBoostingClassifier,
    },
    "regression": {
        "ridge": Ridge,
        "random_forest": RandomForestRegressor,
        "hist_gradient_boosting": HistGradientBoostingRegressor,
    },
}
SEEDED = {"random_forest", "hist_gradient_boosting", "logistic_regression"}


def build_estimator(task: str, params: dict[str, Any]) -> Any:
    """The unfitted estimator that `train.model` and its sub-section describe."""
    name = params["model"]
    choices = ESTIMATORS[task]
    if name not in choices:
        raise SystemExit(f"error: train.model {name!r} is not a {task} model — use one of {', '.join(choices)}")
    kwargs = dict(params.get(name) or {})
    if name in SEEDED:
        kwargs.setdefault("random_state", params["seed"])
    if name == "random_forest":
        kwargs.setdefault("n_jobs", 1)  # one thread per worker: no oversubscription when served
    return choices[name](**kwargs)


def split_xy(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Feature matrix and target of a features table."""
    return frame.drop(columns=[target]), frame[target]


def load_model() -> Any:
    """The trained model, or say which stage makes it."""
    return joblib.load(require(paths.MODEL, "train"))
