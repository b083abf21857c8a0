"""Publish: push the retraining proposal's branch and open its pull request — merging it is the approval.

Reads `make retrain`'s summary (reports/improvement/summary.json). Without a proposal it prints
the reasons and does nothing. With one it pushes the proposal's branch (`git push <remote>
<branch>`) and, through the GitHub CLI (`gh`; its token is GH_TOKEN from the environment, never
printed), opens a pull request labelled `model-retrain` whose body is the comparison report; when
a pull request from that branch is open already, its title and body are replaced instead. The
pull request's URL is the last line printed.

`make publish` runs this after `make retrain` (retrain.yml in CI, after `gh auth setup-git` lets
git push with the job's token); `--dry-run` prints the commands and the body, and runs nothing.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core import cli
from ..core.artifacts import read_json
from ..monitoring.alert import Call, GhError, redact, run

SUMMARY = Path("reports/improvement/summary.json")
LABEL = "model-retrain"
LABEL_COLOR = "0e8a16"
LABEL_DESCRIPTION = "A retrained model proposed by make retrain"
APPROVAL = (
    "**Merging this pull request is the approval**: CD (`cd.yml`) then builds the new model, promotes it"
    " (staging, then production, each by its own pull request) and releases it (`release.yml`)."
)
TOKENS = ("GH_TOKEN", "GITHUB_TOKEN")  # what gh authenticates with in CI
GH_MISSING = (
    "error: gh not found on PATH — install the GitHub CLI (https://cli.github.com) or run in GitHub Actions"
    " (its runners have it)"
)
NO_TOKEN = (
    "error: no GH_TOKEN and gh is not logged in — set GH_TOKEN to a token that may push and open pull"
    " requests (in a workflow: the job's github.token), or run `gh auth login`"
)


@dataclass(frozen=True)
class Proposal:
    """What the pull request shows: the branch to merge, its title, its body (the report and the approval)."""

    branch: str
    title: str
    body: str


# --- the summary, as a proposal ---------------------------------------------------------------------


def read_summary(path: Path) -> dict[str, Any]:
    """The retraining's summary, or an error saying to run `make retrain`."""
    if not path.is_file():
        raise SystemExit(f"error: no {path} — run `make retrain` first (it writes the summary this command reads)")
    summary = read_json(path, "retrain")
    if not isinstance(summary, dict) or not isinstance(summary.get("proposed"), bool):
        raise SystemExit(f"error: {path} has no `proposed: true|false` — rerun `make retrain`")
    return summary


def git_show(branch: str, path: str) -> str | None:
    """A file as committed on `branch`, or None."""
    result = subprocess.run(["git", "show", f"refs/heads/{branch}:{path}"], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def text_field(summary: dict[str, Any], key: str, path: Path) -> str:
    value = summary.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SystemExit(f"error: {path} proposes a model but has no `{key}` — rerun `make retrain`")
    return value.strip()


def proposal_from(summary: dict[str, Any], path: Path) -> Proposal:
    """The pull request a proposed summary describes; the report is read from the work tree or the branch."""
    branch, title, body = (text_field(summary, key, path) for key in ("branch", "title", "body"))
    if branch.startswith("-"):
        raise SystemExit(f"error: {path} names the branch {branch!r}, which git would read as an option")
    report = Path(body)
    text = report.read_text() if report.is_file() else git_show(branch, report.as_posix())
    if text is None:
        raise SystemExit(
            f"error: no {report} (the pull request's body, `body` in {path}) in the work tree nor on {branch}"
            " — rerun `make retrain`"
        )
    body = text.rstrip() if APPROVAL in text else f"{text.rstrip()}\n\n---\n\n{APPROVAL}"
    return Proposal(branch, title, body + "\n")


# --- what to do, as commands ------------------------------------------------------------------------


def push_command(remote: str, branch: str) -> list[str]:
    return ["git", "push", remote, branch]


def label_call() -> Call:
    return Call(("label", "create", LABEL, "--force", "--color", LABEL_COLOR, "--description", LABEL_DESCRIPTION))


def list_call(branch: str) -> Call:
    return Call(("pr", "list", "--head", branch, "--state", "open", "--json", "number,url"))


def create_call(proposal: Proposal, base: str, labelled: bool) -> Call:
    label = ("--label", LABEL) if labelled else ()
    args = ("pr", "create", "--base", base, "--head", proposal.branch, "--title", proposal.title)
    return Call((*args, "--body-file", "-", *label), proposal.body)


def edit_call(number: str, proposal: Proposal, labelled: bool) -> Call:
    label = ("--add-label", LABEL) if labelled else ()
    return Call(("pr", "edit", number, "--title", proposal.title, "--body-file", "-", *label), proposal.body)


# --- running git and gh (the edge) ------------------------------------------------------------------


def gh_executable() -> str:
    found = shutil.which("gh")
    if found is None:
        raise GhError(GH_MISSING)
    return found


def require_auth(gh: str) -> None:
    """Stop unless gh has a token: GH_TOKEN (or GITHUB_TOKEN) in the environment, or a `gh auth login`."""
    if any(os.environ.get(name) for name in TOKENS):
        return
    if subprocess.run([gh, "auth", "status"], capture_output=True, text=True).returncode != 0:
        raise GhError(NO_TOKEN)


def require_branch(branch: str) -> None:
    found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"], capture_output=True)
    if found.returncode != 0:
        raise SystemExit(f"error: no local branch {branch} — run `make retrain` here (it commits the proposal on it)")


def push(remote: str, branch: str) -> None:
    """`git push <remote> <branch>`, or an error with git's reason (tokens redacted) and the fix."""
    command = push_command(remote, branch)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        reason = redact((result.stderr or result.stdout).strip())
        raise SystemExit(
            f"error: `{shlex.join(command)}` was rejected — check that the remote {remote!r} exists (`git remote -v`)"
            " and that you may push to it (CI: `contents: write` and `gh auth setup-git`); if the remote has"
            f" {branch} with other commits, rerun `make retrain` for a new branch\ngit: {reason}"
        )
    print(f"pushed {branch} to {remote}")


def ensure_label(gh: str) -> bool:
    """Create (or refresh) the label; False, with a warning, when the token may not."""
    try:
        run(label_call(), gh)
    except GhError as exc:
        reason = str(exc.code).removeprefix("error: ")
        print(f"warning: {reason} — the pull request goes without the {LABEL} label", file=sys.stderr)
        return False
    return True


def open_pull_request(gh: str, branch: str) -> tuple[str, str] | None:
    """Number and URL of the open pull request from `branch`, if any."""
    output = run(list_call(branch), gh)
    try:
        found = [(str(pr["number"]), str(pr["url"])) for pr in json.loads(output or "[]")]
    except (ValueError, KeyError, TypeError) as exc:
        raise GhError(f"error: `{list_call(branch)}` answered {redact(output[:200])!r}, not a JSON list") from exc
    return min(found, key=lambda pr: int(pr[0])) if found else None


def publish(proposal: Proposal, remote: str, base: str) -> str:
    """Push the branch, open or update its pull request; the pull request's URL."""
    gh = gh_executable()
    require_auth(gh)
    require_branch(proposal.branch)
    push(remote, proposal.branch)
    labelled = ensure_label(gh)
    existing = open_pull_request(gh, proposal.branch)
    if existing:
        number, url = existing
        run(edit_call(number, proposal, labelled), gh)
        print(f"updated the open pull request #{number} (title and body)")
        return url
    output = redact(run(create_call(proposal, base, labelled), gh).strip())
    return output.splitlines()[-1] if output else "(gh printed no URL)"


def show(proposal: Proposal, remote: str, base: str) -> None:
    print(f"# dry run: the proposal on {proposal.branch}")
    print(shlex.join(push_command(remote, proposal.branch)))
    print(label_call())
    print(list_call(proposal.branch))
    print(f"# if no pull request from {proposal.branch} is open\n{create_call(proposal, base, True)}")
    print(f"# if pull request NUMBER is open\n{edit_call('NUMBER', proposal, True)}")
    print("# the body (--body-file -)\n" + proposal.body.rstrip("\n"))


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--summary", type=Path, default=SUMMARY, help="make retrain's summary (default: %(default)s)")
    parser.add_argument("--remote", default="origin", help="the git remote to push to (default: %(default)s)")
    parser.add_argument("--base", default="main", help="the branch the pull request merges into (default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and the body; run nothing")
    args = parser.parse_args(argv)
    cli.start(args)
    summary = read_summary(args.summary)
    if not summary["proposed"]:
        print(f"nothing to publish: make retrain made no proposal ({summary.get('decision') or 'no proposal'})")
        for reason in summary.get("reasons") or ["(no reason given)"]:
            print(f"- {reason}")
        return
    proposal = proposal_from(summary, args.summary)
    if args.dry_run:
        show(proposal, args.remote, args.base)
        return
    print(publish(proposal, args.remote, args.base))


if __name__ == "__main__":
    main()
