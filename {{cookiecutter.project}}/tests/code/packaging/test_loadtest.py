"""Tests of packaging/loadtest: the SLO check, against the SLO of docs/criteria.yaml; --url against a stub."""

from __future__ import annotations

import http.server
import json
import shutil
import threading

import pytest
import yaml


@pytest.fixture(scope="module")
def slo(root) -> dict:
    """The SLO of docs/criteria.yaml, the one place it is set."""
    return yaml.safe_load((root / "docs/criteria.yaml").read_text())["slo"]


def result_at(slo: dict, **changes) -> dict:
    """A load-test result exactly at every SLO threshold, with some values changed."""
    base = {"users": slo["users"], "requests": 1000, "p95_ms": slo["p95_ms"], "rps": slo["min_rps"]}
    return {**base, "error_rate": slo["max_error_rate"], **changes}


def test_check_slo_passes_a_result_at_the_thresholds(pkg, slo):
    assert pkg.packaging.loadtest.check_slo(result_at(slo), slo) == []


@pytest.mark.parametrize(
    ("name", "step", "words", "rule"),
    [
        ("p95_ms", 1.0, "p95 latency", "p95_ms"),
        ("error_rate", 0.01, "error rate", "max_error_rate"),
        ("rps", -1.0, "throughput", "min_rps"),
    ],
    ids=["p95", "error-rate", "throughput"],
)
def test_check_slo_names_each_missed_rule_and_its_threshold(pkg, slo, name, step, words, rule):
    result = result_at(slo)
    result[name] += step
    missed = pkg.packaging.loadtest.check_slo(result, slo)
    assert len(missed) == 1, missed
    assert words in missed[0] and str(slo[rule]) in missed[0]


def test_check_slo_fails_a_run_without_requests(pkg, slo):
    assert pkg.packaging.loadtest.check_slo(result_at(slo, requests=0), slo) == ["no request completed"]


def test_check_slo_lists_every_missed_rule(pkg, slo):
    result = result_at(slo, requests=0, p95_ms=slo["p95_ms"] * 10, error_rate=1.0, rps=0.0)
    assert len(pkg.packaging.loadtest.check_slo(result, slo)) == 4


# --- --url: a service that already runs, here a stub answering like the model service -------------


class Stub(http.server.BaseHTTPRequestHandler):
    """POST /predict answers like the service when the bearer token is right, 401 otherwise."""

    seen: list[tuple[str, str | None]] = []
    key = "load-test-key"  # pragma: allowlist secret

    def do_POST(self) -> None:  # noqa: N802 (the http.server API)
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.seen.append((self.path, self.headers.get("authorization")))
        ok = self.path == "/predict" and self.headers.get("authorization") == f"Bearer {self.key}"
        body = b'{"predictions": [1], "request_id": "0"}' if ok else b'{"error": "unauthorized"}'
        self.send_response(200 if ok else 401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def stub_url(isolated, root, monkeypatch):
    """A stub service's URL, run from a folder with the locustfile, a relaxed SLO and two test records."""
    (isolated / "load").mkdir()
    shutil.copy(root / "load/locustfile.py", isolated / "load/locustfile.py")
    (isolated / "params.yaml").write_text("evaluate:\n  criteria: docs/criteria.yaml\n")
    slo = {"users": 2, "spawn_rate": 2, "duration_s": 2, "p95_ms": 5000, "max_error_rate": 0.0, "min_rps": 1}
    (isolated / "docs").mkdir()
    (isolated / "docs/criteria.yaml").write_text(yaml.safe_dump({"slo": slo}))
    (isolated / "data/processed").mkdir(parents=True)
    (isolated / "data/processed/schema.json").write_text(json.dumps({"features": [{"name": "x", "kind": "numeric"}]}))
    (isolated / "data/processed/test.csv").write_text("x\n1.0\n2.0\n")
    Stub.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_url_load_tests_the_running_service_with_the_api_key(pkg, stub_url, isolated, monkeypatch):
    def no_local_server(*args, **kwargs):
        raise AssertionError("--url started a local server")

    monkeypatch.setattr(pkg.packaging.localserver, "running", no_local_server)
    monkeypatch.setenv("MODELOPS_API_KEY", Stub.key)
    pkg.packaging.loadtest.main(["--url", f"{stub_url}/", "--seconds", "2"])
    record = json.loads((isolated / "reports/load.json").read_text())
    assert record["target"] == stub_url and record["server_rss_mb"] is None
    assert record["requests"] > 0 and record["failures"] == 0 and record["slo_passed"] is True
    assert set(Stub.seen) == {("/predict", f"Bearer {Stub.key}")}


@pytest.mark.slow
def test_url_applies_the_slo_gate(pkg, stub_url, isolated, monkeypatch):
    monkeypatch.setenv("MODELOPS_API_KEY", "a-wrong-key")
    with pytest.raises(SystemExit) as failed:
        pkg.packaging.loadtest.main(["--url", stub_url, "--seconds", "2"])
    assert failed.value.code == 1
    record = json.loads((isolated / "reports/load.json").read_text())
    assert record["slo_passed"] is False and record["error_rate"] == 1.0 and record["server_rss_mb"] is None
