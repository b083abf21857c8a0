"""Template update: take the template's improvements on a branch — conflicts listed, never dropped.

Reads .cruft.json (the template, the commit this project was generated from or last updated to,
the answers). When `cruft check` finds the template unchanged, it says so and does nothing. Else,
on a new branch `template-update/<commit>` from HEAD, it runs `cruft update` (cruft renders the
template at both commits with this project's answers and applies the difference with `git apply
-3`), commits what changed and comes back. A conflict — the template changed lines this project
edited too — is committed as it is (inline `<<<<<<<` markers, or a `.rej` file of the hunks that
did not apply), listed, and makes the exit status 3: resolve it on the branch before merging.
The branch's name is the last line printed.

The template's own code — cookiecutter's hooks, which `cruft update` runs — runs in a process of
its own whose environment holds no token (GH_TOKEN, GITHUB_TOKEN, ACTIONS_*, the GitHub App's
key; GITLAB_TOKEN, CI_JOB_TOKEN and GitLab CI's other credentials): a template can propose
changes, never act with this repository's credentials.

`--publish` then pushes the branch the last update made here and opens its pull request through
the forge (`core/forge.py`: GitHub's `gh` or GitLab's API), the files changed and the conflicts
in the body; the pull request's URL is the last line printed. template-update.yml runs the two as
separate steps, the token given to the second alone; `--pull-request` does both in one run. When a
pull request from the branch is open already, nothing is pushed. An update that changes
`.github/workflows/` needs a token with the `workflows` permission (the GitHub App's): with the
job's GITHUB_TOKEN (MODELOPS_BOT=github-token) it stops before pushing, naming the fix.
`--check` only says whether the template moved on (exit 1 when it did).

Exit status: 0 up to date or updated cleanly, 3 updated with conflicts, 1 an error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..core import cli, forge
from ..core.git import GitError, branch_exists, git, on_new_branch, remote_head, require_clean
from ..core.paths import CRUFT_STATE as STATE

BRANCH_PREFIX = "template-update/"
CONFLICTED = 3  # the exit status when the update conflicts with the project's edits
MARKERS = re.compile(r"^<{7} .*?^={7}$.*?^>{7} ", re.M | re.S)  # ours, the separator, theirs, in order
REMOTE_URL = re.compile(r"^[a-z][a-z0-9+.-]*://|^[\w.-]+@[\w.-]+:")  # https://…, ssh://…, git@host:…
GITHUB = re.compile(r"^(?:https://github\.com/|git@github\.com:)([\w.-]+/[\w.-]+?)(?:\.git)?/?$")
# What the template's hooks must never see: the forge's tokens, the runner's, the GitHub App's key.
SECRET_NAMES = frozenset(
    {
        *forge.TOKENS,
        *("GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN", "MODELOPS_APP_PRIVATE_KEY"),
        # GitLab CI's: the clone URL carries the job token; the registry's and deploy token's passwords
        *("CI_REPOSITORY_URL", "CI_REGISTRY_PASSWORD", "CI_DEPLOY_PASSWORD", "CI_DEPENDENCY_PROXY_PASSWORD"),
    }
)
SECRET_PREFIXES = ("ACTIONS_",)
WORKFLOWS = ".github/workflows/"
# The last update made here, for `--publish` (in git's own folder: never committed, never in the tree).
LAST_UPDATE = "modelops-template-update.json"


@dataclass(frozen=True)
class State:
    """What .cruft.json says about the template: where it is and the commit the project matches."""

    template: str
    commit: str


@dataclass(frozen=True)
class Conflict:
    path: str
    kind: str


def hook_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment the template's code runs in: `environ` without a token or a key."""
    return {
        name: value
        for name, value in environ.items()
        if name not in SECRET_NAMES and not name.startswith(SECRET_PREFIXES)
    }


@dataclass(frozen=True)
class Update:
    """One update committed on a branch: from which commit to which, what changed, what conflicts."""

    branch: str
    old: str
    new: str
    changed: list[tuple[str, str]]  # (git status letter, path)
    conflicts: list[Conflict]


# --- the state, the result, the pull request's text (plain data) ------------------------------------


def read_state(path: Path) -> State:
    """The template and commit .cruft.json records, or an error naming the fix."""
    if not path.is_file():
        raise SystemExit(
            f"error: no {path} — this project records no template; link it with"
            " `.venv/bin/cruft link <template URL>` (then commit .cruft.json)"
        )
    try:
        state: Any = json.loads(path.read_text())
    except ValueError as exc:
        raise SystemExit(f"error: {path} is not JSON ({exc}) — restore it from git (`git checkout -- {path}`)") from exc
    template, commit = (state.get(key) if isinstance(state, dict) else None for key in ("template", "commit"))
    if not isinstance(template, str) or not template:
        raise SystemExit(f"error: {path} names no `template` — set it to the template's git URL")
    if not isinstance(commit, str) or not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise SystemExit(
            f"error: {path} records no template commit (`commit`: {commit!r}): the project was generated from"
            " a template outside git — set `commit` to the template commit it was generated from"
        )
    return State(template, commit)


def local_template(template: str) -> bool:
    return not REMOTE_URL.match(template)


def has_markers(text: str) -> bool:
    """Whether a text holds a conflict git left inline (`<<<<<<< `, `=======`, `>>>>>>> `, in that order)."""
    return MARKERS.search(text) is not None


def conflicts_in(changed: list[tuple[str, str]], unmerged: set[str], texts: dict[str, str]) -> list[Conflict]:
    """Every conflict among the changed paths: rejected hunks, inline markers, unmerged paths."""
    found = []
    for _, path in changed:
        if path.endswith(".rej"):
            found.append(Conflict(path, f"hunks of {path.removesuffix('.rej')} that did not apply"))
        elif path in texts and has_markers(texts[path]):
            found.append(Conflict(path, "inline conflict markers"))
        elif path in unmerged:
            found.append(Conflict(path, "changed here and in the template (unmerged)"))
    return found


def compare_link(template: str, old: str, new: str) -> str | None:
    match = GITHUB.match(template)
    return f"https://github.com/{match.group(1)}/compare/{old}...{new}" if match else None


def title(update: Update) -> str:
    return f"chore: template update {update.old[:7]} → {update.new[:7]}"


def body(update: Update, template: str) -> str:
    """The pull request's body: where the update comes from, the conflicts first, then every file changed."""
    link = compare_link(template, update.old, update.new)
    lines = [
        f"Template update from `{template}`, `{update.old[:7]}` → `{update.new[:7]}`"
        + (f" ([the template's changes]({link}))" if link else "")
        + ", made by `make template-update` (`cruft update` with this project's answers in `.cruft.json`).",
        "",
    ]
    if update.conflicts:
        lines += [
            f"### Conflicts ({len(update.conflicts)}) — resolve them before merging",
            "",
            "The template changed lines this project changed too; both are committed as they are. On this"
            " branch, fix each file (keep what the project needs between the `<<<<<<<` and `>>>>>>>` markers;"
            " apply a `.rej` file's hunks by hand, then delete it), commit and push.",
            "",
            *(f"- `{c.path}`: {c.kind}" for c in update.conflicts),
            "",
        ]
    else:
        lines += ["No conflicts: every change of the template applied cleanly.", ""]
    lines += [f"### Files changed ({len(update.changed)})", "", *(f"- {s} `{p}`" for s, p in update.changed)]
    return "\n".join(lines) + "\n"


# --- cruft and git (the edges) ------------------------------------------------------------------


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """cruft's own messages, kept: they tell users to run cruft, and this command says what to do."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        yield out


def up_to_date(template: str) -> bool:
    """`cruft check`: whether the template has moved on since the recorded commit."""
    import cruft

    with quiet() as said:
        try:
            return bool(cruft.check(project_dir=Path(".")))
        except Exception as exc:  # cruft and git raise many kinds: each becomes one error with its fix
            detail = " ".join(filter(None, (str(exc).strip(), said.getvalue().strip())))
            raise SystemExit(
                f"error: `cruft check` could not read the template {template} ({detail}) — {reach_fix(template)}"
            ) from exc


def reach_fix(template: str) -> str:
    if local_template(template):
        return f"the template must be a git repository at {template}, or set `template` in {STATE} to its git URL"
    return f"check that {template} is reachable from here (network, credentials for a private template)"


def latest_commit(template: str) -> str:
    """The commit `cruft update` takes: the template's HEAD."""
    try:
        return remote_head(template)
    except GitError as exc:
        reason = forge.redact(exc.reason)
        raise SystemExit(f"error: `git ls-remote {template} HEAD` failed: {reason} — {reach_fix(template)}") from None


def paths(*args: str) -> list[str]:
    return [p for p in git(*args, "-z").split("\0") if p]


def untracked() -> set[str]:
    return set(paths("ls-files", "--others", "--exclude-standard"))


def run_cruft_update() -> str:
    """`cruft update` of this project, without its question, in a process with no token; what it said."""
    command = [sys.executable, "-m", "cruft", "update", "--project-dir", ".", "--skip-apply-ask"]
    result = subprocess.run(
        [*command, "--allow-untracked-files"],
        env=hook_environment(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    said = forge.redact(f"{result.stdout}{result.stderr}")
    if result.returncode != 0:
        raise SystemExit(
            "error: `cruft update` failed — fix what it says below, then run `make template-update` again:\n"
            + said.strip()
        )
    return said


def update_on_branch(branch: str, old: str, new: str) -> Update:
    """`cruft update` on a new branch from HEAD, committed, conflicts included; back on the first branch.

    Nothing is left half-done: on any failure the branch is deleted, the files it brought removed,
    and the first branch checked out again.
    """
    before = untracked()

    def undo() -> None:
        git("reset", "--quiet", "--hard")
        for path in untracked() - before:
            Path(path).unlink(missing_ok=True)

    with on_new_branch(branch, undo=undo):
        said = run_cruft_update()
        unmerged = set(paths("diff", "--name-only", "--diff-filter=U"))
        brought = sorted(untracked() - before)
        git("add", "--update")
        if brought:
            git("add", "--", *brought)
        fields = paths("diff", "--cached", "--name-status", "--no-renames")  # status, path, status, path, …
        changed = list(zip(fields[::2], fields[1::2], strict=True))
        if not changed:
            raise SystemExit(f"error: `cruft update` changed nothing, though `cruft check` found {new[:7]}:\n{said}")
        texts = {p: Path(p).read_text(errors="replace") for _, p in changed if Path(p).is_file()}
        result = Update(branch, old, new, changed, conflicts_in(changed, unmerged, texts))
        message = title(result) + "".join(f"\n\nconflict: {c.path} ({c.kind})" for c in result.conflicts)
        git("commit", "--quiet", "--no-verify", "-m", message)  # conflicts fail the hooks: CI shows them
    return result


IF_REJECTED = (
    "if the remote has the branch from a closed pull request, delete it (`git push <remote> --delete <branch>`)"
    " and run again"
)


# --- the command -------------------------------------------------------------------------------------


def report(update: Update) -> None:
    print(f"template update {update.old[:7]} → {update.new[:7]} committed on {update.branch}")
    print(f"files changed ({len(update.changed)}):")
    for status, path in update.changed:
        print(f"  {status} {path}")
    if update.conflicts:
        print(f"conflicts ({len(update.conflicts)}):")
        for conflict in update.conflicts:
            print(f"  {conflict.path}: {conflict.kind}")


def last_update_path() -> Path:
    return Path(git("rev-parse", "--git-path", LAST_UPDATE))


def save(update: Update, template: str) -> None:
    last_update_path().write_text(json.dumps({"template": template, **asdict(update)}, indent=2) + "\n")


def load() -> tuple[Update, str] | None:
    """The last update made here and its template, or None."""
    path = last_update_path()
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    conflicts = [Conflict(**c) for c in data["conflicts"]]
    changed = [(status, name) for status, name in data["changed"]]
    return Update(data["branch"], data["old"], data["new"], changed, conflicts), data["template"]


def workflow_token_fix(update: Update) -> str | None:
    """Why the job's GITHUB_TOKEN cannot push this update (it changes workflows), else None."""
    workflows = [p for _, p in update.changed if p.startswith(WORKFLOWS)]
    if not workflows or os.environ.get(forge.BOT) != "github-token":
        return None
    return (
        f"error: the update changes {', '.join(workflows)}, which the job's GITHUB_TOKEN may not push (no"
        " `workflows` permission) — set up the GitHub App (the variable MODELOPS_APP_ID, the secret"
        f" MODELOPS_APP_PRIVATE_KEY: docs/setup.md), or push {update.branch} and open its pull request yourself"
    )


def publish(update: Update, template: str, args: argparse.Namespace, site: forge.Forge) -> str:
    """Push the update's branch and open its pull request; the pull request's URL."""
    if not branch_exists(update.branch):
        raise SystemExit(f"error: no local branch {update.branch} — run `make template-update` here first")
    if fix := workflow_token_fix(update):
        raise SystemExit(fix)
    request = forge.PullRequest(update.branch, title(update), body(update, template), base=args.base)
    return forge.publish_pull_request(site, request, args.remote, IF_REJECTED)


def finish(update: Update, last: str) -> None:
    """Say what conflicts (exit 3) and print `last`: the branch, or the pull request's URL."""
    if update.conflicts:
        print(
            f"error: the update conflicts with this project's edits in {', '.join(c.path for c in update.conflicts)}"
            f" — resolve them on {update.branch} (`git switch {update.branch}`), commit, then merge",
            file=sys.stderr,
        )
    print(last)
    if update.conflicts:
        raise SystemExit(CONFLICTED)


def publish_last(args: argparse.Namespace) -> None:
    """`--publish`: the last update made here, pushed and proposed."""
    found = load()
    if found is None:
        print("nothing to publish: `make template-update` made no update here")
        return
    update, template = found
    site = forge.default()
    if opened := forge.open_already(site, update.branch):
        print(opened)
        return
    finish(update, publish(update, template, args, site))


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--check", action="store_true", help="only say whether the template moved on (exit 1 if so)")
    parser.add_argument(
        "--publish", action="store_true", help="push the branch the last update made here and open its pull request"
    )
    forge.add_arguments(parser)
    args = parser.parse_args(argv)
    cli.start(args)
    if args.publish:
        publish_last(args)
        return
    state = read_state(STATE)
    if local_template(state.template) and not Path(state.template).expanduser().is_dir():
        raise SystemExit(
            f"error: the template {state.template} that {STATE} names is not on this machine — set `template`"
            f" in {STATE} to the template's git URL (e.g. https://github.com/<owner>/cookiecutter-modelops)"
        )
    last_update_path().unlink(missing_ok=True)
    if up_to_date(state.template):
        print(f"up to date: {state.template} has nothing newer than {state.commit[:7]}")
        return
    if args.check:
        raise SystemExit(f"error: {state.template} moved on since {state.commit[:7]} — run `make template-update`")
    new = latest_commit(state.template)
    branch = f"{BRANCH_PREFIX}{new[:7]}"
    site = forge.default()
    if args.pull_request and (found := forge.open_already(site, branch)):
        print(found)
        return
    require_clean("the template update")
    update = update_on_branch(branch, state.commit, new)
    save(update, state.template)
    report(update)
    finish(update, publish(update, state.template, args, site) if args.pull_request else branch)


if __name__ == "__main__":
    main()
