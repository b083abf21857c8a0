"""Plots of the monitoring report: quality over time, drift per feature, latency over time (PNG)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd

from ..core.metrics import live_metrics
from .logs import LiveData

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BUCKETS = 12  # time slices of the window on the "over time" plots
MIN_PER_BUCKET = 5  # labelled records a slice needs for a quality point


def buckets(times: pd.Series, count: int = BUCKETS) -> pd.Series:
    """The time slice of each timestamp: `count` equal slices from the first to the last."""
    if times.empty:
        return pd.Series([], dtype="datetime64[ns, UTC]")
    start, end = times.min(), times.max()
    width = max((end - start) / count, pd.Timedelta(milliseconds=1))
    return start + ((times - start) // width).clip(upper=count - 1) * width


def save(fig: Any, ax: Any, path: Path, legend: str = "best", over_time: bool = False) -> bool:
    """Legend, layout (slanted dates on a time axis), the PNG written, the figure closed."""
    ax.legend(loc=legend)
    if over_time:
        fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def quality_over_time(path: Path, task: str, labelled: pd.DataFrame, live: dict[str, Any], classes: list[Any]) -> bool:
    targets = live.get("targets") or {}
    if labelled.empty or not targets:
        return False
    metric = next(iter(targets))
    points = []
    for start, part in labelled.groupby(buckets(labelled["time"])):
        if len(part) >= MIN_PER_BUCKET:
            value = live_metrics(task, part["label"].to_numpy(), part["output"].to_numpy(), classes)[metric]
            points.append((start, value, len(part)))
    if not points:
        return False
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=f"live {metric}")
    target = targets[metric]
    goal, floor = target.get("min", target.get("max")), target.get("retire_below", target.get("retire_above"))
    ax.axhline(goal, color="tab:orange", linestyle="--", label=f"target {goal}")
    ax.axhline(floor, color="tab:red", linestyle=":", label=f"retire {floor}")
    ax.set(title=f"Live {metric} over time (slices with ≥ {MIN_PER_BUCKET} labels)", ylabel=metric)
    return save(fig, ax, path, over_time=True)


def drift_per_feature(path: Path, judged: dict[str, Any]) -> bool:
    features = judged.get("features") or {}
    if not features:
        return False
    names = sorted(features, key=lambda n: features[n]["psi"])
    values = [features[n]["psi"] for n in names]
    colours = ["tab:red" if features[n]["drifted"] else "tab:blue" for n in names]
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.25 * len(names) + 1)))
    ax.barh(names, values, color=colours)
    limit = max(features[n]["psi_max"] for n in names)
    ax.axvline(limit, color="tab:orange", linestyle="--", label=f"PSI threshold {limit}")
    ax.set(title="Drift per feature (PSI vs training reference; red: drifted)", xlabel="PSI")
    return save(fig, ax, path, legend="lower right")


def latency_over_time(path: Path, requests: pd.DataFrame, slo_p95: float | None) -> bool:
    if requests.empty:
        return False
    grouped = requests.groupby(buckets(requests["time"]))["latency_ms"]
    p95 = grouped.quantile(0.95)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(p95.index, p95.to_numpy(), marker="o", label="p95 in the handler")
    if slo_p95 is not None:
        ax.axhline(slo_p95, color="tab:orange", linestyle="--", label=f"SLO p95 {slo_p95} ms (end to end)")
    ax.set(title="Latency over time", ylabel="ms")
    ax.set_yscale("log")
    return save(fig, ax, path, over_time=True)


def draw(
    out: Path, day: str, task: str, data: LiveData, labelled: pd.DataFrame, judged: dict[str, Any],
    live: dict[str, Any], classes: list[Any],
) -> list[tuple[str, str]]:  # fmt: skip
    """Write the report's plots; (caption, file name) of each one drawn."""
    drawn = []
    wanted: list[tuple[str, str, Callable[[Path], bool]]] = [
        ("Quality over time", f"{day}-quality.png", lambda p: quality_over_time(p, task, labelled, live, classes)),
        ("Drift per feature", f"{day}-drift.png", lambda p: drift_per_feature(p, judged["drift"])),
        (
            "Latency over time",
            f"{day}-latency.png",
            lambda p: latency_over_time(p, data.requests, judged["service"]["p95_target_ms"]),
        ),
    ]
    for caption, name, plot in wanted:
        if plot(out / name):
            drawn.append((caption, name))
    return drawn
