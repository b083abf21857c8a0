"""Unit tests of serving/api: the HTTP hot path, in process, built by `create_app(Runtime(...))`.

The predictors are fitted on the toy table, so no pipeline output is needed; the real model behind
the real server is tests/service's.
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

INFO = {"version": "1.2.3-abcdef0", "model_sha256": "0" * 64}
MAX_RECORDS = 5


@pytest.fixture(scope="module")
def serve(pkg, make_predictor):
    """`serve(task)`: the predictor of a toy model of that task, and a TestClient of its app."""

    def start(task: str) -> SimpleNamespace:
        predictor = make_predictor(task)
        runtime = pkg.serving.api.Runtime(predictor, INFO, MAX_RECORDS)
        client = TestClient(pkg.serving.api.create_app(runtime))
        return SimpleNamespace(predictor=predictor, client=client, runtime=runtime)

    return start


@pytest.fixture(scope="module")
def classifier(serve):
    return serve("classification")


@pytest.fixture(scope="module")
def records(pkg, make_toy, classifier) -> list[dict]:
    """Toy records as a client sends them, missing values (`None`) included."""
    return classifier.predictor.schema.client_records(make_toy().head(MAX_RECORDS))


def test_api_predicts_like_the_predictor(classifier, records):
    assert any(None in r.values() for r in records)
    response = classifier.client.post("/predict", json={"records": records})
    assert response.status_code == 200
    answer = response.json()
    assert answer == {
        "predictions": classifier.predictor.predict(records),
        "model_version": INFO["version"],
        "request_id": response.headers["x-request-id"],
    }
    issued = classifier.runtime.signer.verify(answer["request_id"])  # signed: any replica with the key checks it
    assert issued is not None and issued.records == len(records)


def test_api_signs_a_refused_request_with_zero_records(classifier):
    response = classifier.client.post("/predict", json={"records": []})
    assert response.status_code == 400
    issued = classifier.runtime.signer.verify(response.headers["x-request-id"])
    assert issued is not None and issued.records == 0  # feedback for it is refused: no record to label


def test_api_request_ids_are_distinct(classifier, records):
    ids = {classifier.client.post("/predict", json={"records": records[0]}).json()["request_id"] for _ in range(50)}
    assert len(ids) == 50


def test_api_takes_one_record_as_a_bare_object(classifier, records):
    response = classifier.client.post("/predict", json={"records": records[0]})
    assert response.status_code == 200
    assert response.json()["predictions"] == classifier.predictor.predict(records[:1])


def test_api_predict_proba_answers_the_predictors_probabilities(classifier, records):
    response = classifier.client.post("/predict_proba", json={"records": records})
    assert response.status_code == 200
    answer = response.json()
    assert answer["model_version"] == INFO["version"]
    assert answer["probabilities"] == classifier.predictor.predict_proba(records)  # JSON floats round-trip


def test_api_serves_metadata_and_openapi_from_its_runtime(pkg, classifier):
    assert classifier.client.get("/metadata").json() == INFO
    document = classifier.client.get("/openapi.json").json()
    assert document["info"]["version"] == INFO["version"]
    assert {"/predict", "/predict_proba", "/metadata", "/healthz", "/readyz"} <= set(document["paths"])
    schema = classifier.predictor.schema
    assert document == pkg.serving.api.openapi_document(INFO["version"], schema, MAX_RECORDS)
    assert document["components"]["schemas"]["PredictRequest"]["properties"]["records"]["maxItems"] == MAX_RECORDS


class CountingLog:
    """The log's two calls the API makes (serving/predictionlog's writer is tested in test_predictionlog)."""

    def __init__(self) -> None:
        self.entries: list[tuple] = []

    def put(self, entry: tuple) -> None:
        self.entries.append(entry)

    def metrics_text(self) -> str:
        return f"modelops_prediction_log_queued_total {len(self.entries)}\n"


def test_api_metrics_serve_the_logs_counters_as_prometheus_text(pkg, make_predictor, records):
    log = CountingLog()
    runtime = pkg.serving.api.Runtime(make_predictor("classification"), INFO, MAX_RECORDS, log=log)
    client = TestClient(pkg.serving.api.create_app(runtime))
    answer = client.post("/predict", json={"records": records[:2]}).json()
    assert [(e[0], len(e[5])) for e in log.entries] == [(answer["request_id"], 2)]
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert response.text == "modelops_prediction_log_queued_total 1\n"


def test_api_metrics_without_a_log_are_empty(classifier):
    response = classifier.client.get("/metrics")
    assert (response.status_code, response.text) == (200, "")


def test_api_openapi_builds_no_new_request_model_per_request(pkg, classifier):
    """Each OpenAPI build makes new pydantic classes (and a cache entry): once per runtime, not per request."""
    classifier.client.get("/openapi.json")
    cached = pkg.serving.api.request_model.cache_info().currsize
    for _ in range(5):
        assert classifier.client.get("/openapi.json").status_code == 200
    assert pkg.serving.api.request_model.cache_info().currsize == cached


def test_api_of_a_regressor_predicts_and_has_no_predict_proba(serve, make_toy):
    regressor = serve("regression")
    records = regressor.predictor.schema.client_records(make_toy(task="regression").head(3))
    response = regressor.client.post("/predict", json={"records": records})
    assert response.status_code == 200
    assert response.json()["predictions"] == pytest.approx(regressor.predictor.predict(records))
    response = regressor.client.post("/predict_proba", json={"records": records})
    assert response.status_code == 404
    assert "regressor" in response.json()["error"] and "/predict" in response.json()["error"]
    assert "/predict_proba" not in regressor.client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    ("case", "field", "rule"),
    [
        ("missing-field", "records.0.size", "missing"),
        ("extra-field", "records.0.unexpected", "extra_forbidden"),
        ("nan", "records.0.size", "finite_number"),
        ("empty-list", "records", "too_short"),
        ("too-many-records", "records", "too_long"),
        ("no-records-key", "records", "missing"),
        ("invalid-json", "(body)", "json_invalid"),
        ("top-level-list", "(body)", "model_type"),
        ("extra-top-level-key", "debug", "extra_forbidden"),
    ],
)
@pytest.mark.parametrize("path", ["/predict", "/predict_proba"])
def test_api_refuses_bad_requests_naming_the_field(classifier, records, case, field, rule, path):
    record = records[0]
    bodies = {
        "missing-field": {"records": [{k: v for k, v in record.items() if k != "size"}]},
        "extra-field": {"records": [{**record, "unexpected": 1}]},
        "nan": {"records": [{**record, "size": math.nan}]},
        "empty-list": {"records": []},
        "too-many-records": {"records": [record] * (MAX_RECORDS + 1)},
        "no-records-key": {},
        "invalid-json": '{"records": [',
        "top-level-list": [record],
        "extra-top-level-key": {"records": [record], "debug": True},
    }
    body = bodies[case] if isinstance(bodies[case], str) else json.dumps(bodies[case])
    response = classifier.client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    answer = response.json()
    assert (answer["detail"][0]["field"], answer["detail"][0]["rule"]) == (field, rule)
    assert answer["error"].startswith(f"invalid request: {field}: ")
