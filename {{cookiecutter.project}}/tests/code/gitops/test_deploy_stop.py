"""The local deployment's stop (gitops/deploy.py) leaves no process behind, even after its server was SIGKILLed.

BentoML's workers run in sessions of their own: when `bentoml serve` alone dies they stay, orphaned,
serving on the port. A real server of a toy two-worker service (no model: tests/code needs no
pipeline output) is started the way `make deploy` starts one, killed, then stopped.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest


@pytest.mark.slow
def test_stop_after_the_server_was_killed_leaves_no_process_and_frees_the_port(pkg, isolated, two_workers):
    deploy, localserver = pkg.gitops.deploy, pkg.packaging.localserver
    two_workers(isolated)  # `bentoml serve toy:Toy` imports it from the working directory
    running, process = deploy.start("local", "toy:Toy", {"port": localserver.free_port()})
    try:
        assert deploy.wait_ready(running, process, deploy.log_file("local"), 0, timeout=90) is None
        assert json.loads(deploy.state_file("local").read_text())["mark"] == running.mark
        assert len(localserver.marked(running.mark)) == 3  # the server and its two workers
        os.kill(running.pid, signal.SIGKILL)
        process.wait()
        time.sleep(0.5)
        assert not deploy.port_free(running.port)  # its workers still serve
        recorded = deploy.read_running("local")
        assert recorded == running and not recorded.server_alive()  # found through its workers
        deploy.stop("local", recorded)
        assert localserver.marked(running.mark) == []
        assert deploy.port_free(running.port)
        assert deploy.read_running("local") is None and not deploy.state_file("local").exists()
    finally:
        localserver.stop_server(running.pid, running.mark, timeout=5)


def test_a_record_from_before_the_marker_is_still_read(pkg, isolated):
    """running.json written before the marker existed: no mark, the server process alone is looked for."""
    deploy = pkg.gitops.deploy
    deploy.state_file("local").parent.mkdir(parents=True)
    deploy.state_file("local").write_text(json.dumps({"version": "0.1.0-1a2b3c4", "pid": 2**22 + 1, "port": 1}))
    assert deploy.read_running("local") is None  # no such process (above Linux's largest pid)
