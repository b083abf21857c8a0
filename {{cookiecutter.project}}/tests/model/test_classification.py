"""Tests of the trained classifier on the real test set: quality, the recorded gate, behaviour.

Behaviour follows the checklist idea: invariance (order of rows and columns, batch or alone),
determinism, minimum functionality (known classes, probabilities) and robustness to missing
values and unseen categories. Predictions go through the compiled feature path, as in the service.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.metrics import accuracy_score, f1_score


@pytest.fixture(autouse=True)
def _classification_only(task):
    if task != "classification":
        pytest.skip(f"params.yaml task is {task}, not classification")


@pytest.fixture(scope="module")
def classes(schema) -> set[str]:
    return {str(c) for c in schema.target.classes}


def xy(frame: pd.DataFrame, target: str):
    return frame.drop(columns=[target]).to_numpy(), frame[target].to_numpy()


def test_model_beats_the_trivial_baseline(model, features_train, features_test, target):
    x_train, y_train = xy(features_train, target)
    x_test, y_test = xy(features_test, target)
    baseline = DummyClassifier(strategy="most_frequent").fit(x_train, y_train).predict(x_test)
    predicted = model.predict(x_test)
    assert accuracy_score(y_test, predicted) > accuracy_score(y_test, baseline)
    assert f1_score(y_test, predicted, average="macro") > f1_score(y_test, baseline, average="macro")


def test_gate_passed_and_metrics_reproduce(pkg, model, metrics_record, features_train, features_test, target):
    failed = [
        (m, r) for m, rules in metrics_record["gate"]["checks"].items() for r, c in rules.items() if not c["passed"]
    ]
    assert metrics_record["gate"]["passed"] and not failed, f"the recorded gate failed: {failed}"
    x_train, y_train = features_train.drop(columns=[target]), features_train[target]
    x_test, y_test = features_test.drop(columns=[target]), features_test[target]
    ours, baseline, _ = pkg.pipeline.evaluate.score("classification", model, x_train, y_train, x_test, y_test)
    assert ours == pytest.approx(metrics_record["metrics"], abs=1e-6)
    assert baseline == pytest.approx(metrics_record["baseline"], abs=1e-6)


def test_row_order_does_not_change_predictions(predict, test_set):
    shuffled = test_set.sample(frac=1.0, random_state=0)
    expected = predict(test_set, "predict_proba")
    got = pd.DataFrame(predict(shuffled, "predict_proba"), index=shuffled.index).sort_index().to_numpy()
    assert np.allclose(got, expected)


def test_column_order_does_not_change_predictions(predict, test_set):
    reversed_columns = test_set[list(reversed(test_set.columns))]
    assert np.allclose(predict(reversed_columns, "predict_proba"), predict(test_set, "predict_proba"))


def test_a_row_alone_is_predicted_as_in_a_batch(predict, test_set):
    batch = predict(test_set, "predict_proba")
    for i in sorted({0, len(test_set) // 2, len(test_set) - 1}):
        alone = predict(test_set.iloc[[i]], "predict_proba")
        assert np.allclose(alone[0], batch[i]), f"test row {i} alone differs from the batch"


def test_predicts_known_classes_with_probabilities(model, predict, test_set, classes):
    assert {str(c) for c in model.classes_} == classes
    assert {str(p) for p in predict(test_set)} <= classes
    proba = predict(test_set, "predict_proba")
    assert proba.shape == (len(test_set), len(classes))
    assert ((proba >= 0) & (proba <= 1)).all()
    assert np.allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("how", ["one-value", "all-values"])
def test_missing_values_and_unseen_categories_are_predicted(predict, schema, test_set, target, classes, how):
    record = test_set.drop(columns=[target]).iloc[[0]].astype(object)
    numeric, categorical = schema.numeric, schema.categorical
    blank = numeric[:1] if how == "one-value" else numeric
    record.loc[:, blank] = np.nan
    record.loc[:, categorical] = "a category never seen in training" if how == "one-value" else np.nan
    assert {str(p) for p in predict(record)} <= classes
    proba = predict(record, "predict_proba")
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)
