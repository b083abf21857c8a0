"""Prediction log: every answered request as JSON lines in segments, shipped to object storage off the request path.

The request handler only puts a tuple on a queue (well under a microsecond); one writer thread
per worker turns the queue into JSON lines, redacts personal fields and appends them to the
worker's open segment, `<dir>/predictions/<YYYY-MM-DD>_<host>_w<worker>_<run>_<seq>.jsonl` (`run`
is the process's start and pid: a name no other process writes). A segment closes at UTC
midnight, by size (MODELOPS_LOG_SEGMENT_MB) and, with a sink, by age (MODELOPS_LOG_SEGMENT_SECONDS);
when this worker dropped rows since its previous segment, `<name>.stats.json` beside it says how
many (`dropped`, with `closed`, the time it was written): the monitor adds them up.

With a sink (MODELOPS_LOG_SINK, e.g. s3://bucket/logs/production) each closed segment and its
stats go to `<sink>/predictions/<YYYY-MM-DD>/<name>` (through core/storage) and leave the folder
only once uploaded; a failed upload is retried with backoff (up to RETRY_MAX_SECONDS apart). At
start a worker uploads what an earlier process of the same host and worker left in the folder
(an `emptyDir` survives a container restart). Without a sink (the laptop, `make demo`) segments
close only by size and day and stay in the folder, where `make monitor` reads them.

What is lost:
- SIGTERM (`close()`, the service's shutdown hook): nothing. The queue is drained, the segment
  closed and everything uploaded within the close timeout; what the store refuses by then stays
  in the folder and is uploaded at the next start.
- SIGKILL of a worker: what was queued in memory, at most FLUSH_SECONDS of rows (and any backlog
  the writer had not caught up with). Written lines are in the file and uploaded at the next start.
- The pod deleted after a SIGKILL (or its node lost): also the segments not yet uploaded, at most
  MODELOPS_LOG_SEGMENT_SECONDS of rows plus the backlog of a failing store, go with the `emptyDir`.

Bounds: the queue holds at most QUEUE_ROWS rows, and the bytes waiting locally (serialised but
unwritten, or, with a sink, not yet uploaded) at most MODELOPS_LOG_BUFFER_MB. Beyond either,
rows are dropped and counted, never the request blocked. A failed request's error text is cut to
ERROR_CHARS characters.

The writer cannot die silently: its loop body is guarded — an unwritable folder, a store that
refuses or a record that does not serialise is counted, logged at most once a minute, and retried
on the next pass (unwritten bytes are kept, up to the buffer cap). `healthy` turns false when the
thread has died or writing or uploading has failed for longer than UNHEALTHY_SECONDS: long enough
that a store's restart does not flap readiness, short enough that a pod whose log is broken leaves
the Service while the buffer still holds the rows. `metrics_text()` exposes every worker's counters.

Retention: once a day each worker deletes the date prefixes older than MODELOPS_LOG_RETENTION_DAYS:
in the sink every pod's, and in the folder every segment.

Format: one JSON object per line — one per predicted record, or one per failed request (`index`
null), with the fields of `FIELDS` (docs/deployment_manual.md shows them and a real line); what a
log shipper (Fluent Bit, Vector, an OpenTelemetry collector's filelog receiver) reads line by line.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from ..core.labels import utc_iso
from ..core.schema import Schema
from ..core.settings import MIN_KEY_BYTES, Settings, SettingsError

log = logging.getLogger(__name__)
PREDICTIONS = "predictions"
STATS = ".stats.json"  # beside a segment: the rows its worker dropped
WORKERS = ".prediction-log"  # each worker's counters, so any worker's /metrics shows the pod's
ERROR_CHARS = 512  # a failed request's error text is cut to this (a client controls what it echoes)
FIELDS = {
    "request_id": "48 hex characters, signed (core/requestids.py); also in the answer's body and `x-request-id` header",
    "index": "position of the record in its request (0 for a one-record request); null for a failed request",
    "time": "UTC ISO 8601 with microseconds, when the request arrived",
    "model_version": "the version that answered",
    "endpoint": "`predict` or `predict_proba`; `batch` for `make score` (serving/score.py)",
    "status": "HTTP status of the answer",
    "latency_ms": "time in the handler: parse, validate, predict",
    "inputs": "the record as sent, minus MODELOPS_LOG_DROP fields;"
    " MODELOPS_LOG_HASH fields as `hmac-sha256:<16 hex>` keyed by MODELOPS_LOG_HASH_SALT",
    "output": "the prediction (class label or value); for `predict_proba` the most probable class",
    "probabilities": "`predict_proba` only: class label → probability",
    "error": f"failed requests only: why (at most {ERROR_CHARS} characters)",
}
HASHED = "hmac-sha256:"  # the prefix of a hashed input value
FLUSH_SECONDS = 0.2  # a logged request is in its segment this long after its answer
QUEUE_ROWS = 20_000  # rows waiting for the writer (a failed request counts 1): ~20 s at 1,000 rows/s
UNHEALTHY_SECONDS = 120.0
RETRY_SECONDS = 0.5  # the first retry of a failed upload; doubled after each failure
RETRY_MAX_SECONDS = 60.0
LOG_EVERY_SECONDS = 60.0  # a failure that repeats is logged at most this often
COUNTERS_EVERY_SECONDS = 1.0  # a worker's counters reach the others' /metrics within this
STALE_SECONDS = 10.0  # another worker's counters older than this: its writer is not up
RETENTION_EVERY_SECONDS = 86_400.0
MB = 1_000_000
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
METRICS = {  # counter name → (type, help)
    "rows_written": ("counter", "Rows written to the prediction log's segments."),
    "rows_dropped": ("counter", "Rows dropped: the queue or the local buffer was full, or a row did not serialise."),
    "segments_uploaded": ("counter", "Segments uploaded to the log sink."),
    "upload_failures": ("counter", "Failed attempts to upload a segment to the log sink."),
    "write_failures": ("counter", "Failed attempts to write the local segment."),
    "bytes_waiting": ("gauge", "Bytes of the log not yet written or, with a sink, not yet uploaded."),
    "writer_up": ("gauge", "1 while the worker's log writer runs and is healthy."),
}


@dataclass(frozen=True)
class Redaction:
    """Fields of the input that are personal data: dropped, or replaced by their HMAC-SHA256 keyed by the salt."""

    drop: frozenset[str] = frozenset()
    hash: frozenset[str] = frozenset()
    salt: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.hash and len(self.salt.encode()) < MIN_KEY_BYTES:
            raise SettingsError(
                f"error: hashing {', '.join(sorted(self.hash))} needs MODELOPS_LOG_HASH_SALT of at least"
                f" {MIN_KEY_BYTES} bytes — generate one with `python -c 'import secrets; print(secrets.token_hex(32))'`"
            )

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        if not self.drop and not self.hash:
            return record
        kept = {k: v for k, v in record.items() if k not in self.drop}
        for name in self.hash & kept.keys():
            if kept[name] is not None:
                digest = hmac.new(self.salt.encode(), str(kept[name]).encode(), hashlib.sha256).hexdigest()
                kept[name] = f"{HASHED}{digest[:16]}"
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


def rows_of(entry: Entry) -> int:
    """The lines an entry writes: one per output, one for a failed request."""
    outputs = entry[6]
    return 1 if isinstance(outputs, str) else len(outputs)


def sink_key(root: str, name: str) -> str:
    """Where a segment (or its stats) named `name` goes in the sink: under its date."""
    return f"{root}/{PREDICTIONS}/{name[:10]}/{name}"


class PredictionLog:
    """The writer of one worker: `put()` from the request path, everything else on its own thread."""

    def __init__(
        self,
        folder: Path,
        model_version: str,
        worker: int | str = 1,
        retention_days: int = 30,
        redaction: Redaction | None = None,
        *,
        sink: str | None = None,
        segment_seconds: float = 60.0,
        segment_bytes: int = 16 * MB,
        buffer_bytes: int = 256 * MB,
        queue_rows: int = QUEUE_ROWS,
        unhealthy_seconds: float = UNHEALTHY_SECONDS,
    ) -> None:
        self.folder = folder
        self.model_version = model_version
        self.worker = str(worker)
        self.retention = timedelta(days=retention_days)
        self.redaction = redaction or Redaction()
        self.sink = sink.rstrip("/") if sink else None
        self.segment_seconds = segment_seconds
        self.segment_bytes = segment_bytes
        self.buffer_bytes = buffer_bytes
        self.queue_rows = queue_rows
        self.unhealthy_seconds = unhealthy_seconds
        self.host = socket.gethostname().replace("_", "-")
        self.owner = f"{self.host}_w{self.worker}_"  # the names this worker's processes give their segments
        self.run = f"{self.owner}{datetime.now(UTC):%Y%m%dT%H%M%S%f}p{os.getpid()}"
        self._store: tuple[Any, str] | None = None
        if self.sink:
            from ..core.storage import filesystem

            self._store = filesystem(self.sink)  # a sink whose protocol is not installed stops the start here
        self.queue: queue.SimpleQueue[Entry | None] = queue.SimpleQueue()
        # Counters: each is written by one thread only (put's by the request path, the rest by the writer).
        self._put_rows = self._taken_rows = self._dropped_at_put = 0
        self.written = self.dropped_by_writer = self.uploaded = 0
        self.failures = {"write": 0, "upload": 0}
        self._failing: dict[str, float] = {}  # kind → monotonic time of its first failure in a row
        self._logged: dict[str, float] = {}
        self._closing = False
        self._close_deadline = 0.0
        # The writer's state.
        self._pending: list[bytes] = []  # serialised, not yet in the segment
        self._fd: int | None = None
        self._segment: Path | None = None
        self._segment_day = ""
        self._segment_opened = 0.0
        self._segment_size = self._segment_rows = self._seq = 0
        self._backlog: list[tuple[Path, int]] = []  # closed segments and stats to upload (and their size), oldest first
        self._backlog_size = 0
        self._dropped_reported = 0
        self._recovered = self.sink is None
        self._next_upload = self._next_retention = self._next_counters = 0.0
        self._retry = RETRY_SECONDS
        self._saved: dict[str, int] = {}
        self._saved_at = 0.0
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    @classmethod
    def from_settings(cls, settings: Settings, model_version: str, worker: int, schema: Schema) -> PredictionLog | None:
        """The worker's log as the settings ask for it; None when MODELOPS_PREDICTION_LOG is false."""
        if not settings.prediction_log:
            return None
        return cls(
            settings.monitoring_dir.resolve(),
            model_version,
            worker,
            settings.log_retention_days,
            redaction_for(settings, schema),
            sink=settings.log_sink,
            segment_seconds=settings.log_segment_seconds,
            segment_bytes=settings.log_segment_mb * MB,
            buffer_bytes=settings.log_buffer_mb * MB,
        )

    # --- the request path and the service's hooks ------------------------------------------------

    def put(self, entry: Entry) -> None:
        """Hand one answered request to the writer (never blocks, never raises); dropped and counted when full."""
        rows = rows_of(entry)
        if isinstance(entry[6], str) and len(entry[6]) > ERROR_CHARS:
            entry = (*entry[:6], entry[6][:ERROR_CHARS])
        if self._closing or self._put_rows - self._taken_rows + max(rows, 1) > self.queue_rows:
            self._dropped_at_put += rows
            return
        self._put_rows += max(rows, 1)
        self.queue.put(entry)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, close the segment and upload every closed one, then stop the writer."""
        if self._thread.is_alive():
            self._close_deadline = time.monotonic() + timeout * 0.9
            self._closing = True
            self.queue.put(None)
            self._thread.join(timeout)

    @property
    def dropped(self) -> int:
        return self._dropped_at_put + self.dropped_by_writer

    @property
    def healthy(self) -> bool:
        """The writer runs, and neither writing nor uploading has failed for longer than `unhealthy_seconds`."""
        if not self._thread.is_alive():
            return False
        now = time.monotonic()
        return all(now - since < self.unhealthy_seconds for since in self._failing.copy().values())

    def counters(self) -> dict[str, int]:
        """This worker's counters, as `metrics_text()` shows them."""
        waiting = sum(map(len, list(self._pending)))
        if self.sink:
            waiting += self._segment_size + self._backlog_size
        return {
            "rows_written": self.written,
            "rows_dropped": self.dropped,
            "segments_uploaded": self.uploaded,
            "upload_failures": self.failures["upload"],
            "write_failures": self.failures["write"],
            "bytes_waiting": waiting,
            "writer_up": int(self.healthy),
        }

    def metrics_text(self) -> str:
        """Prometheus text of the pod's log counters, one series per worker (the others' from their last second)."""
        workers = {self.worker: self.counters()}
        for path in sorted((self.folder / WORKERS).glob(f"{self.host}_w*.json")):
            with contextlib.suppress(OSError, ValueError):
                saved = orjson.loads(path.read_bytes())
                if saved["worker"] != self.worker:
                    stale = time.time() - float(saved["updated"]) > STALE_SECONDS
                    workers[str(saved["worker"])] = {**saved["counters"], "writer_up": 0 if stale else 1}
        lines = []
        for name, (kind, text) in METRICS.items():
            metric = f"modelops_prediction_log_{name}" + ("_total" if kind == "counter" else "")
            lines += [f"# HELP {metric} {text}", f"# TYPE {metric} {kind}"]
            lines += [metric + '{worker="' + w + '"} ' + str(int(c.get(name, 0))) for w, c in sorted(workers.items())]
        return "\n".join(lines) + "\n"

    # --- the writer thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch, stop = self._next_batch(self._wait())
            self._take(batch)
            self._pass()
            if stop:
                self._finish()
                return

    def _wait(self) -> float:
        """How long the writer may sleep before something is due (a segment's age, a retry, the counters)."""
        now = time.monotonic()
        due = [self._next_counters, self._next_retention]
        if self._fd is not None and self.sink:
            due.append(self._segment_opened + self.segment_seconds)
        if self._backlog or not self._recovered:
            due.append(self._next_upload)
        if self._pending:
            due.append(now + FLUSH_SECONDS)
        return min(max(min(due) - now, 0.01), 1.0)

    def _next_batch(self, wait: float) -> tuple[list[Entry], bool]:
        """Wait up to `wait` for one entry, let more arrive for FLUSH_SECONDS, take them all; True once closed.

        Writing in batches keeps the writer's system calls off the per-request cost.
        """
        try:
            first = self.queue.get(timeout=wait)
        except queue.Empty:
            return [], False
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

    def _take(self, batch: list[Entry]) -> None:
        """Serialise a batch into the pending bytes, or drop it (counted) when the buffer is full."""
        if not batch:
            return
        self._taken_rows += sum(max(rows_of(entry), 1) for entry in batch)
        try:
            data = self._serialise(batch)
        except Exception as exc:  # one bad entry must not cost the batch: serialise one by one
            self._failed("serialise", exc)
            parts = []
            for entry in batch:
                try:
                    parts.append(self._serialise([entry]))
                except Exception:
                    self.dropped_by_writer += rows_of(entry)
            data = b"".join(parts)
        room = self.buffer_bytes - self._waiting()
        if len(data) > room:  # keep the lines that fit, drop (and count) the rest
            cut = data.rfind(b"\n", 0, max(room, 0)) + 1
            self.dropped_by_writer += data.count(b"\n", cut)
            data = data[:cut]
            self._failed("buffer", OSError(f"MODELOPS_LOG_BUFFER_MB={self.buffer_bytes / MB:g} reached: rows dropped"))
        if data:
            self._pending.append(data)

    def _waiting(self) -> int:
        return sum(map(len, self._pending)) + (self._segment_size + self._backlog_size if self.sink else 0)

    def _pass(self) -> None:
        """One guarded pass: write, rotate, upload, expire; a failure is counted and retried next pass."""
        if not self._recovered:
            self._guarded("write", self._recover)
        self._guarded("write", self._write)
        now = time.monotonic()
        if self._backlog and now >= self._next_upload:
            if self._guarded("upload", self._upload):
                self._retry = RETRY_SECONDS
            else:
                self._next_upload, self._retry = now + self._retry, min(self._retry * 2, RETRY_MAX_SECONDS)
        if now >= self._next_retention:
            done = self._guarded("retention", self._expire, health=False)
            self._next_retention = now + (RETENTION_EVERY_SECONDS if done else 3600.0)
        if now >= self._next_counters:
            self._guarded("counters", self._save_counters, health=False)
            self._next_counters = now + COUNTERS_EVERY_SECONDS

    def _finish(self) -> None:
        """At close: everything written, the segment closed, every closed one uploaded before the deadline."""
        self._guarded("write", self._write)
        self._guarded("write", self._close_segment)
        if self._pending:  # the folder refused them until the end
            self.dropped_by_writer += sum(chunk.count(b"\n") for chunk in self._pending)
            self._pending.clear()
        while self._backlog and not self._guarded("upload", self._upload):
            remaining = self._close_deadline - time.monotonic()
            if remaining <= 0:
                log.warning(
                    "prediction log: %d files not uploaded at exit, kept in %s", len(self._backlog), self.folder
                )
                break
            time.sleep(min(self._retry, remaining))
            self._retry = min(self._retry * 2, RETRY_MAX_SECONDS)
        self._guarded("counters", self._save_counters, health=False)

    def _guarded(self, kind: str, step: Callable[[], None], health: bool = True) -> bool:
        """Run one step of the writer; a failure is counted and logged (at most once a minute), never raised."""
        try:
            step()
        except Exception as exc:
            self._failed(kind, exc)
            if health:
                self._failing.setdefault(kind, time.monotonic())
            return False
        if self._failing.pop(kind, None) is not None:
            log.info("prediction log: %s works again", kind)
        return True

    def _failed(self, kind: str, exc: BaseException) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1
        now = time.monotonic()
        if now - self._logged.get(kind, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS:
            self._logged[kind] = now
            log.warning("prediction log: %s failed (%s: %s); retrying", kind, type(exc).__name__, exc)

    def _write(self) -> None:
        """Close a segment that is due, then append the pending bytes to the open one (opened when needed)."""
        if self._fd is not None and self._segment_due():
            self._close_segment()
        if not self._pending:
            return
        if self._fd is None:
            self._open()
        assert self._fd is not None
        data = b"".join(self._pending)
        self._pending = [data]
        view, done = memoryview(data), 0
        try:
            while done < len(data):
                done += os.write(self._fd, view[done:])
        finally:  # what was written is counted; the rest stays pending for the next pass
            rows = data.count(b"\n", 0, done)
            self._pending = [data[done:]] if done < len(data) else []
            self.written += rows
            self._segment_rows += rows
            self._segment_size += done
        if self._segment_size >= self.segment_bytes:
            self._close_segment()

    def _segment_due(self) -> bool:
        if self._segment_day != utc_iso(time.time())[:10]:
            return True
        return self.sink is not None and time.monotonic() - self._segment_opened >= self.segment_seconds

    def _open(self) -> None:
        day = utc_iso(time.time())[:10]
        folder = self.folder / PREDICTIONS
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{day}_{self.run}_{self._seq + 1:06d}.jsonl"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._seq += 1
        self._segment, self._segment_day, self._segment_opened = path, day, time.monotonic()
        self._segment_size = self._segment_rows = 0

    def _close_segment(self) -> None:
        """Close the open segment; when rows were dropped since the last stats, write stats saying how many."""
        dropped = self.dropped - self._dropped_reported
        if self._fd is None and not dropped:
            return
        if self._segment is None:  # drops with no segment to report them beside: a stats file alone
            self._seq += 1
            self._segment = self.folder / PREDICTIONS / f"{utc_iso(time.time())[:10]}_{self.run}_{self._seq:06d}.jsonl"
        stats = self._segment.with_suffix(STATS)
        if dropped:
            record = {
                "segment": self._segment.name,
                "rows": self._segment_rows,
                "dropped": dropped,
                "host": self.host,
                "worker": self.worker,
                "model_version": self.model_version,
                "closed": utc_iso(time.time()),
            }
            stats.parent.mkdir(parents=True, exist_ok=True)
            stats.write_bytes(orjson.dumps(record))
            self._dropped_reported += dropped
        if self._fd is not None:
            os.close(self._fd)
            self._queue_upload(self._segment)
        if dropped:
            self._queue_upload(stats)
        self._fd, self._segment = None, None
        self._segment_size = self._segment_rows = 0

    def _queue_upload(self, path: Path) -> None:
        if self.sink:
            size = path.stat().st_size
            self._backlog.append((path, size))
            self._backlog_size += size

    def _recover(self) -> None:
        """Queue for upload what an earlier process of this host and worker left in the folder."""
        folder = self.folder / PREDICTIONS
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                name = path.name
                if DAY.fullmatch(name[:10]) and name[11:].startswith(self.owner) and not name[11:].startswith(self.run):
                    self._queue_upload(path)
        if self._backlog:
            log.info("prediction log: uploading %d files an earlier process left", len(self._backlog))
        self._recovered = True

    def _upload(self) -> None:
        """Upload the closed segments and stats, oldest first; each leaves the folder once in the sink."""
        assert self._store is not None
        fs, root = self._store
        while self._backlog:
            path, size = self._backlog[0]
            if path.exists():  # else deleted meanwhile (retention): nothing to upload
                fs.put_file(str(path), sink_key(root, path.name))
                path.unlink(missing_ok=True)
                self.uploaded += path.suffix == ".jsonl"
            self._backlog.pop(0)
            self._backlog_size -= size

    def _expire(self) -> None:
        """Delete the days older than the retention: in the sink every pod's, in the folder every segment."""
        oldest = (datetime.now(UTC) - self.retention).strftime("%Y-%m-%d")
        if self._store is not None:
            fs, root = self._store
            base = f"{root}/{PREDICTIONS}"
            fs.invalidate_cache(base)
            with contextlib.suppress(FileNotFoundError):
                for prefix in fs.ls(base, detail=False):
                    day = prefix.rstrip("/").rpartition("/")[2]
                    if DAY.fullmatch(day) and day < oldest:
                        with contextlib.suppress(FileNotFoundError):  # another worker deleted it first
                            fs.rm(prefix, recursive=True)
                        log.info("prediction log: deleted %s (older than %s)", prefix, oldest)
        folder = self.folder / PREDICTIONS
        if folder.is_dir():
            cutoff = (datetime.now(UTC) - self.retention).timestamp()
            for path in folder.iterdir():
                day = path.name[:10]
                old = day < oldest if DAY.fullmatch(day) else path.stat().st_mtime < cutoff
                if old and path.is_file() and path != self._segment:
                    path.unlink(missing_ok=True)

    def _save_counters(self) -> None:
        """This worker's counters for the other workers' `metrics_text()` (written whole, then renamed)."""
        counters, now = self.counters(), time.time()
        if counters == self._saved and now - self._saved_at < STALE_SECONDS / 2:
            return  # idle: a write every few seconds says the writer is alive
        folder = self.folder / WORKERS
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.host}_w{self.worker}.json"
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(orjson.dumps({"worker": self.worker, "updated": now, "counters": counters}))
        temporary.replace(path)
        self._saved, self._saved_at = counters, now

    def _serialise(self, batch: Iterable[Entry]) -> bytes:
        """JSON lines of a batch (built as bytes with orjson: the writer's CPU is the service's too)."""
        lines: list[bytes] = []
        version = orjson.dumps(self.model_version)
        redact = self.redaction.apply
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
        return b"".join(lines)
