"""Ingest: snapshot the training data source into data/raw/dataset.csv and record its facts.

The source is `ingest.source` in params.yaml: `sklearn:<name>` for a data set that ships
inside scikit-learn, or `csv:<path>` for a file tracked with `dvc add`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn import datasets

from ..core import cli, config, paths
from ..core.artifacts import sha256_file, write_json, write_table

log = logging.getLogger(__name__)

SKLEARN_LOADERS = {
    "breast_cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
    "iris": datasets.load_iris,
    "diabetes": datasets.load_diabetes,
}


def load_source(source: str, target: str) -> pd.DataFrame:
    """Load the source named in params as one table whose target column is `target`."""
    kind, _, ref = source.partition(":")
    if kind == "sklearn":
        if ref not in SKLEARN_LOADERS:
            raise SystemExit(
                f"error: unknown scikit-learn data set {ref!r} in ingest.source"
                f" — use one of {', '.join(SKLEARN_LOADERS)}"
            )
        bunch = SKLEARN_LOADERS[ref](as_frame=True)
        frame: pd.DataFrame = bunch.frame.rename(columns={"target": target})
        if "target_names" in bunch:  # classification: readable class labels, not codes
            frame[target] = bunch.target_names[bunch.target.to_numpy()]
        return frame
    if kind == "csv":
        path = Path(ref)
        if not path.exists():
            raise SystemExit(
                f"error: no CSV at {path} — run `dvc pull {path}` or copy the file there and `dvc add {path}`"
            )
        frame = pd.read_csv(path)
        if target not in frame.columns:
            raise SystemExit(
                f"error: target column {target!r} is not in {path} (columns: {', '.join(map(str, frame.columns))})"
                " — fix ingest.target in params.yaml"
            )
        return frame
    raise SystemExit(f"error: ingest.source {source!r} must start with 'sklearn:' or 'csv:'")


def describe(frame: pd.DataFrame, source: str, target: str, task: str) -> dict[str, Any]:
    """Facts about the raw snapshot that the data card shows."""
    return {
        "source": source,
        "task": task,
        "target": target,
        "rows": len(frame),
        "columns": frame.shape[1],
        "column_names": list(map(str, frame.columns)),
    }


def main(argv: list[str] | None = None) -> None:
    args = cli.parser(__doc__).parse_args(argv)
    cli.start(args)
    params = config.load_params(args.params)
    source, target = params["ingest"]["source"], params["ingest"]["target"]
    log.info("loading %s", source)
    frame = load_source(source, target)
    write_table(paths.RAW, frame)
    record = describe(frame, source, target, params["task"])
    record["raw_sha256"] = sha256_file(paths.RAW)
    if source.startswith("csv:"):
        record["source_sha256"] = sha256_file(source.partition(":")[2])
    write_json(paths.INGEST_RECORD, record)


if __name__ == "__main__":
    main()
