"""The feature transform: the transformer the featurize stage fits, and its compiled form.

`Features` is the one code path from raw records to model inputs: the featurize stage writes the
feature tables with it, evaluate scores with it and the service predicts with it.
"""

from __future__ import annotations

from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from . import paths
from .artifacts import require
from .schema import Schema


def build_transformer(schema: Schema, params: dict[str, Any]) -> ColumnTransformer:
    """The unfitted transformer the schema and the featurize parameters describe."""
    numeric_steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy=params["numeric_impute"], keep_empty_features=True))
    ]
    if params.get("scale", True):
        numeric_steps.append(("scale", StandardScaler()))
    categorical_steps = [
        ("impute", SimpleImputer(strategy="most_frequent", keep_empty_features=True)),
        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ]
    return ColumnTransformer(
        [
            ("numeric", Pipeline(numeric_steps), schema.numeric),
            ("categorical", Pipeline(categorical_steps), schema.categorical),
        ],
        verbose_feature_names_out=False,
    )


def load_transformer() -> ColumnTransformer:
    """The fitted transformer, or say which stage makes it."""
    transformer: ColumnTransformer = joblib.load(require(paths.TRANSFORMER, "featurize"))
    return transformer


class Features:
    """The fitted transformer compiled to numpy: imputed values, scaling and one-hot categories.

    Applying the fitted statistics directly is far cheaper per request than
    `ColumnTransformer.transform` (the template's `make bench` measures both); tests check both agree.
    """

    def __init__(self, transformer: ColumnTransformer) -> None:
        parts = {name: (pipe, list(cols)) for name, pipe, cols in transformer.transformers_}
        numeric_pipe, self.numeric = parts["numeric"]
        categorical_pipe, self.categorical = parts["categorical"]
        self.fill = numeric_pipe.named_steps["impute"].statistics_.astype(float) if self.numeric else np.zeros(0)
        scaler = numeric_pipe.named_steps.get("scale") if self.numeric else None
        self.mean = scaler.mean_ if scaler is not None else np.zeros_like(self.fill)
        self.scale = scaler.scale_ if scaler is not None else np.ones_like(self.fill)
        categories: list[np.ndarray] = []
        self.cat_fill: list[Any] = []
        if self.categorical:
            self.cat_fill = list(categorical_pipe.named_steps["impute"].statistics_)
            categories = list(categorical_pipe.named_steps["onehot"].categories_)
        self.offsets = np.cumsum([0] + [len(c) for c in categories])
        self.index = [{str(v): i for i, v in enumerate(c)} for c in categories]
        self.width = len(self.fill) + int(self.offsets[-1])

    @classmethod
    def load(cls) -> Features:
        return cls(load_transformer())

    def from_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        """Model inputs for JSON-like records (None = missing); the service's hot path."""
        numeric = np.array([[r.get(c) for c in self.numeric] for r in records], dtype=float)
        categorical = [[r.get(c) for c in self.categorical] for r in records]
        return self._apply(numeric.reshape(len(records), len(self.numeric)), categorical)

    def from_frame(self, frame: pd.DataFrame, schema: Schema) -> np.ndarray:
        """Model inputs for a table of raw records (any column order, schema types or strings), column by
        column: a million logged records replayed (improvement/impact.py) take no per-row Python loop."""
        typed = schema.coerce(frame)
        out = self._apply(typed[self.numeric].to_numpy(dtype=float), [])
        k = len(self.numeric)
        for j, name in enumerate(self.categorical):
            column = typed[name]
            filled = column.where(column.notna(), self.cat_fill[j]).astype(str)
            position = filled.map(self.index[j]).to_numpy(dtype=float)  # NaN: unseen, all zeros
            rows = np.flatnonzero(~np.isnan(position))
            out[rows, k + int(self.offsets[j]) + position[rows].astype(int)] = 1.0
        return out

    def _apply(self, numeric: np.ndarray, categorical: list[list[Any]]) -> np.ndarray:
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
