"""The impact report: a candidate against the champion on replayed traffic, in Markdown (from improvement/impact)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .render import render

REPORTS = Path("reports/impact")  # <env>-<candidate>.json/.md/.png, and the promotion check's index
CHECKED = REPORTS / "changed.json"  # `make impact-check`: the reports it wrote, or why none

SHOWN_SEGMENTS = 10  # judged segments listed, the most changed first; every broken one is listed too

VERDICTS = {
    "pass": "PASS",
    "fail": "FAIL",
    "too little traffic": "TOO LITTLE TRAFFIC TO JUDGE (a verdict, not a pass)",
    "not judged": "NOT JUDGED",
}


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def segment_rows(report: dict[str, Any]) -> list[list[Any]]:
    """Every segment that broke its threshold, then the most changed judged ones, up to SHOWN_SEGMENTS in all."""
    judged = sorted(
        (s for s in report.get("segments") or [] if s["judged"]), key=lambda s: (-s["disagreement"], s["segment"])
    )
    shown = [s for s in judged if s["broke"]]
    shown += [s for s in judged if not s["broke"]][: max(0, SHOWN_SEGMENTS - len(shown))]
    return [
        [s["segment"], s["rows"], s["changed"], _percent(s["disagreement"]), "**broke**" if s["broke"] else "ok"]
        for s in shown
    ]


def impact_markdown(report: dict[str, Any], level: int = 2) -> str:
    """The impact section of a report, a pull request or the console, headed at Markdown `level`."""
    judged = report.get("rows") is not None
    figures: list[list[Any]] = []
    metrics: list[list[Any]] = []
    if judged:
        rows, latency, thresholds = report["rows"], report["latency"], report["thresholds"]
        figures = [
            ["records logged in the window", rows["logged"], ""],
            ["records replayed", rows["replayed"], f"min_rows {thresholds['min_rows']}"],
            ["not replayable (an excluded field)", rows["not_replayable"], ""],
            [
                "predictions changed",
                f"{report['disagreement']['changed']} ({_percent(report['disagreement']['rate'])})",
                f"max_disagreement {_percent(thresholds['max_disagreement'])}",
            ],
            [f"PSI of {report['score_psi']['score']}", report["score_psi"]["psi"], ""],
        ]
        for role in ("champion", "candidate"):
            timing = latency.get(role) or {}
            if timing:
                figures.append(
                    [
                        f"latency of the {role}, one record in process",
                        f"median {timing['median_ms']} ms, p95 {timing['p95_ms']} ms",
                        f"{timing['calls']} calls",
                    ]
                )
        scored = report.get("live_metrics") or {}
        metrics = [
            [name, f"{value:.4f}", f"{scored['candidate'][name]:.4f}"]
            for name, value in (scored.get("champion") or {}).items()
        ]
    return render(
        "impact_report.md.j2",
        report=report,
        verdict=VERDICTS[report["verdict"]],
        judged=judged,
        figures=figures,
        segments=segment_rows(report) if judged else [],
        metrics=metrics,
        hashes="#" * level,
    )


def report_path(env: str, candidate: str, suffix: str = ".json") -> Path:
    """Where `make impact` keeps its report of `candidate` in `env` (a version has dots: no with_suffix)."""
    return REPORTS / f"{env}-{candidate}{suffix}"


def read_report(env: str, candidate: str) -> dict[str, Any] | None:
    """`make impact`'s report of `candidate` in `env`, if it was made here."""
    path = report_path(env, candidate)
    return json.loads(path.read_text()) if path.is_file() else None


def checked_section(level: int = 3) -> str | None:
    """The promotion check's impact section (`make impact-check`), or None when it did not run here."""
    if not CHECKED.is_file():
        return None
    index = json.loads(CHECKED.read_text())
    parts = [f"{'#' * level} Impact on replayed traffic (`make impact-check` against `{index['base']}`)", ""]
    if not index["reports"]:
        return "\n".join([*parts, index["note"], ""])
    for env, candidate in index["reports"]:
        found = read_report(env, candidate)
        parts += [impact_markdown(found, level + 1) if found else f"No report for {candidate} in {env}.", ""]
    return "\n".join(parts)
