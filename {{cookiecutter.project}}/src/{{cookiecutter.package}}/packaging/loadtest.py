"""Load test: serve the model, run Locust headless against it, and gate on the SLO.

The SLO is `slo` in docs/criteria.yaml (users, spawn rate, duration, p95, error rate, minimum
req/s) and nowhere else. The result goes to reports/load.json (a DVC metric), so a pull request
shows it against main. Exits non-zero naming every SLO rule that was missed.

With --url it load-tests a service that already runs there (a deployed environment; the monitor
workflow tests staging) instead of starting one: the same SLO and record, no server RSS, and
the latency includes the network. Locust sends MODELOPS_API_KEY, when set, as a bearer token.
"""

from __future__ import annotations

import csv
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..core import cli, config, paths
from ..core.artifacts import write_json
from . import localserver

log = logging.getLogger(__name__)
LOCUSTFILE = Path("load/locustfile.py")


def run_locust(url: str, users: int, spawn_rate: float, seconds: int, out: Path) -> dict[str, Any]:
    """Run Locust headless as a subprocess (it cannot share a process with ssl users) and read its stats."""
    locust = Path(sys.executable).with_name("locust")
    command = [
        str(locust), "-f", str(LOCUSTFILE), "--headless", "--only-summary", "--host", url,
        "--users", str(users), "--spawn-rate", str(spawn_rate), "--run-time", f"{seconds}s",
        "--stop-timeout", "5", "--csv", str(out / "load"), "--json-file", str(out / "final"),
        "--exit-code-on-error", "0",
    ]  # fmt: skip
    log.info("locust: %d users for %d s against %s", users, seconds, url)
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    if result.returncode != 0:
        raise SystemExit(f"error: locust failed ({result.returncode}): {result.stderr[-2000:]}")
    with open(out / "load_stats.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    # The CSV is a snapshot taken every few seconds; the JSON file is written at the end: exact counts.
    final = json.loads((out / "final.json").read_text())
    requests, failures = sum(e["num_requests"] for e in final), sum(e["num_failures"] for e in final)
    if not requests:  # Locust writes N/A percentiles when nothing completed
        row.update({"Requests/s": 0, "50%": "nan", "95%": "nan", "99%": "nan"})
    return {
        "users": users,
        "seconds": seconds,
        "requests": requests,
        "failures": failures,
        "error_rate": round(failures / requests, 6) if requests else 1.0,
        "rps": round(float(row["Requests/s"]), 1),
        "p50_ms": float(row["50%"]),
        "p95_ms": float(row["95%"]),
        "p99_ms": float(row["99%"]),
    }


def check_slo(result: dict[str, Any], slo: dict[str, Any]) -> list[str]:
    """Every SLO rule the result misses, as a sentence naming value and threshold."""
    missed = []
    if result["requests"] == 0:
        missed.append("no request completed")
    if result["p95_ms"] > slo["p95_ms"]:
        missed.append(f"p95 latency {result['p95_ms']:.0f} ms > {slo['p95_ms']} ms")
    if result["error_rate"] > slo["max_error_rate"]:
        missed.append(f"error rate {result['error_rate']:.4f} > {slo['max_error_rate']}")
    if result["rps"] < slo["min_rps"]:
        missed.append(f"throughput {result['rps']:.0f} req/s < {slo['min_rps']} req/s at {result['users']} users")
    return missed


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--target", default=localserver.SERVICE, help="service import path or bento tag to serve")
    parser.add_argument("--seconds", type=int, help="override slo.duration_s (a short smoke run)")
    parser.add_argument("--users", type=int, help="override slo.users")
    parser.add_argument("--url", help="load-test the service running at this URL instead of serving --target")
    args = parser.parse_args(argv)
    cli.start(args)
    slo = config.load_criteria(config.load_params(args.params)["evaluate"]["criteria"]).get("slo")
    if not slo:
        raise SystemExit(f"error: no `slo` section in {paths.CRITERIA} — add users, p95_ms, max_error_rate, min_rps")
    users, seconds = args.users or slo["users"], args.seconds or slo["duration_s"]
    with tempfile.TemporaryDirectory() as tmp:
        if args.url:
            url = args.url.rstrip("/")
            result = run_locust(url, users, slo["spawn_rate"], seconds, Path(tmp))
            result.update(server_rss_mb=None, target=url)  # its memory is not measurable from here
        else:
            log.info("starting %s", args.target)
            with localserver.running(args.target, log=Path(tmp) / "server.log") as server:
                result = run_locust(server.url, users, slo["spawn_rate"], seconds, Path(tmp))
                result["server_rss_mb"] = server.rss_mb()  # after the run: every worker has loaded the model
            result["target"] = args.target
    missed = check_slo(result, slo)
    result["slo_passed"] = not missed
    write_json(paths.LOAD_RECORD, result)
    rss = "n/a" if result["server_rss_mb"] is None else f"{result['server_rss_mb']:.0f} MB"
    print(
        f"{result['target']}: {result['rps']:.0f} req/s, p50/p95/p99 "
        f"{result['p50_ms']:.0f}/{result['p95_ms']:.0f}/{result['p99_ms']:.0f} ms, "
        f"{result['failures']} failures of {result['requests']}, server RSS {rss}"
    )
    for rule in missed:
        print(f"SLO MISSED: {rule} ({paths.CRITERIA})", file=sys.stderr)
    if missed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
