"""Unit tests of the prepare stage: schema inference, the train/test split, the target summary."""

from __future__ import annotations

import math

import pandas as pd
import pytest


def test_infer_schema_kinds_missing_and_classes(pkg, toy):
    toy["flag"] = toy["size"] > 10
    schema = pkg.pipeline.prepare.infer_schema(toy, "target", "classification")
    features = {f.name: f for f in schema.features}
    assert schema.names == ["size", "weight", "colour", "flag"]
    assert features["size"].kind == features["weight"].kind == "numeric"
    assert features["colour"].kind == features["flag"].kind == "categorical"
    assert features["weight"].missing == 3
    assert features["colour"].missing == 2
    assert features["size"].missing == 0
    assert features["colour"].categories == ("blue", "green", "red")
    assert features["size"].min == pytest.approx(toy["size"].min())
    assert features["size"].max == pytest.approx(toy["size"].max())
    assert schema.to_dict()["target"] == {"name": "target", "kind": "categorical", "classes": [0, 1]}


def test_infer_schema_regression_target_is_numeric(pkg, make_toy):
    schema = pkg.pipeline.prepare.infer_schema(make_toy(task="regression"), "target", "regression")
    assert schema.to_dict()["target"] == {"name": "target", "kind": "numeric"}
    assert "target" not in schema.names


def test_split_is_stratified_sized_and_disjoint(pkg, toy):
    train, test, method = pkg.pipeline.prepare.split(toy, "target", "classification", {"test_size": 0.25, "seed": 3})
    assert method == "stratified"
    assert len(test) == math.ceil(len(toy) * 0.25)
    assert len(train) + len(test) == len(toy)
    assert set(train.index).isdisjoint(test.index)
    overall = toy["target"].mean()
    assert abs(test["target"].mean() - overall) <= 1 / len(test)


def test_split_falls_back_to_random_when_a_class_is_too_small(pkg, toy):
    toy.loc[0, "target"] = 2  # a class with a single row cannot be stratified
    train, test, method = pkg.pipeline.prepare.split(toy, "target", "classification", {"test_size": 0.2, "seed": 0})
    assert method == "random"
    assert len(train) + len(test) == len(toy)


@pytest.mark.parametrize(
    ("task", "params"),
    [("regression", {}), ("classification", {"stratify": False})],
    ids=["regression", "stratify-off"],
)
def test_split_is_random_when_not_stratifying(pkg, make_toy, task, params):
    frame = make_toy(task=task)
    _, _, method = pkg.pipeline.prepare.split(frame, "target", task, {"test_size": 0.2, "seed": 0, **params})
    assert method == "random"


def test_split_is_reproducible_by_seed(pkg, toy):
    def test_rows(seed):
        split = pkg.pipeline.prepare.split(toy, "target", "classification", {"test_size": 0.2, "seed": seed})
        return sorted(split[1].index)

    assert test_rows(7) == test_rows(7)
    assert test_rows(7) != test_rows(8)


def test_target_summary(pkg):
    summarise = pkg.pipeline.prepare.target_summary
    assert summarise(pd.Series([1, 0, 1]), "classification") == {"0": 1, "1": 2}
    summary = summarise(pd.Series([1.0, 2.0, 3.0]), "regression")
    assert summary["mean"] == 2.0 and summary["min"] == 1.0 and summary["max"] == 3.0


def test_production_records_read_in_the_raw_columns_order_and_none_while_empty(pkg, toy, tmp_path):
    read = pkg.pipeline.prepare.read_production
    columns = list(toy.columns)
    empty = tmp_path / "train.csv"
    empty.touch()
    assert read(empty, columns, "classification", "target").empty
    toy[columns[::-1]].head(5).to_csv(tmp_path / "some.csv", index=False)
    frame = read(tmp_path / "some.csv", columns, "classification", "target")
    assert list(frame.columns) == columns and len(frame) == 5
    toy.drop(columns=["weight"]).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(SystemExit, match="lacks weight — rerun `make retrain`"):
        read(tmp_path / "short.csv", columns, "classification", "target")
