"""Alert: keep one open forge issue on the live model's state, and dispatch retraining when it is due.

Reads `make monitor`'s summary (reports/monitoring/summary.json) and acts through the forge
(`core/forge.py`: GitHub's `gh` or GitLab's API; its token GH_TOKEN or GITLAB_TOKEN never printed):

- decision retrain or retire: open the issue labelled `model-monitor` if none is open, else add
  this run's findings to it as a comment and retitle it with the latest decision;
- decision retrain: also dispatch `retrain.yml` with the reason, the drifted features, the missed
  metrics and this run's URL as inputs (GitLab: a pipeline on the default branch with
  MODELOPS_JOB=retrain and REASON, DRIFTED_FEATURES, MISSED_METRICS, SUMMARY_RUN as variables);
- decision keep: comment that the model is back within its targets and close the open issue.

`make monitor-alert RUN_URL=<url>` runs this (the monitor workflow passes its run's URL);
`--dry-run` prints the forge's calls and the issue body instead of running anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core import cli, forge, paths
from ..core.records import MonitorSummary
from ..reporting.render import table

LABEL = forge.Label("model-monitor", "d93f0b", "The live model missed its targets (make monitor)")
RETRAIN_WORKFLOW = "retrain.yml"
RETIRE_AT = (("retire_below", "≤"), ("retire_above", "≥"))  # the floor of a min rule, the ceiling of a max rule
MARKER = "<!-- modelops-model-monitor -->"
NEXT_STEP = {
    "retrain": f"Retraining is dispatched: `{RETRAIN_WORKFLOW}`, given the reasons, drifted features, missed metrics.",
    "retire": (
        "Live quality is below the hard floor (`docs/criteria.yaml` `live.retire`): retraining alone is not"
        " enough. Roll back (`make rollback ENV=production`) or take the model out of service."
    ),
}


# --- the summary, as text -------------------------------------------------------------------------


def fmt(value: Any, spec: str = "") -> str:
    """A cell: a number in `spec`, other values as text, a dash when missing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and spec:
        return format(value, spec)
    return str(value)


def title(summary: MonitorSummary) -> str:
    versions = ", ".join(summary.model_versions) or "unknown version"
    return f"Model monitor: {summary.decision} ({versions})"


def reason_line(summary: MonitorSummary) -> str:
    """The reasons on one line (a workflow input)."""
    return "; ".join(" ".join(str(r).split()) for r in summary.reasons) or summary.decision


def quality_section(summary: MonitorSummary) -> list[str]:
    quality = summary.quality
    metrics = quality.get("metrics") or {}
    head = f"### Quality: {quality.get('verdict', 'not judged')}"
    head += f" ({summary.labelled} labelled records, {quality['min_labels']} needed)" if "min_labels" in quality else ""
    if not metrics:
        return [head, "", "No live metric was computed.", ""]
    rows = []
    for name, m in metrics.items():
        rule = {"min": "≥", "max": "≤"}.get(m.get("rule"), str(m.get("rule", "")))
        passed = {True: "ok", False: "**missed**", None: "—"}[m.get("passed")]
        floor = next((f"{sign} {fmt(m[k], '.4f')}" for k, sign in RETIRE_AT if k in m), "—")
        rows.append([name, fmt(m.get("value"), ".4f"), f"{rule} {fmt(m.get('target'), '.4f')}", floor, passed])
    return [head, "", table(rows, ["metric", "live", "target", "retired at", "result"]), ""]


def drift_section(summary: MonitorSummary) -> list[str]:
    drift = summary.drift
    features = drift.get("features") or {}
    drifted = summary.drifted_features()
    lines = [f"### Drift: {drift.get('verdict', 'not judged')}", ""]
    if drifted:
        rows = []
        for name in drifted:
            f = features.get(name) or {}
            psi = f"{fmt(f.get('psi'), '.3f')} (max {fmt(f.get('psi_max'))})"
            p_value = f"{fmt(f.get('p_value'), '.2g')} (max {fmt(f.get('p_value_max'))})"
            rows.append([name, psi, p_value])
        lines += [table(rows, ["drifted feature", "PSI", "p-value"]), ""]
        others = len(features) - len(drifted)
        if others:
            lines += [f"{others} other feature{'s are' if others > 1 else ' is'} within the thresholds.", ""]
    elif features:
        lines += [f"No feature drifted ({len(features)} checked).", ""]
    if drift.get("skipped"):
        lines += [f"Not compared (dropped or hashed in the log): {', '.join(drift['skipped'])}.", ""]
    prediction = drift.get("prediction")
    if prediction:
        state = "drifted" if prediction.get("drifted") else "stable"
        psi, p_value = fmt(prediction.get("psi"), ".3f"), fmt(prediction.get("p_value"), ".2g")
        lines += [f"Predictions: {state} (PSI {psi}, p-value {p_value}).", ""]
    return lines


def service_section(summary: MonitorSummary) -> list[str]:
    service = summary.service
    if not service:
        return []
    passed = service.get("passed")
    verdict = "within the SLO" if passed is True else "**outside the SLO**" if passed is False else "not judged"
    rows = [
        ["p95 latency (ms)", fmt(service.get("p95_ms"), ".1f"), f"≤ {fmt(service.get('p95_target_ms'))}"],
        ["error rate", fmt(service.get("error_rate"), ".4f"), f"≤ {fmt(service.get('max_error_rate'))}"],
    ]
    p50, p99 = fmt(service.get("p50_ms"), ".1f"), fmt(service.get("p99_ms"), ".1f")
    return [
        f"### Service: {verdict}",
        "",
        table(rows, ["figure", "live", "SLO"]),
        "",
        f"p50 {p50} ms, p99 {p99} ms.",
        "",
    ]


def findings(summary: MonitorSummary, run_url: str | None) -> str:
    """This run's findings in Markdown: decision, reasons, quality, drift, service, links."""
    window = summary.window
    counts = (
        f"{summary.predictions} predictions in {summary.requests} requests,"
        f" {summary.labelled} labelled, {summary.corrupt_lines} corrupt log lines"
    )
    lines = [
        f"## Decision: **{summary.decision}**",
        "",
        f"Window {window.get('start', '?')} → {window.get('end', '?')};"
        f" model {', '.join(summary.model_versions) or 'unknown'}; {counts}.",
        "",
    ]
    if summary.decision in NEXT_STEP:
        lines += [NEXT_STEP[summary.decision], ""]
    lines += ["### Why", ""] + [f"- {reason}" for reason in summary.reasons or ["(no reason given)"]] + [""]
    lines += quality_section(summary) + drift_section(summary) + service_section(summary)
    links = [f"Run: {run_url}" if run_url else "Run: local (`make monitor`)"]
    if summary.report:
        links.append(f"report: `{summary.report}` (in the run's `monitoring` artifact)")
    lines.append("; ".join(links) + ".")
    return "\n".join(lines) + "\n"


def back_within_targets(summary: MonitorSummary, run_url: str | None) -> str:
    window = summary.window
    where = f" ({run_url})" if run_url else ""
    return (
        f"The model is back within its targets: decision **keep** for {window.get('start', '?')} →"
        f" {window.get('end', '?')}{where}. Closing.\n"
    )


# --- what to do, as forge calls --------------------------------------------------------------------


def issue_update(summary: MonitorSummary, run_url: str | None) -> forge.IssueUpdate:
    """The one model-monitor issue as the summary wants it: open with the findings, or closed."""
    if summary.decision == "keep":
        return forge.IssueUpdate(LABEL, title(summary), back_within_targets(summary, run_url), close=True)
    return forge.IssueUpdate(LABEL, title(summary), findings(summary, run_url), marker=MARKER)


def retrain_inputs(summary: MonitorSummary, run_url: str | None) -> dict[str, str]:
    return {
        "reason": reason_line(summary),
        "drifted_features": ",".join(summary.drifted_features()),
        "missed_metrics": ",".join(summary.missed_metrics()),
        "summary_run": run_url or "",
    }


def plan(site: forge.Forge, summary: MonitorSummary, open_issue: str | None, run_url: str | None) -> list[forge.Call]:
    """The calls that bring the issue (and retraining) in line with the summary; `open_issue` is a number."""
    calls = site.issue_calls(issue_update(summary, run_url), open_issue)
    if summary.decision == "retrain":
        calls.append(site.dispatch_call(RETRAIN_WORKFLOW, retrain_inputs(summary, run_url)))
    return calls


def show(calls: list[forge.Call], heading: str) -> None:
    print(f"# {heading}")
    if not calls:
        print("# nothing to do")
    for call in calls:
        print(call)
        if call.stdin is not None:
            print("<<'BODY'\n" + call.stdin.rstrip("\n") + "\nBODY")


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument(
        "--summary", type=Path, default=paths.MONITOR_SUMMARY, help="the monitor's summary (default: %(default)s)"
    )
    parser.add_argument("--run-url", default="", help="the URL of the run that made the summary (linked in the issue)")
    parser.add_argument("--dry-run", action="store_true", help="print the forge's calls and the body; run nothing")
    args = parser.parse_args(argv)
    cli.start(args)
    summary = MonitorSummary.read(args.summary)
    run_url = args.run_url.strip() or None
    site = forge.default()
    if args.dry_run:
        print(f"# dry run: decision {summary.decision}; the open issue is found with\n{site.issue_query(LABEL)}")
        show(plan(site, summary, None, run_url), f"if no `{LABEL.name}` issue is open")
        show(plan(site, summary, "NUMBER", run_url), f"if `{LABEL.name}` issue NUMBER is open")
        return
    site.check()
    found = site.open_issue(LABEL)
    print(f"decision {summary.decision}; open `{LABEL.name}` issue: {'#' + found.number if found else 'none'}")
    forge.run_all(site, plan(site, summary, found.number if found else None, run_url))


if __name__ == "__main__":
    main()
