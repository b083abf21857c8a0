"""Unit tests of serving/score: real CSV and Parquet files, the toy predictor, the real prediction log read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd
import pytest
from starlette.testclient import TestClient

VERSION = "1.2.3-abcdef0"


@pytest.fixture
def batch(pkg, make_predictor, make_toy):
    """(scorer factory, predictor, good frame): the toy classifier and 40 rows it accepts."""
    predictor = make_predictor("classification")
    good = make_toy(n=40, seed=3)[predictor.schema.names]

    def scorer(version: str = VERSION, log=None):
        return pkg.serving.score.Scorer(predictor, version, log)

    return scorer, predictor, good


def with_bad_rows(good: pd.DataFrame) -> pd.DataFrame:
    """The good rows with three the service refuses: a word in a number, a number far out of range, an infinite one."""
    frame = good.astype(object)
    bad = pd.DataFrame(
        [
            {"size": "tall", "weight": 0.5, "colour": "red"},
            {"size": 10.0, "weight": 1e9, "colour": "blue"},
            {"size": "inf", "weight": 0.1, "colour": "green"},
        ]
    )
    return pd.concat(
        [frame.iloc[:10], bad.iloc[:1], frame.iloc[10:25], bad.iloc[1:], frame.iloc[25:]], ignore_index=True
    )


def run(pkg, scorer, source, out, chunk_rows=1000):
    counts = pkg.serving.score.score(scorer, str(source), str(out), chunk_rows=chunk_rows)
    return counts, pd.read_csv(out), pd.read_csv(out.with_suffix(".rejects.csv"))


def test_good_rows_get_the_predictors_answers_and_bad_rows_are_rejected_by_field(pkg, batch, tmp_path):
    make, predictor, good = batch
    source = tmp_path / "in.csv"
    with_bad_rows(good).to_csv(source, index=False)
    counts, scores, rejects = run(pkg, make(), source, tmp_path / "scores.csv")
    assert (counts.read, counts.scored, counts.rejected) == (43, 40, 3)
    assert len(scores) + len(rejects) == counts.read
    assert scores["prediction"].tolist() == predictor.predict(predictor.schema.client_records(good))
    assert scores["row"].tolist() == [*range(10), *range(11, 26), *range(28, 43)]
    assert set(scores["model_version"]) == {VERSION} and scores["run_id"].nunique() == 1
    assert rejects[["row", "field"]].values.tolist() == [[10, "size"], [26, "weight"], [27, "size"]]
    assert "valid number" in rejects["reason"][0] and "less than or equal" in rejects["reason"][1]
    assert '"tall"' in rejects["record"][0]


# A mixed chunk: each case as a CSV line and as the JSON record a client of the service would send.
MIXED = [
    ("10.5,0.2,red", {"size": 10.5, "weight": 0.2, "colour": "red"}),
    ("tall,0.2,red", {"size": "tall", "weight": 0.2, "colour": "red"}),
    ("10,1e9,blue", {"size": 10, "weight": 1e9, "colour": "blue"}),
    ("10,-1e9,blue", {"size": 10, "weight": -1e9, "colour": "blue"}),
    ("inf,0.1,green", {"size": float("inf"), "weight": 0.1, "colour": "green"}),
    ("-inf,0.1,green", {"size": float("-inf"), "weight": 0.1, "colour": "green"}),
    ("9,nan,green", {"size": 9, "weight": "nan", "colour": "green"}),
    ("9,,", {"size": 9, "weight": None, "colour": None}),
    (",0.3,purple", {"size": None, "weight": 0.3, "colour": "purple"}),
    (f"9,0.1,{'x' * 201}", {"size": 9, "weight": 0.1, "colour": "x" * 201}),
    ("tall,1e9,green", {"size": "tall", "weight": 1e9, "colour": "green"}),
    ("1e400,0,red", {"size": float("inf"), "weight": 0, "colour": "red"}),
    ("11.25,-0.5,blue", {"size": 11.25, "weight": -0.5, "colour": "blue"}),
    ("True,0,red", {"size": "True", "weight": 0, "colour": "red"}),
]


def test_the_chunk_path_refuses_what_the_service_refuses_for_the_same_reasons(pkg, batch, tmp_path):
    make, predictor, _ = batch
    source = tmp_path / "mixed.csv"
    source.write_text("size,weight,colour\n" + "".join(f"{line}\n" for line, _ in MIXED))
    client = TestClient(pkg.serving.api.create_app(pkg.serving.api.Runtime(predictor, {"version": VERSION}, 1)))
    counts, scores, rejects = run(pkg, make(), source, tmp_path / "scores.csv", chunk_rows=len(MIXED))
    served: dict[int, object] = {}
    refused: dict[int, str] = {}
    for row, (_, record) in enumerate(MIXED):
        answer = client.post("/predict", content=json.dumps({"records": [record]}))  # Infinity as the client sent it
        if answer.status_code == 200:
            served[row] = answer.json()["predictions"][0]
        else:
            assert answer.status_code == 400
            detail = answer.json()["detail"]
            refused[row] = "; ".join(f"{d['field'].removeprefix('records.0.')}: {d['message']}" for d in detail)
    assert len(refused) == 10 and len(served) == 4
    assert dict(zip(rejects["row"], rejects["reason"], strict=True)) == refused
    assert dict(zip(scores["row"], scores["prediction"], strict=True)) == served
    assert (counts.scored, counts.rejected) == (len(served), len(refused))


def test_screen_marks_every_row_the_record_schema_refuses(pkg, batch):
    """The column-wise screen never passes a row the request schema would refuse (Parquet-typed columns too)."""
    _, predictor, good = batch
    frame = good.head(6).astype(object).reset_index(drop=True)
    frame.loc[1, "colour"] = 3  # a number where text belongs
    frame.loc[2, "size"] = True  # a flag where a number belongs
    frame.loc[3, "size"] = "10"  # text where a number belongs: refused unless the table is CSV text
    screened = pkg.serving.predictor.screen(predictor.schema, frame, text_numbers=False)
    assert screened.suspect.tolist() == [False, True, True, True, False, False]
    extra = pkg.serving.predictor.screen(predictor.schema, good.head(3).assign(height=1.0))
    assert screened.frame.columns.tolist() == predictor.schema.names and extra.suspect.all()


def test_a_missing_column_rejects_every_row_naming_it(pkg, batch, tmp_path):
    make, _, good = batch
    source = tmp_path / "in.csv"
    good.drop(columns="colour").head(5).to_csv(source, index=False)
    counts, scores, rejects = run(pkg, make(), source, tmp_path / "scores.csv")
    assert (counts.scored, counts.rejected, len(scores)) == (0, 5, 0)
    assert set(rejects["field"]) == {"colour"} and set(rejects["reason"]) == {"colour: Field required"}


def test_chunks_give_the_same_bytes_as_one_chunk_and_the_run_id_follows_input_and_model(pkg, batch, tmp_path):
    make, _, good = batch
    source = tmp_path / "in.csv"
    with_bad_rows(good).to_csv(source, index=False)
    outputs = {}
    for rows in (7, 1000):
        out = tmp_path / f"scores-{rows}.csv"
        pkg.serving.score.score(make(), str(source), str(out), chunk_rows=rows)
        outputs[rows] = (out.read_bytes(), out.with_suffix(".rejects.csv").read_bytes())
    assert outputs[7] == outputs[1000]
    other = tmp_path / "other.csv"
    pkg.serving.score.score(make("9.9.9-0000000"), str(source), str(other))
    assert pd.read_csv(other)["run_id"][0] != pd.read_csv(tmp_path / "scores-7.csv")["run_id"][0]


def test_parquet_input_scores_as_the_csv_does(pkg, batch, tmp_path):
    make, predictor, good = batch
    frame = good.copy()  # noqa: F841 - read by DuckDB's replacement scan
    source = tmp_path / "in.parquet"
    duckdb.sql(f"COPY (SELECT * FROM frame) TO '{source}' (FORMAT parquet)")
    counts, scores, rejects = run(pkg, make(), source, tmp_path / "scores.csv", chunk_rows=15)
    assert (counts.scored, counts.rejected, len(rejects)) == (40, 0, 0)
    assert scores["prediction"].tolist() == predictor.predict(predictor.schema.client_records(good))


def test_a_folder_scores_each_file_and_names_it(pkg, batch, tmp_path):
    make, _, good = batch
    folder = tmp_path / "batch"
    (folder / "b").mkdir(parents=True)
    good.head(10).to_csv(folder / "a.csv", index=False)
    with_bad_rows(good).tail(20).to_csv(folder / "b" / "c.csv", index=False)
    (folder / "notes.txt").write_text("not data")
    counts, scores, rejects = run(pkg, make(), folder, tmp_path / "scores.csv", chunk_rows=6)
    assert counts.read == 30 and counts.scored + counts.rejected == 30 and counts.rejected == 2
    assert scores.groupby("source").size().to_dict() == {"a.csv": 10, "b/c.csv": 18}
    assert set(rejects["source"]) == {"b/c.csv"}


def test_the_log_holds_batch_rows_and_the_monitor_reads_them(pkg, batch, tmp_path):
    make, predictor, good = batch
    source = tmp_path / "in.csv"
    with_bad_rows(good).to_csv(source, index=False)
    log = pkg.serving.predictionlog.PredictionLog(tmp_path / "monitoring", VERSION, "batch", queue_rows=40)
    started = datetime.now(UTC) - timedelta(minutes=1)
    counts, _, _ = run(pkg, make(log=log), source, tmp_path / "scores.csv", chunk_rows=9)
    log.close()
    assert log.dropped == 0
    lines = [
        line for path in (tmp_path / "monitoring/predictions").glob("*.jsonl") for line in path.read_text().splitlines()
    ]
    assert len(lines) == counts.read and all('"endpoint":"batch"' in line for line in lines)
    live = pkg.monitoring.logs.read_live(
        tmp_path / "monitoring", predictor.schema, started, datetime.now(UTC) + timedelta(minutes=1)
    )
    assert live is not None and len(live.records) == counts.scored
    assert set(live.records["model_version"]) == {VERSION}
    assert counts.rejected and live.requests.empty  # batch rows are judged as records, not as the service's latency
    scored = [record for record in map(json.loads, lines) if record["status"] == 200]
    assert sorted(json.dumps(r["inputs"], sort_keys=True) for r in scored) == sorted(
        json.dumps(record, sort_keys=True) for record in predictor.schema.client_records(good)
    ), "each scored row's inputs as the service logs a request's record (missing as null)"


def test_the_log_drops_and_hashes_batch_inputs_as_the_services(pkg, batch, tmp_path):
    make, predictor, good = batch
    source = tmp_path / "in.csv"
    good.to_csv(source, index=False)
    redaction = pkg.serving.predictionlog.Redaction(frozenset({"colour"}), frozenset({"size"}), "s" * 32)
    log = pkg.serving.predictionlog.PredictionLog(tmp_path / "monitoring", VERSION, "batch", redaction=redaction)
    run(pkg, make(log=log), source, tmp_path / "scores.csv", chunk_rows=15)
    log.close()
    lines = [json.loads(line) for path in (tmp_path / "monitoring/predictions").glob("*.jsonl") for line in path.open()]
    assert len(lines) == len(good) and all(set(line["inputs"]) == {"size", "weight"} for line in lines)
    assert all(line["inputs"]["size"].startswith("hmac-sha256:") for line in lines)


def test_no_input_is_an_error_naming_the_fix(pkg, batch, tmp_path):
    make, _, _ = batch
    with pytest.raises(SystemExit, match="error: no input at .* pass INPUT="):
        pkg.serving.score.score(make(), str(tmp_path / "missing.csv"), str(tmp_path / "out.csv"))
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(SystemExit, match="neither .csv nor .parquet"):
        pkg.serving.score.score(make(), str(tmp_path / "data.json"), str(tmp_path / "out.csv"))


def test_make_score_reads_and_writes_the_object_store_and_logs_to_its_sink(pkg, root, predictor, s3_env, tmp_path):
    """`make score` with the project's model on an S3 folder (a CSV and a Parquet file, moto's server): the scores
    under the run's id, the rejects beside them, every row in the log sink."""
    import s3fs

    schema = predictor.schema
    good = schema.read_split(root / pkg.core.paths.TEST)[schema.names].head(30)  # categories as text
    first = schema.numeric[0]
    bad = good.head(2).astype(object)
    bad.loc[bad.index[0], first], bad.loc[bad.index[1], first] = "tall", 1e12
    fs = s3fs.S3FileSystem(endpoint_url=s3_env.endpoint)
    prefix = f"{s3_env.bucket}/score/{tmp_path.name}"
    fs.pipe_file(f"{prefix}/in/a.csv", pd.concat([good, bad]).to_csv(index=False).encode())
    frame = good  # noqa: F841 - read by DuckDB's replacement scan
    duckdb.sql(f"COPY (SELECT * FROM frame) TO '{tmp_path / 'b.parquet'}' (FORMAT parquet)")
    fs.put_file(str(tmp_path / "b.parquet"), f"{prefix}/in/b.parquet")
    env = {**os.environ, **s3_env.env, "MODELOPS_MONITORING_DIR": str(tmp_path / "monitoring")}
    env["MODELOPS_LOG_SINK"] = f"s3://{prefix}/logs"
    output = f"s3://{prefix}/out/" + "{run_id}.csv"  # the command's placeholder, filled with the run's id
    done = subprocess.run(
        ["make", "--no-print-directory", "score", f"INPUT=s3://{prefix}/in/", f"OUTPUT={output}"],
        cwd=root, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "scored 60 of 62 rows" in done.stdout and "rejected 2" in done.stdout
    written = sorted(path.rpartition("/")[2] for path in fs.find(f"{prefix}/out"))
    assert len(written) == 2 and written[0].endswith(".csv") and written[1].endswith(".rejects.csv")
    scores = pd.read_csv(fs.open(f"{prefix}/out/{written[0]}"))
    run_id = written[0].removesuffix(".csv")
    assert set(scores["run_id"]) == {run_id} and scores.groupby("source").size().to_dict() == {
        "a.csv": 30,
        "b.parquet": 30,
    }
    expected = predictor.predict(schema.client_records(good))
    for name in ("a.csv", "b.parquet"):
        got = scores[scores["source"] == name]["prediction"].tolist()
        assert got == (expected if schema.classification else pytest.approx(expected, rel=1e-9))
    rejects = pd.read_csv(fs.open(f"{prefix}/out/{written[1]}"))
    assert rejects[["source", "row", "field"]].values.tolist() == [["a.csv", 30, first], ["a.csv", 31, first]]
    lines = [
        json.loads(line)
        for path in fs.find(f"{prefix}/logs")
        if path.endswith(".jsonl")
        for line in fs.cat(path).splitlines()
    ]
    assert len(lines) == 62 and {line["endpoint"] for line in lines} == {"batch"}
    assert sorted(line["status"] for line in lines) == [200] * 60 + [400] * 2
    assert {line["model_version"] for line in lines} == set(scores["model_version"])


def test_the_command_has_help(pkg):
    module = f"{pkg.name}.serving.score"
    shown = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=True)
    assert "--chunk-rows" in shown.stdout and "--rejects" in shown.stdout
