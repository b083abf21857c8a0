"""Unit tests of serving/predictor: the request schema of one record, and records in, predictions out."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest


@pytest.fixture
def toy_record(pkg, toy):
    """The toy schema's record model, the schema, and a valid record."""
    schema = pkg.pipeline.prepare.infer_schema(toy, "target", "classification")
    return SimpleNamespace(
        model=pkg.serving.predictor.record_model(schema),
        schema=schema,
        valid={"size": 10.5, "weight": -0.5, "colour": "red"},
        size=schema.feature("size"),
    )


def test_record_model_accepts_a_valid_record_integers_and_nulls(toy_record):
    model = toy_record.model
    assert model.model_validate(toy_record.valid).model_dump(by_alias=True) == toy_record.valid
    assert model.model_validate({**toy_record.valid, "size": 10}).model_dump(by_alias=True)["size"] == 10.0
    nulls = {"size": None, "weight": None, "colour": None}
    assert model.model_validate(nulls).model_dump(by_alias=True) == nulls


def test_record_model_allows_the_slack_around_the_train_range(pkg, toy_record):
    low, high = toy_record.size.min, toy_record.size.max
    slack = pkg.serving.predictor.RANGE_SLACK * (high - low)
    for value in (low - slack, high + slack):
        record = toy_record.model.model_validate({**toy_record.valid, "size": value})
        assert record.model_dump(by_alias=True)["size"] == value


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"unexpected": 1.0}, "unexpected", "extra_forbidden"),
        ({"size": math.nan}, "size", "finite_number"),
        ({"size": math.inf}, "size", "finite_number"),
        ({"size": -math.inf}, "size", "finite_number"),
        ({"size": "ABOVE"}, "size", "less_than_equal"),
        ({"size": "BELOW"}, "size", "greater_than_equal"),
        ({"size": "10.5"}, "size", "float_type"),
        ({"size": True}, "size", "float_type"),
        ({"colour": 3}, "colour", "string_type"),
        ({"colour": "x" * 201}, "colour", "string_too_long"),
        ({"size": "DROP"}, "size", "missing"),
    ],
    ids=[
        "extra-field",
        "nan",
        "inf",
        "minus-inf",
        "above-range",
        "below-range",
        "string-for-number",
        "bool-for-number",
        "number-for-category",
        "too-long-text",
        "missing-field",
    ],
)
def test_record_model_rejects_naming_the_field_and_rule(pkg, toy_record, change, field, rule):
    low, high = toy_record.size.min, toy_record.size.max
    outside = 1.001 * pkg.serving.predictor.RANGE_SLACK * (high - low)
    bounds = {"ABOVE": high + outside, "BELOW": low - outside}
    record = {**toy_record.valid, **change}
    if record["size"] == "DROP":
        del record["size"]
    elif record["size"] in bounds:
        record["size"] = bounds[record["size"]]
    with pytest.raises(ValueError) as raised:
        toy_record.model.model_validate(record)
    assert [(e["loc"], e["type"]) for e in raised.value.errors()] == [((field,), rule)]


def test_record_model_rejects_nan_in_raw_json(toy_record):
    with pytest.raises(ValueError, match="finite number"):
        toy_record.model.model_validate_json('{"size": NaN, "weight": 1.0, "colour": "red"}')


def test_classifier_answers_plain_labels_and_probabilities_by_label(make_predictor, toy):
    predictor = make_predictor("classification")
    records = predictor.schema.client_records(toy)
    assert predictor.classes == [0, 1] and all(type(c) is int for c in predictor.classes)  # JSON-ready
    labels = predictor.predict(records)
    assert len(labels) == len(toy) and {type(v) for v in labels} == {int}
    rows = predictor.predict_proba(records)
    assert [list(row) for row in rows] == [["0", "1"]] * len(toy)
    assert all(math.isclose(sum(row.values()), 1.0) for row in rows)
    assert [max(row, key=row.get) for row in rows] == [str(v) for v in labels]


def test_regressor_answers_plain_numbers_and_has_no_classes(make_predictor, make_toy):
    predictor = make_predictor("regression")
    values = predictor.predict(predictor.schema.client_records(make_toy(task="regression")))
    assert predictor.classes == []
    assert {type(v) for v in values} == {float} and all(math.isfinite(v) for v in values)
