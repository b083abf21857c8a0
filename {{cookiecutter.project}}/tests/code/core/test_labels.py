"""Unit tests of core/labels: the labels store on a real SQLite file and a real PostgreSQL server.

Every PostgreSQL test gets a schema of its own in the session's throwaway server (the URL's
`search_path`, as the store's docstring advises for a shared server).
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
import time
from types import SimpleNamespace

import pytest

CLASSIFIER = SimpleNamespace(classification=True)
REGRESSOR = SimpleNamespace(classification=False)


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request, module, tmp_path):
    """`open_store()`: a new store (a new connection) on one SQLite file or one PostgreSQL schema."""
    labels = module("core.labels")
    url = request.getfixturevalue("fresh_database") if request.param == "postgres" else None
    opened = []

    def open_one():
        opened.append(labels.open_store(url, tmp_path))
        return opened[-1]

    yield open_one
    for store in opened:
        store.close()


def label(labels, request_id: str, index: int = 0, value=1, source: str = "unnamed"):
    return labels.Label(request_id, index, json.dumps(value), 1796083200.25, source)


def test_labels_are_stored_and_read_back_typed(module, open_store):
    labels = module("core.labels")
    store = open_store()
    store.insert([label(labels, "a" * 48, 0, "benign"), label(labels, "a" * 48, 1, 3, "annotator-7")])
    frame = store.frame(CLASSIFIER)
    assert list(frame.columns) == ["request_id", "index", "label", "labelled_at", "source"]
    assert sorted(frame.itertuples(index=False, name=None)) == [
        ("a" * 48, 0, "benign", "2026-12-01T00:00:00.250000Z", "unnamed"),
        ("a" * 48, 1, 3, "2026-12-01T00:00:00.250000Z", "annotator-7"),
    ]
    assert str(frame["index"].dtype) == "int64"


def test_a_regressors_labels_are_floats(module, open_store):
    labels = module("core.labels")
    store = open_store()
    store.insert([label(labels, "b" * 48, 0, 12), label(labels, "b" * 48, 1, 2.5)])
    assert sorted(store.frame(REGRESSOR)["label"]) == [2.5, 12.0]


def test_a_batch_with_a_held_label_stores_nothing_and_names_the_held_keys(module, open_store):
    labels = module("core.labels")
    store = open_store()
    store.insert([label(labels, "c" * 48, 0)])
    with pytest.raises(labels.AlreadyLabelled) as refused:
        store.insert([label(labels, "d" * 48, 0), label(labels, "c" * 48, 0, 2), label(labels, "d" * 48, 1)])
    assert refused.value.keys == {("c" * 48, 0)}
    assert [tuple(r[:3]) for r in store.rows()] == [("c" * 48, 0, "1")]  # all or nothing
    store.insert([label(labels, "d" * 48, 0)])  # the connection is usable after the refusal
    assert len(store.rows()) == 2


def test_two_stores_on_one_database_refuse_the_same_label_once_even_concurrently(module, open_store):
    """Two replicas, eight threads each, all sending the same label at once: one is stored."""
    labels = module("core.labels")
    replicas = [open_store(), open_store()]
    outcomes: list[str] = []
    start = threading.Barrier(16)

    def send(store) -> None:
        start.wait()
        try:
            store.insert([label(labels, "e" * 48, 0)])
            outcomes.append("stored")
        except labels.AlreadyLabelled:
            outcomes.append("refused")

    threads = [threading.Thread(target=send, args=(replicas[n % 2],)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["refused"] * 15 + ["stored"]
    assert len(replicas[1].rows()) == 1


def test_reading_a_store_nothing_wrote_is_an_empty_table(module, tmp_path, fresh_database):
    labels = module("core.labels")
    for url in (None, fresh_database):
        frame = labels.read_labels(url, tmp_path / "never-served", CLASSIFIER)
        assert frame.empty and list(frame.columns) == ["request_id", "index", "label", "labelled_at", "source"]
    assert not (tmp_path / "never-served").exists()  # reading creates no SQLite store


def test_sqlite_reads_a_store_written_before_feedback_had_a_source(module, tmp_path):
    with sqlite3.connect(tmp_path / "feedback.sqlite") as connection:
        connection.execute("CREATE TABLE feedback (request_id TEXT, idx INTEGER, label TEXT, time TEXT)")
        connection.execute("INSERT INTO feedback VALUES ('f', 0, '\"benign\"', '2026-01-01T00:00:00.000000Z')")
    labels = module("core.labels")
    assert labels.read_labels(None, tmp_path, CLASSIFIER)["source"].tolist() == ["unnamed"]
    store = labels.open_store(None, tmp_path)
    store.insert([label(labels, "g" * 48, 0, "malignant", "lab")])  # the writer adds the column
    store.close()
    assert sorted(labels.read_labels(None, tmp_path, CLASSIFIER)["source"]) == ["lab", "unnamed"]


def test_postgres_replicas_starting_at_once_create_the_table_once(module, fresh_database, tmp_path):
    """Eight workers' first use at the same moment: no 'duplicate key' from a racing CREATE TABLE."""
    labels = module("core.labels")
    stores = [labels.open_store(fresh_database, None) for _ in range(8)]  # type: ignore[arg-type]
    errors: list[BaseException] = []
    start = threading.Barrier(len(stores))

    def first_use(n: int, store) -> None:
        start.wait()
        try:
            store.insert([label(labels, f"{n:048x}", 0)])
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(n, s)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(stores[0].rows()) == 8
    for store in stores:
        store.close()


def test_postgres_reconnects_after_its_backend_is_terminated(module, fresh_database, postgres_url, caplog, tmp_path):
    """A database restart (here: pg_terminate_backend of the store's connection) does not break the worker."""
    import psycopg

    labels = module("core.labels")
    store = labels.open_store(fresh_database, tmp_path)
    store.insert([label(labels, "h" * 48, 0)])
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'modelops-feedback'"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    assert killed and all(ok for (ok,) in killed)
    time.sleep(0.2)
    with caplog.at_level(logging.WARNING):
        store.insert([label(labels, "h" * 48, 1)])  # the lost connection is replaced, the batch stored once
    assert "reconnecting" in caplog.text
    assert sorted(r[1] for r in store.rows()) == [0, 1]
    store.close()


def test_postgres_errors_never_show_the_password(module, postgres_url, tmp_path):
    labels = module("core.labels")
    hidden = "pw-" + secrets.token_hex(8)
    host = postgres_url.split("@", 1)[1].rsplit("/", 1)[0]
    url = f"postgresql://postgres:{hidden}@{host}/no_such_database"
    store = labels.open_store(url, tmp_path)
    with pytest.raises(labels.StoreUnavailable) as refused:
        store.insert([label(labels, "i" * 48, 0)])
    message = str(refused.value)
    assert "no_such_database" in message and "postgres:***@" in message
    assert hidden not in message and hidden not in repr(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cr%40t@db:5432/labels", "postgresql://app:***@db:5432/labels"),  # pragma: allowlist secret
        (
            "postgresql://app@db/labels?password=s3cret&sslmode=require",  # pragma: allowlist secret
            "postgresql://app@db/labels?password=***&sslmode=require",
        ),
        (
            "host=db user=app password='s3 cret' dbname=labels",  # pragma: allowlist secret
            "host=db user=app password=*** dbname=labels",
        ),
        ("postgresql://db/labels", "postgresql://db/labels"),
    ],
)
def test_masked_hides_the_password_of_every_url_form(module, url, shown):
    assert module("core.labels").masked(url) == shown
