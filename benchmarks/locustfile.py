"""Benchmark traffic: one test-set record per request, in the payload BENCH_PAYLOAD names (see payloads.py)."""

import os
import random

import gevent
import payloads
from locust import FastHttpUser, constant, task

PAYLOAD = os.environ.get("BENCH_PAYLOAD", "records")
PATH = payloads.PATHS[PAYLOAD]
BODIES = [payloads.body(PAYLOAD, [row]) for row in payloads.records()]
HEADERS = {"content-type": "application/json"}


class Client(FastHttpUser):
    wait_time = constant(0)

    @task
    def predict(self) -> None:
        with self.client.post(PATH, data=random.choice(BODIES), headers=HEADERS, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}: {r.text[:200]}")


# Loading the data above took a while after Locust set up its event loop: refresh the loop's clock,
# or --run-time counts from a stale time and the run measures less than it says.
gevent.get_hub().loop.update_now()
