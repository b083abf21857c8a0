"""Fixtures for the template's tests: tool environment, CSV tables, baking helpers.

Grouping under xdist needs no code here: pytest.ini sets `--dist loadscope`, and every test that
shares a baked configuration sits in that configuration's own test class (support.matrix).
(`xdist_group` marks are no way out: `--dist loadgroup` in xdist 3.8 renames `item._nodeid`,
which pytest 9 no longer reads, so tests of one group still land on both workers.)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_cookies.plugin import Cookies
from support.baking import answers_for, bake_ok, cookies_in
from support.matrix import Configuration
from support.options import REPO_ROOT
from support.processes import outer_bin_dir
from support.tables import CsvTable, write_classification_csv, write_regression_csv


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


@pytest.fixture(scope="session")
def cookies_under(tmp_path_factory, template) -> Callable[[str], Cookies]:
    """A `Cookies` baking under `<tmp>/<folder>/`, for folders pytest-cookies cannot choose (`.hidden dir/work`)."""
    made: dict[str, Cookies] = {}

    def _cookies(folder: str) -> Cookies:
        if folder not in made:
            base = tmp_path_factory.mktemp("under")
            made[folder] = cookies_in(base / folder, template, base / "cookiecutter-config")
        return made[folder]

    return _cookies


@pytest.fixture(scope="session")
def bake_configuration(cookies_session, cookies_under, template, csv_tables) -> Callable[[Configuration], Path]:
    """Bake a configuration where it asks to be kept (its `folder`, else pytest-cookies' session folder)."""

    def _bake(config: Configuration) -> Path:
        cookies = cookies_under(config.folder) if config.folder else cookies_session
        return bake_ok(cookies, template, answers_for(config, csv_tables))

    return _bake


@pytest.fixture
def bake(cookies, template, csv_tables):
    """Bake a configuration (or raw answers) with the function-scoped `cookies` fixture."""

    def _bake(config: Configuration | dict) -> Path:
        answers = answers_for(config, csv_tables) if isinstance(config, Configuration) else config
        return bake_ok(cookies, template, answers)

    return _bake
