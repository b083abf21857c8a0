"""Real services on loopback for the tests: an S3-compatible store (moto's server) and PostgreSQL.

Standard library only, so the template's own tests start the same services the same way. Each
start returns a handle with the URL and a `stop()`; `missing()` says why a service cannot start
here and how to get it (a test skips with that line, and fails under CI=true instead).
Point the tests at servers you run yourself with MODELOPS_TEST_DATABASE_URL (a PostgreSQL URL the
tests may create tables in) or MODELOPS_TEST_S3_ENDPOINT (an S3 endpoint with AWS_* credentials).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    """A started service: where to reach it and how to stop it."""

    url: str
    stop_command: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    folder: Path | None = None

    def stop(self) -> None:
        if self.stop_command:
            subprocess.run(self.stop_command, capture_output=True, check=False)
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


# --- S3 (moto's server mode) ---------------------------------------------------------------------


def moto_command(python: Path | str = sys.executable) -> Path | None:
    found = Path(python).with_name("moto_server")
    return found if found.exists() else None


def s3_missing(python: Path | str = sys.executable) -> str | None:
    if os.environ.get("MODELOPS_TEST_S3_ENDPOINT"):
        return None
    if moto_command(python) is None:
        return (
            "no S3-compatible server: moto_server is not in this venv"
            " — run `make install` (moto[server] is in requirements-dev.lock)"
        )
    return None


S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "modelops-test",
    "AWS_SECRET_ACCESS_KEY": "modelops-test-secret",  # pragma: allowlist secret (moto accepts any)
    "AWS_DEFAULT_REGION": "us-east-1",
}


def start_s3(python: Path | str = sys.executable) -> Service:
    """moto's S3 server on a free loopback port (or the endpoint MODELOPS_TEST_S3_ENDPOINT names)."""
    given = os.environ.get("MODELOPS_TEST_S3_ENDPOINT")
    if given:
        return Service(given.rstrip("/"))
    command = moto_command(python)
    if command is None:
        raise RuntimeError(s3_missing(python))
    port = free_port()
    process = subprocess.Popen(
        [str(command), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return Service(url, process=process)
        except urllib.error.HTTPError:
            return Service(url, process=process)  # answering, even if with an S3 error
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"moto_server did not answer on {url} within {START_TIMEOUT:.0f} s") from None
            time.sleep(0.1)


def create_bucket(endpoint: str, bucket: str) -> None:
    """Create a bucket on the S3 endpoint (moto accepts an unsigned PUT)."""
    request = urllib.request.Request(f"{endpoint}/{bucket}", method="PUT")
    with contextlib.suppress(urllib.error.HTTPError):  # already there
        urllib.request.urlopen(request, timeout=10).close()


# --- PostgreSQL (the installed server binaries) --------------------------------------------------


def postgres_bin() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    return next((b for b in POSTGRES_BIN if (b / "initdb").exists()), None)


def postgres_missing() -> str | None:
    if os.environ.get("MODELOPS_TEST_DATABASE_URL"):
        return None
    if postgres_bin() is None:
        return (
            "no PostgreSQL server binaries (initdb, pg_ctl) — install them (`apt-get install postgresql`,"
            " brew install postgresql) or set MODELOPS_TEST_DATABASE_URL to a server the tests may use"
        )
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: initdb refuses root — run the tests as another user"
    return None


def _as_postgres(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def start_postgres() -> Service:
    """A throwaway PostgreSQL on a free loopback port, trust auth (or the server MODELOPS_TEST_DATABASE_URL names)."""
    given = os.environ.get("MODELOPS_TEST_DATABASE_URL")
    if given:
        return Service(given)
    binaries = postgres_bin()
    if binaries is None:
        raise RuntimeError(postgres_missing())
    folder = Path(tempfile.mkdtemp(prefix="pg"))  # short: the socket path has a length limit
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    subprocess.run(
        _as_postgres([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = str(binaries / "pg_ctl")
    subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "server.log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    return Service(
        f"postgresql://postgres@127.0.0.1:{port}/postgres",
        stop_command=_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
        folder=folder,
    )


@contextlib.contextmanager
def running(start: object) -> Iterator[Service]:
    service = start()  # type: ignore[operator]
    try:
        yield service
    finally:
        service.stop()
