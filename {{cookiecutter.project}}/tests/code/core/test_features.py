"""Unit tests of core/features: the transformer the featurize stage fits and its compiled form `Features`."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

FEATURIZE = {"numeric_impute": "median", "scale": True}


def fit(pkg, frame: pd.DataFrame, featurize: dict) -> SimpleNamespace:
    """A toy table's schema, a transformer fitted on it and its Features."""
    schema = pkg.pipeline.prepare.infer_schema(frame, "target", "classification")
    transformer = pkg.core.features.build_transformer(schema, featurize).fit(schema.coerce(frame))
    return SimpleNamespace(schema=schema, transformer=transformer, features=pkg.core.features.Features(transformer))


@pytest.fixture
def fitted(pkg, toy):
    return fit(pkg, toy, FEATURIZE)


def test_features_impute_and_match_the_feature_names(toy, fitted):
    matrix = fitted.features.from_frame(toy, fitted.schema)
    names = list(fitted.transformer.get_feature_names_out())
    assert matrix.shape == (len(toy), len(names)) == (len(toy), fitted.features.width)
    assert not np.isnan(matrix).any()
    assert names == ["size", "weight", "colour_blue", "colour_green", "colour_red"]
    assert np.allclose(matrix[:, 2:].sum(axis=1), 1.0)  # imputed categories are one-hot too


def test_features_ignore_unseen_categories(fitted):
    record = pd.DataFrame({"colour": ["purple"], "weight": [None], "size": ["9.5"]})  # any order, strings
    matrix = fitted.features.from_frame(record, fitted.schema)
    assert matrix.shape == (1, 5)
    assert not np.isnan(matrix).any()
    assert (matrix[0, 2:] == 0).all()


def test_features_impute_the_train_median_when_not_scaling(pkg, toy):
    unscaled = fit(pkg, toy, {**FEATURIZE, "scale": False})
    matrix = unscaled.features.from_records([{"size": 1.0, "weight": None, "colour": "red"}])
    assert matrix[0, 0] == 1.0
    assert matrix[0, 1] == pytest.approx(toy["weight"].median())


@pytest.mark.parametrize(
    ("columns", "featurize"),
    [
        (["size", "weight", "colour"], FEATURIZE),
        (["size", "weight", "colour"], {"numeric_impute": "mean", "scale": False}),
        (["colour"], FEATURIZE),
        (["size", "weight"], FEATURIZE),
    ],
    ids=["mixed-median-scaled", "mixed-mean-unscaled", "categorical-only", "numeric-only"],
)
def test_features_equal_the_fitted_transformer_with_missing_and_unseen_values(pkg, toy, damage, columns, featurize):
    toy_fitted = fit(pkg, toy[[*columns, "target"]], featurize)
    frame = damage(toy[columns], toy_fitted.schema)
    expected = toy_fitted.transformer.transform(toy_fitted.schema.coerce(frame))
    got = toy_fitted.features.from_frame(frame, toy_fitted.schema)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    records = toy_fitted.schema.client_records(frame)
    np.testing.assert_allclose(toy_fitted.features.from_records(records), expected, rtol=0, atol=1e-12)


def test_load_transformer_without_the_file_names_the_stage(pkg, isolated):
    with pytest.raises(SystemExit, match="dvc repro featurize"):
        pkg.core.features.Features.load()
