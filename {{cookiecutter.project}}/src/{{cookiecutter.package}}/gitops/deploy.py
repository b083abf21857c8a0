"""Deploy: make an environment match its desired state in `deploy/<env>/`, smoke-test it, roll back by itself.

`local` runs the built bento with `bentoml serve` in the background on this machine. A deploy
stops what runs, starts the desired version, waits for readiness and runs the smoke test
(readiness, `/metadata` version, predictions equal to the build's); when a check fails it stops
the new version, starts the one that ran before again and exits non-zero naming the check.
A Kubernetes environment is deployed by Argo CD following `deploy/<env>/` on main: here its
overlay is rendered and checked, nothing is applied. Every deployment is appended to
the deployment history (`core.records`); `make history` shows it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..core import cli, environments, paths, serviceclient
from ..core.environments import DeployError, Environment
from ..core.git import git, git_or_none
from ..core.records import DeploymentEvent, append_history, read_history
from ..packaging import localserver, smoke
from ..packaging.build import bento_store, bento_tag

log = logging.getLogger(__name__)
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
INIT_ERROR = "Initializing service error"  # what BentoML logs when a worker's __init__ raises


@dataclass(frozen=True)
class Running:
    """What `make deploy` last started in a local environment."""

    version: str
    pid: int
    port: int
    mark: str = ""  # every process of this server carries it (packaging/localserver.py); "" in older records

    def alive(self) -> bool:
        """A process of it is still there: the server, or workers it left behind when it died."""
        return bool(localserver.marked(self.mark)) if self.mark else self.server_alive()

    def server_alive(self) -> bool:
        """The server process is still there and is the bentoml server of this version (not a reused pid)."""
        try:
            command = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return any(part.endswith(b"bentoml") for part in command) and any(self.version.encode() in p for p in command)


def state_file(env: str) -> Path:
    return paths.deployed(env) / "running.json"


def read_running(env: str) -> Running | None:
    path = state_file(env)
    if not path.is_file():
        return None
    running = Running(**json.loads(path.read_text()))
    return running if running.alive() else None


def expected_answers(tag: str) -> dict[str, Any]:
    """The records and predictions the build recorded inside the bento."""
    name, _, version = tag.partition(":")
    path = bento_store() / name / version / "src" / paths.SMOKE_RECORD
    if not path.is_file():
        raise DeployError(f"error: bento {tag} has no {paths.SMOKE_RECORD} — rebuild it with `make build`")
    expected: dict[str, Any] = json.loads(path.read_text())
    return expected


def log_file(env: str) -> Path:
    return paths.deployed(env) / "server.log"


def start(env: str, tag: str, desired: dict[str, Any]) -> tuple[Running, subprocess.Popen[bytes]]:
    """`bentoml serve <tag>` in the background, in its own session, logging to .deploy/<env>/server.log."""
    port = int(desired.get("port", 3000))
    extra = {str(k): str(v) for k, v in (desired.get("settings") or {}).items()}
    mark = localserver.new_mark()
    env_vars = {
        **os.environ,
        "MODELOPS_WORKERS": str(desired.get("workers", 1)),
        "MODELOPS_MONITORING_DIR": str(paths.live_data(env).resolve()),  # the server's cwd is the bento
        **extra,
        localserver.MARK: mark,
    }
    folder = paths.deployed(env)
    folder.mkdir(parents=True, exist_ok=True)
    bentoml = Path(sys.executable).with_name("bentoml")
    with open(log_file(env), "ab") as sink:
        process = subprocess.Popen(
            [str(bentoml), "serve", tag, "--host", "127.0.0.1", "--port", str(port)],
            env=env_vars,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    running = Running(tag.partition(":")[2], process.pid, port, mark)
    state_file(env).write_text(json.dumps(asdict(running)) + "\n")
    return running, process


def wait_ready(
    running: Running, process: subprocess.Popen[bytes], log: Path, offset: int, timeout: float = READY_TIMEOUT
) -> str | None:
    """None once /readyz answers 200, else why not: the server exited, a worker failed to load, or time ran out.

    A worker that cannot load (BentoML logs "Initializing service error" and keeps restarting it)
    fails at once, naming the exception, instead of after the timeout.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"the server exited with code {process.returncode} before it was ready"
        with open(log, "rb") as handle:
            handle.seek(offset)
            written = handle.read().decode(errors="replace")
        if INIT_ERROR in written:
            lines = [line for line in written.splitlines() if line and not line.startswith((" ", "Traceback"))]
            reason = next((line for line in reversed(lines) if "Error" in line.partition(":")[0]), INIT_ERROR)
            return f"a worker failed to load the service ({reason.strip()})"
        status, _ = serviceclient.call(f"http://127.0.0.1:{running.port}/readyz", None)
        if status == 200:
            return None
        time.sleep(0.3)
    return f"not ready within {timeout:.0f} s"


def stop(env: str, running: Running | None, process: subprocess.Popen[bytes] | None = None) -> None:
    """Stop a local server and its workers (SIGTERM: in-flight requests finish; then SIGKILL).

    Its workers too when the server itself died: they run in sessions of their own and would keep
    serving on the port. `process` is the handle when this command started it.
    """
    if running is not None and running.mark:
        localserver.stop_server(running.pid, running.mark, STOP_TIMEOUT)
        if process is not None:
            process.wait()
    elif running is not None and (process is not None or running.alive()):  # a record from before the marker
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and (process.poll() is None if process else running.alive()):
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.pid, signal.SIGKILL)
        if process is not None:
            process.wait()
    state_file(env).unlink(missing_ok=True)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no owner
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def launch(
    env: str, tag: str, desired: dict[str, Any], expected: dict[str, Any], api_key: str | None
) -> tuple[Running, subprocess.Popen[bytes], list[str]]:
    """Start `tag`, smoke-test it against `expected`: what runs, its process, the failed checks (empty: healthy)."""
    offset = log_file(env).stat().st_size if log_file(env).is_file() else 0
    running, process = start(env, tag, desired)
    why = wait_ready(running, process, log_file(env), offset)
    if why:
        return running, process, [f"readiness: {tag}: {why} (see {log_file(env)})"]
    url = f"http://127.0.0.1:{running.port}"
    return running, process, smoke.check(url, running.version, expected, api_key)


def new_event(env: str, version: str, previous: str | None = None, result: str = "") -> DeploymentEvent:
    """A history event of a deployment of `version` to `env` now, from this commit."""
    return DeploymentEvent(
        time=datetime.now(UTC).isoformat(timespec="seconds"),
        env=env,
        version=version,
        commit=git_or_none("rev-parse", "--short=7", "HEAD") or "nogit",
        previous=previous,
        result=result,
    )


def deploy_local(environment: Environment, api_key: str | None) -> DeploymentEvent:
    """Reconcile a local environment; the history event (raises DeployError after recording a failure)."""
    desired = environment.read()
    version = environment.version
    previous = read_running(environment.name)
    event = new_event(environment.name, version, previous=previous.version if previous else None)
    if not version:
        stop(environment.name, previous)
        return replace(event, result="stopped")
    tag = bento_tag(environments.check_version(version))
    expected = expected_answers(tag)  # a bento without them cannot be checked: refuse before stopping anything
    port = int(desired.get("port", 3000))
    if previous and previous.version == version and previous.port == port and previous.server_alive():
        problems = smoke.check(f"http://127.0.0.1:{previous.port}", version, expected, api_key)
        if not problems:
            log.info("%s already runs %s and passes the smoke test", environment.name, version)
            return replace(event, result="unchanged")
    stop(environment.name, previous)
    if not port_free(port):
        raise DeployError(
            f"error: port {port} is in use by another process — stop it, or set another `port:` in {environment.path}"
            + (f"; {previous.version} was stopped, `make deploy` again restores it" if previous else "")
        )
    log.info("starting %s in %s", tag, environment.name)
    running, process, problems = launch(environment.name, tag, desired, expected, api_key)
    if not problems:
        return replace(event, result="ok", facts={"port": running.port})
    log.error("smoke test of %s failed: %s", version, "; ".join(problems))
    stop(environment.name, running, process)
    facts: dict[str, Any] = {"failed": problems}
    rolled_back = False
    if previous is not None:
        log.warning("rolling back %s to %s", environment.name, previous.version)
        prev_tag = bento_tag(previous.version)
        restored, handle, restore_problems = launch(
            environment.name, prev_tag, {**desired, "port": previous.port}, expected_answers(prev_tag), api_key
        )
        rolled_back = not restore_problems
        facts["restored"] = previous.version if rolled_back else None
        if restore_problems:
            stop(environment.name, restored, handle)
            facts["restore_failed"] = restore_problems
    append_history(replace(event, result="failed", rolled_back=rolled_back, facts=facts))
    after = f"; {facts['restored']} runs again" if rolled_back else "; nothing runs now"
    raise DeployError(f"error: deploy of {version} to {environment.name} failed — {'; '.join(problems)}{after}")


def deploy_kubernetes(environment: Environment) -> DeploymentEvent:
    """Render and check the overlay; Argo CD applies it once it is on main."""
    from . import manifests

    objects = manifests.render(environment.name)
    version = environments.check_version(environment.version)
    log.info(
        "%s: %d objects rendered; Argo CD syncs deploy/%s from main", environment.name, len(objects), environment.name
    )
    return new_event(environment.name, version, result="rendered")


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--env", default="local", help="environment in deploy/ (default: %(default)s)")
    parser.add_argument("--stop", action="store_true", help="stop what runs in a local environment")
    parser.add_argument("--history", action="store_true", help="print the deployment history and exit")
    args = parser.parse_args(argv)
    settings = cli.start(args)
    if args.history:
        print_history(read_history(env=None if args.env == "all" else args.env))
        return
    environment = environments.get(args.env)
    if args.stop:
        stop(environment.name, read_running(environment.name))
        print(f"stopped {environment.name}")
        return
    changed = git("status", "--porcelain", "--", str(environment.path))
    if changed:
        raise DeployError(
            f"error: {environment.path} has uncommitted changes — the desired state deploys from git:"
            " commit it (or `make promote`), or `git checkout -- deploy/`"
        )
    if environment.kind == "kubernetes":
        event = deploy_kubernetes(environment)
    else:
        event = deploy_local(environment, settings.api_key)
    append_history(event)
    where = f" on http://127.0.0.1:{event.facts['port']}" if "port" in event.facts else ""
    print(f"{environment.name}: {event.result} {event.version or '(nothing)'}{where}")


def print_history(events: list[DeploymentEvent]) -> None:
    if not events:
        print("no deployments yet (`make deploy ENV=local`)")
        return
    print(f"{'time':25} {'env':11} {'version':20} {'commit':8} {'result':9} rolled back")
    for e in events:
        back = f"yes, to {e.facts.get('restored')}" if e.rolled_back else "no"
        print(f"{e.time:25} {e.env:11} {e.version or '-':20} {e.commit:8} {e.result:9} {back}")


if __name__ == "__main__":
    main()
