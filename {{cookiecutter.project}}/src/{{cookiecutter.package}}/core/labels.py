"""Labels: the one store of feedback — SQLite in the monitoring folder, or PostgreSQL when a database URL is set.

`open_store(database_url, folder)` picks the store; the service writes through `insert()`, the
monitor and the retraining read through `frame(schema)` (or `read_labels(...)`), so both read
what the service wrote. One row per labelled record, primary key (request_id, index): the
database, not the service, refuses a duplicate, so two replicas cannot both store one.

- SQLite, `<monitoring dir>/feedback.sqlite` (the embedded default: the laptop, `make demo`): WAL,
  full sync, `BEGIN IMMEDIATE` per batch, so the workers of one deployment share it safely.
- PostgreSQL (`MODELOPS_DATABASE_URL`, psycopg 3), shared by every replica: table `feedback`,
  created if missing under an advisory lock (several replicas may start at once). Give each model
  service its own database, or its own schema through the URL (`?options=-csearch_path%3Dmodel`).

Each store keeps one connection per worker, used under a lock, opened on first use and reopened
once when it was lost (a database restart, a terminated backend): a batch that failed before its
commit is retried on the new connection; one whose commit failed is reported, not retried. Errors
name the database with its password masked.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import pandas as pd
    import psycopg

    from .schema import Schema

log = logging.getLogger(__name__)
STORE = "feedback.sqlite"  # in the monitoring folder
COLUMNS = ("request_id", "index", "label", "labelled_at", "source")
SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT NOT NULL, idx INTEGER NOT NULL, label TEXT NOT NULL, time TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'unnamed', PRIMARY KEY (request_id, idx)
);
"""
POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    request_id text NOT NULL,
    idx bigint NOT NULL,
    label text NOT NULL,
    labelled_at timestamptz NOT NULL,
    source text NOT NULL DEFAULT 'unnamed',
    PRIMARY KEY (request_id, idx)
)
"""
SCHEMA_LOCK = 0x6D6F_6465_6C6F_7073  # pg_advisory_xact_lock key: one replica creates the table at a time
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Label:
    """One labelled record, as the feedback endpoint checked it."""

    request_id: str
    index: int
    label: str  # JSON: a class or a number
    labelled_at: float  # unix time
    source: str


class AlreadyLabelled(Exception):
    """Some records of the batch hold a label already; nothing of the batch was stored."""

    def __init__(self, keys: set[tuple[str, int]]) -> None:
        super().__init__(f"{len(keys)} records already labelled")
        self.keys = keys


class StoreUnavailable(Exception):
    """The store cannot be reached or written now; the message names it (password masked) and the cause."""


def utc_iso(timestamp: float) -> str:
    """`2026-12-01T10:00:00.123456Z`; the date and time part is formatted once per second (the
    prediction log stamps every row with it)."""
    seconds = int(timestamp)
    return f"{_utc_second(seconds)}.{int((timestamp - seconds) * 1e6):06d}Z"


@functools.lru_cache(maxsize=8)
def _utc_second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


class LabelStore(ABC):
    """Where labels are written and read; one instance per worker (or per reading command)."""

    where: str  # for messages: a path, or the database URL with its password masked

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @abstractmethod
    def insert(self, labels: Sequence[Label]) -> None:
        """Store every label in one committed transaction, or none: AlreadyLabelled names the held keys."""

    @abstractmethod
    def rows(self) -> list[tuple[str, int, str, str, str]]:
        """Every stored label: (request_id, index, label JSON, labelled_at ISO 8601 UTC, source)."""

    @abstractmethod
    def close(self) -> None:
        """Close this worker's connection (a later call opens a new one)."""

    def frame(self, schema: Schema) -> pd.DataFrame:
        """The labels as a table: request_id, index, label (typed like the model's output), labelled_at, source."""
        import pandas as pd

        rows = self.rows()
        frame = pd.DataFrame(
            {
                "request_id": pd.Series([r[0] for r in rows], dtype=str),
                "index": pd.Series([r[1] for r in rows], dtype="int64"),
                # typed from the values (int64 for integer classes), as the model's output is; object when empty
                "label": pd.Series([json.loads(r[2]) for r in rows], dtype=None if rows else object),
                "labelled_at": pd.Series([r[3] for r in rows], dtype=str),
                "source": pd.Series([r[4] for r in rows], dtype=str),
            }
        )
        if not schema.classification:
            frame["label"] = frame["label"].astype(float)
        return frame


def open_store(database_url: str | None, folder: Path) -> LabelStore:
    """PostgreSQL when `database_url` is set, else SQLite in `folder`; nothing is opened until first used."""
    return PostgresLabels(database_url) if database_url else SqliteLabels(folder)


def read_labels(database_url: str | None, folder: Path, schema: Schema) -> pd.DataFrame:
    """Every stored label as a table (see `LabelStore.frame`): what the monitor and the retraining read."""
    store = open_store(database_url, folder)
    try:
        return store.frame(schema)
    finally:
        store.close()


# --- SQLite ------------------------------------------------------------------------------------


class SqliteLabels(LabelStore):
    """`<folder>/feedback.sqlite`, shared by the workers of one deployment."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.path = folder / STORE
        self.where = str(self.path)
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA busy_timeout=30000")
            for attempt in range(50):  # switching to WAL takes the file exclusively and answers "locked" at once
                try:
                    connection.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError:
                    if attempt == 49:
                        raise
                    time.sleep(0.05)
            connection.execute("PRAGMA synchronous=FULL")  # a label is on disk before its 201
            connection.executescript(SQLITE_SCHEMA)
            columns = {row[1] for row in connection.execute("PRAGMA table_info(feedback)")}
            if "source" not in columns:  # a store written before feedback had a source
                connection.execute("ALTER TABLE feedback ADD COLUMN source TEXT NOT NULL DEFAULT 'unnamed'")
            self._connection = connection
        return self._connection

    def insert(self, labels: Sequence[Label]) -> None:
        rows = [(x.request_id, x.index, x.label, utc_iso(x.labelled_at), x.source) for x in labels]
        with self._lock:
            connection = self._connect()
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(
                    "INSERT INTO feedback (request_id, idx, label, time, source) VALUES (?, ?, ?, ?, ?)", rows
                )
                connection.execute("COMMIT")
            except sqlite3.IntegrityError:
                connection.execute("ROLLBACK")
                held = {
                    (x.request_id, x.index)
                    for x in labels
                    if connection.execute(
                        "SELECT 1 FROM feedback WHERE request_id = ? AND idx = ?", (x.request_id, x.index)
                    ).fetchone()
                }
                raise AlreadyLabelled(held) from None
            except sqlite3.Error as exc:
                self._drop()
                raise StoreUnavailable(f"the labels store {self.where} failed: {exc}") from None

    def rows(self) -> list[tuple[str, int, str, str, str]]:
        if not self.path.is_file():
            return []
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            columns = {row[1] for row in connection.execute("PRAGMA table_info(feedback)")}
            if not columns:
                return []  # the service made the store, nothing was labelled yet
            source = "source" if "source" in columns else "'unnamed'"
            return list(connection.execute(f"SELECT request_id, idx, label, time, {source} FROM feedback"))
        finally:
            connection.close()

    def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self._connection.close()  # closing rolls back an open transaction
            self._connection = None

    def close(self) -> None:
        with self._lock:
            self._drop()


# --- PostgreSQL --------------------------------------------------------------------------------


def masked(url: str) -> str:
    """The database URL (or key=value conninfo) with its password replaced by ***."""
    if "://" in url:
        parts = urlsplit(url)
        if parts.password is not None:
            host = parts.netloc.rpartition("@")[2]
            parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
        query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
        return urlunsplit(parts._replace(query=query))
    return re.sub(r"(?i)(password\s*=\s*)('[^']*'|\S+)", r"\1***", url)


class PostgresLabels(LabelStore):
    """Table `feedback` of the database `url` names, shared by every replica."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.where = masked(url)
        self._connection: psycopg.Connection[Any] | None = None

    def _scrub(self, error: BaseException) -> str:
        """An error's text without the URL's password, whatever the driver put in it."""
        text = str(error).strip()
        password = urlsplit(self.url).password if "://" in self.url else None
        return text.replace(password, "***") if password else text

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        if self._connection is not None and not self._connection.closed:
            return self._connection
        try:
            connection = psycopg.connect(
                self.url, connect_timeout=CONNECT_TIMEOUT_S, application_name="modelops-feedback"
            )
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                connection.execute(POSTGRES_SCHEMA)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot use the labels database {self.where}: {self._scrub(exc)}") from None
        self._connection = connection
        return connection

    def insert(self, labels: Sequence[Label]) -> None:
        import psycopg

        rows = [(x.request_id, x.index, x.label, datetime.fromtimestamp(x.labelled_at, UTC), x.source) for x in labels]
        with self._lock:
            for attempt in (1, 2):
                connection = self._connect()
                try:
                    with connection.cursor() as cursor:
                        cursor.executemany(
                            "INSERT INTO feedback (request_id, idx, label, labelled_at, source)"
                            " VALUES (%s, %s, %s, %s, %s)",
                            rows,
                        )
                except psycopg.errors.UniqueViolation:
                    connection.rollback()
                    raise AlreadyLabelled(self._held(connection, labels)) from None
                except psycopg.OperationalError as exc:
                    self._drop()  # lost before the commit: nothing is stored, a new connection may retry
                    if attempt == 1:
                        log.warning("labels: connection to %s lost (%s); reconnecting", self.where, self._scrub(exc))
                        continue
                    raise StoreUnavailable(f"the labels database {self.where} failed: {self._scrub(exc)}") from None
                except psycopg.Error as exc:
                    self._drop()
                    raise StoreUnavailable(f"the labels database {self.where} failed: {self._scrub(exc)}") from None
                break
            try:
                connection.commit()
            except psycopg.Error as exc:
                self._drop()
                raise StoreUnavailable(
                    f"the labels database {self.where} failed at commit ({self._scrub(exc)}): the labels may or"
                    " may not be stored — send them again; 409 then means they were"
                ) from None

    def _held(self, connection: psycopg.Connection[Any], labels: Iterable[Label]) -> set[tuple[str, int]]:
        keys = {(x.request_id, x.index) for x in labels}
        with connection.transaction():
            found = connection.execute(
                "SELECT request_id, idx FROM feedback WHERE request_id = ANY(%s)", (sorted({k[0] for k in keys}),)
            ).fetchall()
        return {(rid, int(idx)) for rid, idx in found} & keys

    def rows(self) -> list[tuple[str, int, str, str, str]]:
        import psycopg

        with self._lock:
            connection = self._connect()
            try:
                with connection.transaction():
                    found = connection.execute(
                        "SELECT request_id, idx, label, labelled_at, source FROM feedback"
                    ).fetchall()
            except psycopg.Error as exc:
                self._drop()
                raise StoreUnavailable(f"cannot read the labels database {self.where}: {self._scrub(exc)}") from None
        return [(rid, int(idx), label, utc_iso(at.timestamp()), source) for rid, idx, label, at, source in found]

    def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    def close(self) -> None:
        with self._lock:
            self._drop()
