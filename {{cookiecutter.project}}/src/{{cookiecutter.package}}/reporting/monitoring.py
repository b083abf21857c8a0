"""The monitoring report: the decision, its reasons, quality, drift and service against targets."""

from __future__ import annotations

from typing import Any

from ..core import paths
from .render import render


def monitoring_report(summary: dict[str, Any], images: list[tuple[str, str]]) -> str:
    """reports/monitoring/<date>.md from the monitor's summary and the plots it drew."""
    quality = summary["quality"]
    metrics = [
        [
            f"`{name}`",
            f"{m['value']:.4f}",
            f"{'≥' if m['rule'] == 'min' else '≤'} {m['target']}",
            m.get("retire_below", m.get("retire_above")),
            "PASS" if m["passed"] else "MISSED",
        ]
        for name, m in quality["metrics"].items()
    ]
    features = summary["drift"].get("features") or {}
    ranked = sorted(features, key=lambda n: -features[n]["psi"])
    drift_rows = [
        [
            f"`{n}`",
            f"{features[n]['psi']:.3f}",
            f"{features[n]['p_value']:.3g}",
            features[n]["psi_max"],
            "DRIFT" if features[n]["drifted"] else "ok",
        ]
        for n in ranked
    ]
    prediction = summary["drift"].get("prediction")
    if prediction:
        drift_rows.insert(
            0,
            [
                "**prediction**",
                f"{prediction['psi']:.3f}",
                f"{prediction['p_value']:.3g}",
                prediction["psi_max"],
                "DRIFT" if prediction["drifted"] else "ok",
            ],
        )
    svc = summary["service"]
    service_rows = [
        [
            "p50 / p95 / p99 latency in the handler",
            f"{svc['p50_ms']} / {svc['p95_ms']} / {svc['p99_ms']} ms",
            f"p95 ≤ {svc['p95_target_ms']} ms (end to end)",
        ],
        ["error rate", svc["error_rate"], f"≤ {svc['max_error_rate']}"],
        ["rows the log dropped (its queue or buffer full)", svc.get("dropped_rows", 0), "0"],
    ]
    return render(
        "monitoring_report.md.j2",
        summary=summary,
        criteria=summary.get("criteria", paths.CRITERIA),
        metrics=metrics,
        drift_rows=drift_rows,
        service_rows=service_rows,
        images=images,
    )
