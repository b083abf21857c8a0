"""What the benchmark sends: the test set's records, in the request body each server expects.

Standard library only: bench.py checks every server's answers with it (template venv), locustfile.py
loads the servers with it (project venv), mlflow_model.py infers the signature from it (mlflow venv).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

# A client record as the service takes it: feature name -> a number, a string, or None for missing.
Record = dict[str, float | str | None]

SCHEMA = Path("data/processed/schema.json")
TEST = Path("data/processed/test.csv")

# payload name -> the path it is posted to; "records" is the generated service's (and bare app's) body.
PATHS = {
    "records": "/predict",
    "inputs": "/invocations",
    "dataframe_split": "/invocations",
    "dataframe_records": "/invocations",
}


def features(project: Path | str = ".") -> list[dict[str, Any]]:
    """The schema's features (name, kind, ...) in order."""
    found: list[dict[str, Any]] = json.loads((Path(project) / SCHEMA).read_text())["features"]
    return found


def records(project: Path | str = ".") -> list[Record]:
    """The test set's records as the client sends them: numbers, strings, None for missing."""

    def value(text: str, kind: str) -> float | str | None:
        if text == "":
            return None
        return float(text) if kind == "numeric" else text

    kinds = {f["name"]: f["kind"] for f in features(project)}
    with open(Path(project) / TEST, newline="") as handle:
        return [{name: value(row[name], kind) for name, kind in kinds.items()} for row in csv.DictReader(handle)]


def body(payload: str, rows: list[Record]) -> str:
    """The JSON request body carrying `rows` in the `payload` format."""
    if payload == "dataframe_split":
        columns = list(rows[0])
        return json.dumps({"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}})
    if payload not in PATHS:
        raise ValueError(f"unknown payload {payload!r}: one of {', '.join(PATHS)}")
    return json.dumps({payload: rows})
