"""The predictor: the model, its feature transform and its request schema, independent of HTTP.

The schema's rules (`record_model`) check one request's records; `screen` applies the same bounds
column by column to a table (batch scoring) and marks the rows that may break one, which are then
checked, one by one, by `record_model` itself: one set of rules, one set of error messages.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..core.schema import Feature, Schema

if TYPE_CHECKING:  # the model stack loads in `Predictor.load`: a process that only reads the service's
    # definition (BentoML's arbiter, the OpenAPI document) never imports scikit-learn (nor pandas)
    import numpy as np
    import pandas as pd

    from ..core.features import Features

RANGE_SLACK = 10  # a numeric input may lie this many train ranges outside the train range
MAX_TEXT = 200  # longest categorical value accepted


def record_model(schema: Schema) -> type[BaseModel]:
    """A pydantic model of one input record generated from the schema: names, types, ranges.

    Every feature is required; `null` means missing (the pipeline imputes it). Numbers must be
    finite and within RANGE_SLACK train ranges of the train range; unknown fields are rejected.
    """
    fields: dict[str, Any] = {}
    for position, feature in enumerate(schema.features):
        if feature.numeric:
            low, high = bounds(feature)
            field = Field(
                alias=feature.name,
                ge=low,
                le=high,
                allow_inf_nan=False,
                description=f"number (train range {feature.min} to {feature.max}); null = missing",
                examples=[feature.min],
            )
            fields[f"f{position}"] = (float | None, field)
        else:
            categories = list(feature.categories)
            field = Field(
                alias=feature.name,
                max_length=MAX_TEXT,
                description=f"category, one of {categories[:20]}; others are treated as unseen; null = missing",
                examples=categories[:1] or ["a"],
            )
            fields[f"f{position}"] = (str | None, field)
    config = ConfigDict(extra="forbid", strict=True, populate_by_name=False, title="Record")
    model: type[BaseModel] = create_model("Record", __config__=config, **fields)
    return model


def bounds(feature: Feature) -> tuple[float, float]:
    """The closed interval a numeric input must lie in: RANGE_SLACK train ranges either side of the train range."""
    low, high = float(feature.min or 0.0), float(feature.max or 0.0)
    slack = RANGE_SLACK * ((high - low) or 1.0)
    return low - slack, high + slack


@dataclass(frozen=True)
class Screened:
    """A table checked column by column: its feature columns typed, and the rows `record_model` must judge."""

    frame: pd.DataFrame  # the schema's columns in order: numbers as float (NaN: missing), categories as read
    suspect: np.ndarray  # True where a row may break a rule of record_model (never False where one does)


def screen(schema: Schema, frame: pd.DataFrame, text_numbers: bool = True) -> Screened:
    """`record_model`'s rules over a whole table without a per-row loop (batch scoring's hot path).

    A row passes when every feature is present as a column (and no other column is), each number
    is missing or finite within `bounds`, and each category is missing or text of at most MAX_TEXT
    characters. `text_numbers`: numeric columns may hold numbers as text (CSV); a word there, like
    a number in a categorical column, marks its row. Missing values are NaN or None.
    """
    import numpy as np
    import pandas as pd

    rows = len(frame)
    suspect = np.zeros(rows, dtype=bool)
    if sorted(map(str, frame.columns)) != sorted(schema.names):
        suspect[:] = True  # a missing or unknown field: every row is refused, record_model says why
    typed: dict[str, Any] = {}
    for feature in schema.features:
        if feature.name not in frame.columns:
            typed[feature.name] = np.full(rows, np.nan)
            continue
        column = frame[feature.name]
        present = column.notna().to_numpy()
        if feature.numeric:
            if column.dtype.kind in "iuf":
                number = column.to_numpy(dtype=float)
            elif pd.api.types.is_bool_dtype(column):
                number = np.full(rows, np.nan)  # a flag is not a number
            else:
                number = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
                if not text_numbers:  # only numbers count: not their text, not a flag
                    real = [isinstance(v, int | float) and not isinstance(v, bool) for v in column.tolist()]
                    number = np.where(real, number, np.nan)
            low, high = bounds(feature)
            with np.errstate(invalid="ignore"):
                suspect |= present & ~((number >= low) & (number <= high))  # a word (NaN) fails too
            typed[feature.name] = number
        else:
            if pd.api.types.is_string_dtype(column):
                suspect |= present & (column.str.len().to_numpy(dtype=float, na_value=0) > MAX_TEXT)
            else:  # values as read (Parquet, objects): a number or a flag where text belongs is refused
                fits = [isinstance(v, str) and len(v) <= MAX_TEXT for v in column.tolist()]
                suspect |= present & ~np.array(fits, dtype=bool)
            typed[feature.name] = column.to_numpy()
    return Screened(pd.DataFrame(typed, index=frame.index, copy=False), suspect)


@dataclass
class Predictor:
    """The trained model and its feature path: records in, predictions out."""

    model: Any
    features: Features
    schema: Schema

    @classmethod
    def load(cls) -> Predictor:
        """Load the pipeline's artifacts; a missing one says which command makes it."""
        from ..core.estimators import load_model
        from ..core.features import Features

        return cls(load_model(), Features.load(), Schema.load())

    @functools.cached_property
    def record(self) -> type[BaseModel]:
        """The request schema of one record, for this predictor's schema."""
        return record_model(self.schema)

    @property
    def classes(self) -> list[Any]:
        return [c.item() if hasattr(c, "item") else c for c in getattr(self.model, "classes_", [])]

    def predict(self, records: list[dict[str, Any]]) -> list[Any]:
        """One prediction (class label or value) per record."""
        return [v.item() if hasattr(v, "item") else v for v in self.model.predict(self.features.from_records(records))]

    def predict_frame(self, frame: pd.DataFrame) -> list[Any]:
        """One prediction per row of a screened table (`screen`): batch scoring's path, column by column."""
        predictions: list[Any] = self.model.predict(self.features.from_frame(frame, self.schema)).tolist()
        return predictions

    def predict_proba(self, records: list[dict[str, Any]]) -> list[dict[str, float]]:
        """Class probabilities per record, keyed by class label."""
        labels = [str(c) for c in self.classes]
        proba = self.model.predict_proba(self.features.from_records(records))
        return [dict(zip(labels, map(float, row), strict=True)) for row in proba]
