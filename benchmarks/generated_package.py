"""The generated package as the benchmark uses it: the one place to change when its layout moves.

bare_app.py imports this in the project's venv; mlflow_model.py ships it with the pyfunc model into
mlflow's venv. bench.py (the template's venv) never imports the generated package.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

# Where each role lives in the generated package, relative to the package: the layout by role,
# then the flat layout of earlier templates (so one harness measures a before/after pair).
LAYOUTS = (
    {"predictor": "serving.predictor", "api": "serving.api", "settings": "core.settings"},
    {"predictor": "serving", "api": "api", "settings": "settings"},
)
# What Predictor.load() reads, relative to the project's root.
PREDICTOR_FILES = ("models/model.joblib", "features/transformer.joblib", "data/processed/schema.json")


class Predictor(Protocol):
    """What the benchmark uses of the service's Predictor (its class lives in the generated package)."""

    @property
    def record(self) -> Any: ...  # the pydantic model of one record, built from the schema at load time

    def predict(self, records: list[dict[str, Any]]) -> list[Any]: ...


def module(package: str, role: str) -> ModuleType:
    for layout in LAYOUTS:
        if importlib.util.find_spec(f"{package}.{layout[role].partition('.')[0]}") is not None:
            try:
                return importlib.import_module(f"{package}.{layout[role]}")
            except ModuleNotFoundError:
                continue
    raise ModuleNotFoundError(f"no {role} module in {package} (layouts tried: {LAYOUTS})")


def load_predictor(package: str, root: Path | str | None = None) -> Predictor:
    """The service's Predictor, loaded from the PREDICTOR_FILES under `root` (default: the current folder)."""
    previous = os.getcwd()
    os.chdir(root or previous)
    try:
        predictor: Predictor = module(package, "predictor").Predictor.load()
        return predictor
    finally:
        os.chdir(previous)


def worker_predictor(package: str, root: Path | str | None = None) -> Predictor:
    """The Predictor in a process set up as the service sets up each worker: one thread, finite inputs."""
    import sklearn
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # workers × threads never exceeds the cores
    sklearn.set_config(assume_finite=True)  # as the service, whose request model rejects NaN and inf
    return load_predictor(package, root)


def request_model(package: str, predictor: Predictor) -> Any:
    """The service's pydantic request model for this predictor, with the service's record limit.

    A class the service builds at run time (`records`: a list of `predictor.record`), so `Any` here.
    """
    max_records = module(package, "settings").Settings.from_env().max_records
    return module(package, "api").request_model(predictor.record, max_records)
