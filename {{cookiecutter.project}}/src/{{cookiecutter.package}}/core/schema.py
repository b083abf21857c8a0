"""The input schema (`data/processed/schema.json`) as one typed object, and what every reader asks of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from . import paths
from .artifacts import read_json, read_table

if TYPE_CHECKING:  # pandas loads where a table is read: the service's definition needs none
    import pandas as pd

Kind = Literal["numeric", "categorical"]
Label = str | int | float


@dataclass(frozen=True)
class Feature:
    """One input column: numeric with its train range, or categorical with its train categories."""

    name: str
    kind: Kind
    missing: int = 0
    dtype: str = "float64"
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] = ()

    @property
    def numeric(self) -> bool:
        return self.kind == "numeric"


@dataclass(frozen=True)
class Target:
    """The column the model predicts; `classes` for classification."""

    name: str
    kind: Kind
    classes: tuple[Label, ...] = ()


@dataclass(frozen=True)
class Schema:
    """Task, target and input features, in the order the pipeline reads them."""

    task: Literal["classification", "regression"]
    target: Target
    features: tuple[Feature, ...] = field(default_factory=tuple)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        target = data["target"]
        return cls(
            task=data["task"],
            target=Target(target["name"], target["kind"], tuple(target.get("classes", ()))),
            features=tuple(Feature(**{**f, "categories": tuple(f.get("categories", ()))}) for f in data["features"]),
        )

    @classmethod
    def load(cls, path: Path = paths.SCHEMA) -> Schema:
        """The schema the prepare stage wrote, or say what to run."""
        return cls.from_dict(read_json(path, "prepare"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of `schema.json` (empty ranges and categories left out)."""
        features = []
        for f in self.features:
            entry: dict[str, Any] = {"name": f.name, "kind": f.kind, "missing": f.missing, "dtype": f.dtype}
            if f.numeric:
                entry.update(min=f.min, max=f.max)
            else:
                entry["categories"] = list(f.categories)
            features.append(entry)
        target: dict[str, Any] = {"name": self.target.name, "kind": self.target.kind}
        if self.classification:
            target["classes"] = list(self.target.classes)
        return {"task": self.task, "target": target, "features": features}

    @property
    def classification(self) -> bool:
        return self.task == "classification"

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def numeric(self) -> list[str]:
        return [f.name for f in self.features if f.numeric]

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.features if not f.numeric]

    def feature(self, name: str) -> Feature:
        return next(f for f in self.features if f.name == name)

    def read_dtypes(self) -> dict[str, type]:
        """`pd.read_csv` dtypes that keep categorical values as text, so "1" stays "1", not 1.0."""
        return {name: str for name in self.categorical}

    def read_split(self, path: Path, stage: str = "prepare", nrows: int | None = None) -> pd.DataFrame:
        """A table of raw records (a processed split) with categorical columns read as text."""
        return read_table(path, stage, dtype=self.read_dtypes(), nrows=nrows)

    def coerce(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature columns in schema order with the schema's types; missing stays NaN."""
        import numpy as np
        import pandas as pd

        out = pd.DataFrame(index=frame.index)
        for f in self.features:
            column = frame[f.name]
            if f.numeric:
                out[f.name] = pd.to_numeric(column, errors="coerce").astype(float)
            else:
                out[f.name] = (
                    column.astype(object)
                    .where(column.notna(), np.nan)
                    .map(lambda v: v if isinstance(v, float) and np.isnan(v) else str(v))
                )
        return out

    def client_records(self, frame: pd.DataFrame) -> list[dict[str, Any]]:
        """Rows as a client sends them: the feature values only, `None` where a value is missing."""
        features = frame[self.names]
        records: list[dict[str, Any]] = features.astype(object).where(features.notna(), None).to_dict("records")
        return records

    def example_records(self, n: int = 1, path: Path = paths.TEST) -> list[dict[str, Any]]:
        """The first `n` test-set records as a client sends them."""
        return self.client_records(self.read_split(path, nrows=n))
