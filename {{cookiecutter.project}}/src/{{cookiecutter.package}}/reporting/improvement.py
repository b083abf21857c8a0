"""The improvement report: the plan, the tuning and champion against challenger, in one document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core import paths
from .impact import impact_markdown
from .render import render

TOP_TRIALS = 10  # trials the report lists (best first); trials.csv holds them all


def percent(fraction: float) -> str:
    """A signed share as a percentage with one decimal: `+1.6 %`, `−2.1 %` (a minus sign, not a hyphen);
    `0.0 %` only when it is exactly zero."""
    return f"{100 * fraction:+.1f} %".replace("-", "−") if fraction else "0.0 %"


def interval_text(interval: Mapping[str, Any]) -> str:
    """`−2.1 % to +5.3 %`: an interval of a margin (compare.Interval's fields)."""
    return f"{percent(interval['low'])} to {percent(interval['high'])}"


def margin_text(interval: Mapping[str, Any]) -> str:
    """`margin +1.6 % (95 % CI −2.1 % to +5.3 %, n=72)`: a margin with its interval (compare.Interval's fields)."""
    level = f"{100 * interval['confidence']:g} %"
    return f"margin {percent(interval['margin'])} ({level} CI {interval_text(interval)}, n={interval['n']})"


def improvement_report(
    plan: dict[str, Any],
    tuning: dict[str, Any] | None,
    comparison: dict[str, Any] | None,
    outcome: str,
    reasons: list[str],
) -> str:
    """reports/improvement/<date>.md; written first with the plan alone, then with every result."""
    counts = plan["data"]
    data_rows = [
        ["labelled production records in the window", counts["labelled"]],
        ["quarantined", counts["quarantined_total"]],
        ["excluded: identical to a holdout record (never trained on)", counts["excluded"]["in_holdout"]],
        ["excluded: already in the training data", counts["excluded"]["in_training_data"]],
        ["repeats counted once", counts["excluded"]["repeated"]],
        ["accepted", counts["accepted"]],
        ["→ recent window (judges, never trains)", counts["recent"]],
        ["→ new training records", counts["new_train"]],
        ["previous recent window, now training", counts["previous_recent_to_train"]],
        ["production records in the train set", counts["production_train"]],
    ]
    quarantine_rows = [[kind, n] for kind, n in counts["quarantined"].items() if n]
    reason_rows = [[reason, n] for reason, n in (counts.get("reasons") or {}).items()]
    trial_rows: list[list[Any]] = []
    trial_header: list[str] = []
    if tuning:
        names = sorted({name for trial in tuning["trials"] for name in trial["params"]})
        trial_header = ["trial", tuning["metric"], *names, "seconds"]
        done = [t for t in tuning["trials"] if t.get("value") is not None]
        ranked = sorted(done, key=lambda t: t["value"], reverse=tuning["direction"] == "maximize")
        trial_rows = [
            [t["number"], f"{t['value']:.4f}", *(t["params"].get(n, "") for n in names), t.get("seconds", "")]
            for t in ranked[:TOP_TRIALS]
        ]
    score_rows = []
    check_rows = []
    mcnemar_rows = []
    level, resamples = "", 0
    if comparison:
        intervals = comparison.get("intervals") or {}
        for window, metrics in comparison["scores"]["challenger"].items():
            for metric, new in metrics.items():
                old = comparison["scores"]["champion"][window][metric]
                found = (intervals.get(window) or {}).get(metric)
                shown = [percent(found["margin"]), interval_text(found)] if found else ["", ""]
                score_rows.append([window, f"`{metric}`", f"{old:.4f}", f"{new:.4f}", f"{new - old:+.4f}", *shown])
                if found and not level:
                    level, resamples = f"{100 * found['confidence']:g} %", found["resamples"]
        for window, metrics in intervals.items():
            test = next((found["mcnemar"] for found in metrics.values() if found.get("mcnemar")), None)
            if test:
                discordant = [test["only_challenger"], test["only_champion"], f"{test['p_value']:.3g}"]
                mcnemar_rows.append([window, *discordant])
        check_rows = [[c["name"], "PASS" if c["passed"] else "FAIL", c["detail"]] for c in comparison["checks"]]
    return render(
        "improvement_report.md.j2",
        plan=plan,
        tuning=tuning,
        comparison=comparison,
        outcome=outcome,
        reasons=reasons,
        criteria=paths.CRITERIA,
        data_rows=data_rows,
        quarantine_rows=quarantine_rows,
        reason_rows=reason_rows,
        trial_rows=trial_rows,
        trial_header=trial_header,
        score_rows=score_rows,
        level=level,
        resamples=resamples,
        mcnemar_rows=mcnemar_rows,
        check_rows=check_rows,
        impact=impact_markdown(comparison["impact"], level=3) if comparison and comparison.get("impact") else "",
    )
