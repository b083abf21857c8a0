"""The forge: pull requests, issues, labels and workflow runs behind one interface — GitHub through `gh` today.

Every command that talks to the forge (`make publish`, `make monitor-alert`, `make template-update`,
`make promote`/`make rollback` with `--pull-request`) goes through `Forge`; `GitHub` is its one
implementation (a GitLab one, through `glab`, can follow: issue 19). A forge call is a `Call`, plain
data: the commands print their planned calls on `--dry-run`, and run them through the forge.
The token (GH_TOKEN or GITHUB_TOKEN from the environment) is never printed: whatever a call
or a push says back is redacted first.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from .git import GitError, branch_exists, commit_message, git

TOKENS = ("GH_TOKEN", "GITHUB_TOKEN")  # what gh authenticates with; never printed


class ForgeError(SystemExit):
    """The forge's tool is missing or unauthenticated, or one of its calls failed; the message names the fix."""


def redact(text: str) -> str:
    """`text` without the values of the forge's tokens in the environment."""
    for name in TOKENS:
        value = os.environ.get(name)
        if value:
            text = text.replace(value, "***")
    return text


@dataclass(frozen=True)
class Call:
    """One call of the forge's command-line tool: its arguments, and the text it reads from standard input."""

    args: tuple[str, ...]
    stdin: str | None = None
    program: str = "gh"

    def __str__(self) -> str:
        return shlex.join([self.program, *self.args])


@dataclass(frozen=True)
class Label:
    name: str
    color: str  # six hex digits
    description: str


@dataclass(frozen=True)
class PullRequest:
    """A pull request to open from `branch` into `base`, or to update when one from `branch` is open."""

    branch: str
    title: str
    body: str
    base: str = "main"
    label: Label | None = None


@dataclass(frozen=True)
class Found:
    """An open pull request or issue: its number and URL."""

    number: str
    url: str = ""


@dataclass(frozen=True)
class IssueUpdate:
    """What the one open issue labelled `label` becomes.

    Open: created with `title` and `body` (the `marker` line first) when none is open, else `body`
    added as a comment and the title replaced. Closed (`close=True`): `body` as the last comment,
    then closed; nothing when none is open.
    """

    label: Label
    title: str
    body: str
    close: bool = False
    marker: str = ""


class Forge(Protocol):
    """What the commands need of a forge. `*_call(s)` plan (plain data, for dry runs); the rest act."""

    def check(self) -> None:
        """Stop unless the forge's tool is installed and authenticated, naming the fix."""

    def run(self, call: Call) -> str:
        """Run one call; its output, or a ForgeError naming the call (tokens redacted)."""

    def label_call(self, label: Label) -> Call: ...

    def pull_request_query(self, branch: str) -> Call: ...

    def pull_request_calls(self, request: PullRequest, open_number: str | None, labelled: bool) -> list[Call]: ...

    def issue_query(self, label: Label) -> Call: ...

    def issue_calls(self, update: IssueUpdate, open_number: str | None) -> list[Call]: ...

    def dispatch_call(self, workflow: str, inputs: Mapping[str, str]) -> Call: ...

    def ensure_label(self, label: Label) -> bool:
        """Create or refresh `label`; False, with a warning, when the token may not."""

    def open_pull_request(self, branch: str) -> Found | None: ...

    def open_issue(self, label: Label) -> Found | None: ...

    # read-only queries (`make doctor`)

    def api_query(self, path: str) -> Call: ...

    def get(self, path: str) -> Answer:
        """GET `path` of the forge's API; its status and JSON body (any status: the caller judges)."""

    # releases (`make release RELEASE_ARGS=--publish`)

    def release_query(self, tag: str) -> Call: ...

    def release_calls(self, release: Release, exists: bool) -> list[Call]: ...

    def release_exists(self, tag: str) -> bool:
        """Whether the forge has a release of `tag`; a ForgeError when it cannot tell."""


GH_MISSING = (
    "error: gh not found on PATH — install the GitHub CLI (https://cli.github.com) or run in GitHub Actions"
    " (its runners have it)"
)
GH_NO_TOKEN = (
    "error: no GH_TOKEN and gh is not logged in — set GH_TOKEN to a token that may push and open pull"
    " requests (in a workflow: the job's github.token), or run `gh auth login`"
)


class GitHub:
    """The forge as the GitHub CLI (`gh`) sees it: the repository of the work tree's remote, or GH_REPO."""

    def __init__(self) -> None:
        self._executable: str | None = None

    # --- the edge ------------------------------------------------------------------------------

    def executable(self) -> str:
        if self._executable is None:
            found = shutil.which("gh")
            if found is None:
                raise ForgeError(GH_MISSING)
            self._executable = found
        return self._executable

    def check(self) -> None:
        gh = self.executable()
        if any(os.environ.get(name) for name in TOKENS):
            return
        if subprocess.run([gh, "auth", "status"], capture_output=True, text=True).returncode != 0:
            raise ForgeError(GH_NO_TOKEN)

    def _invoke(self, call: Call) -> subprocess.CompletedProcess[str]:
        """Run one call, whatever its exit status."""
        return subprocess.run([self.executable(), *call.args], input=call.stdin, capture_output=True, text=True)

    @staticmethod
    def _failure(call: Call, result: subprocess.CompletedProcess[str]) -> ForgeError:
        reason = redact((result.stderr or result.stdout).strip())
        return ForgeError(f"error: `{call}` failed ({result.returncode}): {reason}")

    def run(self, call: Call) -> str:
        result = self._invoke(call)
        if result.returncode != 0:
            raise self._failure(call, result)
        return result.stdout

    def _listed(self, call: Call) -> list[Found]:
        """The items a `… list --json number,…` call answered, oldest (lowest number) first."""
        output = self.run(call)
        try:
            found = [Found(str(int(item["number"])), str(item.get("url", ""))) for item in json.loads(output or "[]")]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ForgeError(f"error: `{call}` answered {redact(output[:200])!r}, not a JSON list") from exc
        return sorted(found, key=lambda item: int(item.number))

    # --- plans (plain data) --------------------------------------------------------------------

    def label_call(self, label: Label) -> Call:
        return Call(
            ("label", "create", label.name, "--force", "--color", label.color, "--description", label.description)
        )

    def pull_request_query(self, branch: str) -> Call:
        return Call(("pr", "list", "--head", branch, "--state", "open", "--json", "number,url"))

    def pull_request_calls(self, request: PullRequest, open_number: str | None, labelled: bool) -> list[Call]:
        """Create the pull request, or (when `open_number` is open) replace its title and body."""
        if open_number is None:
            label = ("--label", request.label.name) if labelled and request.label else ()
            args = ("pr", "create", "--base", request.base, "--head", request.branch, "--title", request.title)
            return [Call((*args, "--body-file", "-", *label), request.body)]
        label = ("--add-label", request.label.name) if labelled and request.label else ()
        args = ("pr", "edit", open_number, "--title", request.title, "--body-file", "-", *label)
        return [Call(args, request.body)]

    def issue_query(self, label: Label) -> Call:
        return Call(("issue", "list", "--label", label.name, "--state", "open", "--json", "number,title"))

    def issue_calls(self, update: IssueUpdate, open_number: str | None) -> list[Call]:
        if update.close:
            if open_number is None:
                return []
            return [
                Call(("issue", "comment", open_number, "--body-file", "-"), update.body),
                Call(("issue", "close", open_number, "--reason", "completed")),
            ]
        if open_number is None:
            body = f"{update.marker}\n{update.body}" if update.marker else update.body
            create = ("issue", "create", "--title", update.title, "--label", update.label.name, "--body-file", "-")
            return [self.label_call(update.label), Call(create, body)]
        return [
            Call(("issue", "comment", open_number, "--body-file", "-"), update.body),
            Call(("issue", "edit", open_number, "--title", update.title)),
        ]

    def dispatch_call(self, workflow: str, inputs: Mapping[str, str]) -> Call:
        return Call(("workflow", "run", workflow, *(a for k, v in inputs.items() for a in ("-f", f"{k}={v}"))))

    # --- acts ----------------------------------------------------------------------------------

    def ensure_label(self, label: Label) -> bool:
        try:
            self.run(self.label_call(label))
        except ForgeError as exc:
            reason = str(exc.code).removeprefix("error: ")
            print(f"warning: {reason} — going on without the {label.name} label", file=sys.stderr)
            return False
        return True

    def open_pull_request(self, branch: str) -> Found | None:
        found = self._listed(self.pull_request_query(branch))
        return found[0] if found else None

    def open_issue(self, label: Label) -> Found | None:
        found = self._listed(self.issue_query(label))
        return found[0] if found else None

    # --- read-only queries (`make doctor`) -------------------------------------------------------

    def api_query(self, path: str) -> Call:
        """`gh api` of a REST path; `{owner}` and `{repo}` are the work tree's repository (or GH_REPO)."""
        return Call(("api", "--include", "-H", "Accept: application/vnd.github+json", path))

    def get(self, path: str) -> Answer:
        call = self.api_query(path)
        result = self._invoke(call)
        return Answer.parse(result.stdout, redact(result.stderr), call)

    # --- releases ------------------------------------------------------------------------------

    def release_query(self, tag: str) -> Call:
        return Call(("release", "view", tag, "--json", "url"))

    def release_calls(self, release: Release, exists: bool) -> list[Call]:
        """Create the release of a pushed tag (or replace its title and notes), then upload its assets again."""
        if exists:
            first = Call(("release", "edit", release.tag, "--title", release.title, "--notes-file", "-"), release.notes)
        else:
            args = ("release", "create", release.tag, "--verify-tag", "--title", release.title, "--notes-file", "-")
            first = Call(args, release.notes)
        upload = [Call(("release", "upload", release.tag, *release.assets, "--clobber"))] if release.assets else []
        return [first, *upload]

    def release_exists(self, tag: str) -> bool:
        call = self.release_query(tag)
        result = self._invoke(call)
        if result.returncode == 0:
            return True
        if "release not found" in (result.stderr or result.stdout):  # what `gh release view` says of a tag without one
            return False
        raise self._failure(call, result)


@dataclass(frozen=True)
class Answer:
    """What a read-only API query answered: the HTTP status and the JSON body (None when empty)."""

    status: int
    body: object

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @classmethod
    def parse(cls, output: str, error: str, call: Call) -> Answer:
        """`gh api --include`'s output: a status line, headers, a blank line, the body."""
        head, _, body = output.replace("\r\n", "\n").partition("\n\n")
        words = head.split(maxsplit=2)
        if len(words) < 2 or not words[0].startswith("HTTP/") or not words[1].isdigit():
            reason = error.strip().splitlines()
            raise ForgeError(f"error: `{call}` got no answer: {reason[-1] if reason else 'no output'}")
        try:
            return cls(int(words[1]), json.loads(body) if body.strip() else None)
        except ValueError as exc:
            raise ForgeError(f"error: `{call}` answered {redact(body[:200])!r}, not JSON") from exc


@dataclass(frozen=True)
class Release:
    """The forge's release of a pushed tag: its title, notes and the files attached to it."""

    tag: str
    title: str
    notes: str
    assets: tuple[str, ...] = ()


def default() -> Forge:
    """The project's forge."""
    return GitHub()


# --- pushing a branch and opening its pull request: the one way ---------------------------------


def push_branch(remote: str, branch: str, if_rejected: str) -> None:
    """`git push <remote> <branch>`, or an error with git's reason (tokens redacted) and the fix.

    `if_rejected` is the caller's own advice for a remote that has the branch with other commits.
    """
    command = shlex.join(["git", "push", remote, branch])
    try:
        git("push", "--quiet", remote, f"refs/heads/{branch}:refs/heads/{branch}")
    except GitError as exc:
        raise ForgeError(
            f"error: `{command}` was rejected — check that the remote {remote!r} exists (`git remote -v`) and that"
            f" you may push to it (CI: `contents: write` and `gh auth setup-git`); {if_rejected}"
            f"\ngit: {redact(exc.reason)}"
        ) from None
    print(f"pushed {branch} to {remote}")


def pull_request_plan(forge: Forge, request: PullRequest, remote: str) -> list[str]:
    """What `publish_pull_request` does, as lines to print (a dry run)."""
    return [
        shlex.join(["git", "push", remote, request.branch]),
        *([str(forge.label_call(request.label))] if request.label else []),
        str(forge.pull_request_query(request.branch)),
        f"# if no pull request from {request.branch} is open",
        *map(str, forge.pull_request_calls(request, None, True)),
        "# if pull request NUMBER is open",
        *map(str, forge.pull_request_calls(request, "NUMBER", True)),
    ]


def open_already(forge: Forge, branch: str) -> str | None:
    """What to say when a pull request from `branch` is open already (a rerun has nothing to do), else None."""
    forge.check()
    found = forge.open_pull_request(branch)
    return f"a pull request from {branch} is open already (resolve or merge it):\n{found.url}" if found else None


# Which token the bot pushes and opens pull requests with, as .github/actions/bot-identity says:
# `app` (the GitHub App's: CI runs on what it opens) or `github-token` (the job's: CI does not).
BOT = "MODELOPS_BOT"
BOT_KINDS = ("app", "github-token")
CI_NOT_STARTED = (
    "> [!IMPORTANT]\n"
    "> **CI has not run on this pull request.** The workflow opened it with its `GITHUB_TOKEN`, and GitHub"
    " starts no workflow for what that token does, so required checks never report here. To run them, close"
    " this pull request and reopen it (the `reopened` event runs `ci.yml` on its head commit), or push a"
    " commit to its branch. Running `ci.yml` by hand does not count: its checks are not linked to the pull"
    " request. With the GitHub App set up (the variable `MODELOPS_APP_ID` and the secret"
    " `MODELOPS_APP_PRIVATE_KEY`, see docs/setup.md), bot pull requests run CI by themselves."
)


def bot_body(body: str) -> str:
    """A bot pull request's body as the forge gets it: opened with the job's token, it says first how to run CI."""
    kind = os.environ.get(BOT, "")
    if kind and kind not in BOT_KINDS:
        raise ForgeError(f"error: {BOT}={kind!r} — set it to app or github-token (.github/actions/bot-identity does)")
    return f"{CI_NOT_STARTED}\n\n{body}" if kind == "github-token" else body


def publish_pull_request(forge: Forge, request: PullRequest, remote: str, if_rejected: str) -> str:
    """Push `request.branch` and open its pull request, or update the open one; the pull request's URL.

    Nothing reaches the forge unless the tool is ready and the push went through.
    """
    forge.check()
    request = replace(request, body=bot_body(request.body))
    if not branch_exists(request.branch):
        raise ForgeError(f"error: no local branch {request.branch} to push")
    push_branch(remote, request.branch, if_rejected)
    labelled = forge.ensure_label(request.label) if request.label else False
    existing = forge.open_pull_request(request.branch)
    output = ""
    for call in forge.pull_request_calls(request, existing.number if existing else None, labelled):
        output = redact(forge.run(call).strip())
    if existing:
        print(f"updated the open pull request #{existing.number} (title and body)")
        return existing.url or (output.splitlines()[-1] if output else f"#{existing.number}")
    return output.splitlines()[-1] if output else "(the forge printed no URL)"


def commit_pull_request(branch: str, base: str, note: str) -> PullRequest:
    """The pull request of a branch of one commit: its subject the title; its body, `note` and the diff the body.

    What `gh pr create --fill` would say, and the change itself for the reviewer.
    """
    subject, message = commit_message(branch)
    diff = git("show", "--format=", branch)
    parts = [message.strip(), note.strip(), f"```diff\n{diff}\n```" if diff else ""]
    return PullRequest(branch, subject, "\n\n".join(part for part in parts if part) + "\n", base=base)


def run_all(forge: Forge, calls: Sequence[Call]) -> None:
    """Run `calls` in order, printing one line per call: what it did or said."""
    for call in calls:
        output = redact(forge.run(call).strip())
        print(f"{call.program} {' '.join(call.args[:2])}: {output or 'done'}")


IF_REJECTED = "if the remote has the branch from a closed pull request, delete it there and run again"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--pull-request, --remote, --base: the options of every command that proposes a branch."""
    parser.add_argument("--pull-request", action="store_true", help="push the branch and open its pull request")
    parser.add_argument("--remote", default="origin", help="the git remote to push to (default: %(default)s)")
    parser.add_argument("--base", default="main", help="the branch the pull request merges into (default: %(default)s)")


def propose(
    args: argparse.Namespace, branch: str, make: Callable[[], tuple[str, str]], approval: str, then: str
) -> None:
    """Make `branch` (`make` commits it: its name and diff) and, with --pull-request, push it and open its PR.

    A rerun whose pull request is open already says so and changes nothing. Without --pull-request
    the branch's name is the last line printed (scripts merge it); with it, the pull request's URL.
    """
    site = default() if args.pull_request else None
    if site and (found := open_already(site, branch)):
        print(found)
        return
    made, diff = make()
    print(diff)
    print(f"\nprepared {made}: merge it to approve (`git merge --no-ff {made}`), then {then}")
    if site is None:
        print(made)
        return
    request = commit_pull_request(made, args.base, approval)
    print(publish_pull_request(site, request, args.remote, IF_REJECTED))
