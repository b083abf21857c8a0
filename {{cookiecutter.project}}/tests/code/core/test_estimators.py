"""Unit tests of core/estimators: the model families `train.model` names and how one is built."""

from __future__ import annotations

import pytest


def test_build_estimator_unknown_model_lists_the_valid_ones(pkg):
    estimators = pkg.core.estimators
    with pytest.raises(SystemExit) as raised:
        estimators.build_estimator("regression", {"model": "svm", "seed": 0})
    message = str(raised.value)
    assert "'svm'" in message
    for name in estimators.ESTIMATORS["regression"]:
        assert name in message


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("model", ["random_forest", "hist_gradient_boosting"])
def test_build_estimator_passes_its_section_and_the_seed(pkg, task, model):
    section = {"random_forest": {"n_estimators": 7}, "hist_gradient_boosting": {"max_iter": 7}}[model]
    estimator = pkg.core.estimators.build_estimator(task, {"model": model, "seed": 11, model: section})
    settings = estimator.get_params()
    assert settings["random_state"] == 11
    assert all(settings[k] == v for k, v in section.items())


def test_split_xy(pkg, toy):
    x, y = pkg.core.estimators.split_xy(toy, "target")
    assert "target" not in x.columns and y.name == "target" and len(x) == len(y)


def test_load_model_without_the_file_names_the_stage(pkg, isolated):
    with pytest.raises(SystemExit, match="dvc repro train"):
        pkg.core.estimators.load_model()
