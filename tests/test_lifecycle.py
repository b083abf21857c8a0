"""Generated projects, run for real: install, lint, pipeline, incremental rebuild, own tests, DVC remote,
bento build, load test (SLO gate), quality gate.

Each configuration is baked and installed once (module-scoped fixture); its steps run in the
order written here. Every step also works alone (`-k`): it runs the steps it needs first. Under
xdist, conftest's scheduler keeps one configuration's steps on one worker; configurations run
in parallel.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from support import (
    LIFECYCLE_CONFIGURATIONS,
    Configuration,
    CsvTable,
    activated_env,
    answers_for,
    bake_ok,
    default_remote_dir,
    find_interpreter,
    interpreter_version,
    per_configuration,
    project_env,
    run,
    stages_run,
)

pytestmark = [pytest.mark.slow, per_configuration("project", LIFECYCLE_CONFIGURATIONS)]

STAGES = ["ingest", "prepare", "featurize", "train", "evaluate", "docs"]
RECORDS = [
    "reports/data/ingest.json",
    "reports/data/prepare.json",
    "data/processed/schema.json",
    "features/features.json",
    "features/stats.json",
    "reports/train.json",
    "reports/metrics.json",
]
ARTIFACTS = [
    "data/raw/dataset.csv",
    "data/interim/clean.csv",
    "data/processed/train.csv",
    "data/processed/test.csv",
    "features/train.csv",
    "features/test.csv",
    "features/transformer.joblib",
    "models/model.joblib",
]
DOCUMENTS = [
    "docs/evaluation_report.md",
    "docs/data_card.md",
    "docs/model_card.md",
    "docs/evaluation_criteria.md",
    "docs/architecture.md",
    "docs/deployment_manual.md",
    "docs/openapi.json",
]
# The parameter each task's default model exposes, and how to change it (halve it).
MODEL_PARAMETER = {"classification": ("logistic_regression", "C"), "regression": ("ridge", "alpha")}
UNREACHABLE = 0.9999  # a `min` no honest model reaches on these data (perfect metrics are skipped)
# The load test's SLO for these runs. The gate mechanism is under test here, not the service's speed:
# two configurations run in parallel on 2 cores, each with Locust on the same cores, so criteria.yaml's
# real figures (p95 100 ms, 1000 req/s) cannot hold; they are measured by the maintainers' benchmark,
# alone on the machine.
RELAXED_SLO = {"min_rps": 50, "p95_ms": 2000}
# For the same reason the service runs one worker process here (MODELOPS_WORKERS, see .env.example).
LOAD_TEST_ENV = {"MODELOPS_WORKERS": "1"}
LOAD_RECORD_KEYS = {"requests", "failures", "error_rate", "rps", "p50_ms", "p95_ms", "p99_ms", "slo_passed", "target"}


@dataclass
class Lifecycle:
    """One baked project and the steps already run in it (each runs at most once)."""

    config: Configuration
    path: Path
    env: dict
    python: str
    table: CsvTable | None
    bentoml_home: Path
    _done: dict = field(default_factory=dict)

    @property
    def package(self) -> str:
        return json.loads((self.path / ".cookiecutter.json").read_text())["package"]

    @property
    def slug(self) -> str:
        """The project's name: its folder, its distribution and its bento."""
        return json.loads((self.path / ".cookiecutter.json").read_text())["project"]

    @property
    def tag(self) -> str:
        """The bento version `make build` must choose: `<pyproject version>-<short commit>` (no git tag yet)."""
        version = tomllib.loads((self.path / "pyproject.toml").read_text())["project"]["version"]
        commit = run(["git", "rev-parse", "--short=7", "HEAD"], cwd=self.path).stdout.strip()
        return f"{version}-{commit}"

    def make(self, *targets: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        return run(["make", *targets], cwd=self.path, env={**self.env, **(env or {})}, check=check)

    def module(self, name: str, *args: str) -> subprocess.CompletedProcess:
        """`python -m <package>.<name>` with the project's .venv, in the project."""
        python = self.path / ".venv" / "bin" / "python"
        return run([python, "-m", f"{self.package}.{name}", *args], cwd=self.path, env=self.env)

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """A dvc command in the project's activated .venv, as a user types it."""
        env = activated_env(self.env, self.path)
        return run([self.path / ".venv" / "bin" / "dvc", *args], cwd=self.path, env=env, check=check)

    def step(self, name: str, action):
        """Run `action` once; a later call returns its result, or fails at once if it failed."""
        if name in self._done:
            ok, value = self._done[name]
            if not ok:
                pytest.fail(f"step `{name}` failed earlier in this project (see that test)", pytrace=False)
            return value
        try:
            value = action()
        except BaseException:
            self._done[name] = (False, None)
            raise
        self._done[name] = (True, value)
        return value

    def install(self) -> subprocess.CompletedProcess:
        return self.step("install", lambda: self.make("install", f"PYTHON={self.python}"))

    def pipeline(self) -> subprocess.CompletedProcess:
        self.install()
        return self.step("pipeline", lambda: self.make("pipeline"))

    def build(self) -> subprocess.CompletedProcess:
        self.pipeline()
        return self.step("build", lambda: self.make("build"))

    def read(self, rel: str):
        return json.loads((self.path / rel).read_text())


@pytest.fixture(scope="module")
def project(request, cookies_session, template, csv_tables, dvc_site_cache_dir, tmp_path_factory) -> Lifecycle:
    config: Configuration = request.param
    path = bake_ok(cookies_session, template, answers_for(config, csv_tables))
    bentoml_home = tmp_path_factory.mktemp(f"bentoml-{config.id}")  # bentos stay out of ~/bentoml
    return Lifecycle(
        config=config,
        path=path,
        env=project_env(dvc_site_cache_dir, bentoml_home),
        python=find_interpreter(config.python_version),
        table=csv_tables[config.csv] if config.csv else None,
        bentoml_home=bentoml_home,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def csv_rows(path: Path) -> int:
    with path.open(newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


# --- install and lint -------------------------------------------------------------------------


def test_install_builds_venv_with_the_chosen_python(project):
    project.install()
    venv_python = project.path / ".venv" / "bin" / "python"
    assert interpreter_version(venv_python) == interpreter_version(project.python)
    hook = project.path / ".git" / "hooks" / "pre-commit"
    assert hook.is_file() and "pre-commit" in hook.read_text(), "make install did not install the git hook"


def test_every_stage_has_a_cli_with_help(project):
    project.install()
    package = project.package
    script = (
        "import contextlib, importlib, io, sys\n"
        "for stage in sys.argv[1:]:\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        try:\n"
        f"            importlib.import_module('{package}.' + stage).main(['--help'])\n"
        "        except SystemExit as e:\n"
        "            assert e.code in (0, None), (stage, e.code)\n"
        "    assert 'usage:' in out.getvalue(), (stage, out.getvalue())\n"
        "    print(stage, 'ok')\n"
    )
    out = run([project.path / ".venv" / "bin" / "python", "-c", script, *STAGES], cwd=project.path, env=project.env)
    assert out.stdout.split() == [w for s in STAGES for w in (s, "ok")]


def test_lint_passes_on_the_fresh_project(project):
    project.install()
    before = run(["git", "status", "--porcelain"], cwd=project.path).stdout
    project.make("lint")
    after = run(["git", "status", "--porcelain"], cwd=project.path).stdout
    assert after == before, f"make lint changed files:\n{after}"


# --- pipeline -----------------------------------------------------------------------------------


def test_pipeline_runs_every_stage_in_order(project):
    out = project.pipeline().stdout
    assert stages_run(out) == STAGES


def test_pipeline_writes_records_artifacts_and_documents(project):
    project.pipeline()
    missing = [rel for rel in RECORDS + ARTIFACTS + DOCUMENTS if not (project.path / rel).is_file()]
    assert missing == []
    for rel in RECORDS:
        assert isinstance(project.read(rel), dict), rel
    plots = list((project.path / "reports" / "plots").glob("*.png"))
    assert plots and all(p.stat().st_size > 0 for p in plots)


def test_records_agree_with_the_data(project):
    project.pipeline()
    ingest, prepare = project.read("reports/data/ingest.json"), project.read("reports/data/prepare.json")
    schema = project.read("data/processed/schema.json")
    raw_rows = csv_rows(project.path / "data/raw/dataset.csv")

    assert ingest["rows"] == raw_rows == prepare["rows_in"]
    assert prepare["rows_out"] == prepare["rows_in"] - prepare["rows_dropped_missing_target"]
    assert prepare["train"]["rows"] + prepare["test"]["rows"] == prepare["rows_out"]
    assert prepare["train"]["sha256"] == sha256(project.path / "data/processed/train.csv")

    table = project.table
    if table is None:
        assert prepare["rows_dropped_missing_target"] == 0
        return
    assert ingest["source_sha256"] == sha256(table.path)
    assert ingest["rows"] == table.rows
    assert ingest["column_names"] == list(table.columns)
    assert prepare["rows_dropped_missing_target"] == table.missing_target
    assert set(prepare["missing_values"]) and set(prepare["missing_values"]) < set(table.columns)
    assert [f["name"] for f in schema["features"]] == [c for c in table.columns if c != table.target]
    kinds = {f["name"]: f["kind"] for f in schema["features"]}
    assert "categorical" in kinds.values() and "numeric" in kinds.values()
    if table.classes:
        assert schema["target"]["classes"] == list(table.classes)


def test_gate_passes_and_the_model_beats_the_baseline(project):
    project.pipeline()
    metrics = project.read("reports/metrics.json")
    assert metrics["gate"]["passed"] is True
    assert metrics["gate"]["checks"] and all(c["passed"] for c in metrics["gate"]["checks"])
    ours, base = metrics["metrics"], metrics["baseline"]
    if project.config.task == "classification":
        assert ours["accuracy"] > base["accuracy"] + 0.05
    else:
        assert ours["rmse"] < 0.9 * base["rmse"]
    assert "PASS" in (project.path / "docs/evaluation_report.md").read_text()


def test_second_repro_runs_no_stage(project):
    project.pipeline()
    out = project.make("pipeline").stdout
    assert stages_run(out) == [], f"an unchanged pipeline re-ran stages:\n{out[-2000:]}"


def test_changing_a_model_parameter_reruns_only_train_evaluate_docs(project):
    project.pipeline()
    section, name = MODEL_PARAMETER[project.config.task]
    params_file = project.path / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    assert params["train"]["model"] == section
    new_value = params["train"][section][name] / 2
    params["train"][section][name] = new_value
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))

    ran = stages_run(project.dvc("repro").stdout)

    assert set(ran) == {"train", "evaluate", "docs"}
    assert not {"ingest", "prepare", "featurize"} & set(ran)
    assert ran == [s for s in STAGES if s in ran], "stages ran out of order"
    assert project.read("reports/train.json")["params"][name] == new_value


def test_project_own_tests_pass(project):
    project.pipeline()
    # -v lists each test with its outcome, so the output shows the service contract tests ran too.
    out = project.make("test", env={"PYTEST_ADDOPTS": "-v"}).stdout
    assert " passed" in out and " failed" not in out
    service = [line for line in out.splitlines() if line.startswith("tests/service/") and " PASSED" in line]
    assert any(line.startswith("tests/service/test_contract.py::") for line in service), (
        f"make test ran no passing tests/service/test_contract.py test:\n{out[-2000:]}"
    )


def test_push_then_pull_restores_data_and_model(project):
    project.pipeline()
    model = project.path / "models" / "model.joblib"
    raw = project.path / "data" / "raw" / "dataset.csv"
    before = {model: sha256(model), raw: sha256(raw)}

    project.make("push")
    remote = default_remote_dir(project.path)
    assert not remote.is_relative_to(project.path.resolve()), f"the DVC remote {remote} is inside the repo"
    assert any(p.is_file() for p in remote.rglob("*")), f"make push left {remote} empty"
    for path in before:
        path.unlink()
    shutil.rmtree(project.path / ".dvc" / "cache")
    project.make("pull")

    assert {path: sha256(path) for path in before if path.exists()} == before


# --- service: manual, bento build, load test ---------------------------------------------------


def test_deployment_manual_renders_deterministically(project):
    """The docs stage's manual and OpenAPI document come out byte-identical when rendered again."""
    project.pipeline()
    documents = [project.path / "docs" / "deployment_manual.md", project.path / "docs" / "openapi.json"]
    before = {p.name: p.read_bytes() for p in documents}
    project.module("docs")
    changed = [p.name for p in documents if p.read_bytes() != before[p.name]]
    assert changed == [], f"rendering the docs again changed {changed}"


def test_build_makes_a_checked_bento_tagged_version_commit(project):
    out = project.build().stdout
    tag = project.tag
    assert f"built {project.slug}:{tag}" in out.splitlines(), f"no `built {project.slug}:{tag}` line:\n{out[-2000:]}"
    assert project.read("reports/build.json")["version"] == tag

    bento = project.bentoml_home / "bentos" / project.slug / tag
    assert bento.is_dir(), f"no bento at {bento}"
    model = bento / "src" / "models" / "model.joblib"
    assert model.is_file() and sha256(model) == sha256(project.path / "models" / "model.joblib")
    assert (bento / "apis").is_dir() and any((bento / "apis").iterdir()), "the bento has no API description"
    dockerfile = (bento / "env" / "docker" / "Dockerfile").read_text()
    python = re.escape(project.config.python_version)
    assert re.search(rf"^FROM python:{python}-slim\b", dockerfile, re.MULTILINE), "wrong or missing base image"
    assert re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)[-1:] == ["bentoml"], (
        "the image does not run as bentoml"
    )
    assert re.search(r"^HEALTHCHECK\b", dockerfile, re.MULTILINE), "no HEALTHCHECK in the bento's Dockerfile"


@contextlib.contextmanager
def slo(project: Lifecycle, **rules) -> Iterator[None]:
    """docs/criteria.yaml with `slo` rules replaced, restored from git afterwards."""
    criteria_file = project.path / "docs" / "criteria.yaml"
    criteria = yaml.safe_load(criteria_file.read_text())
    criteria["slo"].update(rules)
    try:
        criteria_file.write_text(yaml.safe_dump(criteria, sort_keys=False))
        yield
    finally:
        run(["git", "checkout", "--", "docs/criteria.yaml"], cwd=project.path)


def test_load_test_of_the_built_bento_meets_the_slo(project):
    project.build()
    target = f"{project.slug}:{project.tag}"
    with slo(project, **RELAXED_SLO):
        out = project.make("load-test", f"LOAD_ARGS=--seconds 8 --users 10 --target {target}", env=LOAD_TEST_ENV).stdout
    load = project.read("reports/load.json")
    assert LOAD_RECORD_KEYS <= set(load), f"reports/load.json lacks {LOAD_RECORD_KEYS - set(load)}"
    assert load["target"] == target
    assert load["requests"] > 0 and load["failures"] == 0, load
    assert load["slo_passed"] is True, f"{load}\n{out[-2000:]}"
    assert "SLO MISSED" not in out


def test_load_test_fails_outside_the_slo(project):
    """An SLO no service meets makes `make load-test` fail and name the rule (the source tree is served here)."""
    project.pipeline()
    with slo(project, **{**RELAXED_SLO, "p95_ms": 0.001}):
        result = project.make("load-test", "LOAD_ARGS=--seconds 3 --users 2", env=LOAD_TEST_ENV, check=False)
    out = result.stdout
    assert result.returncode != 0, f"make load-test passed a p95 of 0.001 ms:\n{out[-2000:]}"
    missed = [line for line in out.splitlines() if line.startswith("SLO MISSED")]
    assert any("p95" in line for line in missed), f"no `SLO MISSED` line names p95:\n{out[-2000:]}"
    assert project.read("reports/load.json")["slo_passed"] is False


def _unreachable_check(metrics: dict) -> tuple[str, str, float, float] | None:
    """(metric, rule, value, new threshold) for a gate check that can be made to fail."""
    for check in metrics["gate"]["checks"]:
        if check["rule"] == "min" and check["value"] < UNREACHABLE:
            return check["metric"], "min", check["value"], UNREACHABLE
    for check in metrics["gate"]["checks"]:
        if check["rule"] == "max" and check["value"] > 1 - UNREACHABLE:
            return check["metric"], "max", check["value"], round(1 - UNREACHABLE, 4)
    return None


def test_gate_fails_on_an_unreachable_threshold(project):
    project.pipeline()
    chosen = _unreachable_check(project.read("reports/metrics.json"))
    if chosen is None:
        pytest.skip("every gate metric is already perfect here: no threshold can fail it")
    metric, rule, value, threshold = chosen
    criteria_file = project.path / "docs" / "criteria.yaml"
    original = criteria_file.read_text()
    criteria = yaml.safe_load(original)
    criteria["gate"][metric][rule] = threshold
    try:
        criteria_file.write_text(yaml.safe_dump(criteria, sort_keys=False))
        result = project.dvc("repro", check=False)
    finally:
        criteria_file.write_text(original)

    out = result.stdout
    assert result.returncode != 0, f"the gate let {metric}={value} through {rule} {threshold}"
    ran = stages_run(out)
    assert "evaluate" in ran and not {"ingest", "prepare", "featurize", "train"} & set(ran)
    shown = {f"{value:.{n}f}" for n in range(2, 7)} | {repr(value)}
    lines = [line for line in out.splitlines() if metric in line and str(threshold) in line]
    assert any(s in line for line in lines for s in shown), (
        f"no output line names {metric}, its value {value} and the threshold {threshold}:\n{out[-2000:]}"
    )
    assert project.read("reports/metrics.json")["gate"]["passed"] is False
    assert "FAIL" in (project.path / "docs/evaluation_report.md").read_text()
