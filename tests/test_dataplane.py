"""The production data plane, for real on loopback: two replicas, one bucket, one database.

One generated project (conftest.py's `s3_project`, after tests/test_storage.py's round trip through its DVC
remote: one bake, install, pipeline and object store for both modules) runs as two service processes — two
"pods", each with its own monitoring folder — that share an S3-compatible bucket (moto's server, a bucket
of its own beside the DVC remote's) for their prediction logs and a PostgreSQL server for feedback, started
from the installed binaries by the generated project's own `tests/services.py`. Then: 100 Locust users
across both, one replica stopped with SIGTERM mid-run: every answered request is a row in the bucket; feedback for every
answer sent to the *other* replica: none refused, a second copy refused; one replica SIGKILLed
mid-run and started again: the rows lost are counted and lie within the documented window; the
monitor over the bucket and the database keeps the model, as it does on the laptop.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support.deployment import IDENTITY, TOKEN, free_port
from support.lifecycle import Lifecycle, S3Project
from support.processes import project_services, run

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = Path(__file__).resolve().parent / "support" / "replica_locustfile.py"
BUCKET = "modelops-dataplane"
SINK = f"s3://{BUCKET}/logs/production"
SIGNING_KEY = "signing-key-of-the-dataplane-test-0123456789"  # ≥ 32 bytes, shared by the replicas
SEGMENT_SECONDS = 1  # a replica closes and uploads its log segment this often
# The documented SIGKILL loss of a process whose folder survives (a container restarted in its pod):
# what its writer had queued in memory, at most FLUSH_SECONDS (0.2 s) of answers; 1 s of margin for
# the answers Locust records a little after the service queued them.
KILL_WINDOW_SECONDS = 1.0


def services_module() -> ModuleType:
    """The generated project's `tests/services.py`, from the template's source."""
    return project_services(REPO_ROOT / "{{cookiecutter.project}}")


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@dataclass
class Replica:
    """One service process of the project: its port, its own monitoring folder, its process."""

    name: str
    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    pids: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def descendants(pid: int) -> set[int]:
    """`pid` and every process below it (BentoML's workers run in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        todo.extend(children.get(current, []))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class Plane:
    """The project, its bucket and database, and its two replicas."""

    def __init__(self, project: Lifecycle, s3: str, database: str) -> None:
        self.project = project
        self.env = {
            **project.env,
            "MODELOPS_WORKERS": "1",
            "MODELOPS_LOG_SINK": SINK,
            "MODELOPS_LOG_SEGMENT_SECONDS": str(SEGMENT_SECONDS),
            "MODELOPS_DATABASE_URL": database,
            "MODELOPS_SIGNING_KEY": SIGNING_KEY,
            "MODELOPS_FEEDBACK_TOKENS": f"simulator={TOKEN}",
            "AWS_ENDPOINT_URL": s3,
            **services_module().S3_CREDENTIALS,
        }
        self.replicas = [
            Replica(name, free_port(), project.scratch / f"pod {name}" / "monitoring") for name in ("a", "b")
        ]
        self.answers: dict[str, list[tuple[str, float, int]]] = {}

    def start(self, replica: Replica) -> None:
        """`bentoml serve` of the project from its source tree, ready within 90 s."""
        replica.folder.mkdir(parents=True, exist_ok=True)
        log = (replica.folder.parent / "serve.log").open("ab")
        bentoml = self.project.path / ".venv" / "bin" / "bentoml"
        command = [str(bentoml), "serve", f"{self.project.package}.serving.service:ModelService", "--port"]
        replica.process = subprocess.Popen(
            [*command, str(replica.port)],
            cwd=self.project.path,
            env={**self.env, "MODELOPS_MONITORING_DIR": str(replica.folder)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert replica.process.poll() is None, self.serve_log(replica)
            try:
                with urllib.request.urlopen(f"{replica.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        replica.pids = descendants(replica.process.pid)
                        return
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"replica {replica.name} not ready in 90 s:\n{self.serve_log(replica)}")

    def serve_log(self, replica: Replica) -> str:
        return (replica.folder.parent / "serve.log").read_text(errors="replace")[-3000:]

    def sigterm(self, replica: Replica) -> float:
        """What Kubernetes sends: SIGTERM to the server, which stops its workers; seconds until all are gone."""
        assert replica.process is not None
        started = time.monotonic()
        os.kill(replica.process.pid, signal.SIGTERM)
        replica.process.wait(60)
        while any(alive(pid) for pid in replica.pids) and time.monotonic() - started < 60:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in replica.pids), f"replica {replica.name} left processes behind"
        return time.monotonic() - started

    def sigkill(self, replica: Replica) -> None:
        """An OOM kill of the whole container: every process of the replica, at once, with SIGKILL."""
        assert replica.process is not None
        for pid in descendants(replica.process.pid) | replica.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        replica.process.wait(30)

    def locust(self, replica: Replica, users: int, seconds: int) -> tuple[subprocess.Popen[bytes], Path]:
        answers = replica.folder.parent / f"answers-{time.monotonic_ns()}.json"
        locust = self.project.path / ".venv" / "bin" / "locust"
        command = [str(locust), "-f", str(LOCUSTFILE), "--headless", "--host", replica.url]
        process = subprocess.Popen(
            [*command, "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--only-summary"],
            cwd=self.project.path,
            env={**self.project.env, "REPLICA_ANSWERS": str(answers)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return process, answers

    @staticmethod
    def started(*answers: Path) -> None:
        """Wait until each Locust run's users have started (its data loads first: seconds on a busy machine)."""
        deadline = time.monotonic() + 90
        while not all(Path(f"{a}.started").exists() for a in answers):
            assert time.monotonic() < deadline, "Locust did not start within 90 s"
            time.sleep(0.2)

    def bucket_rows(self) -> list[dict[str, Any]]:
        """Every row of every replica's segments in the bucket, copied with `make fetch-logs`."""
        copy = self.project.scratch / f"fetched-{time.monotonic_ns()}"
        self.project.make("fetch-logs", f"SOURCE={SINK}", f"DATA={copy}", env=self.env)
        return [json.loads(line) for path in sorted(copy.rglob("*.jsonl")) for line in path.read_text().splitlines()]

    def feedback(self, replica: Replica, items: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{replica.url}/feedback",
            data=json.dumps({"items": items}).encode(),
            headers={"content-type": "application/json", "authorization": f"Bearer {TOKEN}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop_all(self) -> None:
        for replica in self.replicas:
            if replica.process is not None and replica.process.poll() is None:
                self.sigkill(replica)


def answered(path: Path) -> list[tuple[str, float, int]]:
    return [(rid, at, status) for rid, at, status in json.loads(path.read_text())]


@pytest.fixture(scope="module")
def plane(s3_project: S3Project) -> Iterator[Plane]:
    """The storage=s3 project (where tests/test_storage.py left it, or fresh), its pipeline run and committed,
    with a bucket for the logs on its S3 server and a PostgreSQL server on loopback."""
    services = services_module()
    reason = services.postgres_missing()
    if reason:
        unavailable(reason)
    project = s3_project.project
    project.pipeline()
    # Committed, as a served version is: the monitor judges it against the criteria of its own commit.
    env = {**project.env, **IDENTITY}
    if run(["git", "status", "--porcelain"], cwd=project.path).stdout:
        run(["git", "add", "--all"], cwd=project.path, env=env)
        run(["git", "commit", "--quiet", "--no-verify", "-m", "feat: the first model"], cwd=project.path, env=env)
    database = services.start_postgres()
    services.create_bucket(s3_project.endpoint, BUCKET)
    plane = Plane(project, s3_project.endpoint, database.url)
    try:
        yield plane
    finally:
        plane.stop_all()
        database.stop()


class TestTwoReplicas:
    """Steps in order; each leaves the replicas stopped or running as the next expects."""

    def test_100_users_across_two_replicas_one_stopped_by_sigterm_every_answer_is_in_the_bucket(self, plane):
        a, b = plane.replicas
        plane.start(a)
        plane.start(b)
        load_a, answers_a = plane.locust(a, 50, 6)
        load_b, answers_b = plane.locust(b, 50, 6)
        plane.started(answers_a, answers_b)
        time.sleep(3)
        stopping = plane.sigterm(b)  # mid-run, as a rolling update does
        load_a.wait(60)
        load_b.wait(60)
        plane.sigterm(a)
        plane.answers = {"a": answered(answers_a), "b": answered(answers_b)}
        ids = {rid for answers in plane.answers.values() for rid, _, _ in answers}
        rows = plane.bucket_rows()
        assert len(plane.answers["a"]) > 200 and len(plane.answers["b"]) > 100, plane.answers.keys()
        logged = {row["request_id"] for row in rows}
        assert ids <= logged, f"{len(ids - logged)} answered requests are not in the bucket"
        # The service answered (and logged) a few requests whose answers Locust dropped: those in flight when
        # its run time ended or the replica stopped — at most one per user.
        assert len(logged - ids) <= 100, f"{len(logged - ids)} rows in the bucket no client asked for"
        assert len(rows) == len(logged)  # one record per request: one row each, no duplicate
        counts = {name: len(answers) for name, answers in plane.answers.items()}
        print(f"answered {len(ids)} {counts}, logged {len(logged)}; b stopped in {stopping:.1f} s")

    def test_feedback_for_every_answer_sent_to_the_other_replica_is_accepted_once(self, plane):
        a, b = plane.replicas
        plane.start(a)
        plane.start(b)
        outputs = {row["request_id"]: row["output"] for row in plane.bucket_rows() if row.get("index") == 0}
        for answered_by, other in ((a, b), (b, a)):
            items = [
                {"request_id": rid, "index": 0, "label": outputs[rid]}
                for rid, _, status in plane.answers[answered_by.name]
                if status == 200
            ]
            accepted = 0
            for start in range(0, len(items), 500):
                status, body = plane.feedback(other, items[start : start + 500])
                assert status == 201, body
                accepted += body["accepted"]
            assert accepted == len(items) > 100
        duplicate = {"request_id": plane.answers["a"][0][0], "index": 0, "label": outputs[plane.answers["a"][0][0]]}
        for replica in (a, b):
            status, body = plane.feedback(replica, [duplicate])
            assert status == 409 and "already labelled" in body["error"], body

    def test_sigkill_loses_at_most_what_was_queued_and_the_restart_ships_the_rest(self, plane):
        a, _ = plane.replicas
        before = {row["request_id"] for row in plane.bucket_rows()}
        load, answers = plane.locust(a, 50, 6)
        plane.started(answers)
        time.sleep(3)
        killed_at = time.time()
        plane.sigkill(a)
        load.wait(60)
        plane.start(a)  # the same folder: a container restarted in its pod
        plane.sigterm(a)
        sent = answered(answers)
        rows = {row["request_id"] for row in plane.bucket_rows()} - before
        lost = {rid for rid, _, _ in sent} - rows
        late = {rid for rid, at, _ in sent if at >= killed_at - KILL_WINDOW_SECONDS}
        print(
            f"SIGKILL: {len(sent)} answered, {len(lost)} lost, {len(late)} answered in its last {KILL_WINDOW_SECONDS} s"
        )
        assert len(sent) > 100
        assert lost <= late, f"{len(lost - late)} rows lost from before the documented window"

    def test_the_monitor_over_the_bucket_and_the_database_keeps_the_model_as_on_the_laptop(self, plane):
        a, b = plane.replicas
        plane.start(a)  # b still runs: the labels go to a, the log comes from both
        out = plane.project.make("simulate", "PHASE=clean", f"URL={a.url}", env=plane.env).stdout
        clean = json.loads((plane.project.path / "reports/monitoring/simulation-clean.json").read_text())
        assert clean["answered"] == clean["sent"] > 100 and clean["feedback"] > 50, out
        plane.sigterm(a)
        plane.sigterm(b)
        done = plane.project.make("monitor", f"DATA={SINK}", env=plane.env, check=False)
        written = plane.project.path / "reports/monitoring/summary.json"
        assert written.is_file(), done.stdout[-3000:]
        summary = json.loads(written.read_text())
        assert summary["labelled"] > 1000, summary  # the labels of both steps above, read from PostgreSQL
        assert (done.returncode, summary["decision"]) == (0, "keep"), done.stdout[-3000:]
