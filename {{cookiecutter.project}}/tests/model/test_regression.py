"""Tests of the trained regressor on the real test set: quality, the recorded gate, behaviour.

Behaviour follows the checklist idea: invariance (order of rows and columns, batch or alone),
determinism, minimum functionality (finite, plausible values), direction (a linear model
follows the strongest positive correlation) and robustness to missing values and unseen
categories. Predictions go through the compiled feature path, as in the service.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.metrics import root_mean_squared_error


@pytest.fixture(autouse=True)
def _regression_only(task):
    if task != "regression":
        pytest.skip(f"params.yaml task is {task}, not regression")


def xy(frame: pd.DataFrame, target: str):
    return frame.drop(columns=[target]).to_numpy(), frame[target].to_numpy()


def test_model_beats_the_trivial_baseline(model, features_train, features_test, target):
    x_train, y_train = xy(features_train, target)
    x_test, y_test = xy(features_test, target)
    baseline = DummyRegressor(strategy="mean").fit(x_train, y_train).predict(x_test)
    assert root_mean_squared_error(y_test, model.predict(x_test)) < root_mean_squared_error(y_test, baseline)


def test_gate_passed_and_metrics_reproduce(pkg, model, metrics_record, features_train, features_test, target):
    failed = [
        (m, r) for m, rules in metrics_record["gate"]["checks"].items() for r, c in rules.items() if not c["passed"]
    ]
    assert metrics_record["gate"]["passed"] and not failed, f"the recorded gate failed: {failed}"
    x_train, y_train = features_train.drop(columns=[target]), features_train[target]
    x_test, y_test = features_test.drop(columns=[target]), features_test[target]
    ours, baseline, _ = pkg.pipeline.evaluate.score("regression", model, x_train, y_train, x_test, y_test)
    assert ours == pytest.approx(metrics_record["metrics"], abs=1e-6)
    assert baseline == pytest.approx(metrics_record["baseline"], abs=1e-6)


def test_row_order_does_not_change_predictions(predict, test_set):
    shuffled = test_set.sample(frac=1.0, random_state=0)
    expected = predict(test_set)
    got = pd.Series(predict(shuffled), index=shuffled.index).sort_index().to_numpy()
    assert np.allclose(got, expected)


def test_column_order_does_not_change_predictions(predict, test_set):
    reversed_columns = test_set[list(reversed(test_set.columns))]
    assert np.allclose(predict(reversed_columns), predict(test_set))


def test_a_row_alone_is_predicted_as_in_a_batch(predict, test_set):
    batch = predict(test_set)
    for i in sorted({0, len(test_set) // 2, len(test_set) - 1}):
        assert np.allclose(predict(test_set.iloc[[i]])[0], batch[i]), f"test row {i} alone differs from the batch"


def test_predictions_are_finite_and_plausible(predict, test_set, train_set, target):
    predicted = predict(test_set)
    assert predicted.shape == (len(test_set),)
    assert np.isfinite(predicted).all()
    y = train_set[target]
    low, high = y.min() - 3 * y.std(), y.max() + 3 * y.std()
    outside = predicted[(predicted < low) | (predicted > high)]
    assert outside.size == 0, f"predictions outside [{low:.4g}, {high:.4g}] (train range ± 3 std): {outside[:5]}"


def test_raising_the_most_correlated_feature_raises_a_linear_prediction(
    model, predict, schema, train_set, test_set, target
):
    if not hasattr(model, "coef_"):
        pytest.skip(f"{type(model).__name__} is not linear: no single direction to expect")
    correlation = train_set[schema.numeric].corrwith(train_set[target]).dropna()
    if correlation.empty or correlation.max() <= 0:
        pytest.skip("no numeric feature correlates positively with the target")
    feature = correlation.idxmax()
    rows = test_set.head(5)
    raised = rows.assign(**{feature: rows[feature] + train_set[feature].std()})
    before, after = predict(rows), predict(raised)
    strength = correlation.max()
    assert (after > before).all(), f"raising {feature!r} (correlation {strength:.2f}) did not raise every prediction"


@pytest.mark.parametrize("how", ["one-value", "all-values"])
def test_missing_values_and_unseen_categories_are_predicted(predict, schema, test_set, target, how):
    record = test_set.drop(columns=[target]).iloc[[0]].astype(object)
    numeric, categorical = schema.numeric, schema.categorical
    blank = numeric[:1] if how == "one-value" else numeric
    record.loc[:, blank] = np.nan
    record.loc[:, categorical] = "a category never seen in training" if how == "one-value" else np.nan
    predicted = predict(record)
    assert predicted.shape == (1,) and np.isfinite(predicted).all()
