"""Plain helpers for the template's tests: configurations, CSV fixtures, interpreters, processes.

Fixtures live in conftest.py; this module holds what the test modules also need at collection
time (the configuration table) and functions with plain data in and out.
"""

from __future__ import annotations

import csv
import glob
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# cookiecutter.json's defaults: a choice list defaults to its first entry.
DEFAULTS = {
    k: v[0] if isinstance(v, list) else v
    for k, v in json.loads((REPO_ROOT / "cookiecutter.json").read_text()).items()
    if not k.startswith("_")
}
OUTPUT_TAIL = 3000  # characters of a failed command's output shown in the assertion


# --- configurations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Configuration:
    """One way to answer the template: fixed answers, plus the CSV fixture to feed when dataset=csv."""

    id: str
    answers: dict = field(default_factory=dict)
    csv: str | None = None  # "classification" | "regression": which generated CSV to point csv_path at

    def answer(self, key: str) -> str:
        """The answer this configuration gives, or the template's default for it."""
        return self.answers.get(key, DEFAULTS[key])

    @property
    def task(self) -> str:
        return self.answer("task")

    @property
    def dataset(self) -> str:
        return self.answer("dataset")

    @property
    def python_version(self) -> str:
        return self.answer("python_version")

    @property
    def license(self) -> str:
        return self.answer("license")


# Explicit strategy: every option value appears at least once; csv is paired with both tasks.
CONFIGURATIONS = [
    Configuration(
        "classification-builtin-py311",
        {
            "project_name": "Breast Cancer Screening",
            "task": "classification",
            "dataset": "builtin",
            "python_version": "3.11",
        },
    ),
    Configuration(
        "regression-builtin-py312",
        {
            "project_name": "Diabetes Progression",
            "task": "regression",
            "dataset": "builtin",
            "python_version": "3.12",
            "license": "Apache-2.0",
        },
    ),
    Configuration(
        "classification-wine",
        {"project_name": "Wine Cultivar", "task": "classification", "dataset": "wine"},
    ),
    Configuration(
        "classification-csv",
        {"project_name": "Churn Predictor", "task": "classification", "dataset": "csv"},
        csv="classification",
    ),
    Configuration(
        "regression-csv",
        {"project_name": "House Prices", "task": "regression", "dataset": "csv"},
        csv="regression",
    ),
    Configuration(
        "license-proprietary",
        {"project_name": "Internal Scorer", "license": "Proprietary"},
    ),
]

# Render-only: the explicit names of the built-in data sets must behave like `builtin`.
EXPLICIT_DATASET_CONFIGURATIONS = [
    Configuration(
        "classification-breast-cancer-explicit",
        {"project_name": "Tumour Classifier", "task": "classification", "dataset": "breast_cancer"},
    ),
    Configuration(
        "regression-diabetes-explicit",
        {"project_name": "Disease Progression", "task": "regression", "dataset": "diabetes"},
    ),
]

LIFECYCLE_CONFIGURATIONS = [c for c in CONFIGURATIONS if c.id != "license-proprietary"]


def per_configuration(fixture: str, configs: list[Configuration]) -> pytest.MarkDecorator:
    """Parametrize a module's tests over `configs` through a module-scoped fixture (indirect).

    Each configuration is baked once per module; under xdist, conftest's scheduler keeps its
    tests on one worker, in the order written.
    """
    return pytest.mark.parametrize(fixture, [pytest.param(c, id=c.id) for c in configs], indirect=True, scope="module")


def answers_for(config: Configuration, tables: dict[str, CsvTable]) -> dict:
    """The extra_context to bake `config` with: its answers plus csv_path/target_column for CSVs."""
    answers = dict(config.answers)
    if config.csv:
        table = tables[config.csv]
        answers.update(csv_path=str(table.path), target_column=table.target)
    return answers


def bake_ok(cookies, template: str, answers: dict) -> Path:
    """Bake with a pytest-cookies `Cookies` and insist it worked; return the project's path."""
    result = cookies.bake(extra_context=answers, template=template)
    assert result.exit_code == 0 and result.exception is None, (
        f"baking {answers} failed (exit {result.exit_code}): {result.exception!r}"
    )
    return result.project_path


def builtin_dataset(config: Configuration) -> str:
    """The scikit-learn data set a non-CSV configuration resolves to."""
    if config.dataset != "builtin":
        return config.dataset
    return "breast_cancer" if config.task == "classification" else "diabetes"


# --- CSV fixtures -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvTable:
    """A CSV written at test time and the facts the pipeline must find in it."""

    path: Path
    target: str
    rows: int
    missing_target: int
    columns: tuple[str, ...]
    classes: tuple[str, ...] = ()


def _blank_some(rng: random.Random, value, rate: float):
    return "" if rng.random() < rate else value


def write_classification_csv(path: Path, rows: int = 300, seed: int = 20241125) -> CsvTable:
    """Customer churn with string labels "yes"/"no" that depend on tenure, charge and contract.

    Numeric and categorical features, missing values in two features and in a column with no
    signal, and a few rows with no label. A logistic regression beats the majority class clearly.
    """
    rng = random.Random(seed)
    contract_effect = {"month-to-month": 6.0, "one-year": -0.75, "two-year": -6.75}
    columns = ("tenure_months", "monthly_charge", "contract", "region", "support_calls", "churn")
    records, missing_target = [], 0
    for i in range(rows):
        tenure = rng.randint(1, 72)
        charge = round(rng.gauss(70, 20), 2)
        contract = rng.choice(list(contract_effect))
        region = rng.choice(["north", "south", "east", "west"])
        calls = rng.randint(0, 6)
        logit = -0.3 * (tenure - 36) + 0.18 * (charge - 70) + contract_effect[contract] + 1.2 * (calls - 3)
        label = "yes" if rng.random() < 1 / (1 + math.exp(-logit)) else "no"
        if i % 37 == 5:  # a few rows whose label was never recorded
            label, missing_target = "", missing_target + 1
        records.append(
            [
                tenure,
                _blank_some(rng, charge, 0.04),
                _blank_some(rng, contract, 0.04),
                _blank_some(rng, region, 0.08),
                calls,
                label,
            ]
        )
    _write(path, columns, records)
    return CsvTable(path, "churn", rows, missing_target, columns, classes=("no", "yes"))


def write_regression_csv(path: Path, rows: int = 300, seed: int = 20241126) -> CsvTable:
    """House prices (k€) that depend on floor area, district and year built.

    Numeric and categorical features, ~5% missing values in three features, a few rows with no
    price. A ridge regression beats predicting the mean clearly.
    """
    rng = random.Random(seed)
    district_effect = {"centre": 90.0, "suburb": 20.0, "rural": -40.0}
    columns = ("area_m2", "rooms", "district", "year_built", "garden", "price_k")
    records, missing_target = [], 0
    for i in range(rows):
        area = max(20.0, round(rng.gauss(90, 30), 1))
        rooms = max(1, int(area // 25) + rng.randint(-1, 1))
        district = rng.choice(list(district_effect))
        year = rng.randint(1950, 2022)
        garden = rng.choice(["yes", "no"])
        price = 150 + 2.2 * area + district_effect[district] + 0.6 * (year - 1985) + rng.gauss(0, 25)
        price_cell = round(price, 1)
        if i % 43 == 7:
            price_cell, missing_target = "", missing_target + 1
        records.append(
            [
                _blank_some(rng, area, 0.05),
                rooms,
                _blank_some(rng, district, 0.05),
                _blank_some(rng, year, 0.05),
                garden,
                price_cell,
            ]
        )
    _write(path, columns, records)
    return CsvTable(path, "price_k", rows, missing_target, columns)


def _write(path: Path, columns, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(records)


# --- interpreters and processes ---------------------------------------------------------------


def _runs(executable: str) -> bool:
    try:
        return subprocess.run([executable, "-c", "import sys"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _version_key(path: str) -> tuple[int, ...]:
    match = re.search(r"/versions/([\d.]+)", path)
    return tuple(int(p) for p in match.group(1).split(".") if p) if match else ()


def find_interpreter(version: str) -> str:
    """An interpreter for a `python_version` answer: python3.X on PATH, a pyenv build, or this one.

    pyenv shims exist for every version but exit 127 unless that version is selected, so a
    candidate counts only if it runs.
    """
    name = f"python{version}"
    on_path = shutil.which(name)
    if on_path and _runs(on_path):
        return on_path
    builds = glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/{name}"))
    for candidate in sorted(builds, key=_version_key, reverse=True):
        if _runs(candidate):
            return candidate
    warnings.warn(f"no Python {version} found: falling back to {sys.executable}", stacklevel=2)
    return sys.executable


def interpreter_version(executable: str | Path) -> str:
    """'3.X' of an interpreter."""
    out = subprocess.run(
        [str(executable), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def run(
    cmd: list[str], cwd: Path | str, env: dict | None = None, check: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess:
    """Run a command with stdout and stderr merged; on failure show the command and the output's tail."""
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"`{' '.join(map(str, cmd))}` exited {proc.returncode} in {cwd}; last output:\n{proc.stdout[-OUTPUT_TAIL:]}"
        )
    return proc


def outer_bin_dir() -> Path | None:
    """The bin directory of the virtual environment running the tests, if it is one."""
    if sys.prefix == sys.base_prefix:
        return None
    return Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin")


# Variables of the test run that must not leak into a generated project's commands.
NOT_INHERITED = frozenset(
    {
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "PYTHONPATH",
        "PYTHONHOME",
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
        "MAKEOVERRIDES",
        "PYTEST_ADDOPTS",
        "PYTEST_XDIST_WORKER",
        "PYTEST_XDIST_WORKER_COUNT",
        "PYTEST_CURRENT_TEST",
    }
)


def project_env(dvc_site_cache_dir: Path, bentoml_home: Path | None = None) -> dict[str, str]:
    """Environment for commands run inside a generated project, as a user's fresh shell has it.

    The test runner's own virtual environment is taken off PATH (so the project cannot lean on
    its tools), make's variables from an outer `make` are dropped, HOME is kept (uv's and
    pre-commit's caches are shared between projects), DVC's site cache goes to a temp dir and,
    given `bentoml_home`, BentoML's store (bentos, models) goes there instead of ~/bentoml.
    """
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    outer = outer_bin_dir()
    if outer is not None:
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != outer)
    env["DVC_SITE_CACHE_DIR"] = str(dvc_site_cache_dir)
    env["DVC_NO_ANALYTICS"] = "1"
    env["BENTOML_DO_NOT_TRACK"] = "true"
    if bentoml_home is not None:
        env["BENTOML_HOME"] = str(bentoml_home)
    return env


def activated_env(env: dict[str, str], project: Path) -> dict[str, str]:
    """`env` with the project's .venv activated, as after `source .venv/bin/activate`."""
    venv = project / ".venv"
    return {**env, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}"}


def git_files(project: Path) -> set[str]:
    """Paths git tracks in a generated repository."""
    out = run(["git", "ls-files", "-z"], cwd=project).stdout
    return {p for p in out.split("\0") if p}


def dvc_config(project: Path) -> dict[str, dict[str, str]]:
    """.dvc/config (configobj style) as {section: {key: value}}, section names without quotes."""
    sections: dict[str, dict[str, str]] = {}
    current = None
    for line in (project / ".dvc" / "config").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]").strip("'")
            sections[current] = {}
        elif current is not None and "=" in line:
            key, _, value = line.partition("=")
            sections[current][key.strip()] = value.strip()
    return sections


def default_remote_dir(project: Path) -> Path:
    """The folder of the default DVC remote (a relative url is relative to .dvc/)."""
    config = dvc_config(project)
    url = config[f'remote "{config["core"]["remote"]}"']["url"]
    return (project / ".dvc" / url).resolve()


STAGE_RUN = re.compile(r"Running stage '([^']+)'")


def stages_run(output: str) -> list[str]:
    """Stage names in `dvc repro` output's "Running stage 'x'" lines, in order."""
    return STAGE_RUN.findall(output)
