"""Fixtures for the template's tests: tool environment, CSV tables, baking helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import (
    REPO_ROOT,
    Configuration,
    CsvTable,
    answers_for,
    bake_ok,
    outer_bin_dir,
    write_classification_csv,
    write_regression_csv,
)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """Under xdist, send all tests of one configuration to one worker, in collection order.

    A scope is "<module>[<param id>]": the steps of one baked project stay together and in order,
    different configurations run in parallel. (xdist 3.8's loadgroup renames `item._nodeid`,
    which pytest 9 no longer reads, so `xdist_group` marks group nothing.)
    """
    if config.getvalue("dist") not in ("load", "loadscope", "loadgroup"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ConfigurationScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path, _, name = nodeid.partition("::")
            if name.endswith("]") and "[" in name:
                return f"{path}[{name[name.index('[') + 1 :]}"
            return nodeid

    return ConfigurationScheduling(config, log)


@pytest.fixture(scope="session", autouse=True)
def dvc_site_cache_dir(tmp_path_factory) -> Path:
    """Keep DVC off /var/tmp/dvc and let the hooks find the test runner's tools.

    The post-generation hook runs `git` and `dvc` as a user's activated environment would, so the
    runner's own virtual environment goes first on PATH for baking.
    """
    site = tmp_path_factory.mktemp("dvc-site-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("DVC_SITE_CACHE_DIR", str(site))
    patch.setenv("DVC_NO_ANALYTICS", "1")
    outer = outer_bin_dir()
    if outer is not None:
        patch.setenv("PATH", f"{outer}{os.pathsep}{os.environ.get('PATH', '')}")
    yield site
    patch.undo()


@pytest.fixture(scope="session")
def csv_tables(tmp_path_factory) -> dict[str, CsvTable]:
    """The two bring-your-own CSVs, written once per session (per xdist worker)."""
    folder = tmp_path_factory.mktemp("csv")
    return {
        "classification": write_classification_csv(folder / "churn.csv"),
        "regression": write_regression_csv(folder / "house prices.csv"),  # a space in the path on purpose
    }


@pytest.fixture(scope="session")
def template() -> str:
    return str(REPO_ROOT)


@pytest.fixture
def bake(cookies, template, csv_tables):
    """Bake a configuration (or raw answers) with the function-scoped `cookies` fixture."""

    def _bake(config: Configuration | dict) -> Path:
        answers = answers_for(config, csv_tables) if isinstance(config, Configuration) else config
        return bake_ok(cookies, template, answers)

    return _bake
