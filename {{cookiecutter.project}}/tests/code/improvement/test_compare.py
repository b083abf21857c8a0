"""Unit tests of improvement/compare and retrain's pure parts: the rules a challenger must meet."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest
import yaml

POLICY = {"metric": "f1_macro", "min_margin": 0.01, "holdout_tolerance": 0.02, "min_recent": 30}
LOAD = {"slo_passed": True, "p95_ms": 30.0, "rps": 1500.0, "failures": 0}
TARGETS = {"f1_macro": {"min": 0.90, "retire_below": 0.4}}


def scores(champion_recent: float, challenger_recent: float, champion_holdout: float, challenger_holdout: float):
    return {
        "champion": {"holdout": {"f1_macro": champion_holdout}, "recent": {"f1_macro": champion_recent}},
        "challenger": {"holdout": {"f1_macro": challenger_holdout}, "recent": {"f1_macro": challenger_recent}},
    }


def failed(pkg, found, **overrides):
    arguments = {"recent_rows": 60, "gate_passed": True, "load": LOAD, "live_targets": TARGETS, "holdout_fixed": True}
    checks = pkg.improvement.compare.verdict(found, POLICY, **{**arguments, **overrides})
    return sorted(c.name for c in checks if not c.passed)


def test_a_challenger_that_beats_the_margin_and_keeps_the_holdout_passes_every_check(pkg):
    assert failed(pkg, scores(0.93, 0.95, 0.96, 0.95)) == []  # 0.95 ≥ 0.93·1.01; 0.95 ≥ 0.96·0.98


@pytest.mark.parametrize(
    ("found", "overrides", "fails"),
    [
        (scores(0.93, 0.935, 0.96, 0.96), {}, ["margin"]),  # better, but by less than 1%
        (scores(0.93, 0.95, 0.96, 0.93), {}, ["holdout f1_macro"]),  # trails the holdout by more than 2%
        (scores(0.85, 0.88, 0.96, 0.96), {}, ["live target f1_macro"]),  # better, yet under the live floor
        (scores(0.93, 0.95, 0.96, 0.96), {"recent_rows": 12}, ["recent window"]),
        (scores(0.93, 0.95, 0.96, 0.96), {"load": {**LOAD, "slo_passed": False}}, ["slo"]),
        (scores(0.93, 0.95, 0.96, 0.96), {"gate_passed": False}, ["gate"]),
        (scores(0.93, 0.95, 0.96, 0.96), {"holdout_fixed": False}, ["holdout"]),
    ],
    ids=["margin", "holdout-tolerance", "live-target", "thin-window", "slo", "gate", "holdout-changed"],
)
def test_each_rule_alone_stops_a_proposal(pkg, found, overrides, fails):
    assert failed(pkg, found, **overrides) == fails


def test_an_error_metric_is_better_lower(pkg):
    better = pkg.improvement.compare.better
    assert better("rmse", 9.8, 10.0, 0.01) and not better("rmse", 9.95, 10.0, 0.01)
    assert better("rmse", 10.1, 10.0, -0.02) and not better("rmse", 10.3, 10.0, -0.02)  # the holdout tolerance


def test_the_policy_names_a_metric_the_monitor_computes(pkg):
    with pytest.raises(SystemExit, match="retrain.metric 'roc_auc'"):
        pkg.improvement.compare.check_policy({"metric": "roc_auc"}, "classification")
    with pytest.raises(SystemExit, match="no `retrain` section"):
        pkg.improvement.compare.check_policy({}, "classification")
    assert pkg.improvement.compare.check_policy({"metric": "rmse"}, "regression")["min_recent"] == 30


def test_the_plan_states_the_monitors_findings(pkg):
    summary = pkg.core.records.MonitorSummary(
        decision="retrain",
        reasons=["drift in 1 feature(s): size"],
        quality={"metrics": {"accuracy": {"passed": False}, "f1_macro": {"passed": True}}},
        drift={"drifted": ["size"], "prediction": {"drifted": False}},
    )
    found = pkg.improvement.retrain.findings(summary)
    assert (found["missed"], found["drifted"], found["prediction_drift"]) == (["accuracy"], ["size"], False)
    assert (found["decision"], found["reasons"]) == ("retrain", ["drift in 1 feature(s): size"])


def test_the_plan_proposes_the_recent_reference_after_drift(pkg, root):
    params = yaml.safe_load((root / "params.yaml").read_text())
    counts = {"production_train": 40, "quarantined_total": 2, "recent": 20}
    rows = {row[0]: row[1:] for row in pkg.improvement.retrain.plan_changes(params, ["size"], counts, 7)}
    assert rows["drift reference"] == ["train", "recent (the world the challenger is judged on)"]
    assert rows["features"][0] == "drifted: size"
    rows = {row[0]: row[1:] for row in pkg.improvement.retrain.plan_changes(params, [], counts, 7)}
    assert rows["drift reference"] == ["train", "train"]


TUNING = {
    "model": "ridge",
    "best_params": {"alpha": 0.5},
    "best_value": 0.9,
    "baseline_value": 0.8,
    "stopped_by": "trials",
    "seconds": 1.0,
    "trials_per_second": 5.0,
    "trials": [{"number": 0}],  # in the tuning record, not in the summary
}


def test_the_outcome_proposes_only_when_no_reason_stands_against_it(pkg, isolated):
    run = SimpleNamespace(day="2026-01-02", champion=SimpleNamespace(version="0.1.0-1111111"))
    counts = {"production_train": 40}
    kept = pkg.improvement.retrain.outcome(run, counts, TUNING, None, ["margin: +0.1 %"], {"plan": 1.0}, 9.0)
    assert (kept.proposed, kept.decision, kept.branch, kept.reasons) == (False, "no proposal", None, ["margin: +0.1 %"])
    assert kept.title == "feat(model): retrain on 40 production records, tuned ridge"
    assert "trials" not in kept.tuning and kept.tuning["best_params"] == {"alpha": 0.5}
    identity = ["-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "--quiet"], [*identity, "commit", "--quiet", "--allow-empty", "-m", "the champion"]):
        subprocess.run(["git", *args], check=True)
    head = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True).stdout.strip()
    comparison = {"checks": [{"name": "margin", "passed": True, "detail": "recent f1_macro +2.0 %"}]}
    proposed = pkg.improvement.retrain.outcome(run, counts, TUNING, comparison, [], {}, 9.0)
    assert (proposed.proposed, proposed.decision) == (True, "propose")
    assert proposed.branch == f"retrain/2026-01-02-{head}"
    assert proposed.reasons == ["every check passed; recent f1_macro +2.0 %"]
