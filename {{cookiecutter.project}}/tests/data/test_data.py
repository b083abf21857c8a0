"""Checks of the data the pipeline produced: schema, split, hashes, feature records, the feature path.

They read the outputs of `make pipeline` and fail with that fix when one is missing.
"""

from __future__ import annotations

import csv
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder


def row_counts(path) -> Counter:
    """Each row's text (target included) and how often it occurs; prepare writes all three tables from one frame."""
    with open(path, newline="") as handle:
        rows = csv.reader(handle)
        next(rows)
        return Counter(map(tuple, rows))


def test_ingest_record_matches_prepare(pkg, artifact, prepare_record, clean_set):
    ingest = pkg.core.artifacts.read_json(artifact(pkg.core.paths.INGEST_RECORD), "ingest")
    assert ingest["rows"] == prepare_record["rows_in"]
    assert prepare_record["rows_in"] - prepare_record["rows_dropped_missing_target"] == prepare_record["rows_out"]
    assert len(clean_set) == prepare_record["rows_out"]


@pytest.mark.parametrize("name", ["train", "test"])
def test_schema_matches_the_processed_set(pkg, read_split, schema, target, name):
    path = pkg.core.paths.TRAIN if name == "train" else pkg.core.paths.TEST
    frame = read_split(path)
    assert target in frame.columns
    assert [c for c in frame.columns if c != target] == schema.names
    for feature in schema.features:
        column = frame[feature.name].dropna()
        if feature.numeric:
            assert pd.api.types.is_numeric_dtype(column), f"{feature.name} is not numeric in {path}"
            assert column.between(feature.min, feature.max).all(), f"{feature.name} outside the schema range"
        else:
            unknown = set(column) - set(feature.categories)
            assert not unknown, f"{feature.name} has categories the schema does not list: {sorted(unknown)[:5]}"


def test_target_is_never_missing(clean_set, train_set, test_set, target):
    for name, frame in (("clean", clean_set), ("train", train_set), ("test", test_set)):
        assert frame[target].notna().all(), f"the {name} set has rows without a target"


def test_classes_are_those_of_the_schema(schema, task, train_set, test_set, target):
    if task != "classification":
        pytest.skip("regression: the target has no classes")
    classes = {str(c) for c in schema.target.classes}
    seen = {str(v) for v in pd.concat([train_set[target], test_set[target]]).unique()}
    assert seen == classes


def test_split_sizes_match_the_record(prepare_record, train_set, test_set):
    assert len(train_set) + len(test_set) == prepare_record["rows_out"]
    assert len(train_set) == prepare_record["train"]["rows"]
    assert len(test_set) == prepare_record["test"]["rows"]
    assert len(test_set) > 0 and len(train_set) > len(test_set)


def test_split_hashes_match_the_files(pkg, artifact, prepare_record):
    for name, path in (("train", pkg.core.paths.TRAIN), ("test", pkg.core.paths.TEST)):
        recorded = prepare_record[name]["sha256"]
        assert pkg.core.artifacts.sha256_file(artifact(path)) == recorded, f"{path} changed since prepare"


def test_train_and_test_partition_the_clean_data(pkg, artifact):
    """Every clean row is in exactly one set; a row in both sets must be a true duplicate in the data."""
    paths = pkg.core.paths
    clean, train, test = (row_counts(artifact(p)) for p in (paths.CLEAN, paths.TRAIN, paths.TEST))
    assert train + test == clean
    leaked = [row for row in test if row in train and clean[row] < 2]
    assert not leaked, f"{len(leaked)} test rows are also train rows"


def test_stratified_split_keeps_class_proportions(prepare_record, task, train_set, test_set, target):
    if task != "classification":
        pytest.skip("regression: no classes to stratify")
    if prepare_record["split"]["method"] != "stratified":
        pytest.skip(f"the split is {prepare_record['split']['method']} (a class is too small to stratify)")
    train_share = train_set[target].astype(str).value_counts(normalize=True)
    test_share = test_set[target].astype(str).value_counts(normalize=True)
    tolerance = 1 / len(train_set) + 1 / len(test_set)  # at most one row of rounding in each set
    for label in train_share.index.union(test_share.index):
        in_train, in_test = train_share.get(label, 0.0), test_share.get(label, 0.0)
        assert abs(in_train - in_test) <= tolerance, f"class {label}: {in_train:.3f} of train, {in_test:.3f} of test"


def test_feature_list_matches_the_feature_tables(schema, feature_list, features_train, features_test, target):
    assert feature_list["inputs"] == schema.names
    for frame in (features_train, features_test):
        assert [c for c in frame.columns if c != target] == feature_list["outputs"]
        assert frame.drop(columns=[target]).notna().all().all(), "a feature table has missing values"


def test_transformer_hash_matches_the_record(pkg, artifact, feature_list):
    assert pkg.core.artifacts.sha256_file(artifact(pkg.core.paths.TRANSFORMER)) == feature_list["transformer_sha256"]


def test_transformer_knows_only_schema_categories(schema, transformer):
    """The fitted one-hot categories are the schema's (as text), so live records with those values are not unseen."""
    listed = {f.name: set(f.categories) for f in schema.features if not f.numeric}
    fitted = {}
    for _, step, columns in transformer.transformers_:
        encoder = step[-1] if isinstance(step, Pipeline) else step
        if isinstance(encoder, OneHotEncoder) and len(columns):
            for column, found in zip(columns, encoder.categories_, strict=True):
                fitted[column] = set(map(str, found))
    assert set(fitted) == set(listed)
    for column, categories in fitted.items():
        extra = sorted(categories - listed[column])
        assert not extra, f"{column}: the transformer was fitted on categories the schema does not list: {extra[:5]}"


def test_feature_tables_keep_rows_and_target(features_train, features_test, train_set, test_set, target):
    for features, processed in ((features_train, train_set), (features_test, test_set)):
        assert len(features) == len(processed)
        assert features[target].astype(str).tolist() == processed[target].astype(str).tolist()


# --- the feature path: the compiled Features the service uses equal the fitted transformer ---------


@pytest.fixture(scope="module")
def features(pkg, transformer):
    return pkg.core.features.Features(transformer)


def test_features_reproduce_the_feature_table(features, schema, test_set, features_test, target):
    matrix = features.from_frame(test_set.drop(columns=[target]), schema)
    assert np.allclose(matrix, features_test.drop(columns=[target]).to_numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("damaged", [False, True], ids=["test-set", "test-set-with-missing-and-unseen"])
def test_features_equal_the_real_transformer(features, transformer, schema, test_set, target, damage, damaged):
    frame = test_set.drop(columns=[target])
    frame = damage(frame, schema) if damaged else frame
    expected = transformer.transform(schema.coerce(frame))
    got = features.from_frame(frame, schema)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_features_from_records_equal_from_frame_on_the_test_set(features, schema, test_records):
    frame = pd.DataFrame(test_records)
    reordered = [dict(reversed(list(record.items()))) for record in test_records]  # key order does not matter
    np.testing.assert_array_equal(features.from_records(reordered), features.from_frame(frame, schema))
