"""Unit tests of the service's parts, in process and without a server.

The compiled feature path against scikit-learn, the request schema, the API's refusals, the
key-and-size guard as a raw ASGI app, the SLO and Dockerfile checks, the service's settings and
the release version.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import math
import subprocess
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from starlette.testclient import TestClient

KEY = "test-key-0123456789"
LIMIT = 1000  # the guard's body limit in these tests


def knock_out(frame: pd.DataFrame, schema: dict) -> pd.DataFrame:
    """A copy with missing numeric values, missing categories and unseen categories in every feature."""
    frame = frame.copy().reset_index(drop=True)
    for position, feature in enumerate(schema["features"]):
        name = feature["name"]
        rows = frame.index[(frame.index + position) % 3 == 0]
        if feature["kind"] == "numeric":
            frame[name] = frame[name].astype(float)
            frame.loc[rows, name] = np.nan
        else:
            frame[name] = frame[name].astype(object)
            frame.loc[rows, name] = None
            frame.loc[frame.index[(frame.index + position) % 5 == 1], name] = "never-seen-in-training"
    return frame


def as_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as a client sends them: `None` for a missing value."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


# --- featurize.Features: the compiled feature path equals scikit-learn -------------------------------


@pytest.fixture(scope="module")
def real(service_pkg, transformer, schema, test_set, target):
    """The real fitted transformer, its Features, and the test set's feature columns."""
    return SimpleNamespace(
        transformer=transformer,
        features=service_pkg.featurize.Features(transformer),
        schema=schema,
        frame=test_set.drop(columns=[target]),
    )


@pytest.mark.parametrize("damaged", [False, True], ids=["test-set", "test-set-with-missing-and-unseen"])
def test_features_equal_the_real_transformer(service_pkg, real, damaged):
    frame = knock_out(real.frame, real.schema) if damaged else real.frame
    expected = real.transformer.transform(service_pkg.prepare.coerce(frame, real.schema))
    got = real.features.from_frame(frame, real.schema)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_features_from_records_equal_from_frame_on_the_test_set(real, test_records):
    frame = pd.DataFrame(test_records)
    reordered = [dict(reversed(list(record.items()))) for record in test_records]  # key order does not matter
    np.testing.assert_array_equal(real.features.from_records(reordered), real.features.from_frame(frame, real.schema))


FEATURIZE = {"numeric_impute": "median", "scale": True}


@pytest.fixture(
    params=[
        (["size", "weight", "colour"], FEATURIZE),
        (["size", "weight", "colour"], {"numeric_impute": "mean", "scale": False}),
        (["colour"], FEATURIZE),
        (["size", "weight"], FEATURIZE),
    ],
    ids=["mixed-median-scaled", "mixed-mean-unscaled", "categorical-only", "numeric-only"],
)
def toy_fitted(request, pkg, toy):
    """A toy table (with missing values), its schema and a transformer fitted on it."""
    columns, featurize = request.param
    frame = toy[[*columns, "target"]]
    schema = pkg.prepare.infer_schema(frame, "target", "classification")
    transformer = pkg.featurize.build_transformer(schema, featurize)
    transformer.fit(pkg.prepare.coerce(frame, schema))
    return SimpleNamespace(frame=frame.drop(columns="target"), schema=schema, transformer=transformer)


def test_features_equal_a_fitted_toy_transformer_with_missing_and_unseen_values(service_pkg, toy_fitted):
    frame = knock_out(toy_fitted.frame, toy_fitted.schema)
    expected = toy_fitted.transformer.transform(service_pkg.prepare.coerce(frame, toy_fitted.schema))
    features = service_pkg.featurize.Features(toy_fitted.transformer)
    np.testing.assert_allclose(features.from_frame(frame, toy_fitted.schema), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(features.from_records(as_records(frame)), expected, rtol=0, atol=1e-12)


# --- serving.record_model: the request schema -------------------------------------------------------


@pytest.fixture
def toy_record(service_pkg, toy):
    """The toy schema's record model, the schema, and a valid record."""
    schema = service_pkg.prepare.infer_schema(toy, "target", "classification")
    return SimpleNamespace(
        model=service_pkg.serving.record_model(schema),
        schema=schema,
        valid={"size": 10.5, "weight": -0.5, "colour": "red"},
        size={f["name"]: f for f in schema["features"]}["size"],
    )


def test_record_model_accepts_a_valid_record_integers_and_nulls(toy_record):
    model = toy_record.model
    assert model.model_validate(toy_record.valid).model_dump(by_alias=True) == toy_record.valid
    assert model.model_validate({**toy_record.valid, "size": 10}).model_dump(by_alias=True)["size"] == 10.0
    nulls = {"size": None, "weight": None, "colour": None}
    assert model.model_validate(nulls).model_dump(by_alias=True) == nulls


def test_record_model_allows_the_slack_around_the_train_range(service_pkg, toy_record):
    low, high = toy_record.size["min"], toy_record.size["max"]
    slack = service_pkg.serving.RANGE_SLACK * (high - low)
    for value in (low - slack, high + slack):
        assert (
            toy_record.model.model_validate({**toy_record.valid, "size": value}).model_dump(by_alias=True)["size"]
            == value
        )


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"unexpected": 1.0}, "unexpected", "extra_forbidden"),
        ({"size": math.nan}, "size", "finite_number"),
        ({"size": math.inf}, "size", "finite_number"),
        ({"size": -math.inf}, "size", "finite_number"),
        ({"size": "ABOVE"}, "size", "less_than_equal"),
        ({"size": "BELOW"}, "size", "greater_than_equal"),
        ({"size": "10.5"}, "size", "float_type"),
        ({"size": True}, "size", "float_type"),
        ({"colour": 3}, "colour", "string_type"),
        ({"colour": "x" * 201}, "colour", "string_too_long"),
        ({"size": "DROP"}, "size", "missing"),
    ],
    ids=[
        "extra-field",
        "nan",
        "inf",
        "minus-inf",
        "above-range",
        "below-range",
        "string-for-number",
        "bool-for-number",
        "number-for-category",
        "too-long-text",
        "missing-field",
    ],
)
def test_record_model_rejects_naming_the_field_and_rule(service_pkg, toy_record, change, field, rule):
    low, high = toy_record.size["min"], toy_record.size["max"]
    outside = 1.001 * service_pkg.serving.RANGE_SLACK * (high - low)
    bounds = {"ABOVE": high + outside, "BELOW": low - outside}
    record = {**toy_record.valid, **change}
    if record["size"] == "DROP":
        del record["size"]
    elif record["size"] in bounds:
        record["size"] = bounds[record["size"]]
    with pytest.raises(ValueError) as raised:
        toy_record.model.model_validate(record)
    assert [(e["loc"], e["type"]) for e in raised.value.errors()] == [((field,), rule)]


def test_record_model_rejects_nan_in_raw_json(toy_record):
    with pytest.raises(ValueError, match="finite number"):
        toy_record.model.model_validate_json('{"size": NaN, "weight": 1.0, "colour": "red"}')


# --- api: the HTTP hot path through starlette's TestClient ------------------------------------------


@pytest.fixture(scope="module")
def predictor(service_pkg, root):
    """The model, loaded from the pipeline's artifacts the way the service loads it."""
    with contextlib.chdir(root):
        return service_pkg.serving.Predictor.load()


@pytest.fixture
def api(app_pkg, predictor, monkeypatch):
    """The API module with a loaded predictor and known metadata, and a TestClient for its app."""
    monkeypatch.setattr(app_pkg.api.State, "predictor", predictor)
    monkeypatch.setattr(app_pkg.api.State, "info", {"version": "1.2.3-abcdef0", "model_sha256": "0" * 64})
    return SimpleNamespace(module=app_pkg.api, client=TestClient(app_pkg.api.app))


def test_api_predicts_like_the_predictor(api, predictor, test_records):
    response = api.client.post("/predict", json={"records": test_records})
    assert response.status_code == 200
    assert response.json() == {"predictions": predictor.predict(test_records), "model_version": "1.2.3-abcdef0"}


def test_api_takes_one_record_as_a_bare_object(api, predictor, test_records):
    response = api.client.post("/predict", json={"records": test_records[0]})
    assert response.status_code == 200
    assert response.json()["predictions"] == predictor.predict(test_records[:1])


def test_api_serves_metadata_and_openapi_from_its_state(api):
    assert api.client.get("/metadata").json() == api.module.State.info
    document = api.client.get("/openapi.json").json()
    assert document["info"]["version"] == "1.2.3-abcdef0"
    assert {"/predict", "/metadata", "/healthz", "/readyz"} <= set(document["paths"])


def test_api_predict_proba_is_404_for_a_regressor(api, monkeypatch, test_records):
    monkeypatch.setattr(api.module.State, "predictor", SimpleNamespace(classes=[]))
    response = api.client.post("/predict_proba", json={"records": test_records[:1]})
    assert response.status_code == 404
    assert "regressor" in response.json()["error"]


@pytest.mark.parametrize(
    ("case", "field", "rule"),
    [
        ("missing-field", "records.0.NAME", "missing"),
        ("extra-field", "records.0.unexpected", "extra_forbidden"),
        ("nan", "records.0.NAME", "finite_number"),
        ("empty-list", "records", "too_short"),
        ("too-many-records", "records", "too_long"),
        ("invalid-json", "(body)", "json_invalid"),
        ("top-level-list", "(body)", "model_type"),
        ("extra-top-level-key", "debug", "extra_forbidden"),
    ],
)
@pytest.mark.parametrize("path", ["/predict", "/predict_proba"])
def test_api_refuses_bad_requests_naming_the_field(api, schema, test_records, case, field, rule, path):
    record = test_records[0]
    numeric = [f["name"] for f in schema["features"] if f["kind"] == "numeric"]
    if case == "nan" and not numeric:
        pytest.skip("the schema has no numeric feature")
    name = numeric[0] if numeric else next(iter(record))
    bodies = {
        "missing-field": {"records": [{k: v for k, v in record.items() if k != name}]},
        "extra-field": {"records": [{**record, "unexpected": 1}]},
        "nan": {"records": [{**record, name: math.nan}]},
        "empty-list": {"records": []},
        "too-many-records": {"records": [record] * (api.module.SETTINGS.max_records + 1)},
        "invalid-json": '{"records": [',
        "top-level-list": [record],
        "extra-top-level-key": {"records": [record], "debug": True},
    }
    body = bodies[case] if isinstance(bodies[case], str) else json.dumps(bodies[case])
    response = api.client.post(path, content=body, headers={"content-type": "application/json"})
    if path == "/predict_proba" and not api.module.State.predictor.classes:
        assert response.status_code == 404  # a regressor has no probabilities, whatever the body
        return
    assert response.status_code == 400
    answer = response.json()
    field = field.replace("NAME", name)
    assert (answer["detail"][0]["field"], answer["detail"][0]["rule"]) == (field, rule)
    assert answer["error"].startswith(f"invalid request: {field}: ")


# --- guard.Guard: the API key and the body limit, as a raw ASGI app ---------------------------------


def through_guard(service_pkg, path="/predict", headers=None, chunks=(b"",), api_key=KEY, content_length=True):
    """Send one request through a Guard in front of an echo app: its status, answer and what the app received."""
    received = []

    async def app(scope, receive, send):
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        received.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"reached"})

    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive():
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    headers = dict(headers or {})
    if content_length:
        headers["content-length"] = str(sum(len(c) for c in chunks))
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    guard = service_pkg.guard.Guard(app, api_key=api_key, max_body_bytes=LIMIT)
    asyncio.run(guard(scope, receive, send))
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return SimpleNamespace(status=sent[0]["status"], answer=answer, received=received[0] if received else None)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"x-api-key": "wrong"},
        {"authorization": KEY},
        {"authorization": "Basic x"},
    ],
    ids=["no-key", "wrong-bearer", "wrong-x-api-key", "key-without-bearer", "basic-auth"],
)
def test_guard_refuses_a_missing_or_wrong_key(service_pkg, headers):
    result = through_guard(service_pkg, headers=headers)
    assert result.status == 401
    assert "API key" in json.loads(result.answer)["error"]
    assert result.received is None


@pytest.mark.parametrize(
    "headers",
    [{"authorization": f"Bearer {KEY}"}, {"authorization": f"bearer {KEY}"}, {"x-api-key": KEY}],
    ids=["bearer", "lowercase-bearer", "x-api-key"],
)
def test_guard_passes_the_right_key(service_pkg, headers):
    result = through_guard(service_pkg, headers=headers, chunks=(b'{"records": []}',))
    assert (result.status, result.received) == (200, b'{"records": []}')


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
def test_guard_leaves_the_health_checks_open(service_pkg, path):
    assert through_guard(service_pkg, path=path).status == 200


def test_guard_without_a_configured_key_lets_everyone_in(service_pkg):
    assert through_guard(service_pkg, api_key=None).status == 200


def test_guard_checks_the_key_before_the_size(service_pkg):
    assert through_guard(service_pkg, chunks=(b"x" * (LIMIT + 1),)).status == 401


@pytest.mark.parametrize("content_length", [True, False], ids=["content-length", "chunked"])
def test_guard_refuses_a_body_above_the_limit(service_pkg, content_length):
    chunks = (b"x" * 600, b"x" * 401)
    result = through_guard(service_pkg, headers={"x-api-key": KEY}, chunks=chunks, content_length=content_length)
    assert result.status == 413
    assert str(LIMIT) in json.loads(result.answer)["error"]
    assert result.received is None


@pytest.mark.parametrize("content_length", [True, False], ids=["content-length", "chunked"])
def test_guard_passes_a_body_at_the_limit_intact(service_pkg, content_length):
    chunks = (b"a" * 300, b"b" * 300, b"c" * 400)
    result = through_guard(service_pkg, headers={"x-api-key": KEY}, chunks=chunks, content_length=content_length)
    assert result.status == 200
    assert result.received == b"".join(chunks)


# --- loadtest.check_slo -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slo(root) -> dict:
    """The SLO of docs/criteria.yaml, the one place it is set."""
    return yaml.safe_load((root / "docs/criteria.yaml").read_text())["slo"]


def result_at(slo: dict, **changes) -> dict:
    """A load-test result exactly at every SLO threshold, with some values changed."""
    base = {"users": slo["users"], "requests": 1000, "p95_ms": slo["p95_ms"], "rps": slo["min_rps"]}
    return {**base, "error_rate": slo["max_error_rate"], **changes}


def test_check_slo_passes_a_result_at_the_thresholds(service_pkg, slo):
    assert service_pkg.loadtest.check_slo(result_at(slo), slo) == []


@pytest.mark.parametrize(
    ("name", "step", "words", "rule"),
    [
        ("p95_ms", 1.0, "p95 latency", "p95_ms"),
        ("error_rate", 0.01, "error rate", "max_error_rate"),
        ("rps", -1.0, "throughput", "min_rps"),
    ],
    ids=["p95", "error-rate", "throughput"],
)
def test_check_slo_names_each_missed_rule_and_its_threshold(service_pkg, slo, name, step, words, rule):
    result = result_at(slo)
    result[name] += step
    missed = service_pkg.loadtest.check_slo(result, slo)
    assert len(missed) == 1, missed
    assert words in missed[0] and str(slo[rule]) in missed[0]


def test_check_slo_fails_a_run_without_requests(service_pkg, slo):
    assert service_pkg.loadtest.check_slo(result_at(slo, requests=0), slo) == ["no request completed"]


def test_check_slo_lists_every_missed_rule(service_pkg, slo):
    result = result_at(slo, requests=0, p95_ms=slo["p95_ms"] * 10, error_rate=1.0, rps=0.0)
    assert len(service_pkg.loadtest.check_slo(result, slo)) == 4


# --- container.check_dockerfile -------------------------------------------------------------------------

PYTHON = "3.11"
DOCKERFILE = f"""\
FROM python:{PYTHON}-slim as base-container
ENV PYTHONUNBUFFERED=1
USER root
RUN apt-get update -y
ARG BENTO_USER=bentoml
RUN useradd -m -u 1034 -r $BENTO_USER
WORKDIR /home/bentoml/bento
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \\
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/readyz', timeout=2)"]
EXPOSE 3000
EXPOSE 3001
USER bentoml
ENTRYPOINT [ "/home/bentoml/bento/env/docker/entrypoint.sh" ]
"""


def test_check_dockerfile_passes_a_good_one(service_pkg):
    assert service_pkg.container.check_dockerfile(DOCKERFILE, PYTHON) == []


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("USER bentoml\n", "USER bentoml\nUSER root\n", "runs as root"),
        ("USER bentoml\n", "USER 0\n", "runs as 0"),
        ("USER bentoml\n", "", "non-root USER"),
        ("HEALTHCHECK", "# HEALTHCHECK", "no HEALTHCHECK"),
        ("/readyz", "/healthz", "no HEALTHCHECK on /readyz"),
        (f"python:{PYTHON}-slim", "python:3.10-slim", "base image is python:3.10-slim"),
        (f"FROM python:{PYTHON}-slim as base-container\n", "", "base image is missing"),
        ("EXPOSE 3000\n", "", "port 3000"),
    ],
    ids=[
        "root-last",
        "uid-0",
        "no-user",
        "no-healthcheck",
        "healthcheck-not-readyz",
        "wrong-python",
        "no-from",
        "port",
    ],
)
def test_check_dockerfile_names_each_broken_rule(service_pkg, old, new, words):
    assert old in DOCKERFILE
    problems = service_pkg.container.check_dockerfile(DOCKERFILE.replace(old, new), PYTHON)
    assert len(problems) == 1 and words in problems[0], problems


def test_check_dockerfile_wants_the_projects_python(service_pkg):
    assert service_pkg.container.check_dockerfile(DOCKERFILE, "3.12") != []


# --- settings of the service ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["MODELOPS_WORKERS", "MODELOPS_MAX_RECORDS", "MODELOPS_MAX_BODY_BYTES"])
@pytest.mark.parametrize("value", ["0", "abc", "-1", "1.5"])
def test_settings_counts_must_be_positive_whole_numbers(pkg, isolated, name, value):
    with pytest.raises(pkg.settings.SettingsError, match=f"{name}='{value}'"):
        pkg.settings.Settings.from_env({name: value})


def test_settings_service_values_and_defaults(pkg, isolated):
    environ = {"MODELOPS_WORKERS": "4", "MODELOPS_MAX_RECORDS": "50", "MODELOPS_ACCESS_LOG": "Yes"}
    settings = pkg.settings.Settings.from_env({**environ, "MODELOPS_MAX_BODY_BYTES": " "})
    assert (settings.workers, settings.max_records, settings.access_log) == (4, 50, True)
    assert settings.max_body_bytes == pkg.settings.Settings().max_body_bytes  # blank means the default


def test_settings_flags_must_be_true_or_false(pkg, isolated):
    with pytest.raises(pkg.settings.SettingsError, match="MODELOPS_METRICS='maybe'"):
        pkg.settings.Settings.from_env({"MODELOPS_METRICS": "maybe"})


def test_settings_read_the_api_key_from_a_file(pkg, isolated):
    mounted, from_env = "value-from-a-mounted-file", "value-from-the-environment"
    (isolated / "mounted").write_text(mounted + "\n")
    variables = {"MODELOPS_API_KEY_FILE": str(isolated / "mounted")}
    settings = pkg.settings.Settings.from_env(variables)
    assert settings.api_key == mounted
    assert mounted not in repr(settings)
    assert pkg.settings.Settings.from_env({**variables, "MODELOPS_API_KEY": from_env}).api_key == from_env


def test_settings_missing_api_key_file_is_named(pkg, isolated):
    missing = "nowhere/mounted"
    with pytest.raises(pkg.settings.SettingsError, match=f"MODELOPS_API_KEY_FILE={missing!r} is not a file"):
        pkg.settings.Settings.from_env({"MODELOPS_API_KEY_FILE": missing})


# --- metadata.release_version ----------------------------------------------------------------------------


@pytest.fixture
def outside_git(tmp_path, monkeypatch):
    """An empty working directory that git sees as no repository, even when run from a git hook."""
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def git_repo(outside_git):
    """An empty git repository as the working directory; `git_repo("commit", ...)` runs git in it."""
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]

    def git(*args: str) -> str:
        command = ["git", *identity, *args]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    return git


def test_release_version_is_the_newest_semver_tag_reachable_from_head(service_pkg, git_repo):
    git_repo("commit", "-q", "--allow-empty", "-m", "first")
    git_repo("tag", "v0.9.0")
    git_repo("commit", "-q", "--allow-empty", "-m", "second")
    git_repo("tag", "-a", "v0.10.0", "-m", "release 0.10.0")
    git_repo("checkout", "-q", "-b", "side")
    git_repo("commit", "-q", "--allow-empty", "-m", "elsewhere")
    git_repo("tag", "v9.0.0")  # not reachable from HEAD below
    git_repo("checkout", "-q", "-")
    git_repo("commit", "-q", "--allow-empty", "-m", "third")
    git_repo("tag", "nightly")  # on HEAD, but not a version
    assert service_pkg.metadata.release_version() == "0.10.0"
    build = service_pkg.metadata.build_info()
    assert build["version"] == f"0.10.0-{git_repo('rev-parse', '--short=7', 'HEAD')}"


def test_release_version_without_tags_is_the_package_version(service_pkg, git_repo):
    git_repo("commit", "-q", "--allow-empty", "-m", "first")
    version = importlib.import_module(service_pkg.name).__version__
    assert service_pkg.metadata.release_version() == version
    assert service_pkg.metadata.build_info()["version"].startswith(f"{version}-")


def test_release_version_outside_git_is_the_package_version(service_pkg, outside_git):
    version = importlib.import_module(service_pkg.name).__version__
    assert service_pkg.metadata.release_version() == version
    assert service_pkg.metadata.build_info()["version"] == f"{version}-nogit"
