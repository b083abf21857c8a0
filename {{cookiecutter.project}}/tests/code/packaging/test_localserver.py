"""Unit tests of packaging/localserver: readiness polling and the server's memory, without a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="rss_mb reads Linux /proc")
def test_rss_mb_sums_the_process_group(pkg):
    LocalServer = pkg.packaging.localserver.LocalServer
    assert LocalServer("http://127.0.0.1:1", os.getpgid(0)).rss_mb() > 1.0  # this test process, at least
    assert LocalServer("http://127.0.0.1:1", 2**22 + 1).rss_mb() == 0.0  # above Linux's largest pid: no group


@pytest.mark.slow
def test_wait_ready_fails_early_when_the_server_exits(pkg):
    localserver = pkg.packaging.localserver
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    url = f"http://127.0.0.1:{localserver.free_port()}"
    with pytest.raises(RuntimeError, match="exited with code 3 before it was ready"):
        localserver.wait_ready(url, process, timeout=30)
