"""The generated package as the benchmark uses it: the one place to change when its layout moves.

bare_app.py imports this in the project's venv; mlflow_model.py ships it with the pyfunc model into
mlflow's venv. bench.py (the template's venv) never imports the generated package.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

# Where each role lives in the generated package, relative to the package: the layout by role,
# then the flat layout of earlier templates (so one harness measures a before/after pair).
LAYOUTS = (
    {"predictor": "serving.predictor", "api": "serving.api", "settings": "core.settings"},
    {"predictor": "serving", "api": "api", "settings": "settings"},
)
# What Predictor.load() reads, relative to the project's root.
PREDICTOR_FILES = ("models/model.joblib", "features/transformer.joblib", "data/processed/schema.json")


def module(package: str, role: str):
    for layout in LAYOUTS:
        if importlib.util.find_spec(f"{package}.{layout[role].partition('.')[0]}") is not None:
            try:
                return importlib.import_module(f"{package}.{layout[role]}")
            except ModuleNotFoundError:
                continue
    raise ModuleNotFoundError(f"no {role} module in {package} (layouts tried: {LAYOUTS})")


def load_predictor(package: str, root: Path | str | None = None):
    """The service's Predictor, loaded from the PREDICTOR_FILES under `root` (default: the current folder)."""
    previous = os.getcwd()
    os.chdir(root or previous)
    try:
        return module(package, "predictor").Predictor.load()
    finally:
        os.chdir(previous)


def worker_predictor(package: str, root: Path | str | None = None):
    """The Predictor in a process set up as the service sets up each worker: one thread, finite inputs."""
    import sklearn
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # workers × threads never exceeds the cores
    sklearn.set_config(assume_finite=True)  # as the service, whose request model rejects NaN and inf
    return load_predictor(package, root)


def request_model(package: str, predictor):
    """The service's pydantic request model for this predictor, with the service's record limit."""
    max_records = module(package, "settings").Settings.from_env().max_records
    return module(package, "api").request_model(predictor.record, max_records)
