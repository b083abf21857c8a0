"""The predictor: the model, its feature transform and its request schema, independent of HTTP."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..core.schema import Schema

if TYPE_CHECKING:  # the model stack loads in `Predictor.load`: a process that only reads the service's
    # definition (BentoML's arbiter, the OpenAPI document) never imports scikit-learn
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
            low, high = float(feature.min or 0.0), float(feature.max or 0.0)
            slack = RANGE_SLACK * ((high - low) or 1.0)
            field = Field(
                alias=feature.name,
                ge=low - slack,
                le=high + slack,
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

    def predict_proba(self, records: list[dict[str, Any]]) -> list[dict[str, float]]:
        """Class probabilities per record, keyed by class label."""
        labels = [str(c) for c in self.classes]
        proba = self.model.predict_proba(self.features.from_records(records))
        return [dict(zip(labels, map(float, row), strict=True)) for row in proba]
