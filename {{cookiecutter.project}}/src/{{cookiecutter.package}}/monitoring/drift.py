"""Drift: live distributions against the training reference — PSI and a chi-square two-sample test.

Both statistics are computed over the same bins: the quantile bins of `features/stats.json` for
a numeric feature, the train categories (plus one bin for unseen values) for a categorical one.
PSI measures how far the distributions moved; the test's p-value says whether the move could be
chance at this sample size. A feature drifts when PSI is above its threshold and the p-value
below its threshold: a large sample cannot flag a negligible shift, a small one cannot flag noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import chi2_contingency

EPSILON = 1e-4  # share given to an empty bin, so PSI stays finite


@dataclass(frozen=True)
class Reference:
    """The reference of one variable: numeric cut points or category names, and train counts per bin."""

    counts: np.ndarray
    cuts: np.ndarray | None = None  # numeric: len(counts) - 1 cut points
    categories: tuple[str, ...] = ()  # categorical: one bin each, then one for unseen values

    @classmethod
    def from_stats(cls, entry: dict[str, Any]) -> Reference:
        """From one feature of features/stats.json."""
        if entry["kind"] == "numeric":
            return cls(np.asarray(entry["bins"]["counts"], dtype=float), np.asarray(entry["bins"]["cuts"], dtype=float))
        names = tuple(entry["frequencies"])
        return cls(np.asarray([*entry["frequencies"].values(), 0], dtype=float), categories=names)

    @classmethod
    def from_values(cls, values: Sequence[Any], numeric: bool, bins: int = 10) -> Reference:
        """From a sample (the model's predictions on the test set)."""
        if numeric:
            array = np.asarray(values, dtype=float)
            cuts = np.unique(np.quantile(array, np.linspace(0, 1, bins + 1)[1:-1]))
            return cls(np.bincount(np.searchsorted(cuts, array), minlength=cuts.size + 1).astype(float), cuts)
        names = tuple(sorted({str(v) for v in values}))
        counted = {name: 0 for name in names}
        for value in values:
            counted[str(value)] += 1
        return cls(np.asarray([*counted.values(), 0], dtype=float), categories=names)

    def count(self, values: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Live values per bin (missing values are not counted: missingness is reported apart)."""
        if self.cuts is not None:
            array = np.asarray(values, dtype=float)
            array = array[~np.isnan(array)]
            return np.bincount(np.searchsorted(self.cuts, array), minlength=self.counts.size).astype(float)
        position = {name: i for i, name in enumerate(self.categories)}
        unseen = len(self.categories)
        counts = np.zeros(self.counts.size)
        for value in values:
            if value is not None:
                counts[position.get(str(value), unseen)] += 1
        return counts


def psi(reference: np.ndarray, live: np.ndarray) -> float:
    """Population stability index: sum over bins of (live share − reference share) · ln(live / reference)."""
    ref = np.clip(reference / max(reference.sum(), 1.0), EPSILON, None)
    cur = np.clip(live / max(live.sum(), 1.0), EPSILON, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def p_value(reference: np.ndarray, live: np.ndarray) -> float:
    """Chi-square test that both samples come from one distribution (bins empty in both are dropped)."""
    table = np.vstack([reference, live])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or live.sum() == 0:
        return 1.0
    return float(chi2_contingency(table).pvalue)


def judge(
    reference: Reference, live_values: Sequence[Any] | np.ndarray, thresholds: dict[str, float]
) -> dict[str, Any]:
    """PSI, p-value, the thresholds and whether this variable drifted."""
    live = reference.count(live_values)
    score, chance = psi(reference.counts, live), p_value(reference.counts, live)
    drifted = bool(score > thresholds["psi_max"] and chance < thresholds["p_value_max"])
    return {
        "psi": round(score, 4),
        "p_value": float(f"{chance:.3g}"),
        "psi_max": thresholds["psi_max"],
        "p_value_max": thresholds["p_value_max"],
        "n": int(live.sum()),
        "drifted": drifted,
    }
