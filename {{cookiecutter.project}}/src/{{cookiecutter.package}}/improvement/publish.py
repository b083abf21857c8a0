"""Publish: push the retraining proposal's branch and open its pull request — merging it is the approval.

Reads `make retrain`'s summary (reports/improvement/summary.json). Without a proposal it prints
the reasons and does nothing. With one it first pushes what the proposal commits to the DVC remote
(`core/storage.py`: data/production.dvc, the models its dvc.lock names), so the pull request's CI
and every clone after the merge can pull them; if that fails, nothing else happens and the error
names the fix. Then it pushes the proposal's branch and, through the forge
(`core/forge.py`: GitHub's `gh` or GitLab's API, its token never printed), opens a pull request labelled
`model-retrain` whose body is the comparison report; when a pull request from that branch is
open already, its title and body are replaced instead. The pull request's URL is the last line
printed.

`make publish` runs this after `make retrain` (retrain.yml in CI, where git pushes with the bot's
token: the GitHub App's when set up, so CI runs on the pull request; see .github/actions/bot-identity);
`--dry-run` prints the commands and the body, and runs nothing.
"""

from __future__ import annotations

from pathlib import Path

from ..core import cli, forge, paths, storage
from ..core.git import branch_exists, file_at
from ..core.records import ImprovementSummary

LABEL = forge.Label("model-retrain", "0e8a16", "A retrained model proposed by make retrain")
APPROVAL = (
    "**Merging this pull request is the approval**: CD (`cd.yml`) then builds the new model and opens the"
    " pull request moving staging to it; once the cluster reports staging healthy, `promote-production.yml`"
    " opens the one moving production, whose merge releases it (`release.yml`)."
)
DVC_DIR = Path(".dvc")
IF_REJECTED = "if the remote has the branch with other commits, rerun `make retrain` for a new branch"


def text_field(summary: ImprovementSummary, key: str, path: Path) -> str:
    value = getattr(summary, key)
    if not isinstance(value, str) or not value.strip():
        raise SystemExit(f"error: {path} proposes a model but has no `{key}` — rerun `make retrain`")
    return value.strip()


def proposal_from(summary: ImprovementSummary, path: Path, base: str) -> forge.PullRequest:
    """The pull request a proposed summary describes; the report is read from the work tree or the branch."""
    branch, title, body = (text_field(summary, key, path) for key in ("branch", "title", "body"))
    if branch.startswith("-"):
        raise SystemExit(f"error: {path} names the branch {branch!r}, which git would read as an option")
    report = Path(body)
    text = report.read_text() if report.is_file() else file_at(f"refs/heads/{branch}", report)
    if text is None:
        raise SystemExit(
            f"error: no {report} (the pull request's body, `body` in {path}) in the work tree nor on {branch}"
            " — rerun `make retrain`"
        )
    body = text.rstrip() if APPROVAL in text else f"{text.rstrip()}\n\n---\n\n{APPROVAL}"
    return forge.PullRequest(branch, title, body + "\n", base=base, label=LABEL)


def push_data(branch: str, dvc_remote: str | None) -> None:
    """Send what `branch` commits to the DVC remote; a StorageError naming the fix when it cannot.

    On a CI runner the remote must be one others read: a folder there is the runner's own disk.
    """
    if not DVC_DIR.is_dir():
        return  # no DVC here: nothing the proposal names lives outside git
    storage.push(storage.remote(dvc_remote), revision=branch, shared=storage.on_ci_runner())


def show(site: forge.Forge, proposal: forge.PullRequest, remote: str) -> None:
    print(f"# dry run: the proposal on {proposal.branch}")
    print(f"dvc push of {proposal.branch} (its .dvc files and dvc.lock) to the DVC remote")
    print("\n".join(forge.pull_request_plan(site, proposal, remote)))
    print("# the body (--body-file -)\n" + proposal.body.rstrip("\n"))


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument(
        "--summary", type=Path, default=paths.IMPROVEMENT_SUMMARY, help="make retrain's summary (default: %(default)s)"
    )
    parser.add_argument("--remote", default="origin", help="the git remote to push to (default: %(default)s)")
    parser.add_argument("--base", default="main", help="the branch the pull request merges into (default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and the body; run nothing")
    args = parser.parse_args(argv)
    settings = cli.start(args)
    summary = ImprovementSummary.read(args.summary)
    if not summary.proposed:
        print(f"nothing to publish: make retrain made no proposal ({summary.decision or 'no proposal'})")
        for reason in summary.reasons or ["(no reason given)"]:
            print(f"- {reason}")
        return
    proposal = proposal_from(summary, args.summary, args.base)
    site = forge.default()
    if args.dry_run:
        show(site, proposal, args.remote)
        return
    site.check()
    if not branch_exists(proposal.branch):
        raise SystemExit(
            f"error: no local branch {proposal.branch} — run `make retrain` here (it commits the proposal on it)"
        )
    push_data(proposal.branch, settings.dvc_remote)
    print(forge.publish_pull_request(site, proposal, args.remote, IF_REJECTED))


if __name__ == "__main__":
    main()
