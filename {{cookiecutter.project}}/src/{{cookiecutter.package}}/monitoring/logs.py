"""Logs: the service's prediction log and feedback read back, for a time window, with DuckDB.

The log is the segments under `<folder>/predictions/` — flat as a service writes them, or in
the `<YYYY-MM-DD>/` folders of the log sink when fetched from there — and their stats files,
which count the rows a worker dropped (its queue or buffer full). DuckDB reads the JSON-lines
files in parallel and streams them (1,000,000 logged predictions in a few seconds and under 1 GB:
see the template's benchmarks). A line that is not a log record (truncated, not JSON, missing its
id, time or status) is counted and skipped. The input fields are typed from the schema; a field
the service hashed is read as text, a dropped one is absent.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ..core import paths, storage
from ..core.labels import read_labels
from ..core.schema import Schema
from ..serving.predictionlog import PREDICTIONS, STATS
from .fetch import copy_folder

log = logging.getLogger(__name__)

TOP = {
    "request_id": "VARCHAR",
    "index": "BIGINT",
    "time": "TIMESTAMPTZ",
    "model_version": "VARCHAR",
    "endpoint": "VARCHAR",
    "status": "BIGINT",
    "latency_ms": "DOUBLE",
}


@dataclass(frozen=True)
class LiveData:
    """What the service logged in the window: one row per predicted record, one per request."""

    records: pd.DataFrame  # request_id, index, time, model_version, output, one column per logged input
    requests: pd.DataFrame  # request_id, time, status, latency_ms: the service's (batch scoring's are not requests)
    feedback: pd.DataFrame  # request_id, index, label, labelled_at, source
    files: int
    megabytes: float
    corrupt: int
    dropped: int = 0  # rows the service could not log in the window (its stats files)

    @property
    def versions(self) -> list[str]:
        return sorted(self.records["model_version"].dropna().unique().tolist())

    @property
    def first(self) -> str:
        return _iso(self.requests["time"].min())

    @property
    def last(self) -> str:
        return _iso(self.requests["time"].max())

    @property
    def latest_version(self) -> str:
        """The version of the newest logged record: the model serving now."""
        if self.records.empty:
            return ""
        return str(self.records.loc[self.records["time"].idxmax(), "model_version"])

    def of_version(self, version: str) -> LiveData:
        """Only what `version` answered: its records, their requests and labels, and the failed
        requests from its first record on."""
        records = self.records[self.records["model_version"] == version]
        ids = set(records["request_id"])
        start = records["time"].min() if len(records) else None
        failed = (self.requests["status"] != 200) & (self.requests["time"] >= start) if start is not None else False
        requests = self.requests[self.requests["request_id"].isin(ids) | failed]
        feedback = self.feedback[self.feedback["request_id"].isin(ids)]
        return replace(self, records=records, requests=requests, feedback=feedback)

    def labelled(self) -> pd.DataFrame:
        """The records that have ground truth: the records' columns plus `label`."""
        if self.feedback.empty:
            return self.records.iloc[0:0].assign(
                label=pd.Series(dtype=object), labelled_at=pd.Series(dtype=str), source=pd.Series(dtype=str)
            )
        return self.records.merge(self.feedback, on=["request_id", "index"], how="inner")


def _iso(value: Any) -> str:
    return str(pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")) if pd.notna(value) else ""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _output_type(schema: Schema) -> str:
    if schema.classification:
        return "BIGINT" if all(isinstance(c, int) for c in schema.target.classes) else "VARCHAR"
    return "DOUBLE"


def input_types(files: list[str], schema: Schema, sample: int = 2000) -> dict[str, str]:
    """The logged input fields and their SQL types, from the first records of the log: the
    schema's types, text for a numeric field the service hashed; a dropped field is absent."""
    seen: dict[str, set[type]] = {}
    for file in files:
        with open(file, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    inputs = json.loads(line).get("inputs")
                except (ValueError, AttributeError):
                    continue
                for name, value in (inputs or {}).items():
                    seen.setdefault(name, set()).add(type(value))
                sample -= inputs is not None
                if sample <= 0:
                    break
    types = {}
    for feature in schema.features:
        if feature.name in seen:
            text = not feature.numeric or str in seen[feature.name]
            types[feature.name] = "VARCHAR" if text else "DOUBLE"
    return types


def read_live(
    folder: Path, schema: Schema, since: datetime, until: datetime, database_url: str | None = None
) -> LiveData | None:
    """The log in `folder` between `since` and `until`, and the labels of the store the feedback endpoint
    fills (PostgreSQL at `database_url`, else `folder`'s SQLite); None when there is no log file."""
    files = sorted(str(p) for p in (folder / PREDICTIONS).rglob("*.jsonl"))
    if not files:
        return None
    connection = duckdb.connect()
    connection.execute("SET threads = 2")
    options = "format = 'newline_delimited', ignore_errors = true, maximum_object_size = 16777216"
    types = input_types(files, schema)
    columns = {
        **TOP,
        "inputs": f"STRUCT({', '.join(f'{_quote(n)} {k}' for n, k in types.items())})",
        "output": _output_type(schema),
    }
    spec = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"
    listed = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
    source = f"read_json({listed}, {options}, columns = {spec})"
    valid = "request_id IS NOT NULL AND time IS NOT NULL AND status IS NOT NULL"
    window = f"time >= TIMESTAMPTZ '{since.isoformat()}' AND time <= TIMESTAMPTZ '{until.isoformat()}'"
    lines = sum(_count_lines(Path(f)) for f in files)
    kept = connection.execute(f"SELECT count(*) FROM {source} WHERE {valid}").fetchone()
    corrupt = lines - int(kept[0] if kept else 0)
    fields = ", ".join(f"inputs.{_quote(name)} AS {_quote(name)}" for name in types)
    records = connection.execute(
        f'SELECT request_id, "index", time, model_version, output{", " + fields if fields else ""}'
        f' FROM {source} WHERE {valid} AND {window} AND status = 200 AND "index" IS NOT NULL'
    ).df()
    requests = connection.execute(
        f"SELECT request_id, min(time) AS time, max(status) AS status, max(latency_ms) AS latency_ms"
        f" FROM {source} WHERE {valid} AND {window} AND coalesce(endpoint, '') <> 'batch'"  # the service's alone
        " GROUP BY request_id ORDER BY time"
    ).df()
    connection.close()
    return LiveData(
        records=records,
        requests=requests,
        feedback=read_labels(database_url, folder, schema),
        files=len(files),
        megabytes=sum(Path(f).stat().st_size for f in files) / 1e6,
        corrupt=corrupt,
        dropped=read_dropped(folder, since, until),
    )


def cache_of(url: str) -> Path:
    """Where the days of a log sink are copied to: one folder per URL under .deploy/fetched/."""
    return paths.DEPLOY_STATE / "fetched" / re.sub(r"[^A-Za-z0-9.-]+", "_", url.partition("://")[2]).strip("_")


def fetch_window(url: str, since: datetime, until: datetime, to: Path) -> Path:
    """Copy the sink's `predictions/<day>/` folders of the window to `to` (what `to` holds already is kept);
    the days gone from the sink (its retention) go from `to` too. Returns `to`."""
    fs, root = storage.filesystem(url)
    days = {(since + timedelta(days=n)).strftime("%Y-%m-%d") for n in range((until - since).days + 2)}
    try:
        listed = fs.ls(f"{root}/{PREDICTIONS}", detail=False, refresh=True)
    except FileNotFoundError:
        listed = []
    except Exception as exc:  # each protocol has its own errors: credentials, network, a missing bucket
        raise storage.StorageError(
            f"error: cannot list {url}/{PREDICTIONS}: {exc} — check the URL and the credentials (AWS_* for s3://)"
        ) from exc
    present = {str(p).rstrip("/").rpartition("/")[2] for p in listed}
    for day in sorted(present & days):
        copied = copy_folder(f"{url}/{PREDICTIONS}/{day}", to / PREDICTIONS / day)
        log.info("fetched %d files of %s from %s", len(copied), day, url)
    held = to / PREDICTIONS
    for folder in held.iterdir() if held.is_dir() else []:
        if folder.is_dir() and folder.name not in present:
            shutil.rmtree(folder)
    return to


def local_copy(data: str, since: datetime, until: datetime) -> Path:
    """A folder holding the window's log: `data` itself (a path or file:// URL), or the window's days of a
    log sink (`s3://…/logs/<env>`, every replica's segments) copied into `.deploy/fetched/`."""
    if "://" in data and not data.startswith("file://"):
        started = time.perf_counter()
        folder = fetch_window(data, since, until, cache_of(data))
        log.info("copied the window's log from %s to %s in %.1f s", data, folder, time.perf_counter() - started)
        return folder
    return Path(data.removeprefix("file://"))


def read_dropped(folder: Path, since: datetime, until: datetime) -> int:
    """The rows the service's workers dropped, from the stats written in the window (an unreadable one counts 0)."""
    dropped = 0
    for path in (folder / PREDICTIONS).rglob(f"*{STATS}"):
        try:
            stats = json.loads(path.read_bytes())
            closed = datetime.fromisoformat(str(stats["closed"]).replace("Z", "+00:00"))
            if since <= closed <= until:
                dropped += int(stats["dropped"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return dropped


def _count_lines(path: Path) -> int:
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 24), b""):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")  # a last line without its newline is still a line
