"""Unit tests of the ingest stage: loading the data source that params.yaml names."""

from __future__ import annotations

import pytest


def test_load_source_reads_a_csv(pkg, isolated, toy):
    toy.to_csv("source.csv", index=False)
    frame = pkg.pipeline.ingest.load_source("csv:source.csv", "target")
    assert list(frame.columns) == list(toy.columns)
    assert len(frame) == len(toy)


def test_load_source_csv_without_the_target_names_it(pkg, isolated, toy):
    toy.to_csv("source.csv", index=False)
    with pytest.raises(SystemExit, match="'label'.*ingest.target"):
        pkg.pipeline.ingest.load_source("csv:source.csv", "label")


def test_load_source_missing_csv_says_how_to_restore_it(pkg, isolated):
    with pytest.raises(SystemExit, match="dvc pull"):
        pkg.pipeline.ingest.load_source("csv:nowhere.csv", "target")


@pytest.mark.parametrize(
    ("source", "message"),
    [("sklearn:nope", "unknown scikit-learn data set 'nope'"), ("parquet:x.parquet", "must start with")],
    ids=["unknown-sklearn-set", "unknown-scheme"],
)
def test_load_source_rejects_unknown_sources(pkg, source, message):
    with pytest.raises(SystemExit, match=message):
        pkg.pipeline.ingest.load_source(source, "target")
