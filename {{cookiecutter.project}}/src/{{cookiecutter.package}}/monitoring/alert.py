"""Alert: keep one open GitHub issue on the live model's state, and dispatch retraining when it is due.

Reads `make monitor`'s summary (reports/monitoring/summary.json) and acts through the GitHub CLI
(`gh`, on GitHub's runners; its token is GH_TOKEN from the environment, never printed):

- decision retrain or retire: open the issue labelled `model-monitor` if none is open, else add
  this run's findings to it as a comment and retitle it with the latest decision;
- decision retrain: also dispatch `retrain.yml` with the reason, the drifted features, the missed
  metrics and this run's URL as inputs;
- decision keep: comment that the model is back within its targets and close the open issue.

`make monitor-alert RUN_URL=<url>` runs this (the monitor workflow passes its run's URL);
`--dry-run` prints the gh commands and the issue body instead of running anything.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core import cli
from ..core.artifacts import read_json
from ..reporting.render import table

SUMMARY = Path("reports/monitoring/summary.json")
LABEL = "model-monitor"
LABEL_COLOR = "d93f0b"
RETRAIN_WORKFLOW = "retrain.yml"
DECISIONS = ("keep", "retrain", "retire")
RETIRE_AT = (("retire_below", "≤"), ("retire_above", "≥"))  # the floor of a min rule, the ceiling of a max rule
MARKER = "<!-- modelops-model-monitor -->"
SECRETS = ("GH_TOKEN", "GITHUB_TOKEN")  # values redacted from anything gh prints
GH_FIX = "install the GitHub CLI (https://cli.github.com; GitHub's runners have it) and set GH_TOKEN"
NEXT_STEP = {
    "retrain": f"Retraining is dispatched: `{RETRAIN_WORKFLOW}`, given the reasons, drifted features, missed metrics.",
    "retire": (
        "Live quality is below the hard floor (`docs/criteria.yaml` `live.retire`): retraining alone is not"
        " enough. Roll back (`make rollback ENV=production`) or take the model out of service."
    ),
}


@dataclass(frozen=True)
class Call:
    """One gh command: its arguments after `gh`, and the text it reads from standard input."""

    args: tuple[str, ...]
    stdin: str | None = None

    def __str__(self) -> str:
        return shlex.join(["gh", *self.args])


class GhError(SystemExit):
    """gh is missing or one of its commands failed; the message names the command."""


# --- the summary, as text -------------------------------------------------------------------------


def read_summary(path: Path) -> dict[str, Any]:
    """The monitor's summary, or an error saying to run `make monitor`."""
    if not path.is_file():
        raise SystemExit(f"error: no {path} — run `make monitor` first (it writes the summary this command reads)")
    summary = read_json(path, "monitor")
    if not isinstance(summary, dict) or summary.get("decision") not in DECISIONS:
        decision = summary.get("decision") if isinstance(summary, dict) else None
        raise SystemExit(
            f"error: {path} has decision {decision!r}, not one of {', '.join(DECISIONS)} — rerun `make monitor`"
        )
    return summary


def fmt(value: Any, spec: str = "") -> str:
    """A cell: a number in `spec`, other values as text, a dash when missing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and spec:
        return format(value, spec)
    return str(value)


def missed_metrics(summary: dict[str, Any]) -> list[str]:
    metrics = (summary.get("quality") or {}).get("metrics") or {}
    return [name for name, metric in metrics.items() if metric.get("passed") is False]


def drifted_features(summary: dict[str, Any]) -> list[str]:
    drift = summary.get("drift") or {}
    features = drift.get("features") or {}
    return list(drift.get("drifted") or [name for name, f in features.items() if f.get("drifted")])


def title(summary: dict[str, Any]) -> str:
    versions = ", ".join(summary.get("model_versions") or []) or "unknown version"
    return f"Model monitor: {summary['decision']} ({versions})"


def reason_line(summary: dict[str, Any]) -> str:
    """The reasons on one line (a workflow input)."""
    return "; ".join(" ".join(str(r).split()) for r in summary.get("reasons") or []) or summary["decision"]


def quality_section(summary: dict[str, Any]) -> list[str]:
    quality = summary.get("quality") or {}
    metrics = quality.get("metrics") or {}
    head = f"### Quality: {quality.get('verdict', 'not judged')}"
    head += (
        f" ({summary.get('labelled', 0)} labelled records, {quality['min_labels']} needed)"
        if "min_labels" in quality
        else ""
    )
    if not metrics:
        return [head, "", "No live metric was computed.", ""]
    rows = []
    for name, m in metrics.items():
        rule = {"min": "≥", "max": "≤"}.get(m.get("rule"), str(m.get("rule", "")))
        passed = {True: "ok", False: "**missed**", None: "—"}[m.get("passed")]
        floor = next((f"{sign} {fmt(m[k], '.4f')}" for k, sign in RETIRE_AT if k in m), "—")
        rows.append([name, fmt(m.get("value"), ".4f"), f"{rule} {fmt(m.get('target'), '.4f')}", floor, passed])
    return [head, "", table(rows, ["metric", "live", "target", "retired at", "result"]), ""]


def drift_section(summary: dict[str, Any]) -> list[str]:
    drift = summary.get("drift") or {}
    features = drift.get("features") or {}
    drifted = drifted_features(summary)
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


def service_section(summary: dict[str, Any]) -> list[str]:
    service = summary.get("service")
    if not service:
        return []
    verdict = {True: "within the SLO", False: "**outside the SLO**"}.get(service.get("passed"), "not judged")
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


def findings(summary: dict[str, Any], run_url: str | None) -> str:
    """This run's findings in Markdown: decision, reasons, quality, drift, service, links."""
    window = summary.get("window") or {}
    counts = (
        f"{summary.get('predictions', 0)} predictions in {summary.get('requests', 0)} requests,"
        f" {summary.get('labelled', 0)} labelled, {summary.get('corrupt_lines', 0)} corrupt log lines"
    )
    lines = [
        f"## Decision: **{summary['decision']}**",
        "",
        f"Window {window.get('start', '?')} → {window.get('end', '?')};"
        f" model {', '.join(summary.get('model_versions') or []) or 'unknown'}; {counts}.",
        "",
    ]
    if summary["decision"] in NEXT_STEP:
        lines += [NEXT_STEP[summary["decision"]], ""]
    lines += ["### Why", ""] + [f"- {reason}" for reason in summary.get("reasons") or ["(no reason given)"]] + [""]
    lines += quality_section(summary) + drift_section(summary) + service_section(summary)
    links = [f"Run: {run_url}" if run_url else "Run: local (`make monitor`)"]
    if summary.get("report"):
        links.append(f"report: `{summary['report']}` (in the run's `monitoring` artifact)")
    lines.append("; ".join(links) + ".")
    return "\n".join(lines) + "\n"


def back_within_targets(summary: dict[str, Any], run_url: str | None) -> str:
    window = summary.get("window") or {}
    where = f" ({run_url})" if run_url else ""
    return (
        f"The model is back within its targets: decision **keep** for {window.get('start', '?')} →"
        f" {window.get('end', '?')}{where}. Closing.\n"
    )


# --- what to do, as gh commands ---------------------------------------------------------------------


def list_open() -> Call:
    return Call(("issue", "list", "--label", LABEL, "--state", "open", "--json", "number,title"))


def plan(summary: dict[str, Any], open_issue: str | None, run_url: str | None) -> list[Call]:
    """The gh commands that bring the issue (and retraining) in line with the summary; `open_issue` is a number."""
    decision = summary["decision"]
    if decision == "keep":
        if open_issue is None:
            return []
        return [
            Call(("issue", "comment", open_issue, "--body-file", "-"), back_within_targets(summary, run_url)),
            Call(("issue", "close", open_issue, "--reason", "completed")),
        ]
    body = findings(summary, run_url)
    if open_issue is None:
        description = "The live model missed its targets (make monitor)"
        calls = [
            Call(("label", "create", LABEL, "--force", "--color", LABEL_COLOR, "--description", description)),
            Call(
                ("issue", "create", "--title", title(summary), "--label", LABEL, "--body-file", "-"),
                f"{MARKER}\n{body}",
            ),
        ]
    else:
        calls = [
            Call(("issue", "comment", open_issue, "--body-file", "-"), body),
            Call(("issue", "edit", open_issue, "--title", title(summary))),
        ]
    if decision == "retrain":
        inputs = {
            "reason": reason_line(summary),
            "drifted_features": ",".join(drifted_features(summary)),
            "missed_metrics": ",".join(missed_metrics(summary)),
            "summary_run": run_url or "",
        }
        calls.append(
            Call(("workflow", "run", RETRAIN_WORKFLOW, *(a for k, v in inputs.items() for a in ("-f", f"{k}={v}"))))
        )
    return calls


# --- running gh (the edge) --------------------------------------------------------------------------


def redact(text: str) -> str:
    for name in SECRETS:
        value = os.environ.get(name)
        if value:
            text = text.replace(value, "***")
    return text


def gh_executable() -> str:
    found = shutil.which("gh")
    if found is None:
        raise GhError(f"error: gh not found on PATH — {GH_FIX}")
    return found


def run(call: Call, gh: str) -> str:
    """Run one gh command; its output, or an error naming the command."""
    result = subprocess.run([gh, *call.args], input=call.stdin, capture_output=True, text=True)
    if result.returncode != 0:
        message = redact((result.stderr or result.stdout).strip())
        raise GhError(f"error: `{call}` failed ({result.returncode}): {message}")
    return result.stdout


def open_issue_number(gh: str) -> str | None:
    """The oldest open issue labelled model-monitor, if any."""
    output = run(list_open(), gh)
    try:
        issues = json.loads(output or "[]")
        numbers = sorted(int(issue["number"]) for issue in issues)
    except (ValueError, KeyError, TypeError) as exc:
        raise GhError(f"error: `{list_open()}` answered {redact(output[:200])!r}, not a JSON list of issues") from exc
    return str(numbers[0]) if numbers else None


def show(calls: Sequence[Call], heading: str) -> None:
    print(f"# {heading}")
    for call in calls or [Call(("# nothing to do",))]:
        print(call)
        if call.stdin is not None:
            print("<<'BODY'\n" + call.stdin.rstrip("\n") + "\nBODY")


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--summary", type=Path, default=SUMMARY, help="the monitor's summary (default: %(default)s)")
    parser.add_argument("--run-url", default="", help="the URL of the run that made the summary (linked in the issue)")
    parser.add_argument("--dry-run", action="store_true", help="print the gh commands and the body; run nothing")
    args = parser.parse_args(argv)
    cli.start(args)
    summary = read_summary(args.summary)
    run_url = args.run_url.strip() or None
    if args.dry_run:
        print(f"# dry run: decision {summary['decision']}; the open issue is found with\n{list_open()}")
        show(plan(summary, None, run_url), f"if no `{LABEL}` issue is open")
        show(plan(summary, "NUMBER", run_url), f"if `{LABEL}` issue NUMBER is open")
        return
    gh = gh_executable()
    open_issue = open_issue_number(gh)
    print(f"decision {summary['decision']}; open `{LABEL}` issue: {'#' + open_issue if open_issue else 'none'}")
    for call in plan(summary, open_issue, run_url):
        output = redact(run(call, gh).strip())
        print(f"gh {call.args[0]} {call.args[1]}: {output or 'done'}")


if __name__ == "__main__":
    main()
