"""The evaluation report: verdict, metrics against thresholds and baseline, the plot, the versions."""

from __future__ import annotations

from typing import Any

from ..core import paths
from .render import num, render


def evaluation_report(task: str, result: dict[str, Any], image: str, versions: dict[str, str]) -> str:
    """The report the evaluate stage writes; `result` is reports/metrics.json."""
    checks = {c["metric"]: c for c in result["gate"]["checks"]}
    rows = []
    for metric, value in result["metrics"].items():
        check = checks.get(metric)
        threshold = f"{check['rule']} {check['threshold']}" if check else "—"
        outcome = ("PASS" if check["passed"] else "FAIL") if check else "—"
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
