"""Serving: the model, its features and its request schema, independent of the HTTP framework."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from . import paths
from .featurize import Features, load_transformer
from .records import read_json
from .train import load_model

RANGE_SLACK = 10  # a numeric input may lie this many train ranges outside the train range
MAX_TEXT = 200  # longest categorical value accepted


def record_model(schema: dict) -> type[BaseModel]:
    """A pydantic model of one input record generated from the schema: names, types, ranges.

    Every feature is required; `null` means missing (the pipeline imputes it). Numbers must be
    finite and within RANGE_SLACK train ranges of the train range; unknown fields are rejected.
    """
    fields: dict[str, Any] = {}
    for position, feature in enumerate(schema["features"]):
        name = feature["name"]
        if feature["kind"] == "numeric":
            low, high = feature["min"], feature["max"]
            slack = RANGE_SLACK * ((high - low) or 1.0)
            field = Field(
                alias=name,
                ge=low - slack,
                le=high + slack,
                allow_inf_nan=False,
                description=f"number (train range {low} to {high}); null = missing",
                examples=[low],
            )
            fields[f"f{position}"] = (float | None, field)
        else:
            categories = feature["categories"]
            field = Field(
                alias=name,
                max_length=MAX_TEXT,
                description=f"category, one of {categories[:20]}; others are treated as unseen; null = missing",
                examples=categories[:1] or ["a"],
            )
            fields[f"f{position}"] = (str | None, field)
    config = ConfigDict(extra="forbid", strict=True, populate_by_name=False, title="Record")
    return create_model("Record", __config__=config, **fields)


def load_schema() -> dict:
    """The input schema the prepare stage wrote, or say what to run."""
    return read_json(paths.SCHEMA, "prepare")


@dataclass
class Predictor:
    """The trained model and its feature path: records in, predictions out."""

    model: Any
    features: Features
    schema: dict

    @classmethod
    def load(cls) -> Predictor:
        """Load the pipeline's artifacts; a missing one says which command makes it."""
        return cls(load_model(), Features(load_transformer()), load_schema())

    @functools.cached_property
    def record(self) -> type[BaseModel]:
        """The request schema of one record, for this predictor's schema."""
        return record_model(self.schema)

    @property
    def classes(self) -> list:
        return [c.item() if hasattr(c, "item") else c for c in getattr(self.model, "classes_", [])]

    def predict(self, records: list[dict]) -> list:
        """One prediction (class label or value) per record."""
        return [v.item() if hasattr(v, "item") else v for v in self.model.predict(self.features.from_records(records))]

    def predict_proba(self, records: list[dict]) -> list[dict[str, float]]:
        """Class probabilities per record, keyed by class label."""
        labels = [str(c) for c in self.classes]
        proba = self.model.predict_proba(self.features.from_records(records))
        return [dict(zip(labels, map(float, row), strict=True)) for row in proba]
