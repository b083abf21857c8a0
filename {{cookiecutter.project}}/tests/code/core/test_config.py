"""Unit tests of core/config: the parameters and criteria files."""

from __future__ import annotations

import pytest


def test_load_params_and_criteria_missing_say_what_to_do(pkg, isolated):
    with pytest.raises(SystemExit, match="repository root"):
        pkg.core.config.load_params("params.yaml")
    with pytest.raises(SystemExit, match="git checkout"):
        pkg.core.config.load_criteria("docs/criteria.yaml")


def test_load_params_reads_the_file_and_an_empty_one_is_empty(pkg, isolated):
    (isolated / "params.yaml").write_text("task: regression\ningest: {target: y}\n")
    assert pkg.core.config.load_params("params.yaml") == {"task": "regression", "ingest": {"target": "y"}}
    (isolated / "empty.yaml").write_text("")
    assert pkg.core.config.load_criteria("empty.yaml") == {}
