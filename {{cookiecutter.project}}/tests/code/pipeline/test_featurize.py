"""Unit tests of the featurize stage: the reference statistics drift checks compare live data with."""

from __future__ import annotations


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
