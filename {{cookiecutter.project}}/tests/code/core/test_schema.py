"""Unit tests of core/schema: the typed schema, its JSON form, and how it reads and types records."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def toy_schema(pkg, toy):
    return pkg.pipeline.prepare.infer_schema(toy, "target", "classification")


def test_schema_names_its_features_by_kind(toy_schema):
    assert toy_schema.names == ["size", "weight", "colour"]
    assert toy_schema.numeric == ["size", "weight"] and toy_schema.categorical == ["colour"]
    assert toy_schema.feature("colour").categories == ("blue", "green", "red")
    assert toy_schema.classification and toy_schema.read_dtypes() == {"colour": str}


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_schema_round_trips_through_its_json_form(pkg, make_toy, task):
    schema = pkg.pipeline.prepare.infer_schema(make_toy(task=task), "target", task)
    document = schema.to_dict()
    assert pkg.core.schema.Schema.from_dict(document) == schema
    features = {f["name"]: f for f in document["features"]}
    assert "categories" not in features["size"] and {"min", "max"} <= set(features["size"])
    assert "min" not in features["colour"] and features["colour"]["categories"] == ["blue", "green", "red"]
    assert ("classes" in document["target"]) == (task == "classification")


def test_schema_load_without_the_file_names_the_stage(pkg, isolated):
    with pytest.raises(SystemExit, match="dvc repro prepare"):
        pkg.core.schema.Schema.load()


def test_coerce_types_order_and_missing(toy_schema):
    records = pd.DataFrame(
        {
            "colour": [3, None, "red"],
            "extra": [1, 2, 3],
            "weight": ["1.5", None, "not a number"],
            "size": [10, 11, np.nan],
        }
    )
    out = toy_schema.coerce(records)
    assert list(out.columns) == ["size", "weight", "colour"]
    assert out["size"].dtype == float and out["weight"].dtype == float
    assert out["weight"].iloc[0] == 1.5
    assert out["weight"].iloc[1:].isna().all()
    assert math.isnan(out["size"].iloc[2])
    assert out["colour"].iloc[0] == "3"
    assert isinstance(out["colour"].iloc[1], float) and math.isnan(out["colour"].iloc[1])
    assert out["colour"].iloc[2] == "red"


def test_read_split_keeps_categories_that_look_like_numbers_as_text(pkg, isolated):
    schema = pkg.core.schema
    codes = schema.Schema(
        "regression",
        schema.Target("y", "numeric"),
        (schema.Feature("code", "categorical", categories=("01", "2")), schema.Feature("x", "numeric", min=0, max=1)),
    )
    (isolated / "split.csv").write_text("code,x,y\n01,0.5,1.0\n2,,2.0\n,1.0,3.0\n")
    frame = codes.read_split(isolated / "split.csv")
    assert frame["code"].tolist()[:2] == ["01", "2"]  # not 1.0 and 2.0
    assert codes.client_records(frame) == [
        {"code": "01", "x": 0.5},
        {"code": "2", "x": None},
        {"code": None, "x": 1.0},
    ]


def test_client_records_hold_the_features_only_and_none_for_missing(toy_schema, toy):
    records = toy_schema.client_records(toy)
    assert len(records) == len(toy) and all(list(r) == toy_schema.names for r in records)
    assert records[1]["weight"] is None and records[2]["colour"] is None
    assert records[0] == {"size": toy["size"][0], "weight": toy["weight"][0], "colour": toy["colour"][0]}
