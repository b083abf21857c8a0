"""Shared fixtures: the project's package, small synthetic tables, and the pipeline's real outputs.

The package name differs per project, so it is found under `src/` at run time. Tests of data and
model read the outputs of `make pipeline` and fail (never skip) with that fix when one is missing.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "prepare", "featurize", "train", "evaluate", "docs")
MODULES = (*STAGES, "cli", "paths", "records", "settings")


def package_name() -> str:
    """The one Python package under src/."""
    found = sorted(p.name for p in (ROOT / "src").iterdir() if (p / "__init__.py").is_file())
    if len(found) != 1:
        raise RuntimeError(f"expected one package under {ROOT / 'src'}, found {found or 'none'}")
    return found[0]


@pytest.fixture(scope="session")
def pkg() -> SimpleNamespace:
    """The package's modules by name (`pkg.prepare.split(...)`), its import name and its stages in pipeline order."""
    name = package_name()
    return SimpleNamespace(name=name, stages=STAGES, **{m: importlib.import_module(f"{name}.{m}") for m in MODULES})


@pytest.fixture(scope="session")
def root() -> Path:
    """The project's root folder."""
    return ROOT


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """An empty working directory and an environment without MODELOPS_* variables."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("MODELOPS_")]:
        monkeypatch.delenv(key)
    return tmp_path


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


@pytest.fixture
def make_toy():
    """`toy_frame` as a fixture: `make_toy(task="regression")`."""
    return toy_frame


@pytest.fixture
def toy() -> pd.DataFrame:
    """A classification toy table (binary target `target`)."""
    return toy_frame()


# --- the pipeline's real outputs ----------------------------------------------------------------


def require(relative: Path | str) -> Path:
    """An output of the pipeline, or a test failure that says how to make it."""
    path = ROOT / relative
    if not path.exists():
        pytest.fail(f"no {relative} — run `make pipeline` (or `dvc repro`) before these tests", pytrace=False)
    return path


@pytest.fixture(scope="session")
def artifact():
    """`require` as a fixture: `artifact(pkg.paths.MODEL)` is the file's absolute path, or a failure."""
    return require


def read_record(relative: Path | str):
    return json.loads(require(relative).read_text())


def read_csv(relative: Path | str, **kwargs) -> pd.DataFrame:
    return pd.read_csv(require(relative), **kwargs)


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
def schema(pkg) -> dict:
    return read_record(pkg.paths.SCHEMA)


@pytest.fixture(scope="session")
def prepare_record(pkg) -> dict:
    return read_record(pkg.paths.PREPARE_RECORD)


@pytest.fixture(scope="session")
def feature_list(pkg) -> dict:
    return read_record(pkg.paths.FEATURE_LIST)


@pytest.fixture(scope="session")
def feature_stats(pkg) -> dict:
    return read_record(pkg.paths.FEATURE_STATS)


@pytest.fixture(scope="session")
def metrics_record(pkg) -> dict:
    return read_record(pkg.paths.METRICS)


@pytest.fixture(scope="session")
def clean_set(pkg) -> pd.DataFrame:
    return read_csv(pkg.paths.CLEAN)


@pytest.fixture(scope="session")
def train_set(pkg) -> pd.DataFrame:
    """The processed train set (raw feature values and the target)."""
    return read_csv(pkg.paths.TRAIN)


@pytest.fixture(scope="session")
def test_set(pkg) -> pd.DataFrame:
    """The processed test set (raw feature values and the target)."""
    return read_csv(pkg.paths.TEST)


@pytest.fixture(scope="session")
def features_train(pkg) -> pd.DataFrame:
    return read_csv(pkg.paths.FEATURES_TRAIN)


@pytest.fixture(scope="session")
def features_test(pkg) -> pd.DataFrame:
    return read_csv(pkg.paths.FEATURES_TEST)


@pytest.fixture(scope="session")
def transformer(pkg):
    return joblib.load(require(pkg.paths.TRANSFORMER))


@pytest.fixture(scope="session")
def model(pkg):
    return joblib.load(require(pkg.paths.MODEL))


@pytest.fixture(scope="session")
def predict(pkg, model, transformer, schema, target):
    """Raw records (a DataFrame, target column allowed) to model predictions through `featurize.transform`."""

    def run(records: pd.DataFrame, method: str = "predict") -> np.ndarray:
        inputs = pkg.featurize.transform(transformer, records.drop(columns=[target], errors="ignore"), schema)
        return getattr(model, method)(inputs)

    return run


# --- the model service --------------------------------------------------------------------------

SERVICE_MODULES = ("featurize", "serving", "guard", "server", "metadata", "loadtest", "container")


@pytest.fixture(scope="session")
def service_pkg(pkg) -> SimpleNamespace:
    """`pkg` plus the service's modules that import without pipeline outputs (`service_pkg.guard.Guard`)."""
    modules = {m: importlib.import_module(f"{pkg.name}.{m}") for m in SERVICE_MODULES}
    return SimpleNamespace(**{**vars(pkg), **modules})


@pytest.fixture(scope="session")
def app_pkg(service_pkg) -> SimpleNamespace:
    """`service_pkg` plus `api` and `manual`: importing them reads the schema, so it needs `make pipeline`."""
    require(service_pkg.paths.SCHEMA)
    here = os.getcwd()
    os.chdir(ROOT)  # the package's paths are relative to the project's root
    try:
        modules = {m: importlib.import_module(f"{service_pkg.name}.{m}") for m in ("api", "manual")}
    finally:
        os.chdir(here)
    return SimpleNamespace(**{**vars(service_pkg), **modules})


@pytest.fixture(scope="session")
def test_records(pkg, schema) -> list[dict]:
    """The first 20 test-set records as a client sends them: feature values only, `None` when missing."""
    dtypes = {f["name"]: float if f["kind"] == "numeric" else str for f in schema["features"]}
    frame = read_csv(pkg.paths.TEST, dtype=dtypes, nrows=20)[list(dtypes)]
    return frame.astype(object).where(frame.notna(), None).to_dict("records")
