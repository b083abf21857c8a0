"""Unit tests of packaging/localserver: readiness polling, the server's memory, and a stop that leaves no worker."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import pytest


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_a_killed_servers_workers_are_stopped_too(pkg, tmp_path, two_workers):
    """SIGKILL of `bentoml serve` alone leaves its workers serving, in their own sessions: the stop finds them.

    One server for both: starting one costs seconds. Its memory counts the workers too.
    """
    localserver = pkg.packaging.localserver
    two_workers(tmp_path)
    with contextlib.chdir(tmp_path), localserver.running("toy:Toy", timeout=90) as server:
        port = int(server.url.rpartition(":")[2])
        workers = [p for p in localserver.marked(server.mark) if p.pid != server.pid]
        assert len(workers) == 2 and all(os.getsid(p.pid) != os.getsid(server.pid) for p in workers)
        assert server.rss_mb() > sum(p.memory_info().rss for p in workers) / 1e6 > 0
        os.kill(server.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(p.ppid() == server.pid for p in workers):
            time.sleep(0.1)
        assert [p.ppid() for p in workers] != [server.pid] * 2 and all(p.is_running() for p in workers)
        assert port_in_use(port)  # the orphans still serve: what a process-group kill would miss
        started = time.monotonic()
    assert localserver.marked(server.mark) == []
    assert not port_in_use(port)
    assert time.monotonic() - started < 10


def test_memory_of_a_server_that_is_gone_is_zero(pkg):
    localserver = pkg.packaging.localserver
    assert localserver.LocalServer("http://127.0.0.1:1", 1, localserver.new_mark()).rss_mb() == 0.0


@pytest.mark.slow
def test_wait_ready_fails_early_when_the_server_exits(pkg):
    localserver = pkg.packaging.localserver
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    url = f"http://127.0.0.1:{localserver.free_port()}"
    with pytest.raises(RuntimeError, match="exited with code 3 before it was ready"):
        localserver.wait_ready(url, process, timeout=30)
