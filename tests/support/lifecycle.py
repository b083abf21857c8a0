"""A generated project run for real: its commands, and the steps already run in it (each at most once).

tests/test_lifecycle.py runs the steps in each configuration's project (conftest.py's `project`, one
per class); the update, delivery and monitoring tests drive the one deployed project (`deployed`)
with support.deployment on top of these. Which configurations run a step that does not depend on
every answer is decided here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from support.matrix import LIFECYCLE_CONFIGURATIONS, Configuration
from support.processes import activated_env, run
from support.repos import recorded_answers
from support.tables import CsvTable

T = TypeVar("T")

STAGES = ["ingest", "prepare", "featurize", "train", "evaluate", "docs"]
# The parameter each task's default model exposes, and how to change it (halve it).
MODEL_PARAMETER = {"classification": ("logistic_regression", "C"), "regression": ("ridge", "alpha")}
# The configuration that also runs, once, what no answer changes: the project's slow code tests (the others
# run the rest of its suite), the lint hooks below, the load test's failure outside the SLO.
REFERENCE = LIFECYCLE_CONFIGURATIONS[0]
# Lint hooks whose files no answer changes but for the project's name (the workflows are copied
# unrendered; deploy/ takes only the names): they run in REFERENCE's `make lint`, and pre-commit's
# SKIP leaves them out of the others'. mypy reads the package, the same in every configuration but for
# the Python version: it runs in ONE_PER_PYTHON. Ruff and the YAML, text and secret hooks run everywhere.
NAME_ONLY_HOOKS = (
    "manifests",
    "checkov",
    "actionlint",
    "actionlint-action-inputs",
    "check-github-workflows",
    "check-dependabot",
    "zizmor",
)
PYTHON_ONLY_HOOKS = ("mypy",)
# Lint hooks the project's own tests run on its files (tests/code/gitops/test_manifests.py: `manifests` on the
# project as generated, `checkov` on its workflows and on every overlay with every component enabled): REFERENCE's
# `make test` runs them, so no `make lint` here runs them a second time.
RUN_BY_THE_PROJECTS_TESTS = ("manifests", "checkov")
# The configuration whose `make install` finds no uv on PATH, as a runner without setup-uv: the venv's pip installs
# the pinned uv. The others find one (conftest.py's `new_lifecycle`) and make the venv with it, seconds faster.
PIP_BOOTSTRAP = LIFECYCLE_CONFIGURATIONS[-1]
# The load test's SLO for these runs. The gate mechanism is under test here, not the service's speed:
# two configurations run in parallel on 2 cores, each with Locust on the same cores, so criteria.yaml's
# real figures (p95 100 ms, 1000 req/s) cannot hold; they are measured by the maintainers' benchmark,
# alone on the machine.
RELAXED_SLO: dict[str, float] = {"min_rps": 50, "p95_ms": 2000}
# For the same reason the service runs one worker process here (MODELOPS_WORKERS, see .env.example).
LOAD_TEST_ENV = {"MODELOPS_WORKERS": "1"}


def first_of_each(configs: list[Configuration], key: Callable[[Configuration], object]) -> list[Configuration]:
    """The first configuration of each value of `key`: where what depends on that alone runs."""
    firsts: dict[object, Configuration] = {}
    for config in configs:
        firsts.setdefault(key(config), config)
    return list(firsts.values())


def data_source(config: Configuration) -> str:
    """Where the pipeline's data come from: a CSV of the user's, or a scikit-learn loader."""
    return "csv" if config.dataset == "csv" else "scikit-learn"


def covering(configs: list[Configuration], *keys: Callable[[Configuration], object]) -> list[Configuration]:
    """Fewest configurations (greedy, in order on a tie) that between them give every value of every key."""
    wanted = {(n, key(c)) for c in configs for n, key in enumerate(keys)}
    chosen: list[Configuration] = []
    while wanted:
        best = max(configs, key=lambda c: len(wanted & {(n, key(c)) for n, key in enumerate(keys)}))
        chosen.append(best)
        wanted -= {(n, key(best)) for n, key in enumerate(keys)}
    return [c for c in configs if c in chosen]


# What depends on the Python version alone (every command's --help, mypy, the project's code tests of what no
# answer changes) runs once per version; what depends on the task alone (the model parameter DVC tracks,
# the gate's rule) once per task.
# What depends on the task and on the data's source, each on its own, runs where every task and every
# source appear at least once (two configurations, not one per pair): the pipeline's determinism (the
# task's model, metrics and plots; the source's reading and encoding, which never look at the task) and
# the load test of the built bento (the task's answer; the schema's kinds of feature, categorical with
# csv). Wine is builtin classification with three classes, which the project's own service and model
# tests serve in its configuration; its bento is built and checked (test_build_…) there too.
# The project's test folders whose outcome the answers change (the task, the data, the schema): the
# configurations but REFERENCE run only these of the project's own suite. tests/code/serving is not one:
# its tests serve toy models of both tasks whatever the answers (the serving code has no template
# variable), and its real servers (moto's S3, PostgreSQL) start once, in REFERENCE.
CONFIGURED = ("tests/data", "tests/model", "tests/service", "tests/code/pipeline")
ONE_PER_PYTHON = first_of_each(LIFECYCLE_CONFIGURATIONS, lambda c: c.python_version)
ONE_PER_TASK = first_of_each(LIFECYCLE_CONFIGURATIONS, lambda c: c.task)
EACH_TASK_AND_SOURCE = covering(LIFECYCLE_CONFIGURATIONS, lambda c: c.task, data_source)
# What follows the rendered text and the Python but not the data's values runs where every Python, task and
# source appear (the two lists above together): `make lint` (the text hooks read files whose Jinja branches
# follow the task or the data's source, each on its own; ruff and mypy read a package that differs by its name
# and the Python alone), DVC's push and pull (DVC moves files whatever they hold), `make evidence` and the
# READMEs' paths. The others (a third class, another table) run what their data change: the pipeline, the
# records, the gate, their own tests and the build.
EACH_PYTHON_TASK_AND_SOURCE = [c for c in LIFECYCLE_CONFIGURATIONS if c in ONE_PER_PYTHON or c in EACH_TASK_AND_SOURCE]
# Tests in CONFIGURED whose outcome does not follow every answer, and the configurations that run them (the
# others deselect them): BentoML's own /metrics with the log's counters appended (a second server of the
# model, started for that alone: the contract tests' server, metrics off, serves every configuration) runs
# once; every command's --help (each module with a main guard; the package is the same but for the Python)
# once per Python version.
ONLY_IN = {
    "tests/service/test_contract.py::test_bentomls_metrics_when_on_carry_the_logs_counters_too": [REFERENCE],
    "tests/code/pipeline/test_stages.py::test_every_command_has_a_help": ONE_PER_PYTHON,
}


def only_in(project: Lifecycle, configs: list[Configuration], what: str) -> None:
    """Skip unless `project` is of one of `configs`, naming where `what` is tested."""
    if project.config not in configs:
        pytest.skip(f"{what}: tested in {', '.join(c.id for c in configs)}")


# The make targets a `ci: gitlab` configuration's merge-request pipeline runs as its jobs: tests/test_gitlab.py
# executes that pipeline (gitlab-ci-local) on the configuration's project, so its lifecycle class skips them.
RUN_BY_GITLAB_PIPELINE = ("lint", "test")
GITLAB_PIPELINE = "run by its GitLab pipeline (tests/test_gitlab.py)"


def unless_its_gitlab_pipeline_runs(project: Lifecycle, target: str) -> None:
    """Skip `make <target>` where the configuration's GitLab pipeline runs it (RUN_BY_GITLAB_PIPELINE)."""
    assert target in RUN_BY_GITLAB_PIPELINE, f"the GitLab pipeline runs no `make {target}`"
    if project.config.answers.get("ci") == "gitlab":
        pytest.skip(f"`make {target}`: {GITLAB_PIPELINE}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Lifecycle:
    """One baked project and the steps already run in it (each runs at most once)."""

    config: Configuration
    path: Path
    env: dict[str, str]
    python: str
    table: CsvTable | None
    bentoml_home: Path
    scratch: Path  # a folder of the project's own, outside it
    _done: dict[str, tuple[bool, Any]] = field(default_factory=dict)

    @property
    def package(self) -> str:
        return str(recorded_answers(self.path)["package"])

    @property
    def slug(self) -> str:
        """The project's name: its folder, its distribution and its bento."""
        return str(recorded_answers(self.path)["project"])

    @property
    def tag(self) -> str:
        """The bento version `make build` chooses: `<pyproject version>-<short commit>`."""
        version = tomllib.loads((self.path / "pyproject.toml").read_text())["project"]["version"]
        commit = run(["git", "rev-parse", "--short=7", "HEAD"], cwd=self.path).stdout.strip()
        return f"{version}-{commit}"

    def make(
        self, *targets: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run(["make", *targets], cwd=self.path, env={**self.env, **(env or {})}, check=check)

    def module(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`python -m <package>.<name>` with the project's .venv, in the project."""
        python = self.path / ".venv" / "bin" / "python"
        return run([python, "-m", f"{self.package}.{name}", *args], cwd=self.path, env=self.env, check=check)

    def dvc(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A dvc command in the project's activated .venv, as a user types it."""
        env = env or activated_env(self.env, self.path)
        return run([self.path / ".venv" / "bin" / "dvc", *args], cwd=self.path, env=env, check=check)

    def step(self, name: str, action: Callable[[], T]) -> T:
        """Run `action` once; a later call returns its result, or fails at once if it failed."""
        if name in self._done:
            ok, value = self._done[name]
            if not ok:
                pytest.fail(f"step `{name}` failed earlier in this project (see that test)", pytrace=False)
            return value  # type: ignore[no-any-return]
        try:
            value = action()
        except BaseException:
            self._done[name] = (False, None)
            raise
        self._done[name] = (True, value)
        return value

    def install(self) -> subprocess.CompletedProcess[str]:
        return self.step("install", lambda: self.make("install", f"PYTHON={self.python}"))

    def pipeline(self) -> subprocess.CompletedProcess[str]:
        self.install()
        return self.step("pipeline", lambda: self.make("pipeline"))

    def push(self) -> subprocess.CompletedProcess[str]:
        self.pipeline()
        return self.step("push", lambda: self.make("push"))

    def build(self) -> subprocess.CompletedProcess[str]:
        self.pipeline()
        return self.step("build", lambda: self.make("build"))

    def load_test(self) -> subprocess.CompletedProcess[str]:
        """`make load-test` of the built bento, short, under the relaxed SLO."""
        self.build()
        target = f"{self.slug}:{self.tag}"

        def action() -> subprocess.CompletedProcess[str]:
            with slo(self, **RELAXED_SLO):
                args = f"LOAD_ARGS=--seconds 4 --users 10 --target {target}"
                return self.make("load-test", args, env=LOAD_TEST_ENV)

        return self.step("load-test", action)

    def evidence(self) -> subprocess.CompletedProcess[str]:
        """`make evidence` on the fresh project: pipeline and build run (and the load test, where one runs: its
        record is required only once deployed), nothing promoted."""
        self.build()
        if self.config in EACH_TASK_AND_SOURCE:
            self.load_test()
        return self.step("evidence", lambda: self.make("evidence", check=False))

    def read(self, rel: str) -> Any:
        return json.loads((self.path / rel).read_text())


@contextlib.contextmanager
def slo(project: Lifecycle, **rules: float) -> Iterator[None]:
    """docs/criteria.yaml with `slo` rules replaced, put back byte for byte afterwards (not from git: that
    would drop the `live.targets` the pipeline wrote, and `make evidence` rightly fails without them)."""
    criteria_file = project.path / "docs" / "criteria.yaml"
    criteria = yaml.safe_load(criteria_file.read_text())
    criteria["slo"].update(rules)
    with restored(criteria_file):
        criteria_file.write_text(yaml.safe_dump(criteria, sort_keys=False))
        yield


@contextlib.contextmanager
def restored(*paths: Path) -> Iterator[None]:
    """Put files back as they were (or absent) afterwards."""
    saved = {p: p.read_bytes() if p.exists() else None for p in paths}
    try:
        yield
    finally:
        for path, content in saved.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)


# The storage=s3 project that tests/test_storage.py and tests/test_dataplane.py share (conftest.py's
# `s3_project`): one bake, one install, one pipeline, one object store for both.
S3_CONFIGURATION = Configuration(
    "storage-s3-moto", {"project_name": "Stored Model", "storage": "s3", "s3_bucket": "stored-model-tests"}
)


# The Python versions whose S3 plugin tests/test_storage.py does not exercise (it pushes to and pulls from S3 for
# real at S3_CONFIGURATION's): the lifecycle checks there that pushing to S3 fails for want of credentials alone.
S3_PLUGIN_ELSEWHERE = [c for c in ONE_PER_PYTHON if c.python_version != S3_CONFIGURATION.python_version]


@dataclass(frozen=True)
class S3Project:
    """The storage=s3 project, installed, and the S3-compatible server on loopback it reaches."""

    project: Lifecycle
    endpoint: str  # the server's URL
    env: dict[str, str]  # what reaches it: the endpoint, test credentials, no credentials of the machine's user

    @property
    def bucket(self) -> str:
        """The bucket of the project's DVC remote (its `s3_bucket` answer)."""
        return str(self.project.config.answers["s3_bucket"])
