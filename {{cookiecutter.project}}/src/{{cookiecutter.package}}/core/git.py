"""Every git call of the package: records at a revision, clean-tree checks, commits on new branches."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any


class GitError(SystemExit):
    """A git command that failed, or a work tree a command cannot use; the message names the fix.

    `reason` is what git itself said, for callers that word their own message (and redact it).
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


def git(*args: str, env: Mapping[str, str] | None = None) -> str:
    """A git command's output; a failure stops with git's own message.

    `env` adds variables to the command's environment (the forge's push credentials, never in argv).
    """
    result = subprocess.run(["git", *args], capture_output=True, text=True, env={**os.environ, **env} if env else None)
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip()
        raise GitError(f"error: `git {' '.join(args)}` failed: {reason}", reason)
    return result.stdout.strip()


def file_at(rev: str, path: Path | str) -> str | None:
    """A file's text as committed at `rev`, or None when it is not there."""
    result = subprocess.run(["git", "show", f"{rev}:{Path(path).as_posix()}"], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def branch_exists(branch: str) -> bool:
    """Whether the local branch `branch` exists."""
    found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"], capture_output=True)
    return found.returncode == 0


def commit_message(rev: str) -> tuple[str, str]:
    """The subject and the body of the commit `rev`."""
    return git("show", "--no-patch", "--format=%s", rev), git("show", "--no-patch", "--format=%b", rev)


def remote_head(url: str) -> str:
    """The commit HEAD names in the repository at `url` (`git ls-remote`); a GitError when it cannot be read."""
    found = git("ls-remote", "--", url, "HEAD").split()
    if not found:
        raise GitError(f"error: `git ls-remote {url} HEAD` named no commit", "no HEAD")
    return found[0]


def git_or_none(*args: str) -> str | None:
    """A git command's output, or None outside a repository, without git, or on failure (facts that may be absent)."""
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip() or None


def record_at(rev: str | None, path: Path) -> dict[str, Any]:
    """A JSON record as committed at `rev` (None: the work tree); {} when it is not there."""
    try:
        text = git("show", f"{rev}:{path}") if rev else path.read_text()
    except (GitError, OSError):
        return {}
    data: dict[str, Any] = json.loads(text)
    return data


def require_clean(what: str) -> None:
    """Stop unless every tracked file is committed (untracked files do not matter)."""
    changed = git("status", "--porcelain", "--untracked-files=no")
    if changed:
        files = ", ".join(line.split(maxsplit=1)[-1] for line in changed.splitlines()[:5])  # "XY path", stripped
        raise GitError(f"error: {what} needs a clean work tree; uncommitted changes in {files} — commit or stash them")


def current_branch() -> str:
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    if branch == "HEAD":
        raise GitError("error: HEAD is detached — check out a branch (e.g. `git switch main`) first")
    return branch


RELEASE_TAG = re.compile(r"^v\d+\.\d+\.\d+$")  # what `make release` tags: vX.Y.Z


def latest_release_tag(rev: str = "HEAD") -> str | None:
    """The newest release tag (vX.Y.Z) reachable from `rev`, or None."""
    tags = git("tag", "--merged", rev, "--sort=-v:refname", "--list", "v*").split()
    return next((tag for tag in tags if RELEASE_TAG.match(tag)), None)


def release_tags() -> dict[str, str]:
    """Every release tag (vX.Y.Z) of the repository and the commit it names (annotated tags peeled)."""
    refs = git("for-each-ref", "refs/tags/v*", "--format=%(refname:short) %(objectname) %(*objectname)")
    found = {}
    for line in refs.splitlines():
        name, obj, *peeled = line.split()
        if RELEASE_TAG.match(name):
            found[name] = peeled[0] if peeled else obj
    return found


def commit_of(rev: str) -> str | None:
    """The full commit `rev` names (an abbreviated sha, a tag, a branch), or None when this repository has none."""
    return git_or_none("rev-parse", "--verify", "--quiet", rev + "^{commit}")


def is_ancestor(ancestor: str, rev: str) -> bool:
    """Whether `ancestor` is `rev` or in its history."""
    return subprocess.run(["git", "merge-base", "--is-ancestor", ancestor, rev], capture_output=True).returncode == 0


def remote_tag(remote: str, tag: str) -> str | None:
    """The commit `tag` names on `remote` (None: the remote has no such tag); a GitError when it cannot be read."""
    ref = f"refs/tags/{tag}"
    peeled = ref + "^{}"  # what an annotated tag names
    lines = git("ls-remote", "--tags", remote, ref, peeled).splitlines()
    found = {name: sha for sha, _, name in (line.partition("\t") for line in lines)}
    return found.get(peeled) or found.get(ref)


@contextlib.contextmanager
def on_new_branch(branch: str, undo: Callable[[], object] | None = None) -> Iterator[str]:
    """Work on a new `branch` from HEAD, all or nothing; yields the branch to come back to.

    The body commits on the branch. When it returns, the original branch is checked out again.
    When it raises, `undo` runs first (e.g. `git revert --abort`), the original branch is checked
    out again with the tracked files as it holds them, and the new branch is deleted: nothing is
    left half-done. Callers check for a clean tree first (`require_clean`) when it must be.
    """
    if branch.startswith("-") or not branch:
        raise GitError(f"error: {branch!r} is no branch name git can take")
    if git("branch", "--list", branch):
        raise GitError(f"error: branch {branch} exists already — merge or delete it (`git branch -D {branch}`)")
    start = current_branch()
    git("switch", "--quiet", "-c", branch)
    try:
        yield start
    except BaseException:
        if undo is not None:
            with contextlib.suppress(Exception):
                undo()
        git("switch", "--quiet", "--force", start)  # drops what the body changed in tracked files
        git("branch", "--quiet", "-D", branch)
        raise
    git("switch", "--quiet", start)


def revert_on_branch(branch: str, commit: str, message: str) -> str:
    """`git revert` of `commit` on a new branch from HEAD, with `message`; the diff it made.

    A revert that does not apply cleanly is aborted, and nothing is left behind.
    """
    with on_new_branch(branch, undo=lambda: git("revert", "--abort")):
        git("revert", "--no-commit", commit)
        git("commit", "--quiet", "-m", message)
        return git("show", "--format=", "HEAD")


def commit_on_branch(branch: str, files: Mapping[Path, str], message: str) -> str:
    """Commit `files` (path → new text) on a new branch from HEAD and come back; the diff it made.

    Nothing is left half-done: on any failure the original branch is checked out again and the new
    branch deleted.
    """
    with on_new_branch(branch):
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "--", *map(str, files))
        git("commit", "--quiet", "-m", message)
        return git("show", "--format=", "HEAD")
