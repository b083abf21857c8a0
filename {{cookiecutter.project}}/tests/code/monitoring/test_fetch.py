"""Tests of monitoring/fetch: the service's monitoring folder copied from a folder or a URL."""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path

import pytest

FILES = {
    "predictions/predictions-pod-a-w1-2026-12-01.jsonl": b'{"request_id": "a", "output": 1}\n' * 50,
    "predictions/predictions-pod-b-w1-2026-12-01.jsonl": b'{"request_id": "b", "output": 0}\n' * 20,
    "feedback.sqlite": b"SQLite format 3\x00" + bytes(4080),
    "feedback.sqlite-wal": bytes(1000),
}


@pytest.fixture
def fetch(pkg):
    return importlib.import_module(f"{pkg.name}.monitoring.fetch")


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


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed in this Python")
def test_s3_without_s3fs_names_make_install_s3(fetch, isolated):
    with pytest.raises(SystemExit, match=r"no fsspec implementation of s3:// here .*s3fs.* — `make install-s3`"):
        fetch.main(["--source", "s3://bucket/monitoring"])


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed in this Python")
def test_s3_without_s3fs_runs_the_copy_with_venv_s3_when_it_exists(fetch, pkg, isolated, fake_program):
    """The copy runs as `.venv-s3/bin/python -m <package>.monitoring.fetch`, the package from src/."""
    fake = isolated / ".venv-s3/bin/python"
    fake.parent.mkdir(parents=True)
    record = isolated / "delegated.json"
    script = "import json, os, sys\nseen = dict(argv=sys.argv[1:], pythonpath=os.environ['PYTHONPATH'])\n"
    script += f"json.dump(seen, open({str(record)!r}, 'w'))\nsys.exit(3)\n"
    fake_program(fake, script)
    with pytest.raises(SystemExit) as delegated:
        fetch.main(["--source", "s3://bucket/monitoring", "--to", "copy"])
    assert delegated.value.code == 3, "the exit code of the copy in .venv-s3 is the command's"
    seen = json.loads(record.read_text())
    assert seen["argv"] == ["-m", f"{pkg.name}.monitoring.fetch", "--source", "s3://bucket/monitoring", "--to", "copy"]
    assert (Path(seen["pythonpath"].split(":")[0]) / pkg.name / "monitoring" / "fetch.py").is_file()
