"""Unit tests of improvement/compare and retrain's pure parts: the rules a challenger must meet, and the
paired interval of its margin (a challenger better by a record or two is not shown better)."""

from __future__ import annotations

import json
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from scipy.stats import binomtest

POLICY = {
    "metric": "f1_macro",
    "min_margin": 0.01,
    "holdout_tolerance": 0.02,
    "min_recent": 30,
    "confidence": 0.95,
    "resamples": 2000,
    "require_significant": True,
}
LOAD = {"slo_passed": True, "p95_ms": 30.0, "rps": 1500.0, "failures": 0}
TARGETS = {"f1_macro": {"min": 0.90, "retire_below": 0.4}}


def shown(pkg, low: float = 0.01, metric: str = "f1_macro"):
    """intervals[window][metric] with the recent window's lower bound at `low`."""
    interval = pkg.improvement.compare.Interval(metric, 0.02, low, 0.05, 0.95, 60, 2000)
    return {"recent": {metric: interval}}


def scores(champion_recent: float, challenger_recent: float, champion_holdout: float, challenger_holdout: float):
    return {
        "champion": {"holdout": {"f1_macro": champion_holdout}, "recent": {"f1_macro": champion_recent}},
        "challenger": {"holdout": {"f1_macro": challenger_holdout}, "recent": {"f1_macro": challenger_recent}},
    }


def failed(pkg, found, **overrides):
    arguments = {
        "intervals": shown(pkg),
        "policy": POLICY,
        "recent_rows": 60,
        "gate_passed": True,
        "load": LOAD,
        "live_targets": TARGETS,
        "holdout_fixed": True,
    }
    checks = pkg.improvement.compare.verdict(found, **{**arguments, **overrides})
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
        (scores(0.93, 0.95, 0.96, 0.96), {"intervals": "not shown"}, ["margin"]),  # the interval reaches zero
        (scores(0.93, 0.95, 0.96, 0.96), {"intervals": {}}, ["margin"]),  # no interval to show it
    ],
    ids=[
        "margin",
        "holdout-tolerance",
        "live-target",
        "thin-window",
        "slo",
        "gate",
        "holdout-changed",
        "not-significant",
        "no-interval",
    ],
)
def test_each_rule_alone_stops_a_proposal(pkg, found, overrides, fails):
    if overrides.get("intervals") == "not shown":
        overrides = {"intervals": shown(pkg, low=0.0)}
    assert failed(pkg, found, **overrides) == fails


def test_an_error_metric_is_better_lower(pkg):
    better = pkg.improvement.compare.better
    assert better("rmse", 9.8, 10.0, 0.01) and not better("rmse", 9.95, 10.0, 0.01)
    assert better("rmse", 10.1, 10.0, -0.02) and not better("rmse", 10.3, 10.0, -0.02)  # the holdout tolerance


def test_the_policy_names_a_metric_the_monitor_computes(pkg):
    check_policy = pkg.improvement.compare.check_policy
    with pytest.raises(SystemExit, match="retrain.metric 'roc_auc'"):
        check_policy({"metric": "roc_auc"}, "classification")
    with pytest.raises(SystemExit, match="no `retrain` section"):
        check_policy({}, "classification")
    defaults = check_policy({"metric": "rmse"}, "regression")
    assert (defaults["min_recent"], defaults["confidence"], defaults["require_significant"]) == (30, 0.95, True)
    for wrong, match in [
        ({"confidence": 95}, "retrain.confidence 95"),
        ({"resamples": 10}, "retrain.resamples 10"),
        ({"require_significant": "yes"}, "retrain.require_significant"),
    ]:
        with pytest.raises(SystemExit, match=match):
            check_policy({"metric": "rmse", **wrong}, "regression")


def test_the_criteria_file_sets_the_interval_the_code_defaults(pkg, root):
    policy = yaml.safe_load((root / "docs/criteria.yaml").read_text())["retrain"]
    defaults = pkg.improvement.compare.DEFAULTS
    assert {key: policy[key] for key in defaults} == defaults  # one value, stated where a reviewer reads it


# --- the margin's paired interval ---------------------------------------------------------------------


def answers(n: int, wrong: list[int], classes=("benign", "malignant"), seed: int = 1):
    """Labels of `n` records and a model's answers, wrong exactly on the records `wrong`."""
    rng = np.random.default_rng(seed)
    y = np.asarray(classes, dtype=object)[rng.integers(0, len(classes), n)]
    said = y.copy()
    for i in wrong:
        said[i] = next(c for c in classes if c != y[i])
    return y, said


def margin_check(pkg, y, old, new, task="classification", metric="f1_macro", **policy):
    """The margin check of a challenger (`new`) against the champion (`old`) on a recent window `y`."""
    compare, policy = pkg.improvement.compare, {**POLICY, "metric": metric, **policy}
    found = compare.paired(task, y, old, new, policy)
    live = pkg.core.metrics.live_metrics
    classes = sorted(set(y)) if task == "classification" else []
    old_score, new_score = (live(task, y, said, classes)[metric] for said in (old, new))
    return found[metric], compare.margin_check(metric, old_score, new_score, {"recent": found}, policy)


def test_a_challenger_better_by_one_record_of_72_is_not_shown_better(pkg):
    y, champion = answers(72, [3, 17, 40, 61])
    _, challenger = answers(72, [3, 17, 40])  # one record more right, nothing else changed
    interval, check = margin_check(pkg, y, champion, challenger)
    assert interval.margin >= POLICY["min_margin"] and interval.low <= 0 < interval.high, interval
    assert not check.passed
    assert check.detail.startswith(f"not shown better: margin +{100 * interval.margin:.1f} % (95 % CI "), check.detail
    assert ", n=72)" in check.detail and "recent f1_macro: challenger" in check.detail


def test_a_clearly_better_challenger_passes_with_its_lower_bound_above_zero(pkg):
    y, champion = answers(72, [2, 5, 11, 19, 23, 30, 38, 44, 52, 60, 66, 70])
    _, challenger = answers(72, [5, 44])
    interval, check = margin_check(pkg, y, champion, challenger)
    assert 0 < interval.low < interval.margin < interval.high, interval
    assert check.passed and check.detail.startswith("shown better: margin +"), check.detail


def test_a_worse_challenger_is_shown_worse_and_fails(pkg):
    y, champion = answers(72, [2, 5])
    _, challenger = answers(72, [2, 5, 11, 19, 23, 30, 38, 44, 52, 60])
    interval, check = margin_check(pkg, y, champion, challenger)
    assert interval.high < 0 and not check.passed and check.detail.startswith("below min_margin 0.01: margin −")


def test_not_required_the_interval_is_reported_and_the_point_margin_decides(pkg):
    y, champion = answers(72, [3, 17, 40, 61])
    _, challenger = answers(72, [3, 17, 40])
    _, check = margin_check(pkg, y, champion, challenger, require_significant=False)
    assert check.passed and "not shown better (retrain.require_significant is off)" in check.detail


def test_regression_a_smaller_error_is_shown_better_a_slightly_smaller_one_is_not(pkg):
    rng = np.random.default_rng(3)
    y = rng.normal(150, 50, 200)
    champion = y + rng.normal(0, 40, 200)
    clearly, check = margin_check(pkg, y, champion, y + rng.normal(0, 25, 200), "regression", "rmse")
    assert clearly.low > 0 and check.passed, check.detail
    barely, check = margin_check(pkg, y, champion, y + (champion - y) * 0.98, "regression", "rmse")
    assert 0.01 < barely.margin < 0.03 and barely.low < 0.03, barely  # 2 % better on every record:
    assert barely.low > 0 and check.passed  # consistently better is shown better, even when small
    noisy, check = margin_check(pkg, y, champion, y + rng.normal(0, 39, 200), "regression", "rmse")
    assert noisy.low <= 0 and not check.passed, noisy


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_vectorised_metrics_are_the_live_metrics(pkg, task):
    rng = np.random.default_rng(5)
    if task == "classification":
        y = rng.choice(["a", "b", "c"], 90)
        predicted = [np.where(rng.random(90) < 0.2, "a", y), np.where(rng.random(90) < 0.1, "d", y)]  # "d": no label
    else:
        y = rng.normal(0, 1, 90)
        predicted = [y + rng.normal(0, 0.5, 90), y + rng.normal(0.2, 0.3, 90)]
    point, spread = pkg.improvement.compare.resampled(task, y, predicted, 200)
    classes = sorted(set(y)) if task == "classification" else []
    for model, said in enumerate(predicted):
        assert point[model] == pytest.approx(pkg.core.metrics.live_metrics(task, y, said, classes), abs=1e-6)
        assert all(values.shape == (200,) for values in spread[model].values())


def test_the_interval_is_the_same_bytes_from_the_same_records(pkg):
    y, champion = answers(150, list(range(0, 150, 9)))
    _, challenger = answers(150, list(range(0, 150, 23)))
    first, again = (
        json.dumps(
            {
                k: v.to_dict()
                for k, v in pkg.improvement.compare.paired("classification", y, champion, challenger, POLICY).items()
            }
        )
        for _ in range(2)
    )
    assert first == again
    wider = pkg.improvement.compare.paired("classification", y, champion, challenger, {**POLICY, "confidence": 0.99})
    narrower = json.loads(first)["f1_macro"]
    assert wider["f1_macro"].low <= narrower["low"] and wider["f1_macro"].high >= narrower["high"]


def test_mcnemar_is_the_exact_test_of_the_records_only_one_model_got_right(pkg):
    y, champion = answers(80, [1, 4, 9, 12, 20, 25, 33, 41, 47, 52, 66])  # 11 wrong
    _, challenger = answers(80, [4, 70])  # right on 10 of those, wrong on one new
    interval, check = margin_check(pkg, y, champion, challenger, metric="accuracy")
    test = interval.mcnemar
    assert (test.only_challenger, test.only_champion) == (10, 1)
    assert test.p_value == pytest.approx(binomtest(10, 11, 0.5).pvalue, abs=1e-6) and test.p_value < 0.05
    assert check.passed and f"McNemar p={test.p_value:.3g}" in check.detail
    assert (
        pkg.improvement.compare.paired("regression", [1.0, 2.0], [1.0, 2.5], [1.2, 2.0], POLICY)["rmse"].mcnemar is None
    )


def test_the_report_shows_each_margin_with_its_interval_and_mcnemar(pkg):
    y, champion = answers(72, [3, 17, 40, 61])
    _, challenger = answers(72, [3, 17, 40])
    intervals = pkg.improvement.compare.paired("classification", y, champion, challenger, POLICY)
    live = pkg.core.metrics.live_metrics
    scores = {
        role: {"recent": live("classification", y, said, ["benign", "malignant"])}
        for role, said in (("champion", champion), ("challenger", challenger))
    }
    comparison = {
        "scores": scores,
        "intervals": {"recent": {name: found.to_dict() for name, found in intervals.items()}},
        "checks": [],
        "rows": {"holdout": 114, "recent": 72},
    }
    counts = {
        key: 0
        for key in (
            "labelled",
            "quarantined_total",
            "accepted",
            "recent",
            "new_train",
            "previous_recent_to_train",
            "production_train",
        )
    }
    counts.update(excluded={"in_holdout": 0, "in_training_data": 0, "repeated": 0}, quarantined={})
    plan = {
        "env": "local",
        "champion": "0.1.0-1111111",
        "monitor": {
            "window": {"start": "2026-01-01", "end": "2026-01-08"},
            "decision": "retrain",
            "reasons": [],
            "missed": [],
            "drifted": [],
            "prediction_drift": False,
        },
        "changes": [],
        "data": counts,
    }
    text = pkg.reporting.improvement.improvement_report(plan, None, comparison, "no proposal", [])
    f1 = intervals["f1_macro"]
    old, new = (scores[role]["recent"]["f1_macro"] for role in ("champion", "challenger"))
    row = f"| recent | `f1_macro` | {old:.4f} | {new:.4f} |"
    assert row in text and f"| +{100 * f1.margin:.1f} % | " in text and "| 95 % interval |" in text
    assert "2000 paired bootstrap resamples" in text
    assert "| recent | 1 | 0 | 1 |" in text  # McNemar: one record only the challenger got right, p = 1


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
    counts = {"production_train": 40, "quarantined_total": 2, "recent": 20, "judged_by": "trusted sources: simulator"}
    rows = {row[0]: row[1:] for row in pkg.improvement.retrain.plan_changes(params, ["size"], counts, 7)}
    assert rows["drift reference"] == ["train", "recent (the world the challenger is judged on)"]
    assert rows["features"][0] == "drifted: size"
    assert rows["recent window (judge)"][1] == "20 records of trusted sources: simulator, never trained on"
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
