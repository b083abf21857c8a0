"""Prediction log: every answered request written as JSON lines, off the request path, losing nothing.

The request handler only puts a tuple on a queue (a C call, well under a microsecond); one
writer thread per worker turns the queue into JSON lines, redacts personal fields, writes them
to one file per worker and UTC day, and indexes request ids for the feedback endpoint. `close()`
(the service's shutdown hook, which SIGTERM reaches) drains the queue before the worker exits.

Format: one JSON object per line — one per predicted record, or one per failed request (`index`
null), with the fields of `FIELDS` (docs/deployment_manual.md shows them and a real line); what a
log shipper (Fluent Bit, Vector, an OpenTelemetry collector's filelog receiver) reads line by line.

Files: `<dir>/predictions/predictions-<host>-w<worker>-<YYYY-MM-DD>.jsonl`; files older than the
retention are deleted at each day's rotation.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import queue
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from ..core.schema import Schema
from ..core.settings import Settings, SettingsError

log = logging.getLogger(__name__)
PREDICTIONS = "predictions"
FIELDS = {
    "request_id": "32 hex characters, also in the answer's body and `x-request-id` header",
    "index": "position of the record in its request (0 for a one-record request); null for a failed request",
    "time": "UTC ISO 8601 with microseconds, when the request arrived",
    "model_version": "the version that answered",
    "endpoint": "`predict` or `predict_proba`",
    "status": "HTTP status of the answer",
    "latency_ms": "time in the handler: parse, validate, predict",
    "inputs": "the record as sent, minus MODELOPS_LOG_DROP fields; MODELOPS_LOG_HASH fields as `sha256:<16 hex>`",
    "output": "the prediction (class label or value); for `predict_proba` the most probable class",
    "probabilities": "`predict_proba` only: class label → probability",
    "error": "failed requests only: why",
}
FLUSH_SECONDS = 0.2  # a logged request is on disk (and open to feedback) this long after its answer
STORE = "feedback.sqlite"  # the request index and the feedback; see serving/feedback.py
SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS requests (
    request_id BLOB PRIMARY KEY, records INTEGER NOT NULL, time REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT NOT NULL, idx INTEGER NOT NULL, label TEXT NOT NULL, time TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'unnamed', PRIMARY KEY (request_id, idx)
);
"""


def connect(folder: Path) -> sqlite3.Connection:
    """The monitoring store of `folder` (created on first use), in WAL mode so workers share it."""
    folder.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(folder / STORE, timeout=30, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA busy_timeout=30000")
    connection.executescript(SCHEMA_SQL)
    columns = {row[1] for row in connection.execute("PRAGMA table_info(feedback)")}
    if "source" not in columns:  # a store written before feedback had a source
        connection.execute("ALTER TABLE feedback ADD COLUMN source TEXT NOT NULL DEFAULT 'unnamed'")
    return connection


def utc_iso(timestamp: float) -> str:
    """`2026-12-01T10:00:00.123456Z`; the date and time part is formatted once per second."""
    seconds = int(timestamp)
    return f"{_utc_second(seconds)}.{int((timestamp - seconds) * 1e6):06d}Z"


@functools.lru_cache(maxsize=8)
def _utc_second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class Redaction:
    """Fields of the input that are personal data: dropped, or replaced by a salted hash."""

    drop: frozenset[str] = frozenset()
    hash: frozenset[str] = frozenset()
    salt: str = field(default="", repr=False)

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        if not self.drop and not self.hash:
            return record
        kept = {k: v for k, v in record.items() if k not in self.drop}
        for name in self.hash & kept.keys():
            if kept[name] is not None:
                digest = hashlib.sha256(f"{self.salt}{kept[name]}".encode()).hexdigest()[:16]
                kept[name] = f"sha256:{digest}"
        return kept


def redaction_for(settings: Settings, schema: Schema) -> Redaction:
    """The redaction the settings ask for; a field the schema does not have is a setting to fix."""
    unknown = sorted(set(settings.log_drop + settings.log_hash) - set(schema.names))
    if unknown:
        raise SettingsError(
            f"error: MODELOPS_LOG_DROP/MODELOPS_LOG_HASH name {', '.join(unknown)}, not an input field"
            f" ({', '.join(schema.names)}) — fix the setting"
        )
    return Redaction(frozenset(settings.log_drop), frozenset(settings.log_hash), settings.log_hash_salt)


# One answered request, as the handler hands it over: request id, arrival time, endpoint,
# status, latency in ms, records, outputs (a list, or an error message).
Entry = tuple[str, float, str, int, float, Sequence[dict[str, Any]], Sequence[Any] | str]


class PredictionLog:
    """The writer of one worker: `put()` from the request path, everything else on its own thread."""

    def __init__(
        self,
        folder: Path,
        model_version: str,
        worker: int | str = 1,
        retention_days: int = 30,
        redaction: Redaction | None = None,
    ) -> None:
        self.folder = folder
        self.model_version = model_version
        self.retention = timedelta(days=retention_days)
        self.redaction = redaction or Redaction()
        self.prefix = f"{PREDICTIONS}-{socket.gethostname()}-w{worker}-"
        (folder / PREDICTIONS).mkdir(parents=True, exist_ok=True)
        self.queue: queue.SimpleQueue[Entry | None] = queue.SimpleQueue()
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def put(self, entry: Entry) -> None:
        """Hand one answered request to the writer (never blocks, never raises)."""
        self.queue.put(entry)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the writer."""
        if self._thread.is_alive():
            self.queue.put(None)
            self._thread.join(timeout)

    def path_for(self, day: str) -> Path:
        return self.folder / PREDICTIONS / f"{self.prefix}{day}.jsonl"

    def _run(self) -> None:
        store = connect(self.folder)
        store.execute("PRAGMA synchronous=NORMAL")  # the index can be rebuilt from the log; feedback keeps FULL
        handle, day = None, ""
        try:
            while True:
                batch, stop = self._next_batch()
                if batch:
                    today = utc_iso(time.time())[:10]
                    if today != day:
                        if handle is not None:
                            handle.close()
                        day, handle = today, self.path_for(today).open("ab")
                        self._expire(store)
                    assert handle is not None
                    try:
                        lines, index = self._serialise(batch)
                        handle.write(lines)
                        handle.flush()
                        store.execute("BEGIN")
                        store.executemany("INSERT OR IGNORE INTO requests VALUES (?, ?, ?)", index)
                        store.execute("COMMIT")
                        self.written += len(batch)
                    except Exception:  # a bad entry must not stop the log: say so and go on
                        log.exception("prediction log: could not write %d requests", len(batch))
                if stop:
                    return
        finally:
            if handle is not None:
                handle.close()
            store.close()

    def _next_batch(self) -> tuple[list[Entry], bool]:
        """Block for one entry, let more arrive for FLUSH_SECONDS, take them all; True once closed.

        Writing in batches keeps the writer's system calls and commits off the per-request cost.
        """
        first = self.queue.get()
        if first is None:
            return [], True
        time.sleep(FLUSH_SECONDS)
        batch = [first]
        with contextlib.suppress(queue.Empty):
            while True:
                entry = self.queue.get_nowait()
                if entry is None:
                    return batch, True
                batch.append(entry)
        return batch, False

    def _serialise(self, batch: Iterable[Entry]) -> tuple[bytes, list[tuple[bytes, int, float]]]:
        """JSON lines of a batch (built as bytes with orjson: the writer's CPU is the service's too)."""
        lines: list[bytes] = []
        index = []
        version = orjson.dumps(self.model_version)
        for request_id, arrived, endpoint, status, latency, records, outputs in batch:
            stamp = utc_iso(arrived)
            head = (
                b',"time":"' + stamp.encode() + b'","model_version":' + version + b',"endpoint":"' + endpoint.encode()
                + b'","status":' + str(status).encode() + b',"latency_ms":' + f"{latency:.3f}".encode()
            )  # fmt: skip
            rid = b'{"request_id":"' + request_id.encode()
            if isinstance(outputs, str):
                lines.append(rid + b'","index":null' + head + b',"error":' + orjson.dumps(outputs) + b"}\n")
                continue
            redact = self.redaction.apply
            for position, (record, output) in enumerate(zip(records, outputs, strict=True)):
                line = (
                    rid + b'","index":' + str(position).encode() + head + b',"inputs":' + orjson.dumps(redact(record))
                )
                if isinstance(output, dict):
                    best = max(output, key=output.__getitem__)
                    line += b',"output":' + orjson.dumps(best) + b',"probabilities":' + orjson.dumps(output)
                else:
                    line += b',"output":' + orjson.dumps(output)
                lines.append(line + b"}\n")
            index.append((bytes.fromhex(request_id), len(records), arrived))
        return b"".join(lines), index

    def _expire(self, store: sqlite3.Connection) -> None:
        """Delete this worker's files and the request index older than the retention."""
        cutoff = datetime.now(UTC) - self.retention
        oldest = cutoff.strftime("%Y-%m-%d")
        for path in (self.folder / PREDICTIONS).glob(f"{self.prefix}*.jsonl"):
            if path.stem.removeprefix(self.prefix) < oldest:
                path.unlink(missing_ok=True)
                log.info("prediction log: deleted %s (older than %s)", path.name, oldest)
        store.execute("DELETE FROM requests WHERE time < ?", (cutoff.timestamp(),))
