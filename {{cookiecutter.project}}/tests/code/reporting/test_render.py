"""Unit tests of reporting/render: the Jinja environment and its filters."""

from __future__ import annotations

import jinja2
import pytest


def test_table_writes_a_markdown_table(pkg):
    table = pkg.reporting.render.table([["a", 1], ["b", 2.5]], ["name", "value"])
    assert table == "| name | value |\n|---|---|\n| a | 1 |\n| b | 2.5 |"


def test_num_and_yaml_filters(pkg):
    render = pkg.reporting.render
    assert render.num(0.123456) == "0.1235" and render.num(2, digits=1) == "2.0"
    assert render.to_yaml({"z": 1, "a": ["é"]}) == "z: 1\na:\n- é"  # written order, unicode kept


def test_a_template_variable_that_is_not_given_is_an_error(pkg):
    with pytest.raises(jinja2.UndefinedError, match="rows"):
        pkg.reporting.render.render("architecture.md.j2", stages=[], edges=[])
