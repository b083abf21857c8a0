"""Unit tests of improvement/tune: the seeded search, its budgets and baseline, the space check and the params edit."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_score

LOGISTIC = {"C": {"low": 0.001, "high": 100.0, "log": True}}
FOREST = {"n_estimators": {"low": 50, "high": 300, "step": 50}, "max_depth": {"choices": [None, 4, 8]}}


def settings(space: dict, trials: int = 10, seconds: float = 60.0) -> dict:
    return {"seed": 3, "trials": trials, "seconds": seconds, "folds": 3, "space": space}


def classification_data(n: int = 150):
    return make_classification(n_samples=n, n_features=6, n_informative=3, random_state=0)


def table(tuning) -> list[dict]:
    """The trials without their durations: what the seed fixes."""
    return [{k: t[k] for k in ("number", "value", "params", "state")} for t in tuning.trials]


def best_recorded(tuning) -> dict:
    """The first trial with the best recorded value."""
    done = [t for t in tuning.trials if t["state"] == "COMPLETE"]
    pick = max if tuning.direction == "maximize" else min
    return pick(done, key=lambda t: t["value"])


def test_same_seed_same_search(pkg, tmp_path, caplog):
    tune = pkg.improvement.tune
    x, y = classification_data()
    train = {"seed": 0, "model": "logistic_regression", "logistic_regression": {"C": 1.0, "max_iter": 500}}
    storage = tmp_path / "tuning.sqlite"
    with caplog.at_level(logging.INFO, logger=tune.__name__):
        first = tune.tune(x, y, "classification", train, settings({"logistic_regression": LOGISTIC}), "f1_macro",
                          storage, "tune-logistic_regression")  # fmt: skip
    # the same study name in the same storage: a fresh study, not a continuation
    second = tune.tune(x, y, "classification", train, settings({"logistic_regression": LOGISTIC}), "f1_macro",
                       storage, "tune-logistic_regression")  # fmt: skip
    assert table(first) == table(second)
    assert first.best_params == second.best_params
    assert [t["number"] for t in first.trials] == list(range(10))
    assert first.stopped_by == "trials" and first.direction == "maximize"
    assert len({t["params"]["C"] for t in first.trials}) > 5, "the search explored the space"
    assert any("trial 10: best f1_macro" in r.getMessage() for r in caplog.records)


def test_the_current_values_are_trial_0_and_the_best_can_only_match_them(pkg, tmp_path):
    x, y = classification_data()
    train = {"seed": 0, "model": "logistic_regression", "logistic_regression": {"C": 0.05, "max_iter": 500}}
    tuning = pkg.improvement.tune.tune(
        x, y, "classification", train, settings({"logistic_regression": LOGISTIC}), "accuracy",
        tmp_path / "t.sqlite", "baseline",
    )  # fmt: skip
    assert tuning.trials[0]["params"] == {"C": 0.05}
    assert tuning.baseline_value == tuning.trials[0]["value"]
    assert tuning.best_value >= tuning.baseline_value
    assert (tuning.best_params, tuning.best_value) == (best_recorded(tuning)["params"], best_recorded(tuning)["value"])


def test_a_time_budget_stops_the_search_and_the_best_is_a_recorded_trial(pkg, tmp_path):
    x, y = classification_data(300)
    train = {"seed": 0, "model": "random_forest", "random_forest": {"n_estimators": 100}}
    tuning = pkg.improvement.tune.tune(
        x, y, "classification", train, settings({"random_forest": FOREST}, trials=200, seconds=0.5), "f1_macro",
        tmp_path / "t.sqlite", "seconds",
    )  # fmt: skip
    assert tuning.stopped_by == "seconds"
    assert 1 <= len(tuning.trials) < 200
    assert tuning.seconds < 10, "the running trial finishes; no new one starts after the budget"
    assert tuning.trials[0]["params"] == {"n_estimators": 100, "max_depth": None}  # an unset value: its default
    best = best_recorded(tuning)
    assert (tuning.best_params, tuning.best_value) == (best["params"], best["value"])


def test_regression_minimises_rmse_in_its_own_sign(pkg, tmp_path):
    x, y = make_regression(n_samples=120, n_features=5, noise=10.0, random_state=0)
    train = {"seed": 0, "model": "ridge", "ridge": {"alpha": 1.0}}
    space = {"ridge": {"alpha": {"low": 0.001, "high": 1000.0, "log": True}}}
    tuning = pkg.improvement.tune.tune(x, y, "regression", train, settings(space), "rmse", tmp_path / "t.sqlite", "r")
    split = KFold(n_splits=3, shuffle=True, random_state=3)
    rmse = -cross_val_score(Ridge(alpha=1.0), x, y, scoring="neg_root_mean_squared_error", cv=split).mean()
    assert tuning.direction == "minimize"
    assert tuning.baseline_value == pytest.approx(rmse, abs=1e-6) and rmse > 0
    assert all(t["value"] > 0 for t in tuning.trials)
    assert tuning.best_value == min(t["value"] for t in tuning.trials) <= tuning.baseline_value


def test_a_metric_the_task_cannot_tune_names_the_choices(pkg, tmp_path):
    x, y = classification_data()
    train = {"seed": 0, "model": "logistic_regression"}
    with pytest.raises(SystemExit, match="retrain.metric 'rmse' cannot be tuned for classification — use one of"):
        pkg.improvement.tune.tune(x, y, "classification", train, settings({"logistic_regression": LOGISTIC}),
                                  "rmse", tmp_path / "t.sqlite", "m")  # fmt: skip


def test_current_values_outside_the_space_are_refused(pkg, tmp_path):
    x, y = classification_data()
    train = {"seed": 0, "model": "logistic_regression", "logistic_regression": {"C": 1000.0}}
    with pytest.raises(SystemExit, match=r"train\.logistic_regression\.C: 1000\.0 is outside .* — widen the space"):
        pkg.improvement.tune.tune(x, y, "classification", train, settings({"logistic_regression": LOGISTIC}),
                                  "f1_macro", tmp_path / "t.sqlite", "o")  # fmt: skip


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"logistic_regression": {"C": {"low": 1.0, "hi": 2.0}}}, "logistic_regression.C: unknown key 'hi' — use"),
        ({"logistic_regression": {"C": {"low": 10.0, "high": 1.0}}}, "logistic_regression.C: low 10.0 > high 1.0 —"),
        ({"logistic_regression": {"C": {"low": 0.0, "high": 1.0, "log": True}}}, "C: log scale needs low > 0"),
        ({"logistic_regression": {"C": {"choices": []}}}, "logistic_regression.C.choices: [] — list one or more"),
        ({"random_forest": FOREST}, "space.logistic_regression: no search space for logistic_regression — add"),
        ({"logistic_regression": {"gamma": {"low": 1, "high": 2}}}, ".gamma: logistic_regression has no parameter"),
    ],
    ids=["unknown-key", "low-above-high", "log-from-zero", "no-choices", "family-missing", "unknown-parameter"],
)
def test_a_bad_space_entry_names_its_key_and_the_fix(pkg, space, message):
    with pytest.raises(SystemExit) as raised:
        pkg.improvement.tune.search_space(space, "logistic_regression", "classification")
    assert str(raised.value).startswith("error: params.yaml retrain.tune.space.logistic_regression")
    assert message in str(raised.value)


def test_a_valid_space_types_each_dimension(pkg):
    space = pkg.improvement.tune.search_space({"random_forest": {**FOREST, "max_features": {"low": 0.2, "high": 1.0}}},
                                              "random_forest")  # fmt: skip
    assert space["n_estimators"].integer and not space["max_features"].integer
    assert space["max_depth"].choices == (None, 4, 8)
    assert space["n_estimators"].contains(100) and not space["n_estimators"].contains(120)
    # class_weight exists for the classifier only: without a task the family must accept it in every task
    weighted = {"random_forest": {"class_weight": {"choices": [None, "balanced"]}}}
    assert pkg.improvement.tune.search_space(weighted, "random_forest", "classification")
    with pytest.raises(SystemExit, match="random_forest has no parameter 'class_weight'"):
        pkg.improvement.tune.search_space(weighted, "random_forest")


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new), "lines were added or removed"
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_apply_changes_only_the_target_lines_and_keeps_comments(pkg, root, tmp_path):
    original = (root / "params.yaml").read_text()
    path = tmp_path / "params.yaml"
    path.write_text(original)
    current = yaml.safe_load(original)["train"]["random_forest"]
    best = {"n_estimators": current["n_estimators"] + 50, "max_depth": 7}
    text = pkg.improvement.tune.apply(path, "random_forest", best)
    changed = changed_lines(original, text)
    assert [new.split("#")[0].strip() for _, new in changed] == [
        f"n_estimators: {best['n_estimators']}",
        "max_depth: 7",
    ]
    assert all(old.partition("#")[2] == new.partition("#")[2] for old, new in changed), "a comment was lost"
    expected = yaml.safe_load(original)
    expected["train"]["random_forest"].update(best)
    assert yaml.safe_load(text) == expected  # retrain.tune.space.random_forest is untouched
    assert path.read_text() == original, "apply returns the text; main writes it"
    assert pkg.improvement.tune.apply(path, "random_forest", current) == original


def test_apply_rounds_floats_and_adds_missing_parameters_to_their_block(pkg, root, tmp_path):
    original = (root / "params.yaml").read_text()
    path = tmp_path / "params.yaml"
    path.write_text(original)
    best = {"learning_rate": 0.0123456789, "max_leaf_nodes": 15, "l2_regularization": 1.234567e-05}
    text = pkg.improvement.tune.apply(path, "hist_gradient_boosting", best)
    added = [line for line in text.splitlines() if line not in original.splitlines()]
    assert added == ["    learning_rate: 0.0123457", "    l2_regularization: 1.23457e-05", "    max_leaf_nodes: 15"]
    section = yaml.safe_load(text)["train"]["hist_gradient_boosting"]
    assert section["learning_rate"] == 0.0123457 and section["l2_regularization"] == 1.23457e-05  # floats, not text
    lines = text.splitlines()
    header = lines.index("  hist_gradient_boosting:")
    assert lines[header + 1 : header + 5][-2:] == added[1:], "new parameters close their model's block"
    assert len(lines) == len(original.splitlines()) + 2


SMALL = """train:
  seed: 42
  ridge:
    alpha: 1  # a comment

evaluate:
  criteria: docs/criteria.yaml
"""


def test_apply_leaves_equal_values_alone_and_adds_a_missing_section(pkg, tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(SMALL)
    assert pkg.improvement.tune.apply(path, "ridge", {"alpha": 1.0}) == SMALL, "1 and 1.0 are the same value"
    text = pkg.improvement.tune.apply(path, "random_forest", {"n_estimators": 50})
    assert text == SMALL.replace("comment\n", "comment\n  random_forest:\n    n_estimators: 50\n")


def toy_project(folder, task_params: dict) -> None:
    """features/train.csv, params.yaml and docs/criteria.yaml of a small classification project."""
    x, y = classification_data()
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])]).assign(target=y)
    (folder / "features").mkdir()
    frame.to_csv(folder / "features/train.csv", index=False)
    (folder / "docs").mkdir()
    (folder / "docs/criteria.yaml").write_text(yaml.safe_dump({"retrain": {"metric": "f1_macro"}}))
    params = {
        "task": "classification",
        "ingest": {"target": "target"},
        "train": {"seed": 0, "model": "logistic_regression", "logistic_regression": {"C": 1.0, "max_iter": 500}},
        "evaluate": {"criteria": "docs/criteria.yaml"},
        "retrain": {"tune": task_params},
    }
    (folder / "params.yaml").write_text("# the toy project's parameters\n" + yaml.safe_dump(params, sort_keys=False))


def test_the_command_records_the_search_and_applies_the_best(pkg, isolated, capsys):
    toy_project(isolated, settings({"logistic_regression": LOGISTIC}, trials=50))
    pkg.improvement.tune.main(["--trials", "6", "--apply"])
    out = capsys.readouterr().out
    assert out.startswith("tuned logistic_regression: f1_macro ") and "in 6 trials" in out
    assert out.rstrip().endswith("trials/s, stopped by trials)") and out.count("\n") == 1
    folder = isolated / "reports/improvement"
    record = json.loads((folder / "tuning.json").read_text())
    assert len(record["trials"]) == 6 and record["stopped_by"] == "trials"
    trials = pd.read_csv(folder / "trials.csv")
    assert list(trials.columns) == ["number", "value", "state", "seconds", "C"]
    assert np.allclose(trials["value"], [t["value"] for t in record["trials"]])
    assert (folder / "tuning.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "tuning.sqlite").is_file()
    text = (isolated / "params.yaml").read_text()
    assert text.startswith("# the toy project's parameters\n")
    assert yaml.safe_load(text)["train"]["logistic_regression"] == {"C": record["best_params"]["C"], "max_iter": 500}


def test_the_command_has_help(pkg, capsys):
    with pytest.raises(SystemExit) as raised:
        pkg.improvement.tune.main(["--help"])
    assert raised.value.code == 0
    assert "retrain.tune" in capsys.readouterr().out
