"""Prediction changes: whether a record's prediction changed between two models, and the share that did.

Numpy only, so that the canary analysis, which runs in the bento's image (requirements.lock alone, no
dev tools), can judge with the same rule as the offline impact analysis (`impact.py`).
"""

from __future__ import annotations

import numpy as np

TASKS = ("classification", "regression")


def changed(task: str, old: np.ndarray, new: np.ndarray, tolerance: float = 0.0) -> np.ndarray:
    """Per record, whether the prediction changed: another class, or a value moved beyond `tolerance`."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r} — expected one of {', '.join(TASKS)}")
    old_values, new_values = np.asarray(old), np.asarray(new)
    if old_values.shape != new_values.shape:
        raise ValueError(f"{old_values.shape[0]} old predictions against {new_values.shape[0]} new ones")
    if task == "classification":
        return np.asarray(old_values != new_values, dtype=bool)
    difference = np.abs(new_values.astype(float) - old_values.astype(float))
    return np.asarray(difference > tolerance, dtype=bool)


def disagreement(task: str, old: np.ndarray, new: np.ndarray, tolerance: float = 0.0) -> float:
    """The share of records whose prediction changed (0.0 when there are none)."""
    flags = changed(task, old, new, tolerance)
    return float(flags.mean()) if flags.size else 0.0
