"""Prepare: clean the raw snapshot, infer its schema and split it into train and test sets.

Rows whose target is missing are dropped and counted; missing feature values are kept
(the featurize stage imputes them) and counted per column. The split is stratified for
classification when every class has at least two rows. Labelled production records that
`make retrain` brought in (`data/production/train.csv`) join the train set after the split:
the test set, the holdout that judges every model, stays the same rows.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ..core import cli, config, paths
from ..core.artifacts import read_table, sha256_file, write_json, write_table
from ..core.schema import Feature, Schema, Target

log = logging.getLogger(__name__)


def infer_schema(frame: pd.DataFrame, target: str, task: str) -> Schema:
    """Name, kind (numeric/categorical), range or categories and missing count of every column."""
    features = []
    for name in frame.columns.drop(target):
        column = frame[name]
        missing = int(column.isna().sum())
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            feature = Feature(
                str(name), "numeric", missing, str(column.dtype), _plain(column.min()), _plain(column.max())
            )
        else:
            categories = tuple(sorted(map(str, column.dropna().unique())))
            feature = Feature(str(name), "categorical", missing, "string", categories=categories)
        features.append(feature)
    if task == "classification":
        label = Target(target, "categorical", tuple(sorted(_plain(v) for v in frame[target].unique())))
    else:
        label = Target(target, "numeric")
    return Schema(task, label, tuple(features))  # type: ignore[arg-type]


def split(
    frame: pd.DataFrame, target: str, task: str, params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Seeded train/test split; stratified for classification when the classes allow it."""
    stratify = None
    method = "random"
    if task == "classification" and params.get("stratify", True):
        counts = frame[target].value_counts()
        n_test = int(np.ceil(len(frame) * params["test_size"]))
        if counts.min() >= 2 and len(counts) <= min(n_test, len(frame) - n_test):
            stratify, method = frame[target], "stratified"
        else:
            log.warning("too few rows per class for a stratified split: falling back to a random split")
    train, test = train_test_split(frame, test_size=params["test_size"], random_state=params["seed"], stratify=stratify)
    return train, test, method


def target_summary(y: pd.Series, task: str) -> dict[str, Any]:
    """Class balance for classification, distribution statistics for regression."""
    if task == "classification":
        return {str(k): int(v) for k, v in y.value_counts().sort_index().items()}
    return {str(k): float(v) for k, v in y.describe().drop("count").items()}


def main(argv: list[str] | None = None) -> None:
    args = cli.parser(__doc__).parse_args(argv)
    cli.start(args)
    params = config.load_params(args.params)
    task, target, prep = params["task"], params["ingest"]["target"], params["prepare"]
    raw = read_table(paths.RAW, "ingest")
    clean = raw.dropna(subset=[target]).reset_index(drop=True)
    dropped = len(raw) - len(clean)
    if dropped:
        log.warning("dropped %d rows whose target %r is missing", dropped, target)
    if task == "classification":
        clean[target] = clean[target].map(_plain)
    schema = infer_schema(clean, target, task)
    train, test, method = split(clean, target, task, prep)
    log.info("split %d rows: %d train, %d test (%s, seed %s)", len(clean), len(train), len(test), method, prep["seed"])
    production = read_production(paths.PRODUCTION_TRAIN, list(clean.columns), task, target)
    if len(production):
        log.info("%d labelled production records join the train set", len(production))
        train = pd.concat([train, production], ignore_index=True)
    write_table(paths.CLEAN, clean)
    write_table(paths.TRAIN, train)
    write_table(paths.TEST, test)
    write_json(paths.SCHEMA, schema.to_dict())
    write_json(
        paths.PREPARE_RECORD,
        {
            "rows_in": len(raw),
            "rows_dropped_missing_target": dropped,
            "rows_out": len(clean),
            "missing_values": {f.name: f.missing for f in schema.features if f.missing},
            "split": {"method": method, "test_size": prep["test_size"], "seed": prep["seed"]},
            "production": {
                "rows": len(production),
                "sha256": sha256_file(paths.PRODUCTION_TRAIN) if len(production) else None,
            },
            "train": {
                "rows": len(train),
                "sha256": sha256_file(paths.TRAIN),
                "target": target_summary(train[target], task),
            },
            "test": {
                "rows": len(test),
                "sha256": sha256_file(paths.TEST),
                "target": target_summary(test[target], task),
            },
        },
    )


def read_production(path: Path, columns: list[str], task: str, target: str) -> pd.DataFrame:
    """The labelled production records for training, in the raw columns' order; none when empty."""
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame(columns=columns)
    frame = pd.read_csv(path)
    missing = sorted(set(columns) - set(frame.columns))
    if missing:
        raise SystemExit(f"error: {path} lacks {', '.join(missing)} — rerun `make retrain` (it writes this file)")
    frame = frame[columns]
    if task == "classification":
        frame[target] = frame[target].map(_plain)
    return frame


def _plain(value: Any) -> Any:
    """A numpy scalar as a plain Python value; integral floats as ints (labels read back from CSV)."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


if __name__ == "__main__":
    main()
