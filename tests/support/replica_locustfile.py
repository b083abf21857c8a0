"""Locust traffic for the two-replica test: the project's own request bodies, every answer's id recorded.

Run from a generated project's folder (the project's `load/locustfile.py` reads its test set from
there). At the end each answered request — one that got an HTTP status — is written to the JSON
file REPLICA_ANSWERS names as `[request_id, unix time, status]`; refused connections are not.
`<REPLICA_ANSWERS>.started` appears when the users start.
"""

import importlib
import json
import os
import sys
import time

from locust import FastHttpUser, constant, events, task

sys.path.insert(0, "load")
project = importlib.import_module("locustfile")  # the project's bodies and headers

ANSWERED: list[tuple[str, float, int]] = []


class Client(FastHttpUser):
    """One record per request, no think time; the answer's id kept."""

    wait_time = constant(0)

    @task
    def predict(self) -> None:
        body = project.random.choice(project.BODIES)
        with self.client.post("/predict", data=body, headers=project.HEADERS, catch_response=True) as response:
            request_id = (response.headers or {}).get("x-request-id")
            if response.status_code and request_id:
                ANSWERED.append((request_id, time.time(), response.status_code))
                response.success()
            else:
                response.failure("no answer")


@events.test_start.add_listener
def mark_started(**_: object) -> None:
    """The test waits for this file before it stops a replica: Locust takes seconds to load its data."""
    with open(os.environ["REPLICA_ANSWERS"] + ".started", "w"):
        pass


@events.quitting.add_listener
def write_answers(**_: object) -> None:
    with open(os.environ["REPLICA_ANSWERS"], "w") as handle:
        json.dump(ANSWERED, handle)
