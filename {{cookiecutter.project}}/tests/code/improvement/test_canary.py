"""The canary analysis: /metrics parsed as Prometheus text, the judging rules, and the command against stub services.

The stubs are real HTTP servers on loopback answering /metadata, /metrics and /predict the way the
service does; the prediction log is a folder of JSON-lines segments as the service writes them. The
command against two real deployed versions is the template's test (tests/test_delivery.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCHEMA = {
    "task": "classification",
    "target": {"name": "y", "kind": "categorical", "classes": [0, 1]},
    "features": [
        {"name": "x", "kind": "numeric", "min": 0.0, "max": 10.0},
        {"name": "colour", "kind": "categorical", "dtype": "object", "categories": ["blue", "red"]},
    ],
}
CRITERIA = {
    "impact": {"tolerance": 0.0},
    "canary": {
        "min_requests": 10,
        "min_records": 10,
        "max_error_rate": 0.05,
        "max_p95_ms": 250,
        "max_p95_ratio": 1.5,
        "p95_slack_ms": 10,
        "max_disagreement": 0.1,
    },
}


def sample(name: str, value: float, **labels: str) -> str:
    """One Prometheus sample line: `name{label="value",...} value`."""
    pairs = ",".join(f'{key}="{text}"' for key, text in sorted(labels.items()))
    return name + "{" + pairs + "} " + str(value)


def metrics_text(ok: int, failed: int, fast: int, slow: int, prefix: str = "bentoml_service") -> str:
    """BentoML's /metrics as it writes them (requests by endpoint and status, durations) and the log's counters."""
    common = {"service_name": "s", "service_version": "v"}
    total = ok + failed
    lines = [
        f"# HELP {prefix}_request_total Total number of HTTP requests",
        f"# TYPE {prefix}_request_total counter",
        sample(f"{prefix}_request_total", ok, endpoint="/predict", http_response_code="200", **common),
        sample(f"{prefix}_request_total", failed, endpoint="/predict", http_response_code="500", **common),
        sample(f"{prefix}_request_total", 900, endpoint="/readyz", http_response_code="200", **common),
        f"# HELP {prefix}_request_duration_seconds API HTTP request duration in seconds",
        f"# TYPE {prefix}_request_duration_seconds histogram",
    ]
    for bound, count in (("0.005", fast), ("0.01", fast), ("0.1", total - slow), ("1.0", total), ("+Inf", total)):
        labels = {"endpoint": "/predict", "http_response_code": "200", "le": bound, **common}
        lines.append(sample(f"{prefix}_request_duration_seconds_bucket", count, **labels))
    lines += [
        sample(
            f"{prefix}_request_duration_seconds_count", total, endpoint="/predict", http_response_code="200", **common
        ),
        "# HELP modelops_prediction_log_rows_written_total Rows written to the prediction log's segments.",
        "# TYPE modelops_prediction_log_rows_written_total counter",
        sample("modelops_prediction_log_rows_written_total", 5, worker="1"),
    ]
    return "\n".join(lines) + "\n"


class Stub:
    """A service on loopback: its version, its /metrics text and its predictions (a function of a record)."""

    def __init__(self, version: str, metrics: str, predict: Callable[[dict], object]) -> None:
        self.version, self.metrics, self.predict = version, metrics, predict
        self.predicted = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/metadata":
                    self._send(200, json.dumps({"version": stub.version}).encode(), "application/json")
                elif self.path == "/metrics":
                    self._send(200, stub.metrics.encode(), "text/plain; version=0.0.4")
                else:
                    self._send(404, b"", "text/plain")

            def do_POST(self) -> None:
                records = json.loads(self.rfile.read(int(self.headers["content-length"])))["records"]
                stub.predicted += len(records)
                body = json.dumps({"predictions": [stub.predict(r) for r in records]}).encode()
                self._send(200, body, "application/json")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stubs() -> Iterator[Callable[..., Stub]]:
    started: list[Stub] = []

    def start(version: str, metrics: str, predict: Callable[[dict], object]) -> Stub:
        started.append(Stub(version, metrics, predict))
        return started[-1]

    yield start
    for stub in started:
        stub.close()


def truth(record: dict) -> int:
    return int(record["x"] > 5)


def write_log(folder: Path, version: str, n: int, predict: Callable[[dict], object], sink: bool = False) -> Path:
    """`n` answered records of `version` in one segment, as the service writes them (or as a sink keeps them:
    in a folder per day), plus a failed request and a line cut short."""
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    segment = folder / "predictions" / (day if sink else "") / f"{day}_{version}_000001.jsonl"
    segment.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        record = {"x": float(i % 10), "colour": ["blue", "red"][i % 2]}
        row = {"request_id": f"r{i}", "index": 0, "time": f"{day}T00:00:00Z", "model_version": version}
        lines.append(json.dumps({**row, "status": 200, "latency_ms": 1.0, "inputs": record, "output": predict(record)}))
    lines.append(
        json.dumps({"request_id": "bad", "index": None, "model_version": version, "status": 500, "error": "x"})
    )
    lines.append('{"request_id": "cut", "index"')  # a segment still being written
    segment.write_text("\n".join(lines))
    return folder


@pytest.fixture
def files(isolated) -> tuple[Path, Path]:
    import yaml

    (isolated / "schema.json").write_text(json.dumps(SCHEMA))
    (isolated / "criteria.yaml").write_text(yaml.safe_dump(CRITERIA))
    return isolated / "schema.json", isolated / "criteria.yaml"


def run(canary_module, capsys, canary: Stub, stable: Stub, log: Path, files: tuple[Path, Path]) -> tuple[int, str]:
    schema, criteria = files
    args = ["--canary-url", canary.url, "--stable-url", stable.url, "--log", str(log)]
    with pytest.raises(SystemExit) as exc:
        canary_module.main([*args, "--schema", str(schema), "--criteria", str(criteria), "--record", "canary.json"])
    return int(exc.value.code or 0), capsys.readouterr().out


# --- /metrics ---------------------------------------------------------------------------------------


def test_metrics_count_prediction_requests_their_5xx_and_their_p95(pkg):
    traffic = pkg.improvement.canary.parse_metrics(metrics_text(ok=95, failed=5, fast=50, slow=0))
    assert (traffic.requests, traffic.errors, traffic.error_rate) == (100, 5, 0.05)
    # rank 95 of 100 lies in (0.01, 0.1]: 50 below it, 50 in it → 0.01 + 0.09 * 45/50
    assert traffic.p95_ms == pytest.approx(91.0)


def test_metrics_without_bentomls_counters_count_nothing(pkg):
    """MODELOPS_METRICS off: /metrics holds only the log's counters."""
    only_log = (
        "# TYPE modelops_prediction_log_rows_written_total counter\nmodelops_prediction_log_rows_written_total 5\n"
    )
    traffic = pkg.improvement.canary.parse_metrics(only_log)
    assert (traffic.requests, traffic.errors, traffic.p95_ms) == (0, 0, None)


def test_the_quantile_interpolates_as_prometheus_does(pkg):
    quantile = pkg.improvement.canary.quantile
    assert quantile(0.5, [(1.0, 10), (2.0, 20), (float("inf"), 20)]) == pytest.approx(1.0)
    assert quantile(0.75, [(1.0, 10), (2.0, 20), (float("inf"), 20)]) == pytest.approx(1.5)
    assert quantile(0.95, [(1.0, 10), (float("inf"), 20)]) == 1.0  # in +Inf: the largest finite bound
    assert quantile(0.95, []) is None and quantile(0.95, [(1.0, 0), (float("inf"), 0)]) is None


# --- the rules --------------------------------------------------------------------------------------


def verdicts(checks) -> dict[str, str]:
    return {check.name: check.verdict for check in checks}


def test_each_rule_judges_its_own_numbers(pkg):
    canary = pkg.improvement.canary
    limits = canary.Thresholds.from_criteria(CRITERIA)
    good, stable = canary.Traffic(100, 0, 20.0), canary.Traffic(1000, 1, 20.0)
    replayed = canary.Replay(100, 2)
    assert verdicts(canary.judge(good, stable, replayed, limits)) == dict.fromkeys(
        ("traffic", "errors", "latency", "disagreement"), "PASS"
    )
    assert verdicts(canary.judge(canary.Traffic(100, 6, 20.0), stable, replayed, limits))["errors"] == "FAIL"
    slow = canary.judge(canary.Traffic(100, 0, 41.0), stable, replayed, limits)  # above 1.5 x 20 + 10 ms
    assert verdicts(slow)["latency"] == "FAIL" and "at most 40 ms" in slow[2].detail
    assert (
        verdicts(canary.judge(canary.Traffic(100, 0, 300.0), canary.Traffic(9, 0, 290.0), replayed, limits))["latency"]
        == "FAIL"
    )  # above the absolute 250 ms, however slow the stable version is
    changed = canary.judge(good, stable, canary.Replay(100, 11), limits)
    assert verdicts(changed)["disagreement"] == "FAIL" and "11.00% of 100 logged records" in changed[-1].detail


def test_too_little_traffic_is_a_verdict_of_its_own_not_a_pass(pkg):
    canary = pkg.improvement.canary
    limits = canary.Thresholds.from_criteria(CRITERIA)
    quiet = canary.judge(canary.Traffic(9, 9, 999.0), canary.Traffic(0, 0, None), canary.Replay(9, 9), limits)
    assert verdicts(quiet) == {"traffic": "WAIT", "disagreement": "WAIT"}  # no error or latency verdict on 9 requests
    analysis = canary.Analysis("2", "1", canary.Traffic(9, 0, 1.0), canary.Traffic(0, 0, None), canary.Replay(9, 0))
    assert canary.Analysis(**{**analysis.__dict__, "checks": quiet}).verdict == "WAIT"
    assert canary.EXIT["WAIT"] not in (canary.EXIT["PASS"], canary.EXIT["FAIL"])


def test_the_projects_criteria_hold_every_threshold(pkg, root):
    criteria = pkg.core.config.load_criteria(root / "docs/criteria.yaml")
    limits = pkg.improvement.canary.Thresholds.from_criteria(criteria)
    assert limits.tolerance == criteria["impact"]["tolerance"]  # one tolerance for both replays
    assert set(criteria["canary"]) == set(limits.__dataclass_fields__) - {"tolerance"}
    with pytest.raises(SystemExit, match="has no `canary:` section — add it"):
        pkg.improvement.canary.Thresholds.from_criteria({"live": {}})


# --- the command, against stub services ----------------------------------------------------------


def test_a_canary_that_predicts_differently_fails_naming_the_check(pkg, stubs, files, capsys):
    def wrong(record: dict) -> int:
        return 1 - truth(record) if record["colour"] == "red" else truth(record)

    canary = stubs("2.0.0", metrics_text(ok=300, failed=0, fast=300, slow=0), wrong)
    stable = stubs("1.0.0", metrics_text(ok=900, failed=0, fast=900, slow=0), truth)
    log = write_log(files[0].parent / "log", "2.0.0", 40, wrong)
    write_log(log, "1.0.0", 40, truth, sink=True)  # the stable version's rows are not replayed
    code, out = run(pkg.improvement.canary, capsys, canary, stable, log, files)
    assert code == 1, out
    assert "FAIL disagreement: 50.00% of 40 logged records predicted differently by the stable version" in out
    assert "PASS traffic: 300 prediction requests" in out and "PASS errors:" in out and "PASS latency:" in out
    assert stable.predicted == 40
    record = json.loads(Path("canary.json").read_text())
    assert record["verdict"] == "FAIL" and record["replay"] == {"records": 40, "changed": 20, "unreplayable": ""}
    assert (record["canary_version"], record["stable_version"]) == ("2.0.0", "1.0.0")
    assert out.splitlines()[-2] == json.dumps(record, sort_keys=True)


def test_a_canary_that_behaves_as_the_stable_version_passes(pkg, stubs, files, capsys):
    canary = stubs("2.0.0", metrics_text(ok=300, failed=1, fast=300, slow=0), truth)
    stable = stubs("1.0.0", metrics_text(ok=900, failed=0, fast=900, slow=0), truth)
    code, out = run(pkg.improvement.canary, capsys, canary, stable, write_log(Path("log"), "2.0.0", 40, truth), files)
    assert code == 0, out
    assert [line.split(" ", 2)[:2] for line in out.splitlines()[1:5]] == [
        ["PASS", "traffic:"],
        ["PASS", "errors:"],
        ["PASS", "latency:"],
        ["PASS", "disagreement:"],
    ]
    assert out.rstrip().endswith("canary 2.0.0: PASS")


def test_errors_and_latency_fail_a_canary_whatever_its_predictions(pkg, stubs, files, capsys):
    canary = stubs("2.0.0", metrics_text(ok=270, failed=30, fast=0, slow=200), truth)
    stable = stubs("1.0.0", metrics_text(ok=900, failed=0, fast=900, slow=0), truth)
    code, out = run(pkg.improvement.canary, capsys, canary, stable, write_log(Path("log"), "2.0.0", 40, truth), files)
    assert code == 1
    assert "FAIL errors: 10.00% of the canary's requests failed (5xx), stable 0.00%; at most 5.00%" in out
    assert "FAIL latency: p95" in out and "PASS disagreement" in out


def test_too_little_traffic_exits_with_its_own_code(pkg, stubs, files, capsys):
    canary = stubs("2.0.0", metrics_text(ok=3, failed=0, fast=3, slow=0), truth)
    stable = stubs("1.0.0", metrics_text(ok=900, failed=0, fast=900, slow=0), truth)
    code, out = run(pkg.improvement.canary, capsys, canary, stable, write_log(Path("log"), "2.0.0", 3, truth), files)
    assert code == pkg.improvement.canary.EXIT["WAIT"] == 3
    assert "WAIT traffic: 3 prediction requests to the canary (at least 10 to judge): too little traffic" in out
    assert "WAIT disagreement: 3 logged records" in out and out.rstrip().endswith("(too little traffic to judge)")


def test_a_log_that_hashes_an_input_is_not_replayed_and_says_so(pkg, stubs, files, capsys, monkeypatch):
    monkeypatch.setenv("MODELOPS_LOG_HASH", "colour")
    monkeypatch.setenv("MODELOPS_LOG_HASH_SALT", "s" * 40)
    canary = stubs("2.0.0", metrics_text(ok=300, failed=0, fast=300, slow=0), truth)
    stable = stubs("1.0.0", metrics_text(ok=900, failed=0, fast=900, slow=0), truth)
    code, out = run(pkg.improvement.canary, capsys, canary, stable, write_log(Path("log"), "2.0.0", 40, truth), files)
    assert code == 0 and stable.predicted == 0
    assert "SKIP disagreement: not judged: the log drops or hashes colour: its records cannot be replayed" in out


def test_an_unreachable_service_is_one_line_naming_the_fix(pkg, stubs, files):
    stable = stubs("1.0.0", metrics_text(ok=1, failed=0, fast=1, slow=0), truth)
    schema, criteria = files
    with pytest.raises(
        SystemExit, match=r"^error: cannot reach http://127\.0\.0\.1:9/metadata: .+ — is the service up"
    ):
        pkg.improvement.canary.main(
            ["--canary-url", "http://127.0.0.1:9", "--stable-url", stable.url, "--schema", str(schema)]
            + ["--criteria", str(criteria)]
        )


def test_the_canary_and_the_impact_analysis_judge_a_change_alike(pkg):
    """`changes.changed` is the rule; `impact` must judge by the same one (it should import it from there)."""
    import numpy as np

    old, new = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.4, 3.6, 9.0])
    for task, tolerance in (("classification", 0.0), ("regression", 0.5)):
        ours = pkg.improvement.changes.changed(task, old, new, tolerance)
        assert ours.tolist() == pkg.improvement.impact.changed(task, old, new, tolerance).tolist()
    assert pkg.improvement.changes.changed("regression", old, new, 0.5).tolist() == [False, False, True, True]


def test_the_command_imports_only_what_the_image_installs(pkg, root):
    """The analysis Job runs the bento's image, which installs requirements.lock alone: a module the command
    imports from the dev tools (requirements-dev.lock) would fail it in the cluster, never here."""
    import importlib.metadata
    import re
    import subprocess
    import sys

    def normal(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    lines = (root / "requirements.lock").read_text().splitlines()
    runtime = {normal(re.split(r"[=<>~!; \[]", line, maxsplit=1)[0]) for line in lines if line[:1].isalnum()}
    dev_only = sorted(
        name
        for name, distributions in importlib.metadata.packages_distributions().items()
        if name != pkg.name and not any(normal(d) in runtime for d in distributions)
    )
    blocker = (
        "import sys\n"
        f"DEV_ONLY = set({dev_only!r})\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in DEV_ONLY:\n"
        "            raise ImportError(f'{name} is not in requirements.lock')\n"
        "sys.meta_path.insert(0, Block())\n"
        f"import {pkg.name}.improvement.canary\n"
    )
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, (
        "improvement/canary.py imports a module the image does not install — import it where it is used:\n"
        + done.stderr[-1200:]
    )
