"""Locust: realistic traffic for the service — one record per request, sampled from the test set.

Run by `make load-test` (headless, SLO gate); or `locust -f load/locustfile.py --host URL` for the UI.
"""

import json
import os
import random

import gevent
import pandas as pd
from locust import FastHttpUser, constant, task

SCHEMA = json.load(open("data/processed/schema.json"))
NAMES = [f["name"] for f in SCHEMA["features"]]
CATEGORICAL = {f["name"]: str for f in SCHEMA["features"] if f["kind"] == "categorical"}
TEST = pd.read_csv("data/processed/test.csv", dtype=CATEGORICAL)[NAMES]
BODIES = [json.dumps({"records": [row]}) for row in TEST.astype(object).where(TEST.notna(), None).to_dict("records")]
HEADERS = {"content-type": "application/json"}
if os.environ.get("MODELOPS_API_KEY"):
    HEADERS["authorization"] = f"Bearer {os.environ['MODELOPS_API_KEY']}"


class Client(FastHttpUser):
    """A client that sends one test-set record after another, without think time."""

    wait_time = constant(0)

    @task
    def predict(self):
        with self.client.post("/predict", data=random.choice(BODIES), headers=HEADERS, catch_response=True) as r:
            if r.status_code != 200 or "predictions" not in r.text:
                r.failure(f"{r.status_code}: {r.text[:200]}")


# Loading the data above took a while after Locust set up its event loop: refresh the loop's clock,
# or --run-time counts from a stale time and the run measures less than it says.
gevent.get_hub().loop.update_now()
