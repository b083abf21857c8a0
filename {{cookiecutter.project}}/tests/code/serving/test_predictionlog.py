"""Unit tests of serving/predictionlog: real files, the app in process, a real S3-compatible server (moto)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

INFO = {"version": "1.2.3-abcdef0"}
SALT = "s" * 32


@pytest.fixture
def logged(pkg, make_predictor, make_toy, tmp_path):
    """An app whose runtime logs to `tmp_path`: (client, log, records, predictor)."""

    def build(task: str = "classification", redaction=None):
        predictor = make_predictor(task)
        log = pkg.serving.predictionlog.PredictionLog(tmp_path, INFO["version"], redaction=redaction)
        runtime = pkg.serving.api.Runtime(predictor, INFO, 50, log=log)
        records = predictor.schema.client_records(make_toy(task=task).head(6))
        return TestClient(pkg.serving.api.create_app(runtime)), log, records, predictor

    return build


def lines(folder) -> list[dict]:
    found = sorted((folder / "predictions").rglob("*.jsonl"))
    return [json.loads(line) for path in found for line in path.read_text().splitlines()]


def entry(n: int = 0, outputs=None):
    """One answered one-record request, as the handler hands it over."""
    return (os.urandom(16).hex(), time.time(), "predict", 200, 0.1, [{"x": n}], [n % 2] if outputs is None else outputs)


def dropped_line(count: int) -> str:
    return 'modelops_prediction_log_rows_dropped_total{worker="1"} ' + str(count)


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


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


def test_a_failed_requests_error_text_is_cut_to_a_bounded_length(pkg, logged, tmp_path):
    client, log, records, _ = logged()
    huge = "f" * 900_000  # a client sending a ~900 KB field name: the error echoes it
    client.post("/predict", json={"records": [{**records[0], huge: 1}]})
    log.close()
    (row,) = lines(tmp_path)
    assert row["status"] == 400 and len(row["error"]) == pkg.serving.predictionlog.ERROR_CHARS == 512
    assert sum(p.stat().st_size for p in (tmp_path / "predictions").glob("*.jsonl")) < 1000


def test_dropped_fields_never_reach_the_log_and_hashed_ones_are_an_hmac_keyed_by_the_salt(pkg, logged, tmp_path):
    Redaction = pkg.serving.predictionlog.Redaction
    client, log, records, predictor = logged()
    dropped, hashed = predictor.schema.names[0], predictor.schema.names[1]
    log.redaction = Redaction(frozenset({dropped}), frozenset({hashed}), SALT)
    record = {**records[0], hashed: records[0][hashed] if records[0][hashed] is not None else 3.5}
    client.post("/predict", json={"records": [record]})
    log.close()
    (row,) = lines(tmp_path)
    assert dropped not in row["inputs"]
    digest = hmac.new(SALT.encode(), str(record[hashed]).encode(), hashlib.sha256).hexdigest()[:16]
    assert row["inputs"][hashed] == f"hmac-sha256:{digest}"
    assert hashlib.sha256(f"{SALT}{record[hashed]}".encode()).hexdigest()[:16] != digest  # not the salted hash
    assert Redaction(hash=frozenset({hashed}), salt="o" * 32).apply(record)[hashed] != row["inputs"][hashed]


def test_hashing_without_a_32_byte_salt_is_refused(pkg):
    with pytest.raises(pkg.core.settings.SettingsError, match="MODELOPS_LOG_HASH_SALT of at least 32 bytes"):
        pkg.serving.predictionlog.Redaction(hash=frozenset({"x"}), salt="short")


def test_redaction_of_a_field_the_schema_lacks_is_a_setting_error(pkg, make_predictor):
    settings = pkg.core.settings.Settings(log_hash=("no such field",), log_hash_salt=SALT)
    with pytest.raises(pkg.core.settings.SettingsError, match="MODELOPS_LOG_HASH.*no such field"):
        pkg.serving.predictionlog.redaction_for(settings, make_predictor().schema)


def test_the_settings_build_the_log_or_none_when_it_is_off(pkg, make_predictor, tmp_path):
    Settings, PredictionLog = pkg.core.settings.Settings, pkg.serving.predictionlog.PredictionLog
    schema = make_predictor().schema
    assert PredictionLog.from_settings(Settings(prediction_log=False), "v", 1, schema) is None
    settings = Settings(monitoring_dir=tmp_path, log_segment_seconds=5, log_segment_mb=2, log_buffer_mb=3)
    log = PredictionLog.from_settings(settings, "v", 2, schema)
    try:
        assert (log.folder, log.worker, log.sink, log.segment_seconds) == (tmp_path, "2", None, 5)
        assert (log.segment_bytes, log.buffer_bytes) == (2_000_000, 3_000_000)
    finally:
        log.close()


def test_close_writes_everything_queued(pkg, tmp_path):
    log = pkg.serving.predictionlog.PredictionLog(tmp_path, "v")
    for n in range(5000):
        log.put(entry(n))
    log.close()
    assert len(lines(tmp_path)) == 5000 == log.written and log.dropped == 0


def test_without_a_sink_segments_older_than_the_retention_are_deleted_whoever_wrote_them(pkg, tmp_path):
    folder = tmp_path / "predictions"
    folder.mkdir()
    day = lambda n: (datetime.now(UTC) - timedelta(days=n)).strftime("%Y-%m-%d")  # noqa: E731
    old, recent = folder / f"{day(5)}_otherhost_w9_x_000001.jsonl", folder / f"{day(1)}_otherhost_w9_x_000001.jsonl"
    legacy = folder / "predictions-otherhost-w1-2000-01-01.jsonl"  # the layout before segments: by its age
    for path in (old, recent, legacy):
        path.write_text("{}\n")
    os.utime(legacy, (time.time() - 10 * 86400,) * 2)
    log = pkg.serving.predictionlog.PredictionLog(tmp_path, "v", retention_days=3)
    log.put(entry())
    log.close()
    assert not old.exists() and not legacy.exists() and recent.exists()
    assert len(lines(tmp_path)) == 2  # the recent file's line and the new one


# --- a folder that cannot be written, a queue that is full --------------------------------------


def test_an_unwritable_folder_keeps_the_writer_alive_the_rows_waiting_and_it_recovers(pkg, tmp_path):
    (tmp_path / "predictions").write_text("a file where the folder should be")  # unwritable, even for root
    log = pkg.serving.predictionlog.PredictionLog(tmp_path, "v", unhealthy_seconds=0.3)
    for n in range(50):
        log.put(entry(n))
    wait_for(lambda: log.failures["write"] >= 2)
    wait_for(lambda: not log.healthy)  # failing for longer than its bound: not ready
    assert log._thread.is_alive() and log.written == 0 and log.counters()["bytes_waiting"] > 0
    assert 'modelops_prediction_log_writer_up{worker="1"} 0' in log.metrics_text()
    (tmp_path / "predictions").unlink()
    wait_for(lambda: log.written == 50)
    assert log.healthy and log.dropped == 0
    log.close()
    assert len(lines(tmp_path)) == 50


def test_a_full_queue_drops_rows_counts_them_and_never_blocks(pkg, tmp_path):
    log = pkg.serving.predictionlog.PredictionLog(tmp_path, "v", queue_rows=10)
    started = time.perf_counter()
    for n in range(200):
        log.put(entry(n))
    assert time.perf_counter() - started < 0.5
    log.close()
    assert log.dropped >= 150 and log.written + log.dropped == 200 == len(lines(tmp_path)) + log.dropped
    assert dropped_line(log.dropped) in log.metrics_text()
    (stats,) = [json.loads(p.read_text()) for p in (tmp_path / "predictions").glob("*.stats.json")]
    assert (stats["rows"], stats["dropped"]) == (log.written, log.dropped)  # what the monitor adds up


# --- object storage (moto's S3 server) ------------------------------------------------------------


@pytest.fixture
def sink(s3_env, pkg):
    """A fresh prefix of the test bucket, and a reader of what it holds."""
    url = f"s3://{s3_env.bucket}/{uuid.uuid4().hex}/logs/production"
    return url


def bucket_files(pkg, url: str, suffix: str = ".jsonl") -> dict[str, bytes]:
    fs, root = pkg.core.storage.filesystem(url)
    fs.invalidate_cache()
    return {path[len(root) + 1 :]: fs.cat_file(path) for path in fs.find(root) if path.endswith(suffix)}


def bucket_rows(pkg, url: str) -> list[dict]:
    return [json.loads(line) for data in bucket_files(pkg, url).values() for line in data.splitlines()]


def test_segments_close_by_age_and_are_uploaded_under_their_date_then_leave_the_folder(pkg, sink, tmp_path):
    log = pkg.serving.predictionlog.PredictionLog(tmp_path, "v", sink=sink, segment_seconds=0.3)
    ids = []
    for n in range(20):
        ids.append(entry(n))
        log.put(ids[-1])
    wait_for(lambda: log.uploaded >= 1)  # by age, with no further row and no close
    names = bucket_files(pkg, sink)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    assert all(name.startswith(f"predictions/{day}/{day}_") for name in names) and names
    assert sorted(r["request_id"] for r in bucket_rows(pkg, sink)) == sorted(e[0] for e in ids)
    assert not list((tmp_path / "predictions").glob("*.jsonl"))  # uploaded: gone from the folder
    log.close()
    assert 'modelops_prediction_log_segments_uploaded_total{worker="1"} 1' in log.metrics_text()


def test_segments_close_by_size(pkg, sink, tmp_path):
    log = pkg.serving.predictionlog.PredictionLog(tmp_path, "v", sink=sink, segment_seconds=3600, segment_bytes=2000)
    for n in range(100):
        log.put(entry(n))
        if n % 25 == 24:  # four batches of ~2,600 bytes: each fills a segment
            time.sleep(2 * pkg.serving.predictionlog.FLUSH_SECONDS)
    wait_for(lambda: log.uploaded >= 4)  # by size, without close
    log.close()
    sizes = [len(data) for data in bucket_files(pkg, sink).values()]
    assert len(sizes) == log.uploaded == 4 and min(sizes) >= 2000  # a segment closes once a batch fills it
    assert len(bucket_rows(pkg, sink)) == 100


def test_close_uploads_every_workers_rows_and_any_worker_shows_the_pods_counters(pkg, sink, tmp_path):
    logs = [pkg.serving.predictionlog.PredictionLog(tmp_path, "v", w, sink=sink, segment_seconds=3600) for w in (1, 2)]
    put = [entry(n) for n in range(600)]
    for n, e in enumerate(put):
        logs[n % 2].put(e)
    time.sleep(1.2)  # each worker saves its counters once a second
    text = logs[0].metrics_text()
    assert 'modelops_prediction_log_rows_written_total{worker="1"} 300' in text
    assert 'modelops_prediction_log_rows_written_total{worker="2"} 300' in text
    for log in logs:
        log.close()
    rows = bucket_rows(pkg, sink)
    assert sorted(r["request_id"] for r in rows) == sorted(e[0] for e in put)  # rows in the bucket == rows put
    assert not list((tmp_path / "predictions").iterdir())
    assert not bucket_files(pkg, sink, ".stats.json")  # stats only where rows were dropped


def test_a_start_uploads_what_an_earlier_process_of_the_same_worker_left(pkg, sink, tmp_path):
    PredictionLog = pkg.serving.predictionlog.PredictionLog
    before = PredictionLog(tmp_path, "v", 1)  # no sink: its segment stays, as a killed process's would
    first = [entry(n) for n in range(30)]
    for e in first:
        before.put(e)
    before.close()
    (left,) = (tmp_path / "predictions").glob("*.jsonl")
    cut = left.with_name(left.name.replace("_000001", "_000002"))  # a segment cut by a SIGKILL mid-line
    cut.write_text(left.read_text().splitlines()[0] + "\n" + '{"request_id": "ab')
    other = left.with_name(left.name.replace("_w1_", "_w2_"))  # another worker's, still being written
    other.write_text(left.read_text())
    after = PredictionLog(tmp_path, "v", 1, sink=sink)
    wait_for(lambda: after.uploaded == 2)
    after.close()
    names = {name.rpartition("/")[2] for name in bucket_files(pkg, sink)}
    assert names == {left.name, cut.name} and other.exists() and not left.exists()


def test_a_failing_store_is_retried_and_rows_wait_within_the_buffer_cap_then_dropped_and_counted(pkg, s3_env, tmp_path):
    import services

    bucket = f"missing-{uuid.uuid4().hex[:12]}"
    sink = f"s3://{bucket}/logs"
    log = pkg.serving.predictionlog.PredictionLog(
        tmp_path, "v", sink=sink, segment_seconds=0.2, buffer_bytes=4000, unhealthy_seconds=0.5
    )
    for n in range(100):  # ~190 bytes a row: ~20 fit in the buffer
        log.put(entry(n))
    wait_for(lambda: log.failures["upload"] >= 2)
    wait_for(lambda: not log.healthy)
    assert log._thread.is_alive() and 0 < log.dropped < 100
    assert log.counters()["bytes_waiting"] <= 4000 + 500  # the rows, and the stats of their segment
    text = log.metrics_text()
    assert dropped_line(log.dropped) in text
    assert 'modelops_prediction_log_upload_failures_total{worker="1"} 0' not in text
    services.create_bucket(s3_env.endpoint, bucket)
    wait_for(lambda: log.healthy and log.counters()["bytes_waiting"] == 0, 30)  # retried with backoff
    log.close()
    rows = bucket_rows(pkg, sink)
    stats = [json.loads(data) for data in bucket_files(pkg, sink, ".stats.json").values()]
    assert len(rows) == log.written == 100 - log.dropped
    assert sum(s["dropped"] for s in stats) == log.dropped  # what the monitor's report shows


def test_retention_deletes_every_pods_old_days_in_the_sink(pkg, sink, tmp_path):
    fs, root = pkg.core.storage.filesystem(sink)
    recent = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    kept = [f"{root}/predictions/{recent}/{recent}_otherpod_w1_x_000001.jsonl", f"{root}/predictions/notes/readme.txt"]
    old = [f"{root}/predictions/2000-01-01/2000-01-01_otherpod_w1_x_000001.jsonl"]
    for path in kept + old:
        fs.pipe_file(path, b"{}\n")
    log = pkg.serving.predictionlog.PredictionLog(tmp_path, "v", retention_days=3, sink=sink)
    log.put(entry())
    log.close()
    fs.invalidate_cache()
    assert all(fs.exists(path) for path in kept) and not any(fs.exists(path) for path in old)
