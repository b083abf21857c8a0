"""Checks of the data the pipeline produced: schema, split, hashes, feature records.

They read the outputs of `make pipeline` and fail with that fix when one is missing.
"""

from __future__ import annotations

import csv
from collections import Counter

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


def feature_names(schema: dict) -> list[str]:
    return [f["name"] for f in schema["features"]]


def test_ingest_record_matches_prepare(pkg, artifact, prepare_record, clean_set):
    ingest = pkg.records.read_json(artifact(pkg.paths.INGEST_RECORD), "ingest")
    assert ingest["rows"] == prepare_record["rows_in"]
    assert prepare_record["rows_in"] - prepare_record["rows_dropped_missing_target"] == prepare_record["rows_out"]
    assert len(clean_set) == prepare_record["rows_out"]


@pytest.mark.parametrize("name", ["train", "test"])
def test_schema_matches_the_processed_set(pkg, artifact, schema, target, name):
    path = pkg.paths.TRAIN if name == "train" else pkg.paths.TEST
    categorical = [f["name"] for f in schema["features"] if f["kind"] == "categorical"]
    frame = pd.read_csv(artifact(path), dtype=dict.fromkeys(categorical, str))
    assert target in frame.columns
    assert [c for c in frame.columns if c != target] == feature_names(schema)
    for feature in schema["features"]:
        column = frame[feature["name"]].dropna()
        if feature["kind"] == "numeric":
            assert pd.api.types.is_numeric_dtype(column), f"{feature['name']} is not numeric in {path}"
            assert column.between(feature["min"], feature["max"]).all(), f"{feature['name']} outside the schema range"
        else:
            unknown = set(column) - set(feature["categories"])
            assert not unknown, f"{feature['name']} has categories the schema does not list: {sorted(unknown)[:5]}"


def test_schema_missing_counts_are_those_of_the_data(schema, prepare_record, clean_set):
    for feature in schema["features"]:
        assert feature["missing"] == clean_set[feature["name"]].isna().sum(), feature["name"]
    assert prepare_record["missing_values"] == {f["name"]: f["missing"] for f in schema["features"] if f["missing"]}


def test_target_is_never_missing(clean_set, train_set, test_set, target):
    for name, frame in (("clean", clean_set), ("train", train_set), ("test", test_set)):
        assert frame[target].notna().all(), f"the {name} set has rows without a target"


def test_classes_are_those_of_the_schema(schema, task, train_set, test_set, target):
    if task != "classification":
        pytest.skip("regression: the target has no classes")
    classes = {str(c) for c in schema["target"]["classes"]}
    seen = {str(v) for v in pd.concat([train_set[target], test_set[target]]).unique()}
    assert seen == classes


def test_split_sizes_match_the_record(prepare_record, train_set, test_set):
    assert len(train_set) + len(test_set) == prepare_record["rows_out"]
    assert len(train_set) == prepare_record["train"]["rows"]
    assert len(test_set) == prepare_record["test"]["rows"]
    assert len(test_set) > 0 and len(train_set) > len(test_set)


def test_split_hashes_match_the_files(pkg, artifact, prepare_record):
    for name, path in (("train", pkg.paths.TRAIN), ("test", pkg.paths.TEST)):
        recorded = prepare_record[name]["sha256"]
        assert pkg.records.sha256_file(artifact(path)) == recorded, f"{path} changed since prepare"


def test_train_and_test_partition_the_clean_data(pkg, artifact):
    """Every clean row is in exactly one set; a row in both sets must be a true duplicate in the data."""
    clean, train, test = (row_counts(artifact(p)) for p in (pkg.paths.CLEAN, pkg.paths.TRAIN, pkg.paths.TEST))
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


def test_stats_cover_every_feature(schema, feature_stats, train_set):
    assert set(feature_stats) == set(feature_names(schema))
    for feature in schema["features"]:
        stats = feature_stats[feature["name"]]
        assert stats["kind"] == feature["kind"]
        assert stats["count"] + stats["missing"] == len(train_set), feature["name"]
        if feature["kind"] == "numeric":
            assert sum(stats["histogram"]["counts"]) == stats["count"]
        else:
            assert sum(stats["frequencies"].values()) == stats["count"]


def test_feature_list_matches_the_feature_tables(schema, feature_list, features_train, features_test, target):
    assert feature_list["inputs"] == feature_names(schema)
    for frame in (features_train, features_test):
        assert [c for c in frame.columns if c != target] == feature_list["outputs"]
        assert frame.drop(columns=[target]).notna().all().all(), "a feature table has missing values"


def test_transformer_hash_matches_the_record(pkg, artifact, feature_list):
    assert pkg.records.sha256_file(artifact(pkg.paths.TRANSFORMER)) == feature_list["transformer_sha256"]


def test_transformer_knows_only_schema_categories(schema, transformer):
    """The fitted one-hot categories are the schema's (as text), so live records with those values are not unseen."""
    listed = {f["name"]: set(f["categories"]) for f in schema["features"] if f["kind"] == "categorical"}
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
