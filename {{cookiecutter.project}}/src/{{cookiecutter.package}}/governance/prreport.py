"""Review: the pull request's report — metrics, parameters and load-test figures against the base branch.

`make pr-report BASE=origin/main` writes `reports/pr.md` from DVC's own `dvc metrics diff --md`
and `dvc params diff --md` (base → this work tree) and the load-test record of both, and, when
`make impact-check` ran before it (a promotion), the impact of each version it moves on its
environment's logged traffic. CI posts it as one pull-request comment, updated on every push.

`make pr-note NUMBER=<n>` (`--post N`) posts that file as the one report note on pull/merge
request N through the forge (`core/forge.py`), found again by its first line (the marker) and
replaced on every later run: one note, never a pile. GitLab's merge-request pipeline passes
`$CI_MERGE_REQUEST_IID`. Nothing is regenerated; `--dry-run` prints the forge's calls.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..core import cli, forge, paths
from ..core.records import LoadRecord
from ..reporting.impact import checked_section
from ..reporting.render import table

REPORT = Path("reports/pr.md")
MARKER = "<!-- modelops-pr-report -->"
SHOWN = (("rps", "req/s"), ("p95_ms", "p95 ms"), ("p99_ms", "p99 ms"), ("error_rate", "error rate"))


def dvc_markdown(kind: str, base: str) -> str:
    command = [str(Path(sys.executable).with_name("dvc")), kind, "diff", base, "--md"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"error: `dvc {kind} diff {base}` failed: {result.stderr.strip()} — is {base} fetched?")
    return result.stdout.strip()


def report(base: str) -> str:
    metrics, params = dvc_markdown("metrics", base), dvc_markdown("params", base)
    before, after = LoadRecord.at(base), LoadRecord.at(None)
    figures = [(r.figures if r else {}) for r in (before, after)]
    load = [[label, figures[0].get(key, "—"), figures[1].get(key, "—")] for key, label in SHOWN]
    gate = json.loads(paths.METRICS.read_text())["gate"]["passed"] if paths.METRICS.is_file() else None
    verdict = {True: "PASS", False: "FAIL", None: "not run"}[gate]
    lines = [
        MARKER,
        f"## Model report against `{base}`",
        "",
        f"Quality gate (`docs/criteria.yaml`): **{verdict}**.",
        "",
        "### Metrics (`dvc metrics diff`)",
        "",
        metrics or "No metric changed.",
        "",
        "### Parameters (`dvc params diff`)",
        "",
        params or "No parameter changed.",
        "",
        "### Load test (`reports/load.json`)",
        "",
        table(load, ["figure", base, "this change"]) if after or before else "No load test recorded.",
    ]
    impact = checked_section(level=3)
    if impact:
        lines += ["", impact.rstrip("\n")]
    return "\n".join(lines) + "\n"


def post(number: str, file: Path, dry_run: bool) -> None:
    """Post `file` as the one report note on request `number` (replaced when there), or print the plan."""
    if not number.isdigit():
        raise SystemExit(
            f"error: NUMBER={number!r} — give the pull/merge request's number (GitLab CI: $CI_MERGE_REQUEST_IID)"
        )
    if not file.is_file():
        raise SystemExit(f"error: no {file} — run `make pr-report` first")
    site, body = forge.default(), file.read_text()
    if dry_run:
        print("\n".join(forge.note_plan(site, number, body, MARKER)))
        return
    print(forge.post_note(site, number, body, MARKER))


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--base", default="origin/main", help="the branch or commit to compare with")
    parser.add_argument(
        "--post", metavar="NUMBER", help="post --file as the one report note on pull/merge request NUMBER; no report"
    )
    parser.add_argument("--file", type=Path, default=REPORT, help="with --post: the note's text (default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="with --post: print the forge's calls, run nothing")
    args = parser.parse_args(argv)
    cli.start(args)
    if args.post is not None:
        post(args.post.strip(), args.file, args.dry_run)
        return
    text = report(args.base)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
