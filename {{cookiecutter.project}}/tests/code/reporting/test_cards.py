"""Unit tests of reporting/cards: the pages rendered from the pipeline's records."""

from __future__ import annotations

import re

import yaml


def test_architecture_links_each_stage_to_the_stages_that_read_its_outputs(pkg, root):
    text = pkg.reporting.cards.architecture(yaml.safe_load((root / "dvc.yaml").read_text()))
    edges = set(re.findall(r"^    (\w+) --> (\w+)$", text, re.MULTILINE))
    chain = list(zip(pkg.stages, pkg.stages[1:], strict=False))
    assert set(chain) <= edges, f"missing edges: {set(chain) - edges}"
    assert "src/" not in text.split("## Components")[1], "code dependencies are not data the stages read"


def test_criteria_page_lists_every_gate_rule(pkg):
    page = pkg.reporting.cards.criteria_page({"gate": {"accuracy": {"min": 0.8}, "rmse": {"max": 3}}})
    assert "| accuracy | ≥ 0.8 |" in page and "| rmse | ≤ 3 |" in page
