"""Unit tests of delivery/loadtest: the SLO check, against the SLO of docs/criteria.yaml."""

from __future__ import annotations

import pytest
import yaml


@pytest.fixture(scope="module")
def slo(root) -> dict:
    """The SLO of docs/criteria.yaml, the one place it is set."""
    return yaml.safe_load((root / "docs/criteria.yaml").read_text())["slo"]


def result_at(slo: dict, **changes) -> dict:
    """A load-test result exactly at every SLO threshold, with some values changed."""
    base = {"users": slo["users"], "requests": 1000, "p95_ms": slo["p95_ms"], "rps": slo["min_rps"]}
    return {**base, "error_rate": slo["max_error_rate"], **changes}


def test_check_slo_passes_a_result_at_the_thresholds(pkg, slo):
    assert pkg.delivery.loadtest.check_slo(result_at(slo), slo) == []


@pytest.mark.parametrize(
    ("name", "step", "words", "rule"),
    [
        ("p95_ms", 1.0, "p95 latency", "p95_ms"),
        ("error_rate", 0.01, "error rate", "max_error_rate"),
        ("rps", -1.0, "throughput", "min_rps"),
    ],
    ids=["p95", "error-rate", "throughput"],
)
def test_check_slo_names_each_missed_rule_and_its_threshold(pkg, slo, name, step, words, rule):
    result = result_at(slo)
    result[name] += step
    missed = pkg.delivery.loadtest.check_slo(result, slo)
    assert len(missed) == 1, missed
    assert words in missed[0] and str(slo[rule]) in missed[0]


def test_check_slo_fails_a_run_without_requests(pkg, slo):
    assert pkg.delivery.loadtest.check_slo(result_at(slo, requests=0), slo) == ["no request completed"]


def test_check_slo_lists_every_missed_rule(pkg, slo):
    result = result_at(slo, requests=0, p95_ms=slo["p95_ms"] * 10, error_rate=1.0, rps=0.0)
    assert len(pkg.delivery.loadtest.check_slo(result, slo)) == 4
