"""Tests of monitoring/fetch: the service's monitoring folder copied from a folder or a URL."""

from __future__ import annotations

from pathlib import Path

import pytest

FILES = {
    "predictions/predictions-pod-a-w1-2026-12-01.jsonl": b'{"request_id": "a", "output": 1}\n' * 50,
    "predictions/predictions-pod-b-w1-2026-12-01.jsonl": b'{"request_id": "b", "output": 0}\n' * 20,
    "feedback.sqlite": b"SQLite format 3\x00" + bytes(4080),
    "feedback.sqlite-wal": bytes(1000),
}


@pytest.fixture
def fetch(module):
    return module("monitoring.fetch")


@pytest.fixture
def service_folder(isolated) -> Path:
    """A monitoring folder as the service writes it, with SQLite's -shm index beside its store."""
    folder = isolated / "volume" / "monitoring"
    for name, data in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / "feedback.sqlite-shm").write_bytes(bytes(32768))
    return folder


def copied_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("as_url", [False, True], ids=["folder", "file-url"])
def test_the_folder_is_copied_file_by_file_without_the_sqlite_index(fetch, service_folder, isolated, capsys, as_url):
    source = service_folder.as_uri() if as_url else str(service_folder)
    fetch.main(["--source", source])
    target = isolated / ".deploy/local/monitoring"
    assert copied_files(target) == FILES
    out = capsys.readouterr().out
    total = sum(len(data) for data in FILES.values()) / 1e6
    assert f"copied 4 files ({total:.2f} MB) from {source} to .deploy/local/monitoring" in out
    assert "predictions/predictions-pod-a-w1-2026-12-01.jsonl  0.00 MB" in out and "-shm" not in out


def test_a_second_fetch_replaces_files_and_keeps_others(fetch, service_folder, isolated):
    target = isolated / "copy"
    fetch.main(["--source", str(service_folder), "--to", str(target)])
    (service_folder / "feedback.sqlite-wal").write_bytes(b"newer")
    (target / "notes.txt").write_text("mine")
    fetch.main(["--source", str(service_folder), "--to", str(target)])
    assert (target / "feedback.sqlite-wal").read_bytes() == b"newer" and (target / "notes.txt").read_text() == "mine"


def test_an_empty_folder_copies_nothing_and_says_so(fetch, isolated, capsys):
    (isolated / "empty").mkdir()
    fetch.main(["--source", str(isolated / "empty"), "--to", str(isolated / "copy")])
    out = capsys.readouterr().out
    assert "copied 0 files (0.00 MB)" in out and "holds no file yet" in out


@pytest.mark.parametrize("source", ["", "   "], ids=["empty", "blank"])
def test_no_source_names_the_setting(fetch, isolated, source):
    with pytest.raises(SystemExit, match=r"no monitoring source — set SOURCE .*MONITORING_SOURCE"):
        fetch.main(["--source", source])


def test_a_missing_source_is_named(fetch, isolated):
    with pytest.raises(SystemExit, match=r"the monitoring source .*nowhere is not there — set SOURCE"):
        fetch.main(["--source", str(isolated / "nowhere")])
    with pytest.raises(SystemExit, match=r"the monitoring source file://.*nowhere is not there — set SOURCE"):
        fetch.main(["--source", (isolated / "nowhere").as_uri()])


def test_a_file_is_not_a_folder(fetch, service_folder):
    with pytest.raises(SystemExit, match=r"is a file, not a folder"):
        fetch.main(["--source", (service_folder / "feedback.sqlite").as_uri()])


def test_the_source_cannot_be_the_destination(fetch, service_folder):
    with pytest.raises(SystemExit, match=r"is the destination"):
        fetch.main(["--source", str(service_folder), "--to", str(service_folder)])


def test_an_unknown_protocol_is_named(fetch, isolated):
    with pytest.raises(SystemExit, match=r"cannot read 'nosuch://bucket/x': Protocol not known: nosuch"):
        fetch.main(["--source", "nosuch://bucket/x"])


def test_an_unchanged_file_is_not_copied_again(fetch, service_folder, isolated, capsys):
    """Incremental: the second fetch copies only what changed size, so --to works as a cache of the source."""
    target = isolated / "copy"
    fetch.main(["--source", str(service_folder), "--to", str(target)])
    capsys.readouterr()
    grown = service_folder / "predictions/predictions-pod-b-w1-2026-12-01.jsonl"
    with grown.open("ab") as handle:
        handle.write(b'{"request_id": "c", "output": 1}\n')
    fetch.main(["--source", str(service_folder), "--to", str(target)])
    out = capsys.readouterr().out
    assert "copied 1 files" in out and "predictions-pod-b-w1-2026-12-01.jsonl" in out and "pod-a" not in out, out
    assert (target / "predictions/predictions-pod-b-w1-2026-12-01.jsonl").read_bytes() == grown.read_bytes()


def put_objects(fs, prefix: str, objects: dict[str, bytes]) -> None:
    for key, data in objects.items():
        fs.pipe_file(f"{prefix}/{key}", data)


@pytest.fixture
def bucket_folder(s3_env, request) -> str:
    """A fresh prefix of the test bucket (moto's S3 server), holding FILES."""
    import s3fs

    prefix = f"{s3_env.bucket}/fetch/{request.node.name}"
    fs = s3fs.S3FileSystem(endpoint_url=s3_env.endpoint)
    put_objects(fs, prefix, FILES)
    return prefix


def test_an_s3_folder_is_copied_then_only_what_is_new(fetch, bucket_folder, isolated, capsys):
    import s3fs

    target = isolated / "copy"
    fetch.main(["--source", f"s3://{bucket_folder}", "--to", str(target)])
    assert copied_files(target) == FILES
    capsys.readouterr()
    fs = s3fs.S3FileSystem()  # AWS_ENDPOINT_URL from the environment, as the command reads it
    put_objects(fs, bucket_folder, {"predictions/predictions-pod-c-w2-2026-12-02.jsonl": b"{}\n"})
    fetch.main(["--source", f"s3://{bucket_folder}", "--to", str(target)])
    out = capsys.readouterr().out
    assert "copied 1 files" in out and "pod-c-w2" in out, out


@pytest.mark.parametrize("key", ["../../Makefile", "a/../../escape.txt", "/absolute.txt"], ids=["up", "inner", "abs"])
def test_an_object_named_to_leave_the_folder_is_refused_and_the_rest_copied(
    fetch, bucket_folder, isolated, capsys, key
):
    import s3fs

    fs = s3fs.S3FileSystem()
    fs.pipe_file(f"{bucket_folder}/{key}", b"pwned")  # S3 keys are plain strings: ".." is a name there
    assert any(path.endswith(key.lstrip("/")) for path in fs.find(bucket_folder)), "moto kept no such key"
    target = isolated / "deep" / "copy"
    fetch.main(["--source", f"s3://{bucket_folder}", "--to", str(target)])
    captured = capsys.readouterr()
    assert copied_files(target) == FILES, "the other objects were not copied"
    written = [p for p in isolated.rglob("*") if p.is_file() and p.read_bytes() == b"pwned"]
    assert written == [], f"the refused object was written to {written}"
    assert "refused" in captured.err and key.lstrip("/").split("/")[-1] in captured.err, captured.err
