"""Unit tests of each stage's functions on small synthetic data (no pipeline outputs needed)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

FEATURIZE = {"numeric_impute": "median", "scale": True, "histogram_bins": 5}


# --- ingest ---------------------------------------------------------------------------------------


def test_load_source_reads_a_csv(pkg, isolated, toy):
    toy.to_csv("source.csv", index=False)
    frame = pkg.ingest.load_source("csv:source.csv", "target")
    assert list(frame.columns) == list(toy.columns)
    assert len(frame) == len(toy)


def test_load_source_csv_without_the_target_names_it(pkg, isolated, toy):
    toy.to_csv("source.csv", index=False)
    with pytest.raises(SystemExit, match="'label'.*ingest.target"):
        pkg.ingest.load_source("csv:source.csv", "label")


def test_load_source_missing_csv_says_how_to_restore_it(pkg, isolated):
    with pytest.raises(SystemExit, match="dvc pull"):
        pkg.ingest.load_source("csv:nowhere.csv", "target")


@pytest.mark.parametrize(
    ("source", "message"),
    [("sklearn:nope", "unknown scikit-learn data set 'nope'"), ("parquet:x.parquet", "must start with")],
    ids=["unknown-sklearn-set", "unknown-scheme"],
)
def test_load_source_rejects_unknown_sources(pkg, source, message):
    with pytest.raises(SystemExit, match=message):
        pkg.ingest.load_source(source, "target")


# --- prepare --------------------------------------------------------------------------------------


def test_infer_schema_kinds_missing_and_classes(pkg, toy):
    toy["flag"] = toy["size"] > 10
    schema = pkg.prepare.infer_schema(toy, "target", "classification")
    features = {f["name"]: f for f in schema["features"]}
    assert [f["name"] for f in schema["features"]] == ["size", "weight", "colour", "flag"]
    assert features["size"]["kind"] == features["weight"]["kind"] == "numeric"
    assert features["colour"]["kind"] == features["flag"]["kind"] == "categorical"
    assert features["weight"]["missing"] == 3
    assert features["colour"]["missing"] == 2
    assert features["size"]["missing"] == 0
    assert features["colour"]["categories"] == ["blue", "green", "red"]
    assert features["size"]["min"] == pytest.approx(toy["size"].min())
    assert features["size"]["max"] == pytest.approx(toy["size"].max())
    assert schema["target"] == {"name": "target", "kind": "categorical", "classes": [0, 1]}


def test_infer_schema_regression_target_is_numeric(pkg, make_toy):
    schema = pkg.prepare.infer_schema(make_toy(task="regression"), "target", "regression")
    assert schema["target"] == {"name": "target", "kind": "numeric"}
    assert "target" not in [f["name"] for f in schema["features"]]


def test_coerce_types_order_and_missing(pkg, toy):
    schema = pkg.prepare.infer_schema(toy, "target", "classification")
    records = pd.DataFrame(
        {
            "colour": [3, None, "red"],
            "extra": [1, 2, 3],
            "weight": ["1.5", None, "not a number"],
            "size": [10, 11, np.nan],
        }
    )
    out = pkg.prepare.coerce(records, schema)
    assert list(out.columns) == ["size", "weight", "colour"]
    assert out["size"].dtype == float and out["weight"].dtype == float
    assert out["weight"].iloc[0] == 1.5
    assert out["weight"].iloc[1:].isna().all()
    assert math.isnan(out["size"].iloc[2])
    assert out["colour"].iloc[0] == "3"
    assert isinstance(out["colour"].iloc[1], float) and math.isnan(out["colour"].iloc[1])
    assert out["colour"].iloc[2] == "red"


def test_split_is_stratified_sized_and_disjoint(pkg, toy):
    train, test, method = pkg.prepare.split(toy, "target", "classification", {"test_size": 0.25, "seed": 3})
    assert method == "stratified"
    assert len(test) == math.ceil(len(toy) * 0.25)
    assert len(train) + len(test) == len(toy)
    assert set(train.index).isdisjoint(test.index)
    overall = toy["target"].mean()
    assert abs(test["target"].mean() - overall) <= 1 / len(test)


def test_split_falls_back_to_random_when_a_class_is_too_small(pkg, toy):
    toy.loc[0, "target"] = 2  # a class with a single row cannot be stratified
    train, test, method = pkg.prepare.split(toy, "target", "classification", {"test_size": 0.2, "seed": 0})
    assert method == "random"
    assert len(train) + len(test) == len(toy)


@pytest.mark.parametrize(
    ("task", "params"),
    [("regression", {}), ("classification", {"stratify": False})],
    ids=["regression", "stratify-off"],
)
def test_split_is_random_when_not_stratifying(pkg, make_toy, task, params):
    frame = make_toy(task=task)
    _, _, method = pkg.prepare.split(frame, "target", task, {"test_size": 0.2, "seed": 0, **params})
    assert method == "random"


def test_split_is_reproducible_by_seed(pkg, toy):
    def test_rows(seed):
        return sorted(pkg.prepare.split(toy, "target", "classification", {"test_size": 0.2, "seed": seed})[1].index)

    assert test_rows(7) == test_rows(7)
    assert test_rows(7) != test_rows(8)


def test_target_summary(pkg):
    assert pkg.prepare.target_summary(pd.Series([1, 0, 1]), "classification") == {"0": 1, "1": 2}
    summary = pkg.prepare.target_summary(pd.Series([1.0, 2.0, 3.0]), "regression")
    assert summary["mean"] == 2.0 and summary["min"] == 1.0 and summary["max"] == 3.0


# --- featurize ------------------------------------------------------------------------------------


@pytest.fixture
def fitted(pkg, toy):
    """A toy schema and a transformer fitted on the toy table."""
    schema = pkg.prepare.infer_schema(toy, "target", "classification")
    transformer = pkg.featurize.build_transformer(schema, FEATURIZE)
    transformer.fit(pkg.prepare.coerce(toy, schema))
    return schema, transformer


def test_transform_imputes_and_matches_the_feature_list(pkg, toy, fitted):
    schema, transformer = fitted
    matrix = pkg.featurize.transform(transformer, toy, schema)
    names = list(transformer.get_feature_names_out())
    assert matrix.shape == (len(toy), len(names))
    assert not np.isnan(matrix).any()
    assert names == ["size", "weight", "colour_blue", "colour_green", "colour_red"]
    assert np.allclose(matrix[:, 2:].sum(axis=1), 1.0)  # imputed categories are one-hot too


def test_transform_ignores_unseen_categories(pkg, fitted):
    schema, transformer = fitted
    record = pd.DataFrame({"colour": ["purple"], "weight": [None], "size": ["9.5"]})  # any order, strings
    matrix = pkg.featurize.transform(transformer, record, schema)
    assert matrix.shape == (1, 5)
    assert not np.isnan(matrix).any()
    assert (matrix[0, 2:] == 0).all()


def test_transform_imputes_the_train_median_when_not_scaling(pkg, toy):
    schema = pkg.prepare.infer_schema(toy, "target", "classification")
    transformer = pkg.featurize.build_transformer(schema, {**FEATURIZE, "scale": False})
    transformer.fit(pkg.prepare.coerce(toy, schema))
    record = pd.DataFrame({"size": [1.0], "weight": [np.nan], "colour": ["red"]})
    matrix = pkg.featurize.transform(transformer, record, schema)
    assert matrix[0, 0] == 1.0
    assert matrix[0, 1] == pytest.approx(toy["weight"].median())


def test_reference_stats(pkg, toy):
    schema = pkg.prepare.infer_schema(toy, "target", "classification")
    stats = pkg.featurize.reference_stats(pkg.prepare.coerce(toy, schema), schema, bins=5)
    assert set(stats) == {"size", "weight", "colour"}
    weight = stats["weight"]
    assert weight["count"] == toy["weight"].notna().sum() and weight["missing"] == 3
    assert sum(weight["histogram"]["counts"]) == weight["count"]
    assert len(weight["histogram"]["edges"]) == 6
    quantiles = list(weight["quantiles"].values())
    assert quantiles == sorted(quantiles)
    assert weight["min"] <= quantiles[0] and quantiles[-1] <= weight["max"]
    colour = stats["colour"]
    assert colour["missing"] == 2
    assert sum(colour["frequencies"].values()) == colour["count"] == len(toy) - 2


# --- train ----------------------------------------------------------------------------------------


def test_build_estimator_unknown_model_lists_the_valid_ones(pkg):
    with pytest.raises(SystemExit) as raised:
        pkg.train.build_estimator("regression", {"model": "svm", "seed": 0})
    message = str(raised.value)
    assert "'svm'" in message
    for name in pkg.train.ESTIMATORS["regression"]:
        assert name in message


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("model", ["random_forest", "hist_gradient_boosting"])
def test_build_estimator_passes_its_section_and_the_seed(pkg, task, model):
    section = {"random_forest": {"n_estimators": 7}, "hist_gradient_boosting": {"max_iter": 7}}[model]
    estimator = pkg.train.build_estimator(task, {"model": model, "seed": 11, model: section})
    settings = estimator.get_params()
    assert settings["random_state"] == 11
    assert all(settings[k] == v for k, v in section.items())


def test_split_xy(pkg, toy):
    x, y = pkg.train.split_xy(toy, "target")
    assert "target" not in x.columns and y.name == "target" and len(x) == len(y)


# --- evaluate -------------------------------------------------------------------------------------


def test_check_gate_min_and_max(pkg):
    metrics = {"accuracy": 0.9, "rmse_vs_baseline": 0.5}
    gate = {"accuracy": {"min": 0.9}, "rmse_vs_baseline": {"max": 0.4}}
    checks = {c["metric"]: c for c in pkg.evaluate.check_gate(metrics, gate)}
    assert checks["accuracy"]["passed"] is True  # the threshold itself passes
    assert checks["rmse_vs_baseline"]["passed"] is False
    assert checks["rmse_vs_baseline"] == {
        "metric": "rmse_vs_baseline",
        "value": 0.5,
        "rule": "max",
        "threshold": 0.4,
        "passed": False,
    }
    assert pkg.evaluate.check_gate(metrics, {"accuracy": {"min": 0.95}})[0]["passed"] is False


def test_check_gate_unknown_metric_is_named(pkg):
    with pytest.raises(SystemExit, match="'auprc'"):
        pkg.evaluate.check_gate({"accuracy": 1.0}, {"auprc": {"min": 0.5}})


def test_check_gate_unknown_rule_is_named(pkg):
    with pytest.raises(SystemExit, match="'above'"):
        pkg.evaluate.check_gate({"accuracy": 1.0}, {"accuracy": {"above": 0.5}})


def test_classification_metrics_of_perfect_predictions(pkg):
    y = np.array([0, 1, 1, 0, 1])
    proba = np.column_stack([1 - y, y]).astype(float)
    metrics = pkg.evaluate.classification_metrics(y, y, proba, [0, 1])
    assert metrics == {"accuracy": 1.0, "precision_macro": 1.0, "recall_macro": 1.0, "f1_macro": 1.0, "roc_auc": 1.0}


def test_classification_metrics_multiclass_and_wrong_predictions(pkg):
    y = np.array(["a", "b", "c", "a", "b", "c"])
    wrong = np.array(["b", "c", "a", "b", "c", "a"])
    proba = np.full((6, 3), 1 / 3)
    metrics = pkg.evaluate.classification_metrics(y, wrong, proba, ["a", "b", "c"])
    assert metrics["accuracy"] == 0.0
    assert metrics["roc_auc"] == 0.5


def test_regression_metrics(pkg):
    y = np.array([1.0, 2.0, 3.0, 6.0])
    mean = np.full_like(y, y.mean())
    perfect = pkg.evaluate.regression_metrics(y, y, mean)
    assert perfect["rmse"] == 0.0 and perfect["r2"] == 1.0 and perfect["rmse_vs_baseline"] == 0.0
    baseline = pkg.evaluate.regression_metrics(y, mean, mean)
    assert baseline["rmse_vs_baseline"] == 1.0
    assert baseline["r2"] == 0.0
    assert baseline["mae"] == pytest.approx(np.abs(y - y.mean()).mean(), abs=1e-6)


def test_score_compares_the_model_with_a_trivial_baseline(pkg, toy):
    x = pd.DataFrame({"size": toy["size"]})
    y = toy["target"]
    model = pkg.train.build_estimator("classification", {"model": "logistic_regression", "seed": 0})
    model.fit(x.to_numpy(), y.to_numpy())
    ours, base, pred = pkg.evaluate.score("classification", model, x, y, x, y)
    assert len(pred) == len(y)
    assert base["accuracy"] == pytest.approx(y.value_counts(normalize=True).max(), abs=1e-6)
    assert ours["accuracy"] > base["accuracy"]
    assert base["roc_auc"] == 0.5
