"""Featurize: fit the feature transformer on the train set, transform both sets, record the features.

Numeric columns are imputed and scaled, categorical columns imputed and one-hot encoded
(unknown categories are ignored at prediction time). The per-feature statistics of the
train set are the reference distribution that drift checks compare live data with.
`transform` is the one code path from raw records to model inputs: training, evaluation
and the service all call it.
"""

from __future__ import annotations

import logging

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from . import cli, paths
from .prepare import coerce, read_split
from .records import read_json, require, sha256_file, write_json, write_table

log = logging.getLogger(__name__)

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def build_transformer(schema: dict, params: dict) -> ColumnTransformer:
    """The unfitted transformer the schema and the featurize parameters describe."""
    numeric = [f["name"] for f in schema["features"] if f["kind"] == "numeric"]
    categorical = [f["name"] for f in schema["features"] if f["kind"] == "categorical"]
    numeric_steps = [("impute", SimpleImputer(strategy=params["numeric_impute"], keep_empty_features=True))]
    if params.get("scale", True):
        numeric_steps.append(("scale", StandardScaler()))
    categorical_steps = [
        ("impute", SimpleImputer(strategy="most_frequent", keep_empty_features=True)),
        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ]
    return ColumnTransformer(
        [("numeric", Pipeline(numeric_steps), numeric), ("categorical", Pipeline(categorical_steps), categorical)],
        verbose_feature_names_out=False,
    )


class Features:
    """The fitted transformer compiled to numpy: the one code path from raw records to model inputs.

    sklearn's ColumnTransformer costs ~1 ms per call on one row; this applies the same fitted
    statistics (imputed values, scaling, one-hot categories) in ~20 µs, so the pipeline and the
    service share it. tests/code checks it against `transformer.transform` on real data.
    """

    def __init__(self, transformer: ColumnTransformer):
        parts = dict((name, (pipe, cols)) for name, pipe, cols in transformer.transformers_)
        numeric_pipe, self.numeric = parts["numeric"]
        categorical_pipe, self.categorical = parts["categorical"]
        self.numeric, self.categorical = list(self.numeric), list(self.categorical)
        self.fill = numeric_pipe.named_steps["impute"].statistics_.astype(float) if self.numeric else np.zeros(0)
        scaler = numeric_pipe.named_steps.get("scale") if self.numeric else None
        self.mean = scaler.mean_ if scaler is not None else np.zeros_like(self.fill)
        self.scale = scaler.scale_ if scaler is not None else np.ones_like(self.fill)
        if self.categorical:
            self.cat_fill = list(categorical_pipe.named_steps["impute"].statistics_)
            categories = categorical_pipe.named_steps["onehot"].categories_
        else:
            self.cat_fill, categories = [], []
        self.offsets = np.cumsum([0] + [len(c) for c in categories])
        self.index = [{str(v): i for i, v in enumerate(c)} for c in categories]
        self.width = len(self.fill) + int(self.offsets[-1])

    def from_records(self, records: list[dict]) -> np.ndarray:
        """Model inputs for JSON-like records (None = missing); the service's hot path."""
        numeric = np.array([[r.get(c) for c in self.numeric] for r in records], dtype=float)
        categorical = [[r.get(c) for c in self.categorical] for r in records]
        return self._apply(numeric.reshape(len(records), len(self.numeric)), categorical)

    def from_frame(self, frame: pd.DataFrame, schema: dict) -> np.ndarray:
        """Model inputs for a table (any column order) of raw records."""
        typed = coerce(frame, schema)
        numeric = typed[self.numeric].to_numpy(dtype=float)
        categorical = typed[self.categorical].to_numpy(dtype=object).tolist()
        return self._apply(numeric, categorical)

    def _apply(self, numeric: np.ndarray, categorical: list[list]) -> np.ndarray:
        out = np.zeros((numeric.shape[0], self.width))
        k = numeric.shape[1]
        if k:
            missing = np.isnan(numeric)
            numeric = np.where(missing, self.fill, numeric)
            out[:, :k] = (numeric - self.mean) / self.scale
        for row, values in enumerate(categorical):
            for j, value in enumerate(values):
                if value is None or (isinstance(value, float) and np.isnan(value)):
                    value = self.cat_fill[j]
                position = self.index[j].get(str(value))
                if position is not None:  # unseen category: all zeros, like handle_unknown="ignore"
                    out[row, k + self.offsets[j] + position] = 1.0
        return out


def transform(transformer: ColumnTransformer, records: pd.DataFrame, schema: dict) -> np.ndarray:
    """Raw records (any column order, schema types or strings) to the model's input matrix."""
    return Features(transformer).from_frame(records, schema)


def reference_stats(frame: pd.DataFrame, schema: dict, bins: int) -> dict:
    """Per-feature distribution of the train set: the reference for drift checks."""
    stats = {}
    for feature in schema["features"]:
        column = frame[feature["name"]]
        present = column.dropna()
        entry = {"kind": feature["kind"], "count": int(present.size), "missing": int(column.isna().sum())}
        if feature["kind"] == "numeric":
            values = present.to_numpy(dtype=float)
            counts, edges = np.histogram(values, bins=bins)
            entry.update(
                mean=float(values.mean()),
                std=float(values.std()),
                min=float(values.min()),
                max=float(values.max()),
                quantiles={f"p{int(q * 100):02d}": float(np.quantile(values, q)) for q in QUANTILES},
                histogram={"edges": edges.tolist(), "counts": counts.tolist()},
            )
        else:
            entry["frequencies"] = {str(k): int(v) for k, v in present.value_counts().sort_index().items()}
        stats[feature["name"]] = entry
    return stats


def load_transformer():
    """The fitted transformer, or say which stage makes it."""
    return joblib.load(require(paths.TRANSFORMER, "featurize"))


def main(argv: list[str] | None = None) -> None:
    args = cli.parser(__doc__).parse_args(argv)
    cli.start(args)
    params = cli.load_params(args.params)
    target, feat = params["ingest"]["target"], params["featurize"]
    schema = read_json(paths.SCHEMA, "prepare")
    train, test = read_split(paths.TRAIN, schema), read_split(paths.TEST, schema)
    transformer = build_transformer(schema, feat)
    log.info("fitting the transformer on %d train rows", len(train))
    transformer.fit(coerce(train, schema))
    names = [str(n) for n in transformer.get_feature_names_out()]
    for path, frame in ((paths.FEATURES_TRAIN, train), (paths.FEATURES_TEST, test)):
        matrix = pd.DataFrame(transform(transformer, frame, schema), columns=names)
        matrix[target] = frame[target].to_numpy()
        write_table(path, matrix)
    paths.TRANSFORMER.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(transformer, paths.TRANSFORMER)
    write_json(
        paths.FEATURE_LIST,
        {
            "inputs": [f["name"] for f in schema["features"]],
            "outputs": names,
            "transformer": str(paths.TRANSFORMER),
            "transformer_sha256": sha256_file(paths.TRANSFORMER),
        },
    )
    write_json(paths.FEATURE_STATS, reference_stats(coerce(train, schema), schema, feat["histogram_bins"]))


if __name__ == "__main__":
    main()
