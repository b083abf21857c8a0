"""Unit tests of the featurize stage: the reference statistics drift checks compare live data with."""

from __future__ import annotations

import pytest


def test_reference_stats(pkg, toy):
    schema = pkg.pipeline.prepare.infer_schema(toy, "target", "classification")
    stats = pkg.pipeline.featurize.reference_stats(schema.coerce(toy), schema, bins=5)
    assert set(stats) == {"size", "weight", "colour"}
    weight = stats["weight"]
    assert weight["count"] == toy["weight"].notna().sum() and weight["missing"] == 3
    assert sum(weight["histogram"]["counts"]) == weight["count"]
    assert len(weight["histogram"]["edges"]) == 6
    quantiles = list(weight["quantiles"].values())
    assert quantiles == sorted(quantiles)
    assert weight["min"] <= quantiles[0] and quantiles[-1] <= weight["max"]
    colour = stats["colour"]
    assert colour["missing"] == 2
    assert sum(colour["frequencies"].values()) == colour["count"] == len(toy) - 2


def test_the_drift_reference_is_the_recent_window_only_when_asked_and_big_enough(pkg, toy, isolated):
    schema = pkg.pipeline.prepare.infer_schema(toy, "target", "classification")
    params = {"histogram_bins": 5, "reference": "recent"}
    rows, said = pkg.pipeline.featurize.reference_rows(toy, schema, params)
    assert rows is toy and said.startswith("train")  # no recent window yet
    recent = isolated / "data/production/recent_inputs.csv"
    recent.parent.mkdir(parents=True)
    toy.head(12).to_csv(recent, index=False)
    rows, said = pkg.pipeline.featurize.reference_rows(toy, schema, params)
    assert len(rows) == 12 and said.startswith("recent: 12")
    rows, said = pkg.pipeline.featurize.reference_rows(toy, schema, {**params, "reference": "train"})
    assert rows is toy
    with pytest.raises(SystemExit, match="featurize.reference 'latest'"):
        pkg.pipeline.featurize.reference_rows(toy, schema, {**params, "reference": "latest"})
