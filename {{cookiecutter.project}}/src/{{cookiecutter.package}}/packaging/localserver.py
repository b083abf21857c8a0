"""Local server: start the real service (`bentoml serve`) on a free loopback port, wait until ready, stop it.

BentoML's workers run in sessions of their own: when the server process alone dies (SIGKILL, a
crash), they stay, orphaned, still serving on the port, and a process-group kill misses them. So
every process of one server carries a marker in its environment (`MARK`, inherited by the workers),
and stopping a server stops every process that carries its marker. `gitops/deploy.py` stops the
local deployment the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped,unused-ignore]  # BentoML's dependency: portable /proc

PACKAGE = (__package__ or "").rpartition(".")[0]
SERVICE = f"{PACKAGE}.serving.service:ModelService"
MARK = "MODELOPS_SERVER_MARK"  # not a setting: the marker every process of one server inherits
STOP_TIMEOUT = 15.0  # SIGTERM lets in-flight requests finish (BentoML's traffic timeout is 10 s)


def new_mark() -> str:
    """A marker no other server carries."""
    return uuid.uuid4().hex


def marked(mark: str) -> list[psutil.Process]:
    """Every live process that carries `mark` in its environment: a server and its workers, orphaned or not."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):  # gone meanwhile, or another user's
            if process.environ().get(MARK) == mark and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


def stop_server(pid: int, mark: str, timeout: float = STOP_TIMEOUT) -> None:
    """Stop a server and all its workers: SIGTERM (in-flight requests finish), SIGKILL after `timeout`.

    The server's process group first, so BentoML stops its workers in order; then every process still
    carrying `mark` — the workers a dead server left behind.
    """
    deadline = time.monotonic() + timeout
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    with contextlib.suppress(psutil.Error):
        psutil.Process(pid).wait(timeout=timeout)
    left = marked(mark)
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(left, timeout=max(0.0, deadline - time.monotonic()))
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=5)


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll /readyz until 200; fail early with the log when the server exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with code {process.returncode} before it was ready")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        time.sleep(0.25)
    raise TimeoutError(f"the service was not ready at {url}/readyz after {timeout:.0f} s")


@dataclass(frozen=True)
class LocalServer:
    """A running `bentoml serve`: its URL, the server's pid (its process group) and the marker of its processes."""

    url: str
    pid: int
    mark: str = ""

    def rss_mb(self) -> float:
        """Resident memory of the server and all its workers now, in MB (its workers run in their own sessions)."""
        total = 0
        for process in marked(self.mark):
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return round(total / 1e6, 1)


@contextlib.contextmanager
def running(
    target: str = SERVICE, env: dict[str, str] | None = None, log: Path | None = None, timeout: float = 90
) -> Iterator[LocalServer]:
    """`bentoml serve <target>` (a service import path or a bento tag) on a free port, until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    bentoml = Path(sys.executable).with_name("bentoml")
    command = [str(bentoml), "serve", target, "--host", "127.0.0.1", "--port", str(port)]
    mark = new_mark()
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(open(log, "w")) if log else subprocess.DEVNULL
        process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {}), MARK: mark},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        yield from _serve(process, mark, url, log, timeout)


def _serve(
    process: subprocess.Popen[bytes], mark: str, url: str, log: Path | None, timeout: float
) -> Iterator[LocalServer]:
    """Wait until ready, hand over, then stop the server and every worker of it (SIGTERM, then SIGKILL)."""
    try:
        wait_ready(url, process, timeout)
        yield LocalServer(url, process.pid, mark)
    except (RuntimeError, TimeoutError) as exc:
        hint = f"; its log: {log}" if log else ""
        raise SystemExit(f"error: {exc}{hint} — try `make serve` to see why") from exc
    finally:
        stop_server(process.pid, mark)
        process.wait()
