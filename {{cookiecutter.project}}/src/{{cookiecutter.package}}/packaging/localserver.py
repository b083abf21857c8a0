"""Local server: start the real service (`bentoml serve`) on a free loopback port, wait until ready, stop it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = (__package__ or "").rpartition(".")[0]
SERVICE = f"{PACKAGE}.serving.service:ModelService"


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
    """A running `bentoml serve`: its URL and the process group of its workers."""

    url: str
    pid: int

    def rss_mb(self) -> float:
        """Resident memory of the server and all its workers now, in MB (Linux /proc; 0 elsewhere)."""
        total = 0
        for status in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = status.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == self.pid:  # process group id
                    total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
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
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(open(log, "w")) if log else subprocess.DEVNULL
        process = subprocess.Popen(
            command, env={**os.environ, **(env or {})}, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        yield from _serve(process, url, log, timeout)


def _serve(process: subprocess.Popen[bytes], url: str, log: Path | None, timeout: float) -> Iterator[LocalServer]:
    """Wait until ready, hand over, then stop the whole process group (SIGTERM, then SIGKILL)."""
    try:
        wait_ready(url, process, timeout)
        yield LocalServer(url, process.pid)
    except (RuntimeError, TimeoutError) as exc:
        hint = f"; its log: {log}" if log else ""
        raise SystemExit(f"error: {exc}{hint} — try `make serve` to see why") from exc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
