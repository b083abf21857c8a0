"""Unit tests of serving/feedback through the API app: signed ids, labels in a real store, two "replicas".

A replica here is an app with its own store connection; the replicas share one signing key and one
database (PostgreSQL: the session's throwaway server; SQLite: one monitoring folder, as the
workers of one deployment share it). No prediction log is needed: the id alone is checked.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

KEY = b"signing key shared by the replicas, 32+ bytes"
TOKENS = (("lab-1", "token-of-the-first-lab-0123"), ("lab-2", "token-of-the-second-lab-456"))
INFO = {"version": "1.2.3-abcdef0"}
DAY = 86400


@pytest.fixture
def deploy(pkg, make_predictor, make_toy, tmp_path):
    """`deploy(task, url, clock)`: two replicas of a toy model of `task` on one store (PostgreSQL at
    `url`, else SQLite in one folder): `.replicas` (client, store), `.records`, `.classes`, `.stored()`."""
    opened = []

    def start(task="classification", url=None, clock=time.time, key=KEY):
        predictor = make_predictor(task)
        replicas = []
        for _ in range(2):
            labels = pkg.core.labels.open_store(url, tmp_path / "monitoring")
            opened.append(labels)
            store = pkg.serving.feedback.FeedbackStore(
                labels, pkg.core.requestids.RequestIds(key), tuple(predictor.classes), 30 * DAY, clock
            )
            runtime = pkg.serving.api.Runtime(predictor, INFO, 50, feedback=store)
            app = pkg.serving.guard.Guard(pkg.serving.api.create_app(runtime), None, 1_000_000, TOKENS)
            client = TestClient(app, headers={"authorization": f"Bearer {TOKENS[0][1]}"})
            replicas.append(SimpleNamespace(client=client, store=store, app=pkg.serving.api.create_app(runtime)))
        frame = predictor.schema.client_records(make_toy(task=task).head(5))
        return SimpleNamespace(
            replicas=replicas,
            records=frame,
            classes=predictor.classes,
            stored=lambda: sorted((r[0], r[1], r[2]) for r in replicas[0].store.labels.rows()),
            sources=lambda: sorted((r[0], r[1], r[4]) for r in replicas[0].store.labels.rows()),
        )

    yield start
    for labels in opened:
        labels.close()


@pytest.fixture(params=["postgres", "sqlite"])
def database(request):
    """The store's URL: the PostgreSQL server's (a fresh schema), or None for SQLite."""
    return request.getfixturevalue("fresh_database") if request.param == "postgres" else None


def predict(replica, records) -> str:
    response = replica.client.post("/predict", json={"records": records})
    assert response.status_code == 200, response.text
    return str(response.json()["request_id"])


def test_a_label_for_an_answer_of_one_replica_is_accepted_by_the_other(deploy, database):
    plane = deploy(url=database)
    one, other = plane.replicas
    single, batch = predict(one, plane.records[:1]), predict(one, plane.records[1:4])
    label = plane.classes[0]
    assert other.client.post("/feedback", json={"request_id": single, "label": label}).json() == {"accepted": 1}
    items = [{"request_id": batch, "index": i, "label": label} for i in range(3)]
    response = other.client.post(
        "/feedback", json={"items": items}, headers={"authorization": f"Bearer {TOKENS[1][1]}"}
    )
    assert (response.status_code, response.json()) == (201, {"accepted": 3})
    stored = [(single, 0, json.dumps(label))] + [(batch, i, json.dumps(label)) for i in range(3)]
    assert plane.stored() == sorted(stored)
    # each label's source is the one whose token sent it
    assert plane.sources() == sorted([(single, 0, "lab-1")] + [(batch, i, "lab-2") for i in range(3)])


@pytest.mark.parametrize("where", ["item", "batch item"])
def test_a_source_named_in_the_body_is_refused_naming_the_field_and_nothing_is_stored(deploy, where):
    plane = deploy()
    one = plane.replicas[0]
    rid = predict(one, plane.records[:1])
    item = {"request_id": rid, "label": plane.classes[0], "source": "lab-2"}  # lab-1's token speaking for lab-2
    body = item if where == "item" else {"items": [item]}
    response = one.client.post("/feedback", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "items.0.source" in error and "set by the server from your feedback token" in error
    assert "MODELOPS_FEEDBACK_TOKENS" in error and plane.stored() == []


@pytest.mark.parametrize("token", [None, "token-of-a-source-nobody-configured", TOKENS[0][1][:-1], TOKENS[0][1] + "x"])
def test_an_invented_or_wrong_token_is_401_and_nothing_is_stored(deploy, token):
    plane = deploy()
    one = plane.replicas[0]
    rid = predict(one, plane.records[:1])
    headers = {"authorization": f"Bearer {token}" if token else ""}
    response = one.client.post("/feedback", json={"request_id": rid, "label": plane.classes[0]}, headers=headers)
    assert response.status_code == 401 and "feedback token" in response.json()["error"]
    assert plane.stored() == []


def test_without_the_guard_s_source_the_app_stores_nothing(deploy):
    """Defence in depth: the app alone, with no guard in front to name the source, refuses feedback."""
    plane = deploy()
    one = plane.replicas[0]
    rid = predict(one, plane.records[:1])
    bare = TestClient(one.app)
    response = bare.post("/feedback", json={"request_id": rid, "label": plane.classes[0]})
    assert response.status_code == 401 and plane.stored() == []


def test_the_same_label_sent_to_both_replicas_is_stored_once(deploy, database):
    plane = deploy(url=database)
    rid = predict(plane.replicas[0], plane.records[:1])
    body = {"request_id": rid, "label": plane.classes[0]}
    first = plane.replicas[0].client.post("/feedback", json=body)
    second = plane.replicas[1].client.post("/feedback", json=body)
    assert (first.status_code, second.status_code) == (201, 409)
    assert second.json()["error"] == f"item 0: request {rid} record 0 is already labelled"
    assert len(plane.stored()) == 1


def test_the_same_label_sent_to_both_replicas_at_once_is_stored_once(deploy, database):
    """Twenty rounds of two threads, one per replica, sending one label at the same moment."""
    plane = deploy(url=database)
    for _ in range(20):
        rid = predict(plane.replicas[0], plane.records[:1])
        statuses: list[int] = []
        start = threading.Barrier(2)

        def send(replica, rid=rid, statuses=statuses, start=start) -> None:
            start.wait()
            statuses.append(replica.client.post("/feedback", json={"request_id": rid, "label": 1}).status_code)

        threads = [threading.Thread(target=send, args=(r,)) for r in plane.replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(statuses) == [201, 409]
    assert len(plane.stored()) == 20


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("unknown id", 404, "unknown request_id"),
        ("tampered id", 404, "unknown request_id"),
        ("another key's id", 404, "another MODELOPS_SIGNING_KEY"),
        ("expired", 410, "retention"),
        ("held already", 409, "already labelled"),
        ("twice in the batch", 409, "already labelled (by item 0 of this batch)"),
        ("unknown class", 422, "not a known class"),
        ("wrong type", 422, "not a known class"),
        ("huge integer", 422, "not a known class"),
        ("index beyond the request", 422, "beyond the request's 1 records"),
        ("failed request", 422, "beyond the request's 0 records"),
        ("malformed id", 400, "request_id"),
        ("missing label", 400, "label"),
        ("not JSON", 400, "invalid feedback"),
    ],
)
def test_a_batch_with_one_bad_item_stores_nothing_and_names_it(pkg, deploy, database, case, status, reason):
    plane = deploy(url=database)
    one, other = plane.replicas
    rid = predict(one, plane.records[:1])
    label = plane.classes[0]
    good = {"request_id": f"{predict(one, plane.records[:1])}", "label": label}
    held = {"request_id": rid, "label": label}
    assert other.client.post("/feedback", json=held).status_code == 201
    before = plane.stored()
    tampered = rid[:8] + f"{int(rid[8:16], 16) + 1:08x}" + rid[16:]  # one record more, same MAC
    foreign = pkg.core.requestids.RequestIds(b"x" * 32).mint(1, time.time())
    failed = one.client.post("/predict", json={"records": []}).headers["x-request-id"]
    old = one.store.ids.mint(1, time.time() - 31 * DAY)
    bad = {
        "unknown id": {"request_id": "f" * 48, "label": label},
        "tampered id": {"request_id": tampered, "index": 1, "label": label},
        "another key's id": {"request_id": foreign, "label": label},
        "expired": {"request_id": old, "label": label},
        "held already": held,
        "twice in the batch": good,
        "unknown class": {**good, "label": "no such class"},
        "wrong type": {**good, "label": True},
        "huge integer": None,
        "index beyond the request": {**good, "index": 1},
        "failed request": {"request_id": failed, "label": label},
        "malformed id": {"request_id": "not-hex", "label": label},
        "missing label": {"request_id": rid},
        "not JSON": None,
    }[case]
    if case == "not JSON":
        response = other.client.post("/feedback", content=b"{oops")
    elif case == "huge integer":
        huge = json.dumps({"request_id": good["request_id"], "label": 10**400})  # a JSON integer no float holds
        body = '{"items": [' + json.dumps(good) + ", " + huge + "]}"
        response = other.client.post("/feedback", content=body.encode())
    else:
        response = other.client.post("/feedback", json={"items": [good, bad]})
    assert response.status_code == status, response.text
    assert reason in response.json()["error"]
    if status != 400:
        assert response.json()["error"].startswith("item 1: ")
    assert plane.stored() == before  # all or nothing


@pytest.mark.parametrize(
    ("label", "status"),
    [("12.5", 201), ("12", 201), ('"high"', 422), ("true", 422), (str(10**400), 422), ("NaN", 422), ("-Infinity", 422)],
)
def test_a_regressors_label_is_a_finite_number(deploy, label, status):
    plane = deploy("regression")
    rid = predict(plane.replicas[0], plane.records[:1])
    body = ('{"request_id": "' + rid + '", "label": ' + label + "}").encode()
    response = plane.replicas[1].client.post("/feedback", content=body)
    assert response.status_code == status, response.text
    if status == 422:
        assert "not a finite number" in response.json()["error"] and len(response.json()["error"]) < 300


def test_an_unreachable_database_is_503_naming_neither_host_nor_password(pkg, deploy, caplog):
    hidden = "pw-" + secrets.token_hex(8)  # a fresh one: a test must not hold a real one
    url = f"postgresql://modelops:{hidden}@127.0.0.1:9/labels"  # port 9 (discard): nothing listens
    plane = deploy(url=url)
    rid = predict(plane.replicas[0], plane.records[:1])
    response = plane.replicas[1].client.post("/feedback", json={"request_id": rid, "label": 1})
    assert response.status_code == 503
    assert "send it again" in response.json()["error"] and "127.0.0.1" not in response.text
    assert "modelops:***@127.0.0.1:9" in caplog.text  # the service's own log says where
    assert hidden not in caplog.text and hidden not in response.text


def test_the_laptop_default_stores_labels_in_the_monitoring_folders_sqlite(pkg, deploy, tmp_path, schema_of_toy):
    plane = deploy()
    rid = predict(plane.replicas[0], plane.records[:2])
    items = [{"request_id": rid, "index": i, "label": plane.classes[i % 2]} for i in range(2)]
    assert plane.replicas[1].client.post("/feedback", json={"items": items}).status_code == 201
    assert (tmp_path / "monitoring" / "feedback.sqlite").is_file()
    frame = pkg.core.labels.read_labels(None, tmp_path / "monitoring", schema_of_toy)  # what the monitor reads
    assert sorted(zip(frame["index"], frame["label"], strict=True)) == [(0, plane.classes[0]), (1, plane.classes[1])]


@pytest.fixture
def schema_of_toy(make_predictor):
    return make_predictor("classification").schema
