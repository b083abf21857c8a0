"""Benchmark traffic: one test-set record per request, in the payload each server expects."""

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
ROWS = TEST.astype(object).where(TEST.notna(), None).to_dict("records")
KEY = "dataframe_records" if os.environ.get("BENCH_PAYLOAD") == "mlflow" else "records"
PATH = os.environ.get("BENCH_PATH", "/predict")
BODIES = [json.dumps({KEY: [row]}) for row in ROWS]
HEADERS = {"content-type": "application/json"}


class Client(FastHttpUser):
    wait_time = constant(0)

    @task
    def predict(self):
        with self.client.post(PATH, data=random.choice(BODIES), headers=HEADERS, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}: {r.text[:200]}")


# Loading the data above took a while after Locust set up its event loop: refresh the loop's clock,
# or --run-time counts from a stale time and the run measures less than it says.
gevent.get_hub().loop.update_now()
