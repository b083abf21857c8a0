"""Tests of monitoring/alert: one model-monitor issue kept in line with the summary, through the fake `gh` (conftest).

The fake `gh` records each call (arguments and standard input) and answers `gh issue list` with
the open issues it holds.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

RUN_URL = "https://github.com/acme/model/actions/runs/42"
SUMMARY = {
    "decision": "retrain",
    "exit_code": 10,
    "reasons": [
        "live accuracy 0.71 < target 0.92 (docs/criteria.yaml live.targets)",
        "drift in 2 features: mean radius, worst area",
    ],
    "window": {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z"},
    "model_versions": ["0.1.0-abc1234"],
    "predictions": 342,
    "requests": 342,
    "labelled": 171,
    "corrupt_lines": 0,
    "quality": {
        "verdict": "missed",
        "min_labels": 50,
        "metrics": {
            "accuracy": {"value": 0.71, "target": 0.92, "rule": "min", "retire_below": 0.63, "passed": False},
            "f1_macro": {"value": 0.90, "target": 0.88, "rule": "min", "retire_below": 0.5, "passed": True},
        },
    },
    "drift": {
        "verdict": "drift",
        "drifted": ["mean radius", "worst area"],
        "features": {
            "mean radius": {"psi": 1.9, "p_value": 1e-30, "psi_max": 0.25, "p_value_max": 0.01, "drifted": True},
            "worst area": {"psi": 0.61, "p_value": 2e-9, "psi_max": 0.25, "p_value_max": 0.01, "drifted": True},
            "mean texture": {"psi": 0.02, "p_value": 0.7, "psi_max": 0.25, "p_value_max": 0.01, "drifted": False},
        },
        "prediction": {"psi": 0.4, "p_value": 1e-5, "drifted": True},
    },
    "service": {
        "p50_ms": 0.4,
        "p95_ms": 0.9,
        "p99_ms": 1.5,
        "error_rate": 0.0,
        "p95_target_ms": 100,
        "max_error_rate": 0.0,
        "passed": True,
    },
    "report": "reports/monitoring/2026-12-01.md",
}
REGRESSION = {
    "decision": "retrain",
    "quality": {
        "metrics": {"rmse": {"value": 3.0, "target": 2.5, "rule": "max", "retire_above": 4.0, "passed": False}}
    },
}


@pytest.fixture
def alert(pkg):
    return importlib.import_module(f"{pkg.name}.monitoring.alert")


@pytest.fixture
def gh(fake_gh):
    return fake_gh


@pytest.fixture
def typed(pkg):
    """A MonitorSummary from a dict, as `make monitor` would write it."""
    return lambda data: pkg.core.records.MonitorSummary(**data)


def write_summary(folder: Path, **changes) -> Path:
    path = folder / "reports/monitoring/summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**SUMMARY, **changes}))
    return path


def test_a_retrain_decision_without_an_open_issue_opens_one_and_dispatches_retraining(alert, gh, isolated, capsys):
    write_summary(isolated)
    alert.main(["--run-url", RUN_URL])
    made = gh.calls()
    assert [c["args"][:2] for c in made] == [
        ["issue", "list"],
        ["label", "create"],
        ["issue", "create"],
        ["workflow", "run"],
    ]
    assert made[0]["args"] == ["issue", "list", "--label", "model-monitor", "--state", "open", "--json", "number,title"]
    create = made[2]
    assert create["args"] == [
        "issue", "create", "--title", "Model monitor: retrain (0.1.0-abc1234)", "--label", "model-monitor",
        "--body-file", "-",
    ]  # fmt: skip
    assert "mean radius" in create["stdin"] and "worst area" in create["stdin"] and RUN_URL in create["stdin"]
    assert made[3]["args"] == [
        "workflow", "run", "retrain.yml",
        "-f", "reason=live accuracy 0.71 < target 0.92 (docs/criteria.yaml live.targets);"
        " drift in 2 features: mean radius, worst area",
        "-f", "drifted_features=mean radius,worst area",
        "-f", "missed_metrics=accuracy",
        "-f", f"summary_run={RUN_URL}",
    ]  # fmt: skip
    assert "gh issue create: https://github.com/acme/model/issues/1" in capsys.readouterr().out
    assert gh.state()["issues"] == [{"number": 1, "title": "Model monitor: retrain (0.1.0-abc1234)", "open": True}]


def test_an_open_issue_gets_a_comment_and_the_latest_title_not_a_second_issue(alert, gh, isolated):
    gh.holds(issues=({"number": 9, "title": "Model monitor: retrain (0.1.0-abc1234)"}, {"number": 7, "title": "older"}))
    write_summary(isolated, decision="retire", exit_code=20)
    alert.main(["--run-url", RUN_URL])
    made = gh.calls()
    assert [c["args"][:3] for c in made] == [
        ["issue", "list", "--label"],
        ["issue", "comment", "7"],
        ["issue", "edit", "7"],
    ]
    assert made[2]["args"] == ["issue", "edit", "7", "--title", "Model monitor: retire (0.1.0-abc1234)"]
    assert "**retire**" in made[1]["stdin"] and "make rollback" in made[1]["stdin"]
    assert not any(c["args"][:2] == ["workflow", "run"] for c in made), "only a retrain decision dispatches retraining"


def test_keep_closes_the_open_issue_with_a_comment(alert, gh, isolated):
    gh.holds(issues=({"number": 7, "title": "Model monitor: retrain"},))
    write_summary(isolated, decision="keep", exit_code=0, reasons=[])
    alert.main(["--run-url", RUN_URL])
    made = gh.calls()
    assert [c["args"] for c in made[1:]] == [
        ["issue", "comment", "7", "--body-file", "-"],
        ["issue", "close", "7", "--reason", "completed"],
    ]
    assert "back within its targets" in made[1]["stdin"] and RUN_URL in made[1]["stdin"]
    assert gh.state()["issues"][0]["open"] is False, "the issue is still open"


def test_keep_without_an_open_issue_only_looks(alert, gh, isolated):
    write_summary(isolated, decision="keep", exit_code=0, reasons=[])
    alert.main([])
    assert [c["args"][:2] for c in gh.calls()] == [["issue", "list"]]


def test_the_issue_body_shows_metrics_against_targets_drift_and_the_service(alert, typed):
    body = alert.findings(typed(SUMMARY), RUN_URL)
    assert "## Decision: **retrain**" in body
    assert "| accuracy | 0.7100 | ≥ 0.9200 | ≤ 0.6300 | **missed** |" in body
    assert "| f1_macro | 0.9000 | ≥ 0.8800 | ≤ 0.5000 | ok |" in body
    assert "| rmse | 3.0000 | ≤ 2.5000 | ≥ 4.0000 | **missed** |" in alert.findings(typed(REGRESSION), None)
    assert "| mean radius | 1.900 (max 0.25) | 1e-30 (max 0.01) |" in body
    assert "| worst area | 0.610 (max 0.25) | 2e-09 (max 0.01) |" in body
    assert "mean texture" not in body and "1 other feature is within the thresholds." in body
    assert "| p95 latency (ms) | 0.9 | ≤ 100 |" in body and "| error rate | 0.0000 | ≤ 0.0 |" in body
    assert f"Run: {RUN_URL}" in body and "reports/monitoring/2026-12-01.md" in body
    for reason in SUMMARY["reasons"]:
        assert f"- {reason}" in body


def test_a_summary_missing_optional_sections_still_renders(alert, typed, pkg):
    body = alert.findings(typed({"decision": "retrain", "reasons": ["drift in 1 feature: x"]}), None)
    assert "Quality: not judged" in body and "Drift: not judged" in body and "Run: local" in body
    assert alert.plan(pkg.core.forge.GitHub(), typed({"decision": "retrain"}), None, None)[-1].args == (
        "workflow", "run", "retrain.yml", "-f", "reason=retrain", "-f", "drifted_features=", "-f", "missed_metrics=",
        "-f", "summary_run=",
    )  # fmt: skip


def test_dry_run_prints_the_commands_and_the_body_and_runs_nothing(alert, gh, isolated, capsys):
    write_summary(isolated)
    alert.main(["--dry-run", "--run-url", RUN_URL])
    out = capsys.readouterr().out
    assert gh.calls() == [], "the dry run ran gh"
    assert "gh issue list --label model-monitor" in out and "gh issue create --title" in out
    assert "gh issue comment NUMBER --body-file -" in out and "gh workflow run retrain.yml" in out
    assert "| mean radius | 1.900 (max 0.25) |" in out and gh.token not in out


def test_a_failing_gh_command_is_named_and_the_token_never_shown(alert, gh, isolated, capsys):
    gh.fail("workflow")
    write_summary(isolated)
    with pytest.raises(SystemExit) as failed:
        alert.main(["--run-url", RUN_URL])
    message = str(failed.value.code)
    assert message.startswith("error: `gh workflow run retrain.yml -f ") and "failed (1): HTTP 403" in message
    assert gh.token not in message + capsys.readouterr().out and "***" in message


def test_a_missing_summary_names_make_monitor(alert, gh, isolated):
    with pytest.raises(SystemExit, match=r"no reports/monitoring/summary.json — run `make monitor`"):
        alert.main([])
    assert gh.calls() == []


def test_an_unknown_decision_is_refused(alert, gh, isolated):
    write_summary(isolated, decision="panic")
    with pytest.raises(SystemExit, match=r"decision 'panic', not one of keep, retrain, retire"):
        alert.main([])


def test_without_gh_the_error_says_to_install_it(alert, isolated, monkeypatch):
    monkeypatch.setenv("PATH", str(isolated))
    write_summary(isolated)
    with pytest.raises(SystemExit, match=r"gh not found on PATH — install the GitHub CLI"):
        alert.main([])
