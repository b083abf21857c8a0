"""Shared fixtures: the project's package by role, small synthetic tables, and the pipeline's real outputs.

The package name differs per project, so it is found under `src/` at run time. `tests/code` needs
no pipeline output; tests of data, model and service read the outputs of `make pipeline` and fail
(never skip) with that fix when one is missing.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import pkgutil
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType, SimpleNamespace

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLES = tuple(
    tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["modelops"]["rooms"]
)  # the layout's one table
# The BentoML composition root reads the settings when it is imported: only a subprocess imports it.
NOT_IMPORTED = {"serving.service"}
TOY_FEATURIZE = {"numeric_impute": "median", "scale": True, "histogram_bins": 5}
TOY_MODEL = {"classification": "logistic_regression", "regression": "ridge"}


def package_name() -> str:
    """The one Python package under src/."""
    found = sorted(p.name for p in (ROOT / "src").iterdir() if (p / "__init__.py").is_file())
    if len(found) != 1:
        raise RuntimeError(f"expected one package under {ROOT / 'src'}, found {found or 'none'}")
    return found[0]


@pytest.fixture(scope="session")
def pkg() -> SimpleNamespace:
    """The package by role (`pkg.core.schema.Schema`, `pkg.pipeline.prepare.split`), its name and stages.

    Every module of every subpackage is imported, except the service (see NOT_IMPORTED); the
    stages are those of dvc.yaml, in pipeline order.
    """
    name = package_name()
    roles = {}
    for role in ROLES:
        sub = importlib.import_module(f"{name}.{role}")
        for module in pkgutil.iter_modules(sub.__path__):
            if f"{role}.{module.name}" not in NOT_IMPORTED:
                importlib.import_module(f"{name}.{role}.{module.name}")
        roles[role] = sub
    stages = tuple(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
    return SimpleNamespace(name=name, stages=stages, **roles)


@pytest.fixture(scope="session")
def root() -> Path:
    """The project's root folder."""
    return ROOT


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """An empty working directory and an environment without MODELOPS_* variables, nor the markers of the CI
    that runs the tests (GITHUB_ACTIONS, GITLAB_CI: they choose the forge): a test sets the one it means."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("MODELOPS_") or k in ("GITHUB_ACTIONS", "GITLAB_CI")]:
        monkeypatch.delenv(key)
    return tmp_path


def write_fake_program(path: Path, source: str) -> Path:
    """An executable at `path` that runs the Python `source` with this interpreter (for a fake `gh`,
    `python`…). A shell wrapper, because a `#!` line cannot hold a path with a space."""
    path.parent.mkdir(parents=True, exist_ok=True)
    program = path.with_name(f"fake_{path.name}.py")
    program.write_text(source)
    path.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(program))} "$@"\n')
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def fake_program():
    """`write_fake_program` as a fixture: `fake_program(folder / "gh", SOURCE)`."""
    return write_fake_program


# --- git and the forge, for real and faked -------------------------------------------------------

GIT = shutil.which("git") or "git"  # absolute: some tests take PATH away from the command under test
GH_TOKEN = "ghp_fake0token0that0must0never0show"  # noqa: S105  # pragma: allowlist secret
# The fake `gh`: it logs every call (arguments, standard input) to FAKE_GH_LOG, keeps the pull
# requests and issues it holds in FAKE_GH_STATE, is not logged in (`gh auth status` fails: only
# GH_TOKEN authenticates), and fails the subcommand FAKE_GH_FAIL names, printing the token as a
# careless tool might.
FAKE_GH = """\
import json, os, sys
args = sys.argv[1:]
stdin = sys.stdin.read() if "-" in args else None
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(json.dumps({"args": args, "stdin": stdin}) + "\\n")
if args[:1] == [os.environ.get("FAKE_GH_FAIL")]:
    sys.stderr.write("HTTP 403: token " + os.environ.get("GH_TOKEN", "") + " may not do this\\n")
    sys.exit(1)
path = os.environ["FAKE_GH_STATE"]
state = json.load(open(path)) if os.path.exists(path) else {"prs": [], "issues": []}
def option(name):
    return args[args.index(name) + 1]
def save():
    json.dump(state, open(path, "w"))
if args[:2] == ["auth", "status"]:
    sys.stderr.write("You are not logged into any GitHub hosts.\\n")
    sys.exit(1)
elif args[:2] == ["pr", "list"]:
    print(json.dumps([{"number": p["number"], "url": p["url"]} for p in state["prs"] if p["head"] == option("--head")]))
elif args[:2] == ["pr", "create"]:
    number = 1 + len(state["prs"]) + len(state["issues"])
    url = f"https://github.com/acme/model/pull/{number}"
    state["prs"].append({"number": number, "url": url, "head": option("--head"), "title": option("--title")})
    save()
    print("Creating pull request\\n" + url)
elif args[:2] == ["pr", "edit"]:
    print(f"https://github.com/acme/model/pull/{args[2]}")
elif args[:2] == ["issue", "list"]:
    print(json.dumps([{"number": i["number"], "title": i["title"]} for i in state["issues"] if i["open"]]))
elif args[:2] == ["issue", "create"]:
    number = 1 + len(state["prs"]) + len(state["issues"])
    state["issues"].append({"number": number, "title": option("--title"), "open": True})
    save()
    print(f"https://github.com/acme/model/issues/{number}")
elif args[:2] == ["issue", "close"]:
    for issue in state["issues"]:
        if str(issue["number"]) == args[2]:
            issue["open"] = False
    save()
"""


class FakeGh:
    """A fake `gh` first on PATH, GH_TOKEN set: its calls, and the pull requests and issues it holds."""

    token = GH_TOKEN

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.log, self.state_file, self.monkeypatch = folder / "gh-calls.jsonl", folder / "gh-state.json", monkeypatch
        write_fake_program(folder / "bin" / "gh", FAKE_GH)
        monkeypatch.setenv("PATH", f"{folder / 'bin'}:{Path(GIT).parent}:/usr/bin:/bin")
        monkeypatch.setenv("GH_TOKEN", GH_TOKEN)
        monkeypatch.delenv("GITHUB_TOKEN", raising=False)
        monkeypatch.delenv("FAKE_GH_FAIL", raising=False)
        monkeypatch.setenv("FAKE_GH_LOG", str(self.log))
        monkeypatch.setenv("FAKE_GH_STATE", str(self.state_file))

    def calls(self) -> list[dict]:
        """Every call so far: {"args": [...], "stdin": text or None}."""
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def commands(self) -> list[list[str]]:
        """The first two arguments of every call: [["pr", "list"], ["pr", "create"], …]."""
        return [call["args"][:2] for call in self.calls()]

    def state(self) -> dict:
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else {"prs": [], "issues": []}

    def holds(self, prs: tuple[dict, ...] = (), issues: tuple[dict, ...] = ()) -> None:
        """Pull requests ({"number", "url", "head"}) and open issues ({"number", "title"}) that exist already."""
        state = self.state()
        state["prs"] += list(prs)
        state["issues"] += [{"open": True, **issue} for issue in issues]
        self.state_file.write_text(json.dumps(state))

    def fail(self, subcommand: str) -> None:
        """Make every `gh <subcommand> …` fail with the token in its message."""
        self.monkeypatch.setenv("FAKE_GH_FAIL", subcommand)


@pytest.fixture
def fake_gh(isolated, monkeypatch) -> FakeGh:
    """A fake `gh` first on PATH (see FAKE_GH), the token in GH_TOKEN; its files live outside the cwd's project."""
    folder = isolated / ".fake-gh"
    return FakeGh(folder, monkeypatch)


@pytest.fixture
def private_git(isolated, monkeypatch) -> Path:
    """git configured for this test alone (none of this machine's settings, a fixed identity); the cwd."""
    for name, value in {
        "GIT_CONFIG_GLOBAL": str(isolated / ".gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }.items():
        monkeypatch.setenv(name, value)
    return isolated


def run_git(*args: str, cwd: Path) -> str:
    """A git command's output in `cwd`; a failure fails the test."""
    return subprocess.run([GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="session")
def module():
    """One module of the package alone, by its name under it (`module("core.git")`): `pkg` would import
    the whole package, seconds the tests of one command need not wait."""

    def load(name: str) -> ModuleType:
        return importlib.import_module(f"{package_name()}.{name}")

    return load


@pytest.fixture(scope="session")
def git():
    """`run_git` as a fixture: `git("log", "-1", cwd=repo)`."""
    return run_git


@pytest.fixture
def project_with_remote(private_git, monkeypatch) -> Path:
    """A git project on main (one commit of `params.yaml`), pushed to `origin`, an empty bare remote; the cwd."""
    run_git("init", "--quiet", "--bare", "remote.git", cwd=private_git)
    work = private_git / "project"
    work.mkdir()
    run_git("init", "--quiet", "-b", "main", cwd=work)
    (work / "params.yaml").write_text("train:\n  C: 1.0\n")
    run_git("add", ".", cwd=work)
    run_git("commit", "--quiet", "-m", "the champion", cwd=work)
    run_git("remote", "add", "origin", str(private_git / "remote.git"), cwd=work)
    run_git("push", "--quiet", "origin", "main", cwd=work)
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def remote_heads(git):
    """Branch → commit on the bare remote of `project_with_remote`: `remote_heads(repo)`."""

    def heads(repo: Path) -> dict[str, str]:
        listed = git("ls-remote", "--heads", "origin", cwd=repo)
        return {ref.removeprefix("refs/heads/"): sha for sha, ref in (line.split("\t") for line in listed.splitlines())}

    return heads


# --- synthetic data: no pipeline output needed ---------------------------------------------------


def toy_frame(n: int = 60, task: str = "classification", seed: int = 0) -> pd.DataFrame:
    """A small table with numeric and categorical features, missing values and a learnable target."""
    rng = np.random.default_rng(seed)
    size = rng.normal(10.0, 2.0, n)
    weight = rng.normal(0.0, 1.0, n)
    colour = rng.choice(["red", "green", "blue"], n)
    signal = size - 10.0 + np.where(colour == "red", 1.5, 0.0) + 0.3 * rng.normal(size=n)
    frame = pd.DataFrame({"size": size, "weight": weight, "colour": colour})
    frame["target"] = (signal > 0).astype(int) if task == "classification" else 3.0 * signal + 50.0
    frame.loc[[1, 7, 13], "weight"] = np.nan
    frame.loc[[2, 9], "colour"] = np.nan
    return frame


@pytest.fixture(scope="session")
def make_toy():
    """`toy_frame` as a fixture: `make_toy(task="regression")`."""
    return toy_frame


@pytest.fixture
def toy() -> pd.DataFrame:
    """A classification toy table (binary target `target`)."""
    return toy_frame()


@pytest.fixture(scope="session")
def make_predictor(pkg):
    """A Predictor fitted on the toy table of a task (`make_predictor("regression")`), as the pipeline fits one."""

    @functools.cache
    def build(task: str = "classification"):
        frame = toy_frame(task=task)
        schema = pkg.pipeline.prepare.infer_schema(frame, "target", task)
        transformer = pkg.core.features.build_transformer(schema, TOY_FEATURIZE).fit(schema.coerce(frame))
        features = pkg.core.features.Features(transformer)
        model = pkg.core.estimators.build_estimator(task, {"model": TOY_MODEL[task], "seed": 0})
        model.fit(features.from_frame(frame, schema), frame["target"].to_numpy())
        return pkg.serving.predictor.Predictor(model, features, schema)

    return build


def knock_out(frame: pd.DataFrame, schema) -> pd.DataFrame:
    """A copy with missing numeric values, missing categories and unseen categories in every feature."""
    frame = frame.copy().reset_index(drop=True)
    for position, feature in enumerate(schema.features):
        rows = frame.index[(frame.index + position) % 3 == 0]
        if feature.numeric:
            frame[feature.name] = frame[feature.name].astype(float)
            frame.loc[rows, feature.name] = np.nan
        else:
            frame[feature.name] = frame[feature.name].astype(object)
            frame.loc[rows, feature.name] = None
            frame.loc[frame.index[(frame.index + position) % 5 == 1], feature.name] = "never-seen-in-training"
    return frame


@pytest.fixture(scope="session")
def damage():
    """`knock_out(frame, schema)` as a fixture: missing and unseen values in every feature."""
    return knock_out


# --- the pipeline's real outputs ----------------------------------------------------------------


def require(relative: Path | str) -> Path:
    """An output of the pipeline, or a test failure that says how to make it."""
    path = ROOT / relative
    if not path.exists():
        pytest.fail(f"no {relative} — run `make pipeline` (or `dvc repro`) before these tests", pytrace=False)
    return path


@pytest.fixture(scope="session")
def artifact():
    """`require` as a fixture: `artifact(pkg.core.paths.MODEL)` is the file's absolute path, or a failure."""
    return require


def read_record(relative: Path | str):
    return json.loads(require(relative).read_text())


@pytest.fixture(scope="session")
def params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture(scope="session")
def task(params) -> str:
    return params["task"]


@pytest.fixture(scope="session")
def target(params) -> str:
    return params["ingest"]["target"]


@pytest.fixture(scope="session")
def schema(pkg):
    """The typed schema the prepare stage wrote."""
    return pkg.core.schema.Schema.from_dict(read_record(pkg.core.paths.SCHEMA))


@pytest.fixture(scope="session")
def prepare_record(pkg) -> dict:
    return read_record(pkg.core.paths.PREPARE_RECORD)


@pytest.fixture(scope="session")
def feature_list(pkg) -> dict:
    return read_record(pkg.core.paths.FEATURE_LIST)


@pytest.fixture(scope="session")
def metrics_record(pkg) -> dict:
    return read_record(pkg.core.paths.METRICS)


@pytest.fixture(scope="session")
def read_split(schema):
    """A table of raw records the prepare stage wrote, categorical columns as text (`read_split(paths.TEST)`)."""
    return lambda relative: pd.read_csv(require(relative), dtype=schema.read_dtypes())


@pytest.fixture(scope="session")
def clean_set(pkg, read_split) -> pd.DataFrame:
    return read_split(pkg.core.paths.CLEAN)


@pytest.fixture(scope="session")
def train_set(pkg, read_split) -> pd.DataFrame:
    """The processed train set (raw feature values and the target)."""
    return read_split(pkg.core.paths.TRAIN)


@pytest.fixture(scope="session")
def test_set(pkg, read_split) -> pd.DataFrame:
    """The processed test set (raw feature values and the target)."""
    return read_split(pkg.core.paths.TEST)


@pytest.fixture(scope="session")
def features_train(pkg) -> pd.DataFrame:
    return pd.read_csv(require(pkg.core.paths.FEATURES_TRAIN))


@pytest.fixture(scope="session")
def features_test(pkg) -> pd.DataFrame:
    return pd.read_csv(require(pkg.core.paths.FEATURES_TEST))


@pytest.fixture(scope="session")
def transformer(pkg):
    return joblib.load(require(pkg.core.paths.TRANSFORMER))


@pytest.fixture(scope="session")
def model(pkg):
    return joblib.load(require(pkg.core.paths.MODEL))


@pytest.fixture(scope="session")
def predictor(pkg):
    """The trained model, loaded from the pipeline's artifacts the way the service loads it."""
    paths = pkg.core.paths
    for relative in (paths.MODEL, paths.TRANSFORMER, paths.SCHEMA):
        require(relative)
    with contextlib.chdir(ROOT):  # the package's paths are relative to the project's root
        return pkg.serving.predictor.Predictor.load()


@pytest.fixture(scope="session")
def predict(pkg, model, transformer, schema, target):
    """Raw records (a DataFrame, target column allowed) to model outputs through the compiled feature path."""
    features = pkg.core.features.Features(transformer)

    def run(records: pd.DataFrame, method: str = "predict") -> np.ndarray:
        inputs = features.from_frame(records.drop(columns=[target], errors="ignore"), schema)
        return getattr(model, method)(inputs)

    return run


@pytest.fixture(scope="session")
def test_records(schema, test_set) -> list[dict]:
    """The first 20 test-set records as a client sends them: feature values only, `None` when missing."""
    return schema.client_records(test_set.head(20))


def unavailable(reason: str) -> None:
    """Skip a test whose service is missing here, naming how to get it; under CI=true, fail instead."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def object_store():
    """An S3-compatible server on loopback (moto) and a fresh bucket: `.endpoint`, `.bucket`, `.env`."""
    import services

    reason = services.s3_missing()
    if reason:
        unavailable(reason)
    with services.running(services.start_s3) as server:
        bucket = "modelops-tests"
        services.create_bucket(server.url, bucket)
        env = {**services.S3_CREDENTIALS, "AWS_ENDPOINT_URL": server.url}
        yield SimpleNamespace(endpoint=server.url, bucket=bucket, env=env)


@pytest.fixture
def s3_env(object_store, monkeypatch):
    """The object store's endpoint and credentials in this test's environment."""
    for name, value in object_store.env.items():
        monkeypatch.setenv(name, value)
    return object_store


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server on loopback (from the installed binaries): its URL."""
    import services

    reason = services.postgres_missing()
    if reason:
        unavailable(reason)
    with services.running(services.start_postgres) as server:
        yield server.url


@pytest.fixture
def fresh_database(postgres_url):
    """A URL of the test server whose tables land in a new, empty schema (one per test)."""
    import secrets

    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    return f"{postgres_url}?options=-csearch_path%3D{schema}"


TWO_WORKERS = """
import bentoml


@bentoml.service(workers=2)
class Toy:
    @bentoml.api
    def ping(self) -> str:
        return "pong"
"""


@pytest.fixture(scope="session")
def two_workers():
    """Write `toy.py` into a folder: a real BentoML service `toy:Toy` with two workers that loads no model.

    What `bentoml serve` does with its processes does not depend on the service, and tests/code needs
    no pipeline output.
    """

    def write(folder: Path) -> Path:
        path = folder / "toy.py"
        path.write_text(TWO_WORKERS)
        return path

    return write
