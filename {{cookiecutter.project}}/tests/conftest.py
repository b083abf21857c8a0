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
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

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
    """An empty working directory and an environment without MODELOPS_* variables."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("MODELOPS_")]:
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
