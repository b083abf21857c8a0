"""Service contract: the real server (`bentoml serve`) answers like the model in-process and refuses bad input.

One server runs for the whole module, with an API key and small limits. Every refusal must name the
field and the rule a client has to fix, and the server must keep serving afterwards.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import secrets
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

pytestmark = pytest.mark.slow

MAX_RECORDS = 50
MAX_BODY_BYTES = 200_000
JSON_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "number": (int, float),
    "integer": int,
    "boolean": bool,
    "null": type(None),
}


@pytest.fixture(scope="module")
def service(pkg, root, artifact, tmp_path_factory):
    """The running service: its server, API key, feedback token, log file, monitoring folder, a client that
    sends the key and one that does not."""
    paths = pkg.core.paths
    for path in (paths.MODEL, paths.TRANSFORMER, paths.SCHEMA, paths.PREPARE_RECORD, paths.TRAIN_RECORD, paths.METRICS):
        artifact(path)  # what the service loads: without it, fail with the fix before starting a server
    key, token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    log = tmp_path_factory.mktemp("service") / "server.log"
    monitoring = log.parent / "monitoring"
    env = {
        "MODELOPS_API_KEY": key,
        "MODELOPS_FEEDBACK_TOKENS": f"contract-test={token},other-lab={secrets.token_urlsafe(32)}",
        "MODELOPS_MONITORING_DIR": str(monitoring),  # the laptop's default stores: a generated key, SQLite labels
        "MODELOPS_MAX_RECORDS": str(MAX_RECORDS),
        "MODELOPS_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "MODELOPS_WORKERS": "1",
        "MODELOPS_ACCESS_LOG": "true",  # one log line per request: the key check reads a real log
        "PYTHONUNBUFFERED": "1",
    }
    with contextlib.ExitStack() as stack:
        with contextlib.chdir(root):  # `bentoml serve` imports the service from the working directory
            server = stack.enter_context(pkg.packaging.localserver.running(env=env, log=log))
        client = stack.enter_context(httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {key}"}))
        anonymous = stack.enter_context(httpx.Client(base_url=server.url))
        yield SimpleNamespace(
            server=server, key=key, token=token, log=log, monitoring=monitoring, client=client, anonymous=anonymous
        )


@pytest.fixture(scope="module")
def local(predictor):
    """The model in this process, loaded the way the service loads it."""
    return predictor


def assert_same_predictions(served: list, expected: list, task: str) -> None:
    assert len(served) == len(expected)
    if task == "classification":
        assert served == expected
    else:
        assert served == pytest.approx(expected, rel=1e-9, abs=1e-9)


def violations(value, schema: dict, components: dict, where: str = "$") -> list[str]:
    """Where `value` breaks a JSON schema (the subset the service's OpenAPI document uses)."""
    if "$ref" in schema:
        return violations(value, components[schema["$ref"].rsplit("/", 1)[1]], components, where)
    if "anyOf" in schema:
        if any(not violations(value, option, components, where) for option in schema["anyOf"]):
            return []
        return [f"{where}: {value!r} matches none of {schema['anyOf']}"]
    kind = schema.get("type")
    if kind and (not isinstance(value, JSON_TYPES[kind]) or (isinstance(value, bool) and kind != "boolean")):
        return [f"{where}: {value!r} is not of type {kind}"]
    found = []
    if kind == "object":
        properties, others = schema.get("properties", {}), schema.get("additionalProperties", True)
        found += [f"{where}: no {name!r}" for name in schema.get("required", []) if name not in value]
        for name, item in value.items():
            if name in properties:
                found += violations(item, properties[name], components, f"{where}.{name}")
            elif others is False:
                found.append(f"{where}: unexpected {name!r}")
            elif isinstance(others, dict):
                found += violations(item, others, components, f"{where}.{name}")
    elif kind == "array":
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", math.inf):
            found.append(f"{where}: {len(value)} items")
        for position, item in enumerate(value):
            found += violations(item, schema.get("items", {}), components, f"{where}[{position}]")
    elif kind in ("number", "integer"):
        if not schema.get("minimum", -math.inf) <= value <= schema.get("maximum", math.inf):
            found.append(f"{where}: {value} is out of range")
    return found


# --- health and the API key -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
def test_health_checks_need_no_key(service, path):
    assert service.anonymous.get(path).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"x-api-key": "wrong"}, {"authorization": "KEY"}],
    ids=["no-key", "wrong-bearer", "wrong-x-api-key", "key-without-bearer"],
)
@pytest.mark.parametrize("path", ["/predict", "/predict_proba"])
def test_predict_refuses_a_missing_or_wrong_key(service, test_records, headers, path):
    headers = {name: value.replace("KEY", service.key) for name, value in headers.items()}
    response = service.anonymous.post(path, json={"records": test_records[:1]}, headers=headers)
    assert response.status_code == 401
    assert "API key" in response.json()["error"]


@pytest.mark.parametrize("path", ["/metadata", "/openapi.json"])
def test_other_endpoints_need_the_key_too(service, path):
    assert service.anonymous.get(path).status_code == 401
    assert service.client.get(path).status_code == 200


@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
def test_predict_accepts_the_key_in_either_header(service, local, test_records, task, header):
    value = f"Bearer {service.key}" if header == "authorization" else service.key
    response = service.anonymous.post("/predict", json={"records": test_records[:2]}, headers={header: value})
    assert response.status_code == 200, response.text
    assert_same_predictions(response.json()["predictions"], local.predict(test_records[:2]), task)


# --- answers ----------------------------------------------------------------------------------------


def test_predict_equals_the_model_in_process(service, local, test_records, task):
    response = service.client.post("/predict", json={"records": test_records})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert_same_predictions(answer["predictions"], local.predict(test_records), task)
    assert answer["model_version"] == service.client.get("/metadata").json()["version"]


def test_predict_takes_one_record_as_a_bare_object(service, local, test_records, task):
    response = service.client.post("/predict", json={"records": test_records[0]})
    assert response.status_code == 200, response.text
    assert_same_predictions(response.json()["predictions"], local.predict(test_records[:1]), task)


def test_predict_proba_equals_the_model_in_process_or_is_404_for_a_regressor(service, local, test_records, task):
    response = service.client.post("/predict_proba", json={"records": test_records})
    if task != "classification":
        assert response.status_code == 404
        assert "regressor" in response.json()["error"] and "/predict" in response.json()["error"]
        return
    assert response.status_code == 200, response.text
    served, expected = response.json()["probabilities"], local.predict_proba(test_records)
    assert len(served) == len(expected)
    for row, want in zip(served, expected, strict=True):
        assert list(row) == [str(c) for c in local.classes] == list(want)
        assert row == pytest.approx(want, rel=0, abs=1e-9)


def test_answers_match_the_openapi_document(service, test_records, task):
    document = service.client.get("/openapi.json").json()
    components = document["components"]["schemas"]

    def schema_of(path: str, part: str) -> dict:
        operation = document["paths"][path]["post"]
        content = operation["requestBody"] if part == "request" else operation["responses"]["200"]
        return content["content"]["application/json"]["schema"]

    request = {"records": test_records[:3]}
    assert violations(request, schema_of("/predict", "request"), components) == []
    assert components["PredictRequest"]["properties"]["records"]["maxItems"] == MAX_RECORDS
    answer = service.client.post("/predict", json=request).json()
    assert set(answer) == {"predictions", "model_version", "request_id"}
    assert violations(answer, schema_of("/predict", "response"), components) == []
    if task == "classification":
        answer = service.client.post("/predict_proba", json=request).json()
        assert set(answer) == {"probabilities", "model_version", "request_id"}
        assert violations(answer, schema_of("/predict_proba", "response"), components) == []


def test_metadata_names_the_release_and_the_pipeline_records(service, pkg, artifact, metrics_record):
    info = service.client.get("/metadata").json()
    assert re.fullmatch(r"\d+\.\d+\.\d+-[0-9a-f]{7,40}", info["version"]), info["version"]
    assert info["version"] == f"{info['model_version']}-{info['git_commit']}"
    trained = json.loads(artifact(pkg.core.paths.TRAIN_RECORD).read_text())
    assert info["model_sha256"] == trained["model_sha256"], "stale reports/build.json? run `make build`"
    assert info["metrics"] == metrics_record["metrics"]


@pytest.mark.parametrize("path", ["/metadata", "/openapi.json"])
def test_the_key_is_never_in_an_answer(service, path):
    response = service.client.get(path)
    assert response.status_code == 200
    assert service.key not in response.text


# --- request ids and feedback ----------------------------------------------------------------------


def test_request_ids_are_signed_with_the_key_the_deployment_generated(service, pkg, test_records):
    response = service.client.post("/predict", json={"records": test_records[:3]})
    request_id = response.json()["request_id"]
    assert response.headers["x-request-id"] == request_id
    key_file = service.monitoring / "signing.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    issued = pkg.core.requestids.RequestIds(pkg.core.requestids.local_key(service.monitoring)).verify(request_id)
    assert issued is not None and issued.records == 3 and abs(issued.issued - time.time()) < 60


def test_feedback_for_a_served_record_is_stored_once_with_the_feedback_token(service, pkg, test_records, schema):
    request_id = service.client.post("/predict", json={"records": test_records[:2]}).json()["request_id"]
    label = schema.target.classes[0] if schema.classification else 1.5
    body = {"items": [{"request_id": request_id, "index": 1, "label": label}]}
    assert service.client.post("/feedback", json=body).status_code == 401  # the API key is not the feedback token
    token = {"authorization": f"Bearer {service.token}"}
    invented = {"items": [{**body["items"][0], "source": "other-lab"}]}  # the source is the token's, not the body's
    refused = service.anonymous.post("/feedback", json=invented, headers=token)
    assert refused.status_code == 400 and "items.0.source" in refused.json()["error"]
    first = service.anonymous.post("/feedback", json=body, headers=token)
    again = service.anonymous.post("/feedback", json=body, headers=token)
    assert (first.status_code, first.json()) == (201, {"accepted": 1})
    assert again.status_code == 409 and "already labelled" in again.json()["error"]
    forged = {"request_id": request_id[:-1] + ("0" if request_id[-1] != "0" else "1"), "label": label}
    assert service.anonymous.post("/feedback", json=forged, headers=token).status_code == 404
    labels = pkg.core.labels.read_labels(None, service.monitoring, schema)  # what the monitor reads
    stored = labels[labels["request_id"] == request_id]
    assert stored[["index", "label", "source"]].values.tolist() == [[1, label, "contract-test"]]


def test_metrics_are_open_and_prometheus_text(service):
    response = service.anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")


def test_bentomls_metrics_when_on_carry_the_logs_counters_too(pkg, root, tmp_path):
    """MODELOPS_METRICS=true: BentoML serves /metrics itself; the service's hook appends the log's counters."""
    env = {"MODELOPS_METRICS": "true", "MODELOPS_WORKERS": "1", "MODELOPS_MONITORING_DIR": str(tmp_path)}
    with contextlib.chdir(root), pkg.packaging.localserver.running(env=env, log=tmp_path / "server.log") as server:
        text = httpx.get(f"{server.url}/metrics").text
    assert "# TYPE bentoml_service_request_total counter" in text
    assert any(line.startswith("modelops_") for line in text.splitlines()), text[-2000:]


# --- refusals -----------------------------------------------------------------------------------------

BAD_REQUESTS = [
    "missing-field",
    "extra-field",
    "string-for-number",
    "nan",
    "infinity",
    "minus-infinity",
    "far-out-of-range",
    "empty-list",
    "too-many-records",
    "no-records-key",
    "invalid-json",
    "top-level-list",
    "extra-top-level-key",
]


def bad_request(case: str, record: dict, schema) -> tuple[str, str, str]:
    """The body of one bad request, and the field and rule its 400 answer must name."""
    numeric = next((f for f in schema.features if f.numeric), None)
    name = numeric.name if numeric else next(iter(record))
    if case in ("string-for-number", "nan", "infinity", "minus-infinity", "far-out-of-range") and numeric is None:
        pytest.skip("the schema has no numeric feature")
    field = f"records.0.{name}"
    far = numeric.max + 1000 * ((numeric.max - numeric.min) or 1.0) if numeric else None
    cases = {
        "missing-field": ({"records": [{k: v for k, v in record.items() if k != name}]}, field, "missing"),
        "extra-field": ({"records": [{**record, "unexpected": 1}]}, "records.0.unexpected", "extra_forbidden"),
        "string-for-number": ({"records": [{**record, name: "1.5"}]}, field, "float_type"),
        "nan": ({"records": [{**record, name: math.nan}]}, field, "finite_number"),
        "infinity": ({"records": [{**record, name: math.inf}]}, field, "finite_number"),
        "minus-infinity": ({"records": [{**record, name: -math.inf}]}, field, "finite_number"),
        "far-out-of-range": ({"records": [{**record, name: far}]}, field, "less_than_equal"),
        "empty-list": ({"records": []}, "records", "too_short"),
        "too-many-records": ({"records": [record] * (MAX_RECORDS + 1)}, "records", "too_long"),
        "no-records-key": ({}, "records", "missing"),
        "invalid-json": ('{"records": [', "(body)", "json_invalid"),
        "top-level-list": ([record], "(body)", "model_type"),
        "extra-top-level-key": ({"records": [record], "debug": True}, "debug", "extra_forbidden"),
    }
    payload, field, rule = cases[case]
    return (payload if isinstance(payload, str) else json.dumps(payload)), field, rule


def post_text(client: httpx.Client, body: str | bytes, path: str = "/predict") -> httpx.Response:
    return client.post(path, content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_a_bad_request_is_400_naming_the_field_and_rule(service, test_records, schema, case):
    body, field, rule = bad_request(case, test_records[0], schema)
    if case in ("nan", "infinity"):
        assert ("NaN" if case == "nan" else "Infinity") in body  # raw JSON extensions, as some clients send
    response = post_text(service.client, body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert {"field": field, "rule": rule} in [{"field": d["field"], "rule": d["rule"]} for d in answer["detail"]]
    assert field in answer["error"]


def oversized(record: dict) -> bytes:
    """A valid request padded with whitespace to one byte above the limit."""
    body = json.dumps({"records": [record]}).encode()
    return body + b" " * (MAX_BODY_BYTES + 1 - len(body))


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_above_the_limit_is_413(service, test_records, framing):
    body = oversized(test_records[0])
    content = body if framing == "content-length" else iter([body[:100_000], body[100_000:]])
    response = post_text(service.client, content)
    assert response.status_code == 413
    assert str(MAX_BODY_BYTES) in response.json()["error"]


def test_the_server_keeps_serving_after_bad_requests(service, local, test_records, schema, task):
    for case in BAD_REQUESTS:
        with contextlib.suppress(pytest.skip.Exception):
            assert post_text(service.client, bad_request(case, test_records[0], schema)[0]).status_code == 400
    assert post_text(service.client, oversized(test_records[0])).status_code == 413
    response = service.client.post("/predict", json={"records": test_records})
    assert response.status_code == 200, response.text
    assert_same_predictions(response.json()["predictions"], local.predict(test_records), task)
    assert service.anonymous.get("/readyz").status_code == 200


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="rss_mb reads Linux /proc")
def test_the_server_memory_is_measured(service):
    """What `make load-test` records as server_rss_mb: the server and its worker, model loaded."""
    assert service.server.rss_mb() > 50.0


def test_the_log_never_shows_the_key(service, test_records):
    service.client.post("/predict", json={"records": test_records[:1]})
    service.anonymous.post("/predict", json={"records": test_records[:1]}, headers={"x-api-key": service.key})
    deadline = time.monotonic() + 5
    while "/predict" not in service.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    service.anonymous.post("/feedback", json={"request_id": "0" * 32, "label": 0}, headers={"x-api-key": service.token})
    text = service.log.read_text()
    assert "/predict" in text, "the access log is on: it should list the requests"
    assert service.key not in text and service.token not in text
