"""Unit tests of serving/predictionlog and serving/feedback: real files, a real SQLite store, the app in process."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

INFO = {"version": "1.2.3-abcdef0"}


@pytest.fixture
def logged(pkg, make_predictor, make_toy, tmp_path):
    """An app whose runtime logs to `tmp_path` and stores feedback there: (client, log, records, predictor)."""

    def build(task: str = "classification", redaction=None):
        predictor = make_predictor(task)
        log = pkg.serving.predictionlog.PredictionLog(tmp_path, INFO["version"], redaction=redaction)
        store = pkg.serving.feedback.FeedbackStore(tmp_path, tuple(predictor.classes))
        runtime = pkg.serving.api.Runtime(predictor, INFO, 50, log=log, feedback=store)
        records = predictor.schema.client_records(make_toy(task=task).head(6))
        return TestClient(pkg.serving.api.create_app(runtime)), log, records, predictor

    return build


def lines(folder) -> list[dict]:
    found = sorted((folder / "predictions").glob("*.jsonl"))
    return [json.loads(line) for path in found for line in path.read_text().splitlines()]


def test_every_answered_record_is_one_line_with_the_answers_request_id(logged, tmp_path):
    client, log, records, predictor = logged()
    single = client.post("/predict", json={"records": records[0]})
    batch = client.post("/predict", json={"records": records[1:4]})
    refused = client.post("/predict", json={"records": [{"nope": 1}]})
    log.close()
    rows = lines(tmp_path)
    assert [r["index"] for r in rows] == [0, 0, 1, 2, None]
    assert [r["request_id"] for r in rows] == [single.json()["request_id"]] + [batch.json()["request_id"]] * 3 + [
        refused.headers["x-request-id"]
    ]
    assert [r["output"] for r in rows[:4]] == predictor.predict(records[:4])
    assert rows[1]["inputs"] == records[1] and rows[0]["model_version"] == INFO["version"]
    assert rows[4]["status"] == 400 and "invalid request" in rows[4]["error"] and "inputs" not in rows[4]
    assert all(r["latency_ms"] >= 0 and r["time"].endswith("Z") for r in rows)


def test_predict_proba_logs_the_most_probable_class_and_the_probabilities(logged, tmp_path):
    client, log, records, _ = logged()
    answer = client.post("/predict_proba", json={"records": records[:1]}).json()
    log.close()
    (row,) = lines(tmp_path)
    assert row["probabilities"] == answer["probabilities"][0]
    assert row["output"] == max(row["probabilities"], key=row["probabilities"].get)


def test_the_documented_fields_are_the_written_ones(pkg, logged, tmp_path):
    client, log, records, _ = logged()
    client.post("/predict_proba", json={"records": records[:1]})
    client.post("/predict", json={"records": []})
    log.close()
    written = {key for row in lines(tmp_path) for key in row}
    assert written == set(pkg.serving.predictionlog.FIELDS)


def test_dropped_and_hashed_fields_never_reach_the_log(pkg, logged, tmp_path):
    Redaction = pkg.serving.predictionlog.Redaction
    client, log, records, predictor = logged()
    dropped, hashed = predictor.schema.names[0], predictor.schema.names[1]
    log.redaction = Redaction(frozenset({dropped}), frozenset({hashed}), "salt")
    record = {**records[0], hashed: records[0][hashed] if records[0][hashed] is not None else 3.5}
    client.post("/predict", json={"records": [record]})
    log.close()
    (row,) = lines(tmp_path)
    assert dropped not in row["inputs"]
    assert row["inputs"][hashed].startswith("sha256:") and str(record[hashed]) not in row["inputs"][hashed]
    assert Redaction(hash=frozenset({hashed}), salt="other").apply(record)[hashed] != row["inputs"][hashed]


def test_redaction_of_a_field_the_schema_lacks_is_a_setting_error(pkg, make_predictor):
    settings = pkg.core.settings.Settings(log_hash=("no such field",))
    with pytest.raises(pkg.core.settings.SettingsError, match="MODELOPS_LOG_HASH.*no such field"):
        pkg.serving.predictionlog.redaction_for(settings, make_predictor().schema)


def test_close_writes_everything_queued(pkg, tmp_path):
    log = pkg.serving.predictionlog.PredictionLog(tmp_path, "v")
    for n in range(5000):
        log.put((os.urandom(16).hex(), time.time(), "predict", 200, 0.1, [{"x": n}], [n % 2]))
    log.close()
    assert len(lines(tmp_path)) == 5000 == log.written


def test_files_older_than_the_retention_are_deleted_at_rotation(pkg, tmp_path):
    log = pkg.serving.predictionlog.PredictionLog(tmp_path, "v", retention_days=3)
    old = log.path_for((datetime.now(UTC) - timedelta(days=5)).strftime("%Y-%m-%d"))
    recent = log.path_for((datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d"))
    other_worker = tmp_path / "predictions" / "predictions-otherhost-w9-2000-01-01.jsonl"
    for path in (old, recent, other_worker):
        path.write_text("{}\n")
    log.put((os.urandom(16).hex(), time.time(), "predict", 200, 0.1, [{"x": 1}], [1]))
    log.close()
    assert not old.exists() and recent.exists() and other_worker.exists()  # each worker expires its own files
    assert log.path_for(datetime.now(UTC).strftime("%Y-%m-%d")).exists()


# --- feedback ----------------------------------------------------------------------------------


def labelled(folder) -> list[tuple]:
    with sqlite3.connect(folder / "feedback.sqlite") as connection:
        return connection.execute("SELECT request_id, idx, label FROM feedback ORDER BY request_id, idx").fetchall()


def test_feedback_for_one_request_and_a_batch_is_stored(logged, tmp_path):
    client, log, records, predictor = logged()
    one = client.post("/predict", json={"records": records[0]}).json()["request_id"]
    many = client.post("/predict", json={"records": records[1:3]}).json()["request_id"]
    log.close()
    label = predictor.classes[0]
    assert client.post("/feedback", json={"request_id": one, "label": label}).json() == {"accepted": 1}
    items = [{"request_id": many, "index": 0, "label": label}, {"request_id": many, "index": 1, "label": label}]
    response = client.post("/feedback", json={"items": items})
    assert response.status_code == 201 and response.json() == {"accepted": 2}
    assert sorted(labelled(tmp_path)) == sorted(
        [(one, 0, json.dumps(label)), (many, 0, json.dumps(label)), (many, 1, json.dumps(label))]
    )


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("unknown id", 404, "unknown request_id"),
        ("duplicate", 409, "already labelled"),
        ("duplicate in the batch", 409, "already labelled"),
        ("unknown class", 422, "not a known class"),
        ("wrong type", 422, "not a known class"),
        ("index beyond the request", 422, "beyond the request"),
        ("malformed id", 400, "request_id"),
        ("missing label", 400, "label"),
        ("not JSON", 400, "invalid feedback"),
    ],
)
def test_bad_feedback_is_refused_naming_the_reason_and_nothing_is_written(logged, tmp_path, case, status, reason):
    client, log, records, predictor = logged()
    rid = client.post("/predict", json={"records": records[0]}).json()["request_id"]
    log.close()
    label = predictor.classes[0]
    good = {"request_id": rid, "label": label}
    if case == "duplicate":
        client.post("/feedback", json=good)
    before = labelled(tmp_path)
    body = {
        "unknown id": {"items": [good, {"request_id": "f" * 32, "label": label}]},
        "duplicate": good,
        "duplicate in the batch": {"items": [good, good]},
        "unknown class": {"items": [good, {**good, "index": 0, "label": "no such class"}]},
        "wrong type": {"request_id": rid, "label": True},
        "index beyond the request": {"request_id": rid, "index": 1, "label": label},
        "malformed id": {"request_id": "not-hex", "label": label},
        "missing label": {"request_id": rid},
        "not JSON": None,
    }[case]
    response = client.post("/feedback", content=b"{oops") if body is None else client.post("/feedback", json=body)
    assert response.status_code == status, response.text
    assert reason in response.json()["error"]
    assert labelled(tmp_path) == before  # all or nothing


def test_regressor_feedback_must_be_a_finite_number(logged):
    client, log, records, _ = logged("regression")
    rid = client.post("/predict", json={"records": records[0]}).json()["request_id"]
    log.close()
    assert client.post("/feedback", json={"request_id": rid, "label": "high"}).status_code == 422
    assert client.post("/feedback", json={"request_id": rid, "label": 12.5}).status_code == 201
