"""Batch scoring: CSV or Parquet files (a file, a folder, an object-store URL) scored in chunks by the service's model.

    make score INPUT=data/new.csv OUTPUT=reports/scores.csv
    python -m <package>.serving.score --input s3://bucket/batch/ --output scores.csv --chunk-rows 50000

The same Predictor and the same record schema as the online service: a chunk is screened column
by column with the schema's own bounds (serving/predictor.py's `screen`), and only the rows that
may break a rule are validated one by one by the request schema (`record_model`, errors reported
by serving/api.py's `problems`), so a row the service would refuse is refused for the same reason.
It is written to the rejects file (default: OUTPUT with `.rejects.csv`) with the field and the
reason, never dropped. The others are predicted as a table (`Predictor.predict_frame`). Each output
row carries its input file (`source`) and position there (`row`, from 0: the key to join the
inputs back), the `prediction`, the `model_version` and the `run_id`: a hash of the input's content
and the model version, so the same input scored by the same model gives the same bytes, however it
is chunked (`{run_id}` in OUTPUT becomes it: a scheduled job writes one file per input). Files are
read CHUNK_ROWS rows at a time (CSV with pandas, Parquet with DuckDB, which only the development
lock has), so memory stays flat whatever the input's size.

Every chunk is also written to the prediction log (serving/predictionlog.py, endpoint `batch`,
one line per scored row and one failed line per rejected row) in MODELOPS_MONITORING_DIR or the
configured MODELOPS_LOG_SINK, so `make monitor` judges batch traffic with the online one. The
log's `latency_ms` of a batch line is its chunk's scoring time per row; its request ids are not
signed (feedback cannot label batch rows by id). MODELOPS_PREDICTION_LOG=false turns the log off.
"""

from __future__ import annotations

import functools
import hashlib
import posixpath
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import IO, Any, cast

import numpy as np
import orjson
import pandas as pd
from pydantic import TypeAdapter, ValidationError

from ..core import cli
from ..core.settings import Settings
from ..core.storage import StorageError, filesystem
from .api import problems
from .predictionlog import MB, Entry, PredictionLog, redaction_for
from .predictor import Predictor, Screened, screen

CHUNK_ROWS = 50_000
FORMATS = (".csv", ".parquet")
REJECT_COLUMNS = ["source", "row", "field", "reason", "record"]
HASH_BLOCK = 1 << 20
RUN_ID = "{run_id}"  # in OUTPUT or REJECTS: replaced by the run's id


class ScoreError(SystemExit):
    """The input cannot be scored; the message names what to fix."""


@dataclass
class Counts:
    """What a run did: rows read, scored and rejected."""

    read: int = 0
    scored: int = 0
    rejected: int = 0


@dataclass
class Input:
    """The files of an input (one file, a folder's CSV and Parquet files, or an object-store URL)."""

    fs: Any
    root: str
    files: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, url: str) -> Input:
        fs, root = filesystem(url)
        if not fs.exists(root):
            raise ScoreError(f"error: no input at {url!r} — pass INPUT=<a CSV or Parquet file, or a folder of them>")
        if fs.isdir(root):
            files = sorted(str(p) for p in fs.find(root) if PurePosixPath(str(p)).suffix in FORMATS)
            if not files:
                raise ScoreError(f"error: no .csv or .parquet file under {url!r} — point INPUT at the data")
        elif PurePosixPath(root).suffix in FORMATS:
            files = [root]
        else:
            raise ScoreError(f"error: {url!r} is neither .csv nor .parquet — convert it, or pass a folder")
        return cls(fs, root, files)

    def name(self, path: str) -> str:
        """A file's name relative to the input: the output's `source` (the same wherever the input lies)."""
        relative = path[len(self.root) :].lstrip("/")
        return relative or PurePosixPath(path).name

    def run_id(self, model_version: str) -> str:
        """16 hex characters of SHA-256 over the files' names and contents and the model version."""
        digest = hashlib.sha256(model_version.encode() + b"\0")
        for path in self.files:
            digest.update(self.name(path).encode() + b"\0")
            with self.fs.open(path, "rb") as handle:
                while block := handle.read(HASH_BLOCK):
                    digest.update(block)
        return digest.hexdigest()[:16]

    def size(self) -> int:
        return sum(int(self.fs.size(path) or 0) for path in self.files)


def records_of(frame: pd.DataFrame, numeric: set[str], text_numbers: bool) -> list[dict[str, Any]]:
    """Rows as the request schema sees them: None where a cell is empty, numbers where a numeric cell's text
    is one (CSV), the value as read otherwise (so a word in a numeric field is refused by name)."""
    columns: list[list[Any]] = []
    for name in frame.columns:
        values = frame[name].astype(object)
        present = values.notna().tolist()
        if name in numeric and text_numbers:
            number = pd.to_numeric(values, errors="coerce").astype(object).tolist()
            cells = [n if n == n else v for n, v in zip(number, values.tolist(), strict=True)]
        else:
            cells = values.tolist()
        columns.append([c if p else None for c, p in zip(cells, present, strict=True)])
    names = [str(c) for c in frame.columns]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def inputs_json(frame: pd.DataFrame, numeric: set[str]) -> list[bytes]:
    """Each row of a screened table as the JSON object orjson makes of its dict (NaN as null), built column
    by column: the same bytes as a dict per row serialised one by one, for a fifth of the CPU."""
    if frame.empty:
        return []
    template = b"{" + b",".join(orjson.dumps(str(name)) + b":%b" for name in frame.columns) + b"}"
    columns: list[list[bytes]] = []
    for name in frame.columns:
        if name in numeric:
            values = np.ascontiguousarray(frame[name].to_numpy(dtype=float))
            columns.append(orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b","))
        else:
            columns.append([orjson.dumps(v) if isinstance(v, str) else b"null" for v in frame[name].tolist()])
    return [template % cells for cells in zip(*columns, strict=True)]


def rows_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A screened table's rows as the log's records (NaN, the missing value, is logged as null)."""
    names = [str(c) for c in frame.columns]
    columns = [frame[name].to_numpy().tolist() for name in frame.columns]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def chunks(source: Input, path: str, rows: int, categorical: list[str]) -> Iterator[tuple[pd.DataFrame, int]]:
    """A file's table, `rows` rows at a time, with the bytes of the file read so far (for the progress).

    CSV: categorical columns are read as text, the others as numbers where every cell of the chunk is
    one (text otherwise: `screen` finds the words); an empty cell is missing."""
    size = int(source.fs.size(path) or 0)
    if path.endswith(".parquet"):
        yield from parquet_chunks(source, path, rows, size)
        return
    text = dict.fromkeys(categorical, str)
    with source.fs.open(path, "rb") as handle:
        for frame in pd.read_csv(handle, dtype=text, keep_default_na=False, na_values=[""], chunksize=rows):
            for name in frame.select_dtypes(include="bool").columns:  # pandas reads a column of True/False as flags
                frame[name] = frame[name].astype(str)
            yield frame, min(handle.tell(), size)


def parquet_chunks(source: Input, path: str, rows: int, size: int) -> Iterator[tuple[pd.DataFrame, int]]:
    """A Parquet file's table through DuckDB (NaN read as missing, like an empty CSV cell)."""
    try:
        import duckdb
    except ImportError as exc:
        raise ScoreError(
            "error: reading Parquet needs duckdb, which only the development lock has (not the service's image)"
            " — convert the input to CSV, or score it where `make install` ran"
        ) from exc
    connection = duckdb.connect()
    connection.execute("SET threads = 1")
    if "file" not in source.fs.protocol:
        connection.register_filesystem(source.fs)
        path = source.fs.unstrip_protocol(path)
    counted = connection.execute("SELECT count(*) FROM read_parquet(?)", [path]).fetchone()
    total, done = max(int(counted[0]) if counted else 0, 1), 0
    connection.execute("SELECT * FROM read_parquet(?)", [path])
    names = [column[0] for column in connection.description or []]
    while batch := connection.fetchmany(rows):
        done += len(batch)
        yield pd.DataFrame.from_records(batch, columns=names), size * done // total


@dataclass
class Scorer:
    """One run: the predictor and its version, where scores, rejects and log rows go."""

    predictor: Predictor
    model_version: str
    log: PredictionLog | None = None
    counts: Counts = field(default_factory=Counts)

    @functools.cached_property
    def records(self) -> TypeAdapter[list[Any]]:
        return TypeAdapter(list[self.predictor.record])  # type: ignore[name-defined]

    @property
    def columns(self) -> list[str]:
        return ["source", "row", "prediction", "model_version", "run_id"]

    @functools.cached_property
    def numeric(self) -> set[str]:
        return {f.name for f in self.predictor.schema.features if f.numeric}

    def check(self, frame: pd.DataFrame, text_numbers: bool = True) -> tuple[Screened, dict[int, list[dict[str, str]]]]:
        """The chunk screened column by column, and the problems of the rows the service would refuse
        (by position in the chunk): the rows `screen` suspects are validated one by one by the request schema."""
        screened = screen(self.predictor.schema, frame, text_numbers)
        suspects = np.flatnonzero(screened.suspect).tolist()
        if not suspects:
            return screened, {}
        found: dict[int, list[dict[str, str]]] = {}
        try:
            self.records.validate_python(records_of(frame.iloc[suspects], self.numeric, text_numbers))
        except ValidationError as exc:
            for problem in problems(exc):
                position, _, name = problem["field"].partition(".")
                found.setdefault(suspects[int(position)], []).append({**problem, "field": name or "(record)"})
        return screened, found

    def chunk(
        self, name: str, first: int, frame: pd.DataFrame, run_id: str, scores: IO[bytes], rejects: IO[bytes]
    ) -> None:
        """Check, score, write and log one chunk whose first row is row `first` of file `name`."""
        started, arrived = time.perf_counter(), time.time()
        text_numbers = not name.endswith(".parquet")
        screened, found = self.check(frame, text_numbers)
        kept = np.ones(len(frame), dtype=bool)
        kept[list(found)] = False
        valid = screened.frame[kept]
        predictions = self.predictor.predict_frame(valid) if len(valid) else []
        if predictions:
            out = pd.DataFrame({"source": name, "row": first + np.flatnonzero(kept), "prediction": predictions})
            out["model_version"], out["run_id"] = self.model_version, run_id
            scores.write(out.to_csv(header=False, index=False, lineterminator="\n").encode())
        reasons = {i: "; ".join(f"{p['field']}: {p['message']}" for p in ps) for i, ps in sorted(found.items())}
        if reasons:
            refused_records = records_of(frame.iloc[list(reasons)], self.numeric, text_numbers)
            refused = pd.DataFrame(
                [
                    [name, first + i, found[i][0]["field"], reason, orjson.dumps(record, default=str).decode()]
                    for (i, reason), record in zip(reasons.items(), refused_records, strict=True)
                ],
                columns=REJECT_COLUMNS,
            )
            rejects.write(refused.to_csv(header=False, index=False, lineterminator="\n").encode())
        self.counts.read += len(frame)
        self.counts.scored += len(valid)
        self.counts.rejected += len(reasons)
        if self.log is not None:
            latency = (time.perf_counter() - started) * 1000 / max(len(frame), 1)
            key = f"{run_id}:{name}:{first}"
            if predictions:
                self.put((request_id(key), arrived, "batch", 200, latency, self.logged(valid), predictions))
            for i, reason in reasons.items():
                self.put((request_id(f"{key}:{i}"), arrived, "batch", 400, latency, [], f"row {first + i}: {reason}"))

    def logged(self, frame: pd.DataFrame) -> Sequence[dict[str, Any]]:
        """A chunk's scored rows as the log's records. With nothing to redact the writer serialises a record as
        given (`Redaction.apply` returns it untouched), so each goes as its JSON (`inputs_json`, an orjson
        Fragment: the same bytes for a fifth of the CPU); with fields to drop or hash, as a dict."""
        assert self.log is not None
        if self.log.redaction.drop or self.log.redaction.hash:
            return rows_of(frame)
        return cast(list[dict[str, Any]], [orjson.Fragment(row) for row in inputs_json(frame, self.numeric)])

    def put(self, entry: Entry) -> None:
        """Hand an entry to the log, waiting while it is behind: a batch never outruns its log."""
        assert self.log is not None
        while self.log.queue.qsize() > 0:
            time.sleep(0.005)
        self.log.put(entry)


def request_id(key: str) -> str:
    """The log's request id of a batch entry: 48 hex characters derived from the run, file and row (not signed)."""
    return hashlib.sha256(key.encode()).hexdigest()[:48]


def score(
    scorer: Scorer,
    input_url: str,
    output: str,
    rejects: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool = False,
) -> Counts:
    """Score every file of `input_url` into `output` (CSV) and its rejects; the counts of the run."""
    if chunk_rows < 1:
        raise ScoreError(f"error: --chunk-rows {chunk_rows} is below 1 — pass a positive number of rows")
    source = Input.of(input_url)
    run_id = source.run_id(scorer.model_version)
    output = output.replace(RUN_ID, run_id)  # a scheduled job's output: one file per input and model
    categorical = scorer.predictor.schema.categorical
    out_fs, out_path = filesystem(output)
    rejects_url = (rejects or posixpath.splitext(output)[0] + ".rejects.csv").replace(RUN_ID, run_id)
    rej_fs, rej_path = filesystem(rejects_url)
    for fs, path in ((out_fs, out_path), (rej_fs, rej_path)):
        parent = str(PurePosixPath(path).parent)
        if parent:
            fs.makedirs(parent, exist_ok=True)
    with (
        Progress(source.size(), enabled=progress) as bar,
        out_fs.open(out_path, "wb") as scores,
        rej_fs.open(rej_path, "wb") as refused,
    ):
        scores.write((",".join(scorer.columns) + "\n").encode())
        refused.write((",".join(REJECT_COLUMNS) + "\n").encode())
        before = 0
        for path in source.files:
            name, first = source.name(path), 0
            for frame, done in chunks(source, path, chunk_rows, categorical):
                scorer.chunk(name, first, frame, run_id, scores, refused)
                first += len(frame)
                bar.update(before + done, scorer.counts)
            before += int(source.fs.size(path) or 0)
    return scorer.counts


class Progress:
    """A progress bar on stderr (rich) over the input's bytes, with the rows scored and rejected."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total, self.enabled = max(total, 1), enabled
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            columns = (TextColumn("score"), BarColumn(), TextColumn("{task.percentage:>3.0f}% {task.description}"))
            self._bar = Bar(*columns, TimeElapsedColumn(), console=Console(stderr=True))
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=self.total)
        return self

    def update(self, done: int, counts: Counts) -> None:
        if self._bar is not None:
            text = f"{counts.scored:,} scored, {counts.rejected:,} rejected"
            self._bar.update(self._task, completed=min(done, self.total), description=text)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def open_log(settings: Settings, model_version: str, predictor: Predictor, chunk_rows: int) -> PredictionLog | None:
    """The prediction log of a batch run (worker `batch`), as the settings configure the service's."""
    if not settings.prediction_log:
        return None
    return PredictionLog(
        settings.monitoring_dir.resolve(),
        model_version,
        "batch",
        settings.log_retention_days,
        redaction_for(settings, predictor.schema),
        sink=settings.log_sink,
        segment_bytes=settings.log_segment_mb * MB,
        buffer_bytes=settings.log_buffer_mb * MB,
        queue_rows=4 * chunk_rows,
    )


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--input", required=True, help="a .csv or .parquet file, a folder of them, or a URL (s3://...)")
    parser.add_argument(
        "--output", required=True, help="the scores, CSV (a path or a URL; {run_id} in it becomes the run's id)"
    )
    parser.add_argument("--rejects", help="the refused rows and why, CSV (default: OUTPUT with .rejects.csv)")
    parser.add_argument(
        "--chunk-rows", type=int, default=CHUNK_ROWS, help="rows read and scored at a time (default: %(default)s)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    args = parser.parse_args(argv)
    settings = cli.start(args)
    from ..core.buildinfo import read_metadata

    predictor = Predictor.load()
    version = str(read_metadata().get("version", "dev"))
    log = open_log(settings, version, predictor, args.chunk_rows)
    scorer = Scorer(predictor, version, log)
    try:
        counts = score(scorer, args.input, args.output, args.rejects, args.chunk_rows, progress=not args.no_progress)
    except (StorageError, OSError, pd.errors.ParserError) as exc:
        raise ScoreError(
            f"error: cannot score {args.input!r}: {exc} — check INPUT, OUTPUT and the storage's credentials"
        ) from exc
    finally:
        if log is not None:
            log.close()
    print(
        f"scored {counts.scored:,} of {counts.read:,} rows into {args.output};"
        f" rejected {counts.rejected:,} (see the rejects file)"
    )
    if log is not None and log.dropped:
        raise ScoreError(
            f"error: the prediction log dropped {log.dropped} rows"
            f" — check that {settings.monitoring_dir} is writable and run again"
        )


if __name__ == "__main__":
    main()
