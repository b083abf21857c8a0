"""Evidence: where the proof of each duty lives, and whether it is present, current and filled.

`make evidence` reads the map docs/evidence.yaml (for every duty of the standard and every scope
note: the files, DVC outputs, make targets, workflows, release tag and deployment history that
prove it), checks each piece, prints one row per piece (duty, evidence, exists, version or date,
check) and writes the same table with links to docs/evidence.md. Same inputs, same bytes: the
only dates are the evidence's own (its last commit, or its modification time while uncommitted).

A piece is required once the checkout has reached its `when` point, found from git: always,
retrain (data/production.dvc is tracked), deploy (an environment in deploy/ names a version),
release (a vX.Y.Z tag is reachable from HEAD). --skip leaves points out: CI skips `deploy release`,
as it deploys nothing and a release is cut after it.
Exits 1 when a required piece is missing, stale or unfilled, naming the duty, the reason and the
command to run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ...core import cli, paths
from .checks import evaluate
from .facts import observe
from .map import POINTS, load_map, parse_points
from .page import failures, page, terminal_table


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.prog = f"python -m {__package__}"
    parser.add_argument("--map", type=Path, default=paths.EVIDENCE_MAP, help="the evidence map (default: %(default)s)")
    parser.add_argument(
        "--page", type=Path, default=paths.EVIDENCE_PAGE, help="the page to write (default: %(default)s)"
    )
    parser.add_argument(
        "--skip",
        default="",
        help=f"`when` points not to require here, even when reached: some of {', '.join(POINTS[1:])}",
    )
    args = parser.parse_args(argv)
    cli.start(args)
    evidence = load_map(args.map)
    facts = observe(parse_points(args.skip))
    rows = evaluate(evidence, facts)
    args.page.parent.mkdir(parents=True, exist_ok=True)
    args.page.write_text(page(evidence, rows, facts, args.map, args.page))
    print(terminal_table(rows))
    failed = failures(rows)
    required = ", ".join(p for p in POINTS if facts.required(p))
    skipped = f" (skipped: {', '.join(sorted(facts.skipped))})" if facts.skipped else ""
    print(f"\n{len(evidence.duties)} duties; required here: {required}{skipped}; written {args.page}")
    if failed:
        sys.stdout.flush()
        print("\n".join(failed), file=sys.stderr)
        raise SystemExit(1)
    print("every required piece is present, current and filled")


if __name__ == "__main__":
    main()
