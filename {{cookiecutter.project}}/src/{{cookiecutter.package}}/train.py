"""Train: fit the estimator named by `train.model` on the train features and save it.

Each estimator's hyperparameters are the sub-section of `train` with its name, so a
change to one of them reruns only train and the stages after it.
"""

from __future__ import annotations

import logging
import time

import joblib
import pandas as pd
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge

from . import cli, paths
from .records import read_table, require, sha256_file, write_json

log = logging.getLogger(__name__)

ESTIMATORS = {
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


def build_estimator(task: str, params: dict):
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


def load_model():
    """The trained model, or say which stage makes it."""
    return joblib.load(require(paths.MODEL, "train"))


def main(argv: list[str] | None = None) -> None:
    args = cli.parser(__doc__).parse_args(argv)
    cli.start(args)
    params = cli.load_params(args.params)
    task, target, train_params = params["task"], params["ingest"]["target"], params["train"]
    x, y = split_xy(read_table(paths.FEATURES_TRAIN, "featurize"), target)
    estimator = build_estimator(task, train_params)
    log.info("fitting %s on %d rows x %d features", type(estimator).__name__, *x.shape)
    started = time.perf_counter()
    estimator.fit(x.to_numpy(), y.to_numpy())
    seconds = time.perf_counter() - started
    paths.MODEL.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, paths.MODEL)
    log.info("trained in %.2f s", seconds)
    write_json(
        paths.TRAIN_RECORD,
        {
            "model": train_params["model"],
            "estimator": type(estimator).__name__,
            "params": {
                k: v for k, v in estimator.get_params().items() if isinstance(v, (int, float, str, bool, type(None)))
            },
            "rows": int(x.shape[0]),
            "features": int(x.shape[1]),
            "fit_seconds": round(seconds, 4),
            "model_sha256": sha256_file(paths.MODEL),
        },
    )


if __name__ == "__main__":
    main()
