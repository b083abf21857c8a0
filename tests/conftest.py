"""Fixtures for the template's tests: tool environment, CSV tables, baked and deployed projects; and how
xdist shares the work out.

Grouping under xdist: pytest.ini sets `--dist loadscope`, so every test that shares a baked
configuration sits in that configuration's own test class (support.matrix), and each class runs
whole on one worker. The one deployed project is shared by test_update.py, test_delivery.py and
test_monitoring.py, the one storage=s3 project by test_storage.py and test_dataplane.py:
support.scheduling makes each group one unit of work, run in that order, and hands the heaviest
units out first. (`xdist_group` marks are no way out: `--dist loadgroup` in
xdist 3.8 renames `item._nodeid`, which pytest 9 no longer reads, so tests of one group still
land on both workers.)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_cookies.plugin import Cookies
from support import gitlabci
from support.baking import answers_for, bake_ok, cookies_in
from support.deployment import (
    DEPLOYED,
    IDENTITY,
    Delivery,
    Monitored,
    on_a_free_port,
    relax_slo,
)
from support.lifecycle import PIP_BOOTSTRAP, S3_CONFIGURATION, Lifecycle, S3Project
from support.matrix import Configuration
from support.options import REPO_ROOT
from support.processes import find_interpreter, outer_bin_dir, project_env, project_services, run, uv_only_folder
from support.scheduling import SharedProjectScheduling, in_shared_order
from support.tables import CsvTable, write_classification_csv, write_regression_csv
from support.templaterepo import (
    EDITED,
    INNER,
    NEW_LINE,
    OLD_SIZE,
    PROJECT_SIZE,
    TEMPLATE_SIZE,
    UNTOUCHED,
    TemplateUpdate,
    commit_all,
    set_test_size,
    template_repo,
)

# --- xdist: units of work ------------------------------------------------------------------------


@pytest.hookimpl(optionalhook=True)  # xdist's hook: no error when xdist is off (`-p no:xdist`)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> SharedProjectScheduling | None:
    """`--dist loadscope`, with the deployed project's classes as one unit and the heaviest units first."""
    if config.getoption("dist") != "loadscope":
        return None
    return SharedProjectScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    """On the controller: start provisioning gitlab-ci-local when tests/test_gitlab.py will run (a cold npm
    install is 1-2.5 min; in the background it overlaps the tests handed out before the pipelines)."""
    if hasattr(config, "workerinput") or "not slow" in (config.option.markexpr or ""):
        return
    wanted = REPO_ROOT / "tests" / "test_gitlab.py"
    paths = [Path(str(arg).split("::")[0]).resolve() for arg in config.args] or [REPO_ROOT / "tests"]
    if any(path == wanted or (path.is_dir() and wanted.is_relative_to(path)) for path in paths):
        gitlabci.provision_in_background(REPO_ROOT / "build" / "artifacts" / "gitlab-ci-local-provision.log")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The deployed project's tests in the order their story runs (update, delivery, monitoring)."""
    items[:] = in_shared_order(items)


# --- the environment -------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def dvc_site_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep DVC off /var/tmp/dvc, let the hooks find the test runner's tools, and let Python cache bytecode.

    The post-generation hook runs `git` and `dvc` as a user's activated environment would, so the
    runner's own virtual environment goes first on PATH for baking. PYTHONDONTWRITEBYTECODE (set in
    some containers, not in a user's shell) is dropped: with it, every process of every generated
    project compiles pandas, scikit-learn, DVC and BentoML again (~3 s each; a pipeline's six
    stages took twice as long). The bytecode goes to one folder of the run's own
    (PYTHONPYCACHEPREFIX, and sys.pycache_prefix for what this process imports by path, such as the
    project's tests/services.py), never beside the sources: a __pycache__ in the template (MkDocs imports
    the project's tests/code/layout.py) would be copied into every project baked after it.
    """
    site = tmp_path_factory.mktemp("dvc-site-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("DVC_SITE_CACHE_DIR", str(site))
    patch.setenv("DVC_NO_ANALYTICS", "1")
    patch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    pycache = str(tmp_path_factory.mktemp("pycache"))
    patch.setenv("PYTHONPYCACHEPREFIX", pycache)
    patch.setattr(sys, "pycache_prefix", pycache)
    outer = outer_bin_dir()
    if outer is not None:
        patch.setenv("PATH", f"{outer}{os.pathsep}{os.environ.get('PATH', '')}")
    yield site
    patch.undo()


@pytest.fixture(scope="session")
def csv_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CsvTable]:
    """The two bring-your-own CSVs, written once per session (per xdist worker)."""
    folder = tmp_path_factory.mktemp("csv")
    return {
        "classification": write_classification_csv(folder / "churn.csv"),
        "regression": write_regression_csv(folder / "house prices.csv"),  # a space in the path on purpose
    }


# --- baking ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def template() -> str:
    return str(REPO_ROOT)


@pytest.fixture(scope="session")
def cookies_under(tmp_path_factory: pytest.TempPathFactory, template: str) -> Callable[[str], Cookies]:
    """A `Cookies` baking under `<tmp>/<folder>/`, for folders pytest-cookies cannot choose (`.hidden dir/work`)."""
    made: dict[str, Cookies] = {}

    def _cookies(folder: str) -> Cookies:
        if folder not in made:
            base = tmp_path_factory.mktemp("under")
            made[folder] = cookies_in(base / folder, template, base / "cookiecutter-config")
        return made[folder]

    return _cookies


@pytest.fixture(scope="session")
def bake_configuration(
    cookies_session: Cookies,
    cookies_under: Callable[[str], Cookies],
    template: str,
    csv_tables: dict[str, CsvTable],
) -> Callable[[Configuration], Path]:
    """Bake a configuration where it asks to be kept (its `folder`, else pytest-cookies' session folder)."""

    def _bake(config: Configuration) -> Path:
        cookies = cookies_under(config.folder) if config.folder else cookies_session
        return bake_ok(cookies, template, answers_for(config, csv_tables))

    return _bake


@pytest.fixture
def bake(
    cookies: Cookies, template: str, csv_tables: dict[str, CsvTable]
) -> Callable[[Configuration | dict[str, Any]], Path]:
    """Bake a configuration (or raw answers) with the function-scoped `cookies` fixture."""

    def _bake(config: Configuration | dict[str, Any]) -> Path:
        answers = answers_for(config, csv_tables) if isinstance(config, Configuration) else config
        return bake_ok(cookies, template, answers)

    return _bake


# --- generated projects, run for real ---------------------------------------------------------------


@pytest.fixture(scope="session")
def new_lifecycle(
    csv_tables: dict[str, CsvTable], dvc_site_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[Configuration, Path], Lifecycle]:
    """A `Lifecycle` for a project of `config` baked at `path`, with its own BentoML store and scratch folder; uv is
    on its PATH (but for support.lifecycle.PIP_BOOTSTRAP's), as setup-uv puts it on a runner's."""

    uv_folder = uv_only_folder(tmp_path_factory.mktemp("uv-only"))

    def _new(config: Configuration, path: Path) -> Lifecycle:
        bentoml_home = tmp_path_factory.mktemp(f"bentoml-{config.id}")  # bentos stay out of ~/bentoml
        env = project_env(dvc_site_cache_dir, bentoml_home)
        if uv_folder is not None and config != PIP_BOOTSTRAP:
            env["PATH"] = f"{uv_folder}{os.pathsep}{env['PATH']}"
        return Lifecycle(
            config=config,
            path=path,
            env=env,
            python=find_interpreter(config.python_version),
            table=csv_tables[config.csv] if config.csv else None,
            bentoml_home=bentoml_home,
            scratch=tmp_path_factory.mktemp(f"scratch-{config.id}"),
        )

    return _new


@pytest.fixture(scope="class")
def project(
    request: pytest.FixtureRequest,
    bake_configuration: Callable[[Configuration], Path],
    new_lifecycle: Callable[[Configuration, Path], Lifecycle],
) -> Lifecycle:
    """The project of the class's configuration (`config`), baked for this class alone."""
    config: Configuration = request.cls.config
    return new_lifecycle(config, bake_configuration(config))


@pytest.fixture(scope="session")
def s3_project(
    bake_configuration: Callable[[Configuration], Path], new_lifecycle: Callable[[Configuration, Path], Lifecycle]
) -> Iterator[S3Project]:
    """The storage=s3 project, installed, with moto's S3 server (started by the project's own tests/services.py)
    and its DVC bucket: shared by tests/test_storage.py and tests/test_dataplane.py (one unit under xdist)."""
    project = new_lifecycle(S3_CONFIGURATION, bake_configuration(S3_CONFIGURATION))
    project.install()
    services = project_services(project.path)
    python = project.path / ".venv" / "bin" / "python"
    reason = services.s3_missing(python=python)
    assert reason is None, reason
    server = services.start_s3(python=python)
    try:
        aws = project.scratch / "no-aws"  # no credentials of the machine's user are read
        env = {
            **services.S3_CREDENTIALS,
            "AWS_ENDPOINT_URL": server.url,
            "AWS_CONFIG_FILE": str(aws / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        stored = S3Project(project, server.url, env)
        services.create_bucket(server.url, stored.bucket)
        yield stored
    finally:
        server.stop()


@pytest.fixture(scope="session")
def template_copy(tmp_path_factory: pytest.TempPathFactory, dvc_site_cache_dir: Path) -> tuple[Path, str]:
    """This working tree as a template repository of its own: (its path, its first commit)."""
    env = {**project_env(dvc_site_cache_dir), **IDENTITY}
    return template_repo(tmp_path_factory.mktemp("template") / "cookiecutter-modelops", env)


@pytest.fixture(scope="session")
def deployed(
    tmp_path_factory: pytest.TempPathFactory,
    template_copy: tuple[Path, str],
    csv_tables: dict[str, CsvTable],
    new_lifecycle: Callable[[Configuration, Path], Lifecycle],
) -> Lifecycle:
    """The one project that is updated, delivered, monitored and retrained (support.deployment.DEPLOYED).

    Baked from the template repository (so it records a commit a newer one can update), in the
    configuration's folder (a dot-folder with a space). Its env carries the tests' git identity; its committed
    SLO is support.lifecycle.RELAXED_SLO (support.deployment.relax_slo).
    """
    template, _ = template_copy
    base = tmp_path_factory.mktemp("deployed")
    cookies = cookies_in(base / DEPLOYED.folder, str(template), base / "cookiecutter-config")
    lifecycle = new_lifecycle(DEPLOYED, bake_ok(cookies, str(template), answers_for(DEPLOYED, csv_tables)))
    lifecycle.env.update(IDENTITY)
    relax_slo(lifecycle.path)
    commit_all(lifecycle.path, lifecycle.env, "test: an SLO a shared 2-core runner holds")
    return lifecycle


@pytest.fixture(scope="session")
def update(deployed: Lifecycle, template_copy: tuple[Path, str]) -> TemplateUpdate:
    """The deployed project, fresh, after `make template-update` to a newer template commit.

    The project changes its test split and commits it; the template's newer commit adds a line
    to a file the project never touches and changes the same test split.
    """
    template, old = template_copy
    env = deployed.env
    set_test_size(deployed.path / EDITED, OLD_SIZE, PROJECT_SIZE)
    main = commit_all(deployed.path, env, "feat: a larger test split")
    with (template / INNER / UNTOUCHED).open("a") as handle:
        handle.write(f"\n{NEW_LINE}\n")
    set_test_size(template / INNER / EDITED, OLD_SIZE, TEMPLATE_SIZE)
    new = commit_all(template, env, "the template, new")
    deployed.install()
    started = time.monotonic()
    result = run(["make", "template-update"], cwd=deployed.path, env=env, check=False)
    return TemplateUpdate(deployed.path, template, env, old, new, main, result, time.monotonic() - started)


@pytest.fixture(scope="class")
def delivery(deployed: Lifecycle) -> Iterator[Delivery]:
    """The deployed project with what it holds committed and a free port for `local`."""
    deployed.pipeline()
    delivery = Delivery(deployed)
    on_a_free_port(delivery)
    yield delivery
    delivery.make("undeploy", check=False)


@pytest.fixture(scope="class")
def monitored(deployed: Lifecycle) -> Iterator[Monitored]:
    """The deployed project's next version (the champion): built, promoted, merged, deployed and released."""
    deployed.pipeline()
    monitored = Monitored(deployed)
    on_a_free_port(monitored)
    monitored.versions["champion"] = monitored.build()
    monitored.promote_and_merge()
    monitored.make("deploy")
    monitored.release_and_merge()  # the champion's release: version 2's notes show the model's deltas against it
    yield monitored
    monitored.make("undeploy", check=False)
