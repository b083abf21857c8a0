"""Train: fit the estimator named by `train.model` on the train features and save it.

Each estimator's hyperparameters are the sub-section of `train` with its name, so a
change to one of them reruns only train and the stages after it.
"""

from __future__ import annotations

import logging
import time

import joblib

from ..core import cli, config, paths
from ..core.artifacts import read_table, sha256_file, write_json
from ..core.estimators import build_estimator, split_xy

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> None:
    args = cli.parser(__doc__).parse_args(argv)
    cli.start(args)
    params = config.load_params(args.params)
    task, target, train_params = params["task"], params["ingest"]["target"], params["train"]
    x, y = split_xy(read_table(paths.FEATURES_TRAIN, "featurize"), target)
    estimator = build_estimator(task, train_params)
    log.info("fitting %s on %d rows x %d features", type(estimator).__name__, *x.shape)
    started = time.perf_counter()
    estimator.fit(x.to_numpy(), y.to_numpy())
    log.info("trained in %.2f s", time.perf_counter() - started)  # logged, not recorded: same inputs, same bytes
    paths.MODEL.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, paths.MODEL)
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
            "model_sha256": sha256_file(paths.MODEL),
        },
    )


if __name__ == "__main__":
    main()
