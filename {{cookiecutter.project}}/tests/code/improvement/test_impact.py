"""Unit tests of improvement/impact: the service's own log replayed through a candidate and the champion.

The log is written by the app in process with the service's PredictionLog, as `make deploy` runs it;
the models are the toy project's, and candidates made from them that change chosen records.
"""

from __future__ import annotations

import json
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from starlette.testclient import TestClient

CHAMPION, CANDIDATE = "1.0.0-aaaaaaa", "1.1.0-bbbbbbb"
IMPACT = {"max_disagreement": 0.10, "max_segment_disagreement": 0.25, "min_segment_rows": 20, "min_rows": 50}


class Flipped:
    """The champion's model, with the other class predicted where one one-hot column is set."""

    def __init__(self, model, column: int) -> None:
        self.model, self.column = model, column

    def predict(self, x: np.ndarray) -> np.ndarray:
        base = self.model.predict(x)
        return np.where(x[:, self.column] == 1.0, 1 - base, base)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        proba = self.model.predict_proba(x)
        return np.where((x[:, self.column] == 1.0)[:, None], proba[:, ::-1], proba)


class Shifted:
    """The champion's regressor, every prediction moved by `by`."""

    def __init__(self, model, by: float) -> None:
        self.model, self.by = model, by

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x) + self.by


def column_of(features, name: str, value: str) -> int:
    """The one-hot column of a category in the transform's output."""
    j = features.categorical.index(name)
    return len(features.numeric) + int(features.offsets[j]) + features.index[j][value]


def toy_project(pkg, predictor, folder, impact=None, task="classification") -> None:
    """What the command reads in the working directory: schema, params, criteria, the local environment."""
    (folder / "data/processed").mkdir(parents=True)
    (folder / "data/processed/schema.json").write_text(json.dumps(predictor.schema.to_dict()))
    (folder / "params.yaml").write_text(yaml.safe_dump({"evaluate": {"criteria": "docs/criteria.yaml"}}))
    (folder / "docs").mkdir()
    tolerance = {"tolerance": 5.0} if task == "regression" else {}
    criteria = {"live": {"window_days": 7}, "impact": {**IMPACT, **tolerance, **(impact or {})}}
    (folder / "docs/criteria.yaml").write_text(yaml.safe_dump(criteria))
    (folder / "deploy/local").mkdir(parents=True)
    (folder / "deploy/local/environment.yaml").write_text(f"version: '{CHAMPION}'\n")


def serve(pkg, predictor, folder, frame: pd.DataFrame, redaction=None, labelled: int = 0) -> None:
    """Every row as one request through the app (the service's log format), the first `labelled` labelled."""
    log = pkg.serving.predictionlog.PredictionLog(folder, CHAMPION, redaction=redaction)
    client = TestClient(pkg.serving.api.create_app(pkg.serving.api.Runtime(predictor, {"version": "1"}, 10, log)))
    ids = [
        client.post("/predict", json={"records": r}).json()["request_id"]
        for r in predictor.schema.client_records(frame)
    ]
    log.close()
    store = pkg.core.labels.open_store(None, folder)
    try:
        labels = [
            pkg.core.labels.Label(rid, 0, json.dumps(value), time.time(), "tests")
            for rid, value in zip(ids[:labelled], frame["target"].tolist(), strict=False)
        ]
        store.insert(labels)
    finally:
        store.close()


def run(pkg, monkeypatch, candidate_model, *args: str) -> int:
    """`python -m <pkg>.improvement.impact --candidate 1.1.0-bbbbbbb …` with the toy models as the two versions."""
    models = candidate_model
    monkeypatch.setattr(pkg.improvement.impact, "at_version", lambda version: models[version])
    with pytest.raises(SystemExit) as exited:
        pkg.improvement.impact.main(["--candidate", CANDIDATE, *args])
    return int(exited.value.code)


def versions(pkg, predictor, model):
    candidate = pkg.improvement.compare.Candidate
    return {
        CHAMPION: candidate("champion", CHAMPION, predictor.model, predictor.features),
        CANDIDATE: candidate("candidate", CANDIDATE, model, predictor.features),
    }


def read(folder):
    stem = f"reports/impact/local-{CANDIDATE}"
    return json.loads((folder / f"{stem}.json").read_text()), (folder / f"{stem}.md").read_text()


def test_a_candidate_that_flips_one_category_fails_naming_that_segment_and_its_rows(
    pkg, make_predictor, make_toy, isolated, monkeypatch, capsys
):
    predictor = make_predictor()
    toy_project(pkg, predictor, isolated)
    frame = make_toy(n=300, seed=4)
    rare = np.arange(300) % 12 == 5  # a rare category: what a backdoor's trigger looks like
    frame["colour"] = np.where(rare, "red", frame["colour"].replace("red", "blue"))
    serve(pkg, predictor, isolated / "mon", frame, labelled=120)
    flipped = Flipped(predictor.model, column_of(predictor.features, "colour", "red"))
    code = run(pkg, monkeypatch, versions(pkg, predictor, flipped), "--data", str(isolated / "mon"))
    report, markdown = read(isolated)
    reds = int((frame["colour"] == "red").sum())
    assert code == 1 and report["verdict"] == "fail"
    assert report["rows"] == {"logged": 300, "replayed": 300, "not_replayable": 0, "labelled": 120}
    assert report["disagreement"]["changed"] == reds
    broken = [s for s in report["segments"] if s["broke"]]
    assert [(s["segment"], s["rows"], s["changed"]) for s in broken] == [("colour = red", reds, reds)]
    assert f"segment colour = red: {reds} of {reds} rows changed" in " ".join(report["reasons"])
    assert "| colour = red | " in markdown and "**FAIL**" in markdown
    assert report["score_psi"]["psi"] > 0 and set(report["live_metrics"]) == {"champion", "candidate"}
    assert report["latency"]["candidate"]["calls"] == 200 and report["latency"]["champion"]["p95_ms"] > 0
    assert (isolated / f"reports/impact/local-{CANDIDATE}.png").stat().st_size > 1000
    assert "colour = red" in capsys.readouterr().out


def test_the_same_model_passes_and_the_same_log_gives_the_same_bytes(
    pkg, make_predictor, make_toy, isolated, monkeypatch
):
    predictor = make_predictor()
    toy_project(pkg, predictor, isolated)
    serve(pkg, predictor, isolated / "mon", make_toy(n=120, seed=4))
    same = versions(pkg, predictor, predictor.model)
    args = ("--data", str(isolated / "mon"), "--latency-sample", "0")
    assert run(pkg, monkeypatch, same, *args) == 0
    first = [(isolated / f"reports/impact/local-{CANDIDATE}{s}").read_bytes() for s in (".json", ".md", ".png")]
    assert run(pkg, monkeypatch, same, *args) == 0
    again = [(isolated / f"reports/impact/local-{CANDIDATE}{s}").read_bytes() for s in (".json", ".md", ".png")]
    assert first == again
    assert json.loads(first[0])["disagreement"] == {"changed": 0, "rate": 0.0}


def test_too_little_traffic_is_a_verdict_of_its_own_not_a_pass(pkg, make_predictor, make_toy, isolated, monkeypatch):
    predictor = make_predictor()
    toy_project(pkg, predictor, isolated)
    serve(pkg, predictor, isolated / "mon", make_toy(n=30, seed=4))
    code = run(pkg, monkeypatch, versions(pkg, predictor, predictor.model), "--data", str(isolated / "mon"))
    report, markdown = read(isolated)
    assert code == 3 and report["verdict"] == "too little traffic"
    assert "30 replayed records, impact.min_rows is 50" in report["reasons"][0]
    assert "TOO LITTLE TRAFFIC TO JUDGE (a verdict, not a pass)" in markdown


def test_a_hashed_field_is_named_excluded_and_its_records_counted_not_guessed(
    pkg, make_predictor, make_toy, isolated, monkeypatch
):
    predictor = make_predictor()
    toy_project(pkg, predictor, isolated, impact={"min_rows": 1})
    frame = make_toy(n=100, seed=4)
    redaction = pkg.serving.predictionlog.Redaction(hash=frozenset({"colour"}), salt="s" * 32)
    serve(pkg, predictor, isolated / "mon", frame, redaction=redaction)
    assert run(pkg, monkeypatch, versions(pkg, predictor, predictor.model), "--data", str(isolated / "mon")) == 0
    report, markdown = read(isolated)
    missing = int(frame["colour"].isna().sum())  # no value to hash: replayed as sent
    assert report["excluded"] == {"colour": "hashed in the log by the service (MODELOPS_LOG_HASH)"}
    assert report["rows"]["not_replayable"] == 100 - missing and report["rows"]["replayed"] == missing
    assert "`colour` — hashed in the log" in markdown


def test_a_dropped_field_leaves_nothing_to_replay(pkg, make_predictor, make_toy, isolated):
    predictor = make_predictor()
    records = make_toy(n=20, seed=4).drop(columns=["weight", "target"])
    found = pkg.improvement.impact.replayable(records, predictor.schema)
    assert found.excluded == {"weight": "dropped from the log by the service (MODELOPS_LOG_DROP)"}
    assert (found.logged, found.not_replayable, len(found.frame)) == (20, 20, 0)
    model = pkg.improvement.compare.Candidate("champion", CHAMPION, predictor.model, predictor.features)
    thresholds = pkg.improvement.impact.Thresholds(**IMPACT)
    report = pkg.improvement.impact.analyse(records, predictor.schema, model, model, thresholds)
    assert report["verdict"] == "too little traffic" and report["rows"]["replayed"] == 0


def test_a_regression_change_within_the_tolerance_is_no_change(pkg, make_predictor, make_toy, isolated, monkeypatch):
    predictor = make_predictor("regression")
    toy_project(pkg, predictor, isolated, task="regression")
    serve(pkg, predictor, isolated / "mon", make_toy(n=80, seed=4, task="regression"))
    shifted = versions(pkg, predictor, Shifted(predictor.model, 1.0))
    assert run(pkg, monkeypatch, shifted, "--data", str(isolated / "mon"), "--latency-sample", "0") == 0
    report, markdown = read(isolated)
    assert report["disagreement"]["changed"] == 0 and report["change"]["p50"] == pytest.approx(1.0)
    assert "Change of the prediction (candidate − champion; tolerance 5.0)" in markdown
    pushed = versions(pkg, predictor, Shifted(predictor.model, 6.0))
    assert run(pkg, monkeypatch, pushed, "--data", str(isolated / "mon"), "--latency-sample", "0") == 1
    report, _ = read(isolated)
    assert report["disagreement"]["rate"] == 1.0 and report["reasons"][0].startswith("overall: 100.0% of 80 records")


def test_changed_classes_and_values(pkg):
    changed = pkg.improvement.impact.changed
    assert changed("classification", np.array([0, 1, 1]), np.array([0, 0, 1])).tolist() == [False, True, False]
    assert changed("regression", np.array([1.0, 2.0]), np.array([1.4, 3.0]), 0.5).tolist() == [False, True]
    with pytest.raises(ValueError, match="unknown task"):
        changed("ranking", np.array([1]), np.array([1]))


def test_a_promotion_check_judges_only_the_environments_the_change_moves(pkg, make_predictor, isolated, capsys):
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=isolated, check=True, capture_output=True)

    predictor = make_predictor()
    toy_project(pkg, predictor, isolated)
    git("init", "--quiet", "-b", "main")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "--allow-empty", "-m", "start")
    git("add", "deploy")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "deploy")
    with pytest.raises(SystemExit) as exited:
        pkg.improvement.impact.main(["--changed", "HEAD"])
    assert exited.value.code == 0 and "nothing to judge" in capsys.readouterr().out
    assert "nothing to judge: this change moves no environment's version" in pkg.reporting.impact.checked_section()
    (isolated / "deploy/local/environment.yaml").write_text(f"version: '{CANDIDATE}'\n")
    assert pkg.improvement.impact.changed_envs("HEAD") == [("local", CHAMPION, CANDIDATE)]
    assert pkg.improvement.impact.changed_envs("HEAD~1") == [("local", "", CANDIDATE)]
    with pytest.raises(SystemExit) as exited:  # no logged traffic for local here: not judged, said so
        pkg.improvement.impact.main(["--changed", "HEAD"])
    assert exited.value.code == 0 and "no logged traffic for local: impact not judged" in capsys.readouterr().out
    section = pkg.reporting.impact.checked_section()  # what the pull request's report comment shows
    assert "`make impact-check` against `HEAD`" in section
    assert "no logged traffic for local: impact not judged" in section


def test_a_promotion_check_fails_on_too_little_traffic_only_where_the_criteria_require_it(
    pkg, make_predictor, make_toy, isolated, monkeypatch, capsys
):
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=isolated, check=True)

    predictor = make_predictor()
    toy_project(pkg, predictor, isolated)
    serve(pkg, predictor, isolated / ".deploy/local/monitoring", make_toy(n=30, seed=4))  # local's own log
    git("init", "--quiet", "-b", "main")
    git("add", "deploy")
    git("commit", "--quiet", "-m", "deploy")
    (isolated / "deploy/local/environment.yaml").write_text(f"version: '{CANDIDATE}'\n")
    monkeypatch.setattr(pkg.improvement.impact, "at_version", versions(pkg, predictor, predictor.model).__getitem__)

    def check() -> int:
        with pytest.raises(SystemExit) as exited:
            pkg.improvement.impact.main(["--changed", "HEAD", "--latency-sample", "0"])
        return int(exited.value.code)

    assert check() == 0  # the default requires production's traffic only
    report, markdown = read(isolated)
    assert report["verdict"] == "too little traffic" and report["rows"]["replayed"] == 30
    assert "local is not in impact.require_traffic (production)" in markdown
    toy_project_criteria = yaml.safe_load((isolated / "docs/criteria.yaml").read_text())
    toy_project_criteria["impact"]["require_traffic"] = ["local"]
    (isolated / "docs/criteria.yaml").write_text(yaml.safe_dump(toy_project_criteria))
    assert check() == 3
    assert "not in impact.require_traffic" not in read(isolated)[1]
    toy_project_criteria["impact"]["require_traffic"] = "local"
    (isolated / "docs/criteria.yaml").write_text(yaml.safe_dump(toy_project_criteria))
    with pytest.raises(SystemExit, match="require_traffic must be a list of environment names"):
        pkg.improvement.impact.main(["--changed", "HEAD"])
