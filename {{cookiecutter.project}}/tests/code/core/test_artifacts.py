"""Unit tests of core/artifacts: the records and tables every stage reads and writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.mark.parametrize(("reader", "stage"), [("read_json", "prepare"), ("read_table", "ingest")])
def test_missing_record_names_the_stage_to_run(pkg, isolated, reader, stage):
    with pytest.raises(pkg.core.artifacts.MissingArtifact, match=f"no data/x — run `dvc repro {stage}`"):
        getattr(pkg.core.artifacts, reader)("data/x", stage)


def test_require_returns_the_path_of_an_artifact_that_exists(pkg, isolated):
    (isolated / "model.joblib").write_bytes(b"")
    assert pkg.core.artifacts.require("model.joblib", "train") == Path("model.joblib")
    with pytest.raises(SystemExit, match="dvc repro train"):
        pkg.core.artifacts.require("missing.joblib", "train")


def test_write_json_is_sorted_and_takes_numpy_values(pkg, isolated):
    raw = pkg.core.paths.RAW
    path = pkg.core.artifacts.write_json("reports/r.json", {"b": np.int64(2), "a": np.float64(0.5), "p": raw})
    text = path.read_text()
    assert json.loads(text) == {"a": 0.5, "b": 2, "p": str(raw)}
    assert text.index('"a"') < text.index('"b"')
    assert pkg.core.artifacts.read_json(path, "any") == json.loads(text)


def test_write_json_rejects_what_json_cannot_hold(pkg, isolated):
    with pytest.raises(TypeError, match="set"):
        pkg.core.artifacts.write_json("r.json", {"a": {1, 2}})


def test_write_table_then_read_table_round_trips_without_the_index(pkg, isolated, toy):
    path = pkg.core.artifacts.write_table("data/t.csv", toy)
    pd.testing.assert_frame_equal(pkg.core.artifacts.read_table(path, "any", dtype={"colour": str}), toy)


def test_sha256_file(pkg, isolated):
    (isolated / "f").write_bytes(b"abc")
    assert pkg.core.artifacts.sha256_file("f") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
