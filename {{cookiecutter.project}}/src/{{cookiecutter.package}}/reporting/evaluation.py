"""The evaluation report: verdict, metrics against thresholds and baseline, the plot, the versions."""

from __future__ import annotations

from typing import Any

from ..core import paths
from .render import num, render


def evaluation_report(
    task: str, result: dict[str, Any], checks: list[dict[str, Any]], image: str, versions: dict[str, str]
) -> str:
    """The report the evaluate stage writes; `result` is reports/metrics.json, `checks` the gate's checks."""
    rules: dict[str, list[dict[str, Any]]] = {}
    for check in checks:
        rules.setdefault(check["metric"], []).append(check)
    rows = []
    for metric, value in result["metrics"].items():
        found = rules.get(metric, [])
        threshold = ", ".join(f"{c['rule']} {c['threshold']}" for c in found) or "—"
        outcome = ("PASS" if all(c["passed"] for c in found) else "FAIL") if found else "—"
        rows.append([metric, num(value), num(result["baseline"][metric]), threshold, outcome])
    return render(
        "evaluation_report.md.j2",
        passed=result["gate"]["passed"],
        criteria=paths.CRITERIA,
        rows=rows,
        caption="Confusion matrix" if task == "classification" else "Predicted vs actual, residuals",
        image=f"../{paths.PLOTS}/{image}",
        versions=[[k, f"`{v}`"] for k, v in versions.items()],
    )
