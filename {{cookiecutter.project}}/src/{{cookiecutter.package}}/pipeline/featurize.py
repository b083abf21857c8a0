"""Featurize: fit the feature transformer on the train set, transform both sets, record the features.

Numeric columns are imputed and scaled, categorical columns imputed and one-hot encoded
(unknown categories are ignored at prediction time). The per-feature statistics of the
train set (`bins`: quantile bins with their counts) are the reference distribution that the
monitor's drift checks compare live data with. With `featurize.reference: recent` (what
`make retrain` proposes after drift) the reference is the recent production window's inputs
instead: the world the retrained model was judged on, so the monitor stops flagging the shift
it was retrained for.
"""

from __future__ import annotations

import logging
from typing import Any

import joblib
import numpy as np
import pandas as pd

from ..core import cli, config, paths
from ..core.artifacts import sha256_file, write_json, write_table
from ..core.features import Features, build_transformer
from ..core.schema import Schema

log = logging.getLogger(__name__)

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def quantile_bins(values: np.ndarray, bins: int) -> dict[str, list[Any]]:
    """Cut points at the train set's quantiles and the train rows between them (the drift reference).

    Bin i holds the values v with cuts[i-1] < v <= cuts[i]; the first and last bins are open.
    """
    cuts = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(cuts, values, side="left"), minlength=cuts.size + 1)
    return {"cuts": cuts.tolist(), "counts": counts.tolist()}


def reference_stats(frame: pd.DataFrame, schema: Schema, bins: int) -> dict[str, Any]:
    """Per-feature distribution of the train set: the reference for drift checks."""
    stats = {}
    for feature in schema.features:
        column = frame[feature.name]
        present = column.dropna()
        entry: dict[str, Any] = {"kind": feature.kind, "count": int(present.size), "missing": int(column.isna().sum())}
        if feature.numeric:
            values = present.to_numpy(dtype=float)
            counts, edges = np.histogram(values, bins=bins)
            entry.update(
                mean=float(values.mean()),
                std=float(values.std()),
                min=float(values.min()),
                max=float(values.max()),
                quantiles={f"p{int(q * 100):02d}": float(np.quantile(values, q)) for q in QUANTILES},
                histogram={"edges": edges.tolist(), "counts": counts.tolist()},
                bins=quantile_bins(values, bins),
            )
        else:
            entry["frequencies"] = {str(k): int(v) for k, v in present.value_counts().sort_index().items()}
        stats[feature.name] = entry
    return stats


def reference_rows(train: pd.DataFrame, schema: Schema, params: dict[str, Any]) -> tuple[pd.DataFrame, str]:
    """The rows the drift reference is computed from, and a line saying which."""
    choice = params.get("reference", "train")
    if choice not in ("train", "recent"):
        raise SystemExit(f"error: params.yaml featurize.reference {choice!r} — use train or recent")
    if choice == "recent":
        path = paths.PRODUCTION_INPUTS
        recent = schema.read_split(path) if path.is_file() and path.stat().st_size else train.iloc[0:0]
        if len(recent) >= 2 * int(params["histogram_bins"]):
            return recent, f"recent: {len(recent)} production inputs ({path})"
        log.warning("featurize.reference recent: %d rows in %s, too few — using the train set", len(recent), path)
    return train, f"train: {len(train)} rows"


def main(argv: list[str] | None = None) -> None:
    args = cli.parser(__doc__).parse_args(argv)
    cli.start(args)
    params = config.load_params(args.params)
    target, feat = params["ingest"]["target"], params["featurize"]
    schema = Schema.load()
    train, test = schema.read_split(paths.TRAIN), schema.read_split(paths.TEST)
    transformer = build_transformer(schema, feat)
    log.info("fitting the transformer on %d train rows", len(train))
    transformer.fit(schema.coerce(train))
    features = Features(transformer)
    names = [str(n) for n in transformer.get_feature_names_out()]
    for path, frame in ((paths.FEATURES_TRAIN, train), (paths.FEATURES_TEST, test)):
        matrix = pd.DataFrame(features.from_frame(frame, schema), columns=names)
        matrix[target] = frame[target].to_numpy()
        write_table(path, matrix)
    paths.TRANSFORMER.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(transformer, paths.TRANSFORMER)
    reference, described = reference_rows(train, schema, feat)
    write_json(
        paths.FEATURE_LIST,
        {
            "inputs": schema.names,
            "outputs": names,
            "transformer": str(paths.TRANSFORMER),
            "transformer_sha256": sha256_file(paths.TRANSFORMER),
            "drift_reference": described,
        },
    )
    write_json(paths.FEATURE_STATS, reference_stats(schema.coerce(reference), schema, feat["histogram_bins"]))


if __name__ == "__main__":
    main()
