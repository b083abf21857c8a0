"""Unit tests of monitoring/monitor, logs and drift on a toy project: a real log, real feedback, real decisions.

The log is written by the service's own PredictionLog and feedback endpoint (the app in process);
the real deployed service is exercised by the template's tests and `make demo`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from starlette.testclient import TestClient

TARGETS = {"accuracy": {"min": 0.8, "retire_below": 0.55}, "f1_macro": {"min": 0.75, "retire_below": 0.4}}


def toy_project(pkg, make_predictor, make_toy, isolated, task: str = "classification", targets=None):
    """A toy project in the working directory: schema, reference stats, test predictions and criteria."""
    predictor = make_predictor(task)
    schema = predictor.schema
    reference = make_toy(n=3000, seed=1, task=task)
    (isolated / "data/processed").mkdir(parents=True)
    (isolated / "data/processed/schema.json").write_text(json.dumps(schema.to_dict()))
    (isolated / "features").mkdir()
    stats = pkg.pipeline.featurize.reference_stats(schema.coerce(reference), schema, 10)
    (isolated / "features/stats.json").write_text(json.dumps(stats))
    (isolated / "reports/plots").mkdir(parents=True)
    test = make_toy(n=500, seed=2, task=task)
    records = schema.client_records(test)
    pd.DataFrame({"actual": test["target"], "predicted": predictor.predict(records)}).to_csv(
        isolated / "reports/plots/predictions.csv", index=False
    )
    (isolated / "params.yaml").write_text(yaml.safe_dump({"evaluate": {"criteria": "docs/criteria.yaml"}}))
    live = {"min_labels": 50, "min_predictions": 100, "window_days": 7, "drift": {"psi_max": 0.25, "p_value_max": 0.01}}
    slo = {"p95_ms": 100, "max_error_rate": 0.05}
    (isolated / "docs").mkdir()
    targets = targets or TARGETS
    (isolated / "docs/criteria.yaml").write_text(yaml.safe_dump({"slo": slo, "live": {**live, "targets": targets}}))
    return predictor


@pytest.fixture
def project(pkg, make_predictor, make_toy, isolated):
    return toy_project(pkg, make_predictor, make_toy, isolated)


def serve(
    pkg, predictor, folder, frame: pd.DataFrame, labels, labelled_share: float = 1.0, sink=None, database_url=None
) -> None:
    """Send every row as one request through the app, then its label for a share of the requests."""
    log = pkg.serving.predictionlog.PredictionLog(folder, "1.0.0-test", sink=sink)
    client = TestClient(pkg.serving.api.create_app(pkg.serving.api.Runtime(predictor, {"version": "1"}, 10, log)))
    ids = [
        client.post("/predict", json={"records": r}).json()["request_id"]
        for r in predictor.schema.client_records(frame)
    ]
    log.close()
    chosen = ids[: int(len(ids) * labelled_share)]
    cast = int if predictor.classes else float
    label(pkg, folder, [(rid, cast(value)) for rid, value in zip(chosen, labels, strict=False)], database_url)


def label(pkg, folder, labels: list[tuple[str, object]], database_url=None) -> None:
    """Store ground truth where the monitor reads it: the store the feedback endpoint fills."""
    store = pkg.core.labels.open_store(database_url, folder)
    try:
        store.insert([pkg.core.labels.Label(rid, 0, json.dumps(value), time.time(), "tests") for rid, value in labels])
    finally:
        store.close()


def run(pkg, folder, capsys) -> tuple[int, dict, str]:
    with pytest.raises(SystemExit) as exited:
        pkg.monitoring.monitor.main(["--data", str(folder)])
    summary_path = pkg.core.paths.MONITOR_SUMMARY
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return int(exited.value.code), summary, capsys.readouterr().out


def test_clean_traffic_keeps_the_model(pkg, project, make_toy, isolated, capsys):
    frame = make_toy(n=400, seed=3)
    serve(pkg, project, isolated / "mon", frame, frame["target"])
    code, summary, out = run(pkg, isolated / "mon", capsys)
    assert (code, summary["decision"]) == (0, "keep"), summary["reasons"]
    assert summary["quality"]["verdict"] == "ok" and summary["drift"]["verdict"] == "ok"
    assert summary["predictions"] == 400 == summary["labelled"]
    report = (isolated / summary["report"]).read_text()
    assert "Decision: `keep`" in report and "![Drift per feature]" in report
    assert (
        isolated / "reports/monitoring" / report.split("![Drift per feature](")[1].split(")")[0]
    ).stat().st_size > 1000


def test_drift_and_a_changed_label_relation_ask_for_retraining_naming_the_feature(
    pkg, project, make_toy, isolated, capsys
):
    frame = make_toy(n=400, seed=4)
    frame["weight"] = frame["weight"] + 3 * 1.0  # three train standard deviations of a feature the model ignores
    rng = np.random.default_rng(0)
    labels = np.where(rng.random(len(frame)) < 0.3, 1 - frame["target"], frame["target"])
    serve(pkg, project, isolated / "mon", frame, labels)
    code, summary, out = run(pkg, isolated / "mon", capsys)
    assert (code, summary["decision"]) == (10, "retrain")
    assert summary["drift"]["drifted"] == ["weight"]
    assert summary["drift"]["features"]["size"]["drifted"] is False
    assert summary["quality"]["verdict"] == "missed"
    assert any("weight" in reason for reason in summary["reasons"]) and "decision: retrain" in out


def test_quality_no_better_than_the_baseline_retires_the_model(pkg, project, make_toy, isolated, capsys):
    frame = make_toy(n=300, seed=5)
    serve(pkg, project, isolated / "mon", frame, 1 - frame["target"])  # every label is the other class
    code, summary, _ = run(pkg, isolated / "mon", capsys)
    assert (code, summary["decision"], summary["quality"]["verdict"]) == (20, "retire", "retire")


def test_too_few_labels_is_insufficient_data_while_drift_is_still_judged(pkg, project, make_toy, isolated, capsys):
    frame = make_toy(n=300, seed=6)
    frame["weight"] = frame["weight"] + 3.0
    serve(pkg, project, isolated / "mon", frame, frame["target"], labelled_share=0.1)  # 30 < min_labels 50
    code, summary, _ = run(pkg, isolated / "mon", capsys)
    assert summary["quality"]["verdict"] == "insufficient data" and summary["quality"]["metrics"] == {}
    assert (code, summary["decision"], summary["drift"]["drifted"]) == (10, "retrain", ["weight"])
    assert any("quality not judged: 30 labelled" in reason for reason in summary["reasons"])


def test_no_log_is_a_one_line_message_and_its_own_exit_code(pkg, project, isolated, capsys):
    code, summary, out = run(pkg, isolated / "nothing-here", capsys)
    assert code == pkg.monitoring.monitor.NO_DATA == 3 and summary == {}
    assert out.count("\n") == 1 and "no prediction log" in out and "make deploy" in out


def test_corrupt_lines_are_counted_and_skipped(pkg, project, make_toy, isolated, capsys):
    frame = make_toy(n=200, seed=7)
    serve(pkg, project, isolated / "mon", frame, frame["target"])
    path = next((isolated / "mon/predictions").rglob("*.jsonl"))
    text = path.read_text().splitlines(keepends=True)
    path.write_text("".join(text[:10]) + '{"request_id": "abc", "ti\n' + "not json at all\n" + "".join(text[10:]))
    code, summary, _ = run(pkg, isolated / "mon", capsys)
    assert code == 0 and summary["corrupt_lines"] == 2 and summary["predictions"] == 200


def test_rows_the_service_dropped_are_counted_in_the_report(pkg, project, make_toy, isolated, capsys):
    frame = make_toy(n=200, seed=10)
    serve(pkg, project, isolated / "mon", frame, frame["target"])
    records = project.schema.client_records(frame.head(40))
    overflowing = pkg.serving.predictionlog.PredictionLog(isolated / "mon", "1.0.0-test", 2, queue_rows=1)
    for record in records:  # a second worker whose queue holds one row: the rest is dropped
        overflowing.put((os.urandom(16).hex(), time.time(), "predict", 200, 0.1, [record], project.predict([record])))
    overflowing.close()
    code, summary, out = run(pkg, isolated / "mon", capsys)
    assert overflowing.dropped >= 30 and summary["service"]["dropped_rows"] == overflowing.dropped
    assert code == 0 and any(f"dropped {overflowing.dropped} rows" in reason for reason in summary["reasons"])
    report = (isolated / summary["report"]).read_text()
    assert f"| rows the log dropped (its queue or buffer full) | {overflowing.dropped} | 0 |" in report


def test_the_monitor_reads_every_replicas_segments_from_the_log_sink_and_the_labels_from_the_database(
    pkg, project, make_toy, isolated, s3_env, fresh_database, monkeypatch, capsys
):
    sink = f"s3://{s3_env.bucket}/{uuid.uuid4().hex}/logs/production"
    frame = make_toy(n=300, seed=11)
    a, b = frame.iloc[:150], frame.iloc[150:]
    serve(pkg, project, isolated / "pod-a", a, a["target"], sink=sink, database_url=fresh_database)
    serve(pkg, project, isolated / "pod-b", b, b["target"], sink=sink, database_url=fresh_database)
    assert not list((isolated / "pod-a/predictions").glob("*.jsonl"))  # all in the bucket
    with pytest.raises(SystemExit) as exited:
        pkg.monitoring.monitor.main(["--data", sink])
    summary = json.loads(pkg.core.paths.MONITOR_SUMMARY.read_text())
    assert exited.value.code == 0 and summary["predictions"] == 300 == summary["requests"]
    assert summary["labelled"] == 0 and summary["quality"]["verdict"] == "insufficient data"  # no database given
    monkeypatch.setenv("MODELOPS_DATABASE_URL", fresh_database)
    monkeypatch.setenv("MODELOPS_SIGNING_KEY", "k" * 32)
    with pytest.raises(SystemExit) as exited:
        pkg.monitoring.monitor.main(["--data", sink])
    summary = json.loads(pkg.core.paths.MONITOR_SUMMARY.read_text())
    assert exited.value.code == 0 and summary["labelled"] == 300, summary["reasons"]
    assert summary["drift"]["verdict"] == "ok" and summary["quality"]["verdict"] == "ok"
    assert not (isolated / "pod-a" / "feedback.sqlite").exists()  # the labels live in the database only
    cache = pkg.monitoring.logs.cache_of(sink)
    assert len(list(cache.glob("predictions/*/*.jsonl"))) == 2  # one segment per pod, under its day


def test_psi_is_zero_for_the_reference_and_grows_with_a_shift(pkg):
    drift = pkg.monitoring.drift
    rng = np.random.default_rng(0)
    values = rng.normal(0, 1, 5000)
    reference = drift.Reference.from_values(values.tolist(), numeric=True)
    same = drift.judge(reference, values, {"psi_max": 0.25, "p_value_max": 0.01})
    moved = drift.judge(reference, values + 1.0, {"psi_max": 0.25, "p_value_max": 0.01})
    assert same["psi"] == 0 and same["p_value"] == 1 and not same["drifted"]
    assert moved["psi"] > 0.5 and moved["p_value"] < 1e-6 and moved["drifted"]
    few = drift.judge(reference, rng.normal(0, 1, 20), {"psi_max": 0.25, "p_value_max": 0.01})
    assert few["psi"] > 0.25 and few["p_value"] > 0.01 and not few["drifted"]  # PSI alone would cry wolf on 20 records


def test_unseen_categories_count_as_drift(pkg):
    drift = pkg.monitoring.drift
    reference = drift.Reference.from_stats({"kind": "categorical", "frequencies": {"a": 500, "b": 500}})
    verdict = drift.judge(reference, ["a"] * 300 + ["zzz"] * 300, {"psi_max": 0.25, "p_value_max": 0.01})
    assert verdict["drifted"] and verdict["n"] == 600


def test_a_regressor_is_judged_on_rmse_and_mae(pkg, make_predictor, make_toy, isolated, capsys):
    predictor = make_predictor("regression")
    clean = make_toy(n=400, seed=8, task="regression")
    errors = np.asarray(predictor.predict(predictor.schema.client_records(clean))) - clean["target"].to_numpy()
    rmse, spread = float(np.sqrt(np.mean(errors**2))), float(clean["target"].std())
    targets = {"rmse": {"max": round(1.5 * rmse, 4), "retire_above": round(spread, 4)}}
    toy_project(pkg, make_predictor, make_toy, isolated, "regression", targets)
    serve(pkg, predictor, isolated / "mon", clean, clean["target"])
    code, summary, _ = run(pkg, isolated / "mon", capsys)
    assert (code, summary["decision"]) == (0, "keep"), summary["reasons"]
    assert summary["quality"]["metrics"]["rmse"]["value"] == pytest.approx(rmse, abs=1e-3)
    shifted = make_toy(n=400, seed=9, task="regression")
    serve(pkg, predictor, isolated / "mon2", shifted, shifted["target"] + 3 * rmse)  # the label relation moved
    code, summary, _ = run(pkg, isolated / "mon2", capsys)
    assert (code, summary["decision"], summary["quality"]["verdict"]) == (10, "retrain", "missed")
    assert summary["drift"]["prediction"]["drifted"] is False  # the inputs did not move, so neither did the output


def test_targets_come_from_the_commit_of_the_served_version(pkg, isolated):
    """After a rollback the work tree may hold a newer model's targets: the served version's are judged."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=isolated, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "--quiet")
    criteria = isolated / "docs/criteria.yaml"
    criteria.parent.mkdir()
    criteria.write_text(yaml.safe_dump({"live": {"targets": {"accuracy": {"min": 0.9, "retire_below": 0.5}}}}))
    git("add", "--all")
    git("-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "--quiet", "-m", "v1")
    commit = git("rev-parse", "--short=7", "HEAD")
    criteria.write_text(yaml.safe_dump({"live": {"targets": {"accuracy": {"min": 0.99, "retire_below": 0.5}}}}))
    now = pkg.core.config.load_criteria("docs/criteria.yaml")
    served, source = pkg.monitoring.monitor.criteria_of([f"0.1.0-{commit}"], "docs/criteria.yaml", now)
    assert served["live"]["targets"]["accuracy"]["min"] == 0.9 and source == f"docs/criteria.yaml at {commit}"
    mixed, source = pkg.monitoring.monitor.criteria_of([f"0.1.0-{commit}", "0.2.0-abcdef0"], "docs/criteria.yaml", now)
    assert mixed["live"]["targets"]["accuracy"]["min"] == 0.99 and source == "docs/criteria.yaml"
    built_outside_git, _ = pkg.monitoring.monitor.criteria_of(["0.1.0-nogit"], "docs/criteria.yaml", now)
    assert built_outside_git["live"]["targets"]["accuracy"]["min"] == 0.99  # no commit to read: the work tree
    with pytest.raises(SystemExit, match=r"commit 0000000 is not in this repository — `git fetch origin`"):
        pkg.monitoring.monitor.criteria_of(["0.1.0-0000000"], "docs/criteria.yaml", now)


def test_a_shallow_clone_without_the_served_commit_stops_naming_the_fix(pkg, tmp_path, monkeypatch):
    """The monitor workflow's checkout once fetched one commit: the served model was judged against HEAD's."""
    import subprocess

    def git(*args: str, cwd: Path = tmp_path / "origin") -> str:
        done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
        return done.stdout.strip()

    (tmp_path / "origin").mkdir()
    git("init", "--quiet")
    (tmp_path / "origin/docs").mkdir()
    for minimum in (0.9, 0.95):
        (tmp_path / "origin/docs/criteria.yaml").write_text(yaml.safe_dump({"live": {"targets": {"f1": minimum}}}))
        git("add", "--all")
        git("-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "--quiet", "-m", f"f1 {minimum}")
    served = git("rev-parse", "--short=7", "HEAD~1")
    git("clone", "--quiet", "--depth=1", f"file://{tmp_path / 'origin'}", str(tmp_path / "shallow"), cwd=tmp_path)
    monkeypatch.chdir(tmp_path / "shallow")
    with pytest.raises(SystemExit, match=rf"commit {served} is not in this shallow clone — .*fetch-depth: 0"):
        pkg.monitoring.monitor.criteria_of([f"0.1.0-{served}"], "docs/criteria.yaml", {})
    git("fetch", "--quiet", "--unshallow", cwd=tmp_path / "shallow")
    judged, source = pkg.monitoring.monitor.criteria_of([f"0.1.0-{served}"], "docs/criteria.yaml", {})
    assert judged["live"]["targets"]["f1"] == 0.9 and source == f"docs/criteria.yaml at {served}"


def test_the_monitor_judges_only_the_version_serving_now(pkg):
    times = pd.to_datetime([1, 2, 3, 4, 5], unit="s", utc=True)
    ids = [f"{n:032x}" for n in range(5)]
    versions = ["0.1.0-aaaaaaa"] * 3 + ["0.2.0-bbbbbbb"] * 2
    records = pd.DataFrame({"request_id": ids, "index": 0, "time": times, "model_version": versions, "output": 1})
    requests = pd.DataFrame({"request_id": ids + ["f" * 32], "time": [*times, times[-1]], "status": [200] * 5 + [500]})
    feedback = pd.DataFrame({"request_id": ids[1:3] + ids[4:], "index": 0, "label": 1})
    data = pkg.monitoring.logs.LiveData(records, requests, feedback, files=1, megabytes=0.1, corrupt=0)
    assert data.latest_version == "0.2.0-bbbbbbb"
    newest = data.of_version(data.latest_version)
    assert newest.versions == ["0.2.0-bbbbbbb"] and len(newest.records) == 2
    assert len(newest.requests) == 3  # its two answers and the failure after its first record
    assert newest.feedback["request_id"].tolist() == ids[4:]
    assert len(data.of_version("0.1.0-aaaaaaa").feedback) == 2
