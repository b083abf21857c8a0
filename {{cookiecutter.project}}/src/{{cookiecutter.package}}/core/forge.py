"""The forge: pull/merge requests, issues, labels, releases and CI runs behind one interface, GitHub or GitLab.

Every command that talks to the forge (`make publish`, `make monitor-alert`, `make template-update`,
`make release RELEASE_ARGS=--publish`, `make pr-note`, `make promote`/`make rollback` with
`--pull-request`) goes through `Forge`: `GitHub` drives the GitHub CLI (`gh`), `GitLab` the REST API
through python-gitlab; `default()` picks one. A forge call is a `Call`, plain data: the commands print
their planned calls on `--dry-run`, and run them through the forge. The tokens (`TOKENS`: GitHub's,
GitLab's, GitLab CI's job token) are never printed: whatever a call or a push says back is
redacted first, and a push's credentials travel in git's environment, never in its arguments.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    import gitlab

from .git import GitError, branch_exists, commit_message, git

# What the forges authenticate with: never printed.
TOKENS = ("GH_TOKEN", "GITHUB_TOKEN", "GITLAB_TOKEN", "GITLAB_REPORT_TOKEN", "CI_JOB_TOKEN")


class ForgeError(SystemExit):
    """The forge's tool is missing or unauthenticated, or one of its calls failed; the message names the fix."""


def basic_credentials(token: str) -> str:
    """HTTP Basic credentials of a GitLab token (any user name; the token the password), as git sends them."""
    return base64.b64encode(f"oauth2:{token}".encode()).decode()


def redact(text: str) -> str:
    """`text` without the values of the forge's tokens in the environment (nor their Basic credentials)."""
    for name in TOKENS:
        value = os.environ.get(name)
        if value:
            text = text.replace(value, "***").replace(basic_credentials(value), "***")
    return text


@dataclass(frozen=True)
class Call:
    """One call of the forge: `gh` and its arguments with the text it reads from standard input, or for
    GitLab (program "gitlab") the HTTP method and API path, the JSON body as `stdin`, a file to send
    as the body as a third argument."""

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

    noun: str  # "pull request" or "merge request"
    sigil: str  # what a request's number is written after: "#" or "!"

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

    # the one report note on a pull/merge request (`make pr-note`)

    def note_query(self, number: str, marker: str) -> Call: ...

    def note_calls(self, number: str, body: str, note: str | None) -> list[Call]:
        """Post `body` on request `number`, or replace the text of its note `note`."""

    def find_note(self, number: str, marker: str) -> str | None:
        """The id of the first note on request `number` whose first line is `marker`, else None."""

    # pushing

    def git_environment(self) -> dict[str, str]:
        """What git's environment needs to push to the forge (credentials by configuration, never in argv)."""


class ListingForge:
    """What both forges do alike from their own calls: refresh a label, find the open pull request or issue."""

    def run(self, call: Call) -> str:
        raise NotImplementedError

    def _listed(self, call: Call) -> list[Found]:
        """The items a listing call answered, oldest (lowest number) first."""
        raise NotImplementedError

    def label_call(self, label: Label) -> Call:
        raise NotImplementedError

    def pull_request_query(self, branch: str) -> Call:
        raise NotImplementedError

    def issue_query(self, label: Label) -> Call:
        raise NotImplementedError

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


GH_MISSING = (
    "error: gh not found on PATH — install the GitHub CLI (https://cli.github.com) or run in GitHub Actions"
    " (its runners have it)"
)
GH_NO_TOKEN = (
    "error: no GH_TOKEN and gh is not logged in — set GH_TOKEN to a token that may push and open pull"
    " requests (in a workflow: the job's github.token), or run `gh auth login`"
)


class GitHub(ListingForge):
    """The forge as the GitHub CLI (`gh`) sees it: the repository of the work tree's remote, or GH_REPO."""

    noun = "pull request"
    sigil = "#"

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

    # --- the one report note -------------------------------------------------------------------

    def note_query(self, number: str, marker: str) -> Call:
        """The ids of the comments on pull request `number` whose first line is `marker`, one a line."""
        select = f'.[] | select(.body | split("\\n")[0] == {json.dumps(marker)}) | .id'
        path = "repos/{owner}/{repo}/issues/" + number + "/comments?per_page=100"  # gh fills in {owner}, {repo}
        return Call(("api", "--paginate", path, "--jq", select))

    def note_calls(self, number: str, body: str, note: str | None) -> list[Call]:
        if note is None:
            return [Call(("pr", "comment", number, "--body-file", "-"), body)]
        path = "repos/{owner}/{repo}/issues/comments/" + note
        return [Call(("api", "--method", "PATCH", path, "--input", "-"), json.dumps({"body": body}))]

    def find_note(self, number: str, marker: str) -> str | None:
        call = self.note_query(number, marker)
        found = self.run(call).split()
        if not all(word.isdigit() for word in found):
            raise ForgeError(f"error: `{call}` answered {redact(' '.join(found)[:200])!r}, not comment ids")
        return found[0] if found else None

    def git_environment(self) -> dict[str, str]:
        return {}  # gh's credential helper (`gh auth setup-git`) or the checkout's own


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


GITLAB_NO_TOKEN = (
    "error: no GITLAB_TOKEN — add a project access token with api and write_repository scopes as a masked,"
    " protected CI/CD variable GITLAB_TOKEN (outside CI: export it), see docs/setup.md"
)
GITLAB_NO_URL = "error: no CI_SERVER_URL — set it to your GitLab's address (e.g. https://gitlab.com); GitLab CI sets it"
GITLAB_NO_PROJECT = (
    "error: no CI_PROJECT_ID — set it to the project's numeric id or its group/project path; GitLab CI sets it"
)
GITLAB_REFUSED = (
    " — GitLab refused GITLAB_TOKEN: set it to a current project access token with api and write_repository"
    " scopes (docs/setup.md)"
)
GITLAB_PIPELINE_VARIABLES = (
    " — retraining's pipeline carries variables: let GITLAB_TOKEN's role set them (Settings → CI/CD → Variables,"
    " Minimum role to use pipeline variables: Maintainer; GitLab.com's new projects allow no one)"
)
GITLAB_MISSING = "error: python-gitlab is not installed — run `make install` (requirements-dev.lock has it)"
RELEASE_PACKAGE = "release-assets"  # the generic package a release's files are uploaded to, one version a tag
UNSET = ":id"  # GitLab's own placeholder, printed by dry runs without CI_PROJECT_ID


class GitLab(ListingForge):
    """The forge as GitLab's REST API (v4) sees it, through python-gitlab: the project CI_PROJECT_ID on
    CI_SERVER_URL, authenticated by GITLAB_TOKEN (GitLab CI's own variable names, the same outside CI).

    A call is ("METHOD", "/api/path?query"), its JSON body as `stdin`; a third argument names a file
    sent as the body (a release's files, to the project's generic package registry).
    """

    noun = "merge request"
    sigil = "!"

    def __init__(self, url: str, project: str, token: str, ref: str = "main", ca_file: str = "") -> None:
        self.url, self.project, self.token, self.ref = url.rstrip("/"), project, token, ref
        self.ca_file = ca_file  # a self-managed GitLab's certificate authority, when not a public one
        self._gitlab: gitlab.Gitlab | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> GitLab:
        """Configured as GitLab CI configures a job: CI_SERVER_URL, CI_PROJECT_ID, CI_DEFAULT_BRANCH and
        CI_SERVER_TLS_CA_FILE (a self-managed server's CA); GITLAB_TOKEN."""
        return cls(
            environ.get("CI_SERVER_URL", "").strip(),
            environ.get("CI_PROJECT_ID", "").strip(),
            environ.get("GITLAB_TOKEN", "").strip(),
            environ.get("CI_DEFAULT_BRANCH", "").strip() or "main",
            environ.get("CI_SERVER_TLS_CA_FILE", "").strip(),
        )

    # --- the edge ------------------------------------------------------------------------------

    def check(self) -> None:
        needed = ((self.url, GITLAB_NO_URL), (self.project, GITLAB_NO_PROJECT), (self.token, GITLAB_NO_TOKEN))
        for value, error in needed:
            if not value:
                raise ForgeError(error)
        self.client()

    def client(self) -> gitlab.Gitlab:
        """python-gitlab's client (imported here: the commands that never reach GitLab do not pay for it)."""
        if self._gitlab is None:
            try:
                import gitlab
            except ImportError:
                raise ForgeError(GITLAB_MISSING) from None
            verify: bool | str = self.ca_file or True
            self._gitlab = gitlab.Gitlab(self.url, private_token=self.token, timeout=60, ssl_verify=verify)
        return self._gitlab

    def _send(self, call: Call) -> Any:
        """The answer's parsed JSON (None when empty); GitLabRefusal for an error status, a ForgeError when
        GitLab cannot be reached. A GET of a collection follows its pages."""
        client = self.client()  # first: it names the fix when python-gitlab is missing
        from gitlab.exceptions import GitlabError
        from requests import RequestException

        method, path, *sent = call.args
        try:
            if method == "GET":
                return client.http_list(path, get_all=True) if self._lists(path) else client.http_get(path)
            if sent:
                response = client.http_request(method.lower(), path, post_data=Path(sent[0]).read_bytes(), raw=True)
            else:
                body = json.loads(call.stdin) if call.stdin else None
                response = client.http_request(method.lower(), path, post_data=body)
        except GitlabError as exc:
            raise GitLabRefusal(call, exc.response_code or 0, str(exc.error_message)) from None
        except RequestException as exc:
            raise ForgeError(f"error: `{call}` could not reach {self.url}: {redact(str(exc))}") from None
        return response.json() if response.content else None

    @staticmethod
    def _lists(path: str) -> bool:
        """Whether a GET of `path` answers a list (a collection), not one object."""
        last = path.split("?")[0].rstrip("/").split("/")[-1]
        return last in {"merge_requests", "issues", "notes", "labels", "releases", "variables", "protected_branches"}

    def run(self, call: Call) -> str:
        """Run one call; the URL of what it made or changed (`web_url`), else its id, else "done"."""
        try:
            answer = self._send(call)
        except GitLabRefusal as refused:
            label = call.args[0] == "POST" and call.args[1].split("?")[0].endswith("/labels")
            if not (label and refused.status == 409):
                raise refused.error() from None
            # GitLab creates no label twice: an existing one is updated instead, as `gh label create --force` does
            body = json.loads(call.stdin or "{}")
            name = body.pop("name")
            answer = self._send(Call(("PUT", f"{call.args[1]}/{quote(name, safe='')}"), json.dumps(body), "gitlab"))
        if not isinstance(answer, dict):
            return "done"
        url = answer.get("web_url") or (answer.get("_links") or {}).get("self")
        return str(url or (f"id {answer['id']}" if "id" in answer else "done"))

    def _listed(self, call: Call) -> list[Found]:
        """The merge requests or issues a query answered, oldest (lowest iid) first."""
        try:
            answer = self._send(call)
        except GitLabRefusal as refused:
            raise refused.error() from None
        try:
            found = [Found(str(int(item["iid"])), str(item.get("web_url", ""))) for item in answer]
        except (ValueError, KeyError, TypeError) as exc:
            raise ForgeError(f"error: `{call}` answered {redact(str(answer)[:200])!r}, not a list") from exc
        return sorted(found, key=lambda item: int(item.number))

    # --- plans (plain data) --------------------------------------------------------------------

    def _path(self, *parts: str, **query: str) -> str:
        project = quote(self.project, safe="") if self.project else UNSET
        path = "/".join([f"/projects/{project}", *(quote(part, safe="") for part in parts)])
        return f"{path}?{urlencode(query)}" if query else path

    @staticmethod
    def _call(method: str, path: str, body: Mapping[str, object] | None = None) -> Call:
        return Call((method, path), json.dumps(body, sort_keys=True) if body is not None else None, "gitlab")

    def label_call(self, label: Label) -> Call:
        body = {"name": label.name, "color": f"#{label.color}", "description": label.description}
        return self._call("POST", self._path("labels"), body)

    def pull_request_query(self, branch: str) -> Call:
        return self._call("GET", self._path("merge_requests", source_branch=branch, state="opened"))

    def pull_request_calls(self, request: PullRequest, open_number: str | None, labelled: bool) -> list[Call]:
        """Create the merge request (its branch removed when merged), or replace the open one's title and body."""
        labels = request.label.name if labelled and request.label else None
        texts: dict[str, object] = {"title": request.title, "description": request.body}
        if open_number is None:
            branches = {"source_branch": request.branch, "target_branch": request.base, "remove_source_branch": True}
            create = texts | branches | ({"labels": labels} if labels else {})
            return [self._call("POST", self._path("merge_requests"), create)]
        update = texts | ({"add_labels": labels} if labels else {})
        return [self._call("PUT", self._path("merge_requests", open_number), update)]

    def issue_query(self, label: Label) -> Call:
        return self._call("GET", self._path("issues", labels=label.name, state="opened"))

    def issue_calls(self, update: IssueUpdate, open_number: str | None) -> list[Call]:
        if update.close:
            if open_number is None:
                return []
            return [
                self._call("POST", self._path("issues", open_number, "notes"), {"body": update.body}),
                self._call("PUT", self._path("issues", open_number), {"state_event": "close"}),
            ]
        if open_number is None:
            body = f"{update.marker}\n{update.body}" if update.marker else update.body
            create = {"title": update.title, "labels": update.label.name, "description": body}
            return [self.label_call(update.label), self._call("POST", self._path("issues"), create)]
        return [
            self._call("POST", self._path("issues", open_number, "notes"), {"body": update.body}),
            self._call("PUT", self._path("issues", open_number), {"title": update.title}),
        ]

    def dispatch_call(self, workflow: str, inputs: Mapping[str, str]) -> Call:
        """A pipeline on the default branch with MODELOPS_JOB=<the workflow's name> (e.g. retrain) and each
        input as an upper-case variable (reason → REASON), the names the GitHub workflow's job reads too."""
        variables = [{"key": "MODELOPS_JOB", "value": Path(workflow).stem}]
        variables += [{"key": key.upper(), "value": value} for key, value in inputs.items()]
        return self._call("POST", self._path("pipeline"), {"ref": self.ref, "variables": variables})

    # --- read-only queries (`make doctor`) -------------------------------------------------------

    def api_query(self, path: str) -> Call:
        """A GET of an API path; `:id` is the project."""
        return self._call("GET", path.replace(":id", self._path().removeprefix("/projects/"), 1))

    def get(self, path: str) -> Answer:
        call, client = self.api_query(path), self.client()
        from gitlab.exceptions import GitlabError

        try:
            response = client.http_request("get", call.args[1])
        except GitlabError as exc:
            try:
                body = json.loads(exc.response_body or b"null")
            except ValueError:
                body = None
            return Answer(exc.response_code or 0, body)
        return Answer(response.status_code, response.json() if response.content else None)

    # --- releases ------------------------------------------------------------------------------

    def release_query(self, tag: str) -> Call:
        return self._call("GET", self._path("releases", tag))

    def asset_path(self, tag: str, asset: str) -> str:
        """Where a release's file lives: the project's generic package `release-assets`, version = the tag."""
        return self._path("packages", "generic", RELEASE_PACKAGE, tag.removeprefix("v"), Path(asset).name)

    def release_calls(self, release: Release, exists: bool) -> list[Call]:
        """Upload the release's files (again), then create the release of the pushed tag linking them, or
        replace its title and notes (its links stay: they name the files by name, uploaded again)."""
        paths = [(asset, self.asset_path(release.tag, asset)) for asset in release.assets]
        uploads = [Call(("PUT", path, asset), None, "gitlab") for asset, path in paths]
        texts: dict[str, object] = {"name": release.title, "description": release.notes}
        if exists:
            return [*uploads, self._call("PUT", self._path("releases", release.tag), texts)]
        server = self.url or "$CI_SERVER_URL"
        links = [{"name": Path(a).name, "url": f"{server}/api/v4{path}", "link_type": "other"} for a, path in paths]
        body = {"tag_name": release.tag, **texts, "assets": {"links": links}}
        return [*uploads, self._call("POST", self._path("releases"), body)]

    def release_exists(self, tag: str) -> bool:
        call = self.release_query(tag)
        try:
            self._send(call)
        except GitLabRefusal as refused:
            if refused.status == 404:
                return False
            raise refused.error() from None
        return True

    # --- the one report note -------------------------------------------------------------------

    def note_query(self, number: str, marker: str) -> Call:
        return self._call("GET", self._path("merge_requests", number, "notes", sort="asc", order_by="created_at"))

    def note_calls(self, number: str, body: str, note: str | None) -> list[Call]:
        if note is None:
            return [self._call("POST", self._path("merge_requests", number, "notes"), {"body": body})]
        return [self._call("PUT", self._path("merge_requests", number, "notes", note), {"body": body})]

    def find_note(self, number: str, marker: str) -> str | None:
        call = self.note_query(number, marker)
        try:
            notes = self._send(call)
        except GitLabRefusal as refused:
            raise refused.error() from None
        for note in notes if isinstance(notes, list) else []:
            if isinstance(note, dict) and not note.get("system") and str(note.get("body", "")).split("\n")[0] == marker:
                return str(note["id"])
        return None

    def git_environment(self) -> dict[str, str]:
        """GITLAB_TOKEN as an HTTP header for the GitLab server alone, through GIT_CONFIG_* (after any set already)."""
        if not (self.token and self.url):
            return {}
        count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
        return {
            "GIT_CONFIG_COUNT": str(count + 1),
            f"GIT_CONFIG_KEY_{count}": f"http.{self.url}/.extraHeader",
            f"GIT_CONFIG_VALUE_{count}": f"Authorization: Basic {basic_credentials(self.token)}",
        }


class GitLabRefusal(Exception):
    """GitLab answered a call with an error status (the caller decides whether that is an error)."""

    def __init__(self, call: Call, status: int, message: str) -> None:
        super().__init__(status)
        self.call, self.status, self.message = call, status, message

    def error(self) -> ForgeError:
        dispatch = self.call.args[1].split("?")[0].endswith("/pipeline") and self.status in (400, 403)
        fix = GITLAB_REFUSED if self.status == 401 else GITLAB_PIPELINE_VARIABLES if dispatch else ""
        return ForgeError(f"error: `{self.call}` failed ({self.status}): {redact(self.message)}{fix}")


FORGES = ("github", "gitlab")


def choice(environ: Mapping[str, str], root: Path) -> str:
    """Which forge: MODELOPS_FORGE when set; else the CI that runs (GitLab CI, GitHub Actions); else the
    project's files (`.gitlab-ci.yml` without `.github/workflows/` is GitLab); else GitHub."""
    named = environ.get("MODELOPS_FORGE", "").strip().lower()
    if named:
        if named not in FORGES:
            raise ForgeError(f"error: MODELOPS_FORGE={named!r} — set it to github or gitlab, or unset it")
        return named
    if environ.get("GITLAB_CI") == "true":
        return "gitlab"
    if environ.get("GITHUB_ACTIONS") == "true":
        return "github"
    if (root / ".gitlab-ci.yml").is_file() and not (root / ".github" / "workflows").is_dir():
        return "gitlab"
    return "github"


def default() -> Forge:
    """The project's forge (see `choice`), configured from the environment."""
    if choice(os.environ, Path.cwd()) == "gitlab":
        return GitLab.from_environment(os.environ)
    return GitHub()


# --- pushing a branch and opening its pull request: the one way ---------------------------------


def push_branch(remote: str, branch: str, if_rejected: str, env: Mapping[str, str] | None = None) -> None:
    """`git push <remote> <branch>`, or an error with git's reason (tokens redacted) and the fix.

    `if_rejected` is the caller's own advice for a remote that has the branch with other commits;
    `env` the forge's `git_environment()` (its credentials).
    """
    command = shlex.join(["git", "push", remote, branch])
    try:
        git("push", "--quiet", remote, f"refs/heads/{branch}:refs/heads/{branch}", env=env)
    except GitError as exc:
        message = (
            f"error: `{command}` was rejected — check that the remote {remote!r} exists (`git remote -v`) and that"
            " you may push to it (GitHub CI: `contents: write` and `gh auth setup-git`; GitLab: GITLAB_TOKEN with"
            f" write_repository); {if_rejected}\ngit: {exc.reason}"
        )
        raise ForgeError(redact(message)) from None  # a remote may be a URL with a token in it
    print(f"pushed {branch} to {remote}")


def pull_request_plan(forge: Forge, request: PullRequest, remote: str) -> list[str]:
    """What `publish_pull_request` does, as lines to print (a dry run)."""
    return [
        shlex.join(["git", "push", remote, request.branch]),
        *([str(forge.label_call(request.label))] if request.label else []),
        str(forge.pull_request_query(request.branch)),
        f"# if no {forge.noun} from {request.branch} is open",
        *map(str, forge.pull_request_calls(request, None, True)),
        f"# if {forge.noun} NUMBER is open",
        *map(str, forge.pull_request_calls(request, "NUMBER", True)),
    ]


def open_already(forge: Forge, branch: str) -> str | None:
    """What to say when a pull request from `branch` is open already (a rerun has nothing to do), else None."""
    forge.check()
    found = forge.open_pull_request(branch)
    return f"a {forge.noun} from {branch} is open already (resolve or merge it):\n{found.url}" if found else None


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
    push_branch(remote, request.branch, if_rejected, forge.git_environment())
    labelled = forge.ensure_label(request.label) if request.label else False
    existing = forge.open_pull_request(request.branch)
    output = ""
    for call in forge.pull_request_calls(request, existing.number if existing else None, labelled):
        output = redact(forge.run(call).strip())
    if existing:
        print(f"updated the open {forge.noun} {forge.sigil}{existing.number} (title and body)")
        return existing.url or (output.splitlines()[-1] if output else f"{forge.sigil}{existing.number}")
    return output.splitlines()[-1] if output else "(the forge printed no URL)"


def commit_pull_request(branch: str, base: str, note: str) -> PullRequest:
    """The pull request of a branch of one commit: its subject the title; its body, `note` and the diff the body.

    What `gh pr create --fill` would say, and the change itself for the reviewer.
    """
    subject, message = commit_message(branch)
    diff = git("show", "--format=", branch)
    parts = [message.strip(), note.strip(), f"```diff\n{diff}\n```" if diff else ""]
    return PullRequest(branch, subject, "\n\n".join(part for part in parts if part) + "\n", base=base)


def note_plan(forge: Forge, number: str, body: str, marker: str) -> list[str]:
    """What `post_note` does, as lines to print (a dry run)."""
    return [
        str(forge.note_query(number, marker)),
        f"# if no note on {forge.noun} {forge.sigil}{number} starts with {marker}",
        *map(str, forge.note_calls(number, body, None)),
        "# if note NOTE does: its text replaced",
        *map(str, forge.note_calls(number, body, "NOTE")),
    ]


def post_note(forge: Forge, number: str, body: str, marker: str) -> str:
    """Post `body` as the one note on request `number` whose first line is `marker`, or replace that note's
    text when there is one; what was done. `body` gets the marker as its first line when it lacks it."""
    forge.check()
    if body.split("\n", 1)[0] != marker:
        body = f"{marker}\n{body}"
    note = forge.find_note(number, marker)
    output = ""
    for call in forge.note_calls(number, body, note):
        output = redact(forge.run(call).strip())
    done = f"replaced the report note {note}" if note else "posted the report note"
    return f"{done} on {forge.noun} {forge.sigil}{number}" + (f": {output}" if output else "")


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
