"""Every git call of the package: records at a revision, clean-tree checks, commits on new branches."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class GitError(SystemExit):
    """A git command that failed, or a work tree a command cannot use; the message names the fix."""


def git(*args: str) -> str:
    """A git command's output; a failure stops with git's own message."""
    result = subprocess.run(["git", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise GitError(f"error: `git {' '.join(args)}` failed: {(result.stderr or result.stdout).strip()}")
    return result.stdout.strip()


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
        files = ", ".join(line[3:] for line in changed.splitlines()[:5])
        raise GitError(f"error: {what} needs a clean work tree; uncommitted changes in {files} — commit or stash them")


def current_branch() -> str:
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    if branch == "HEAD":
        raise GitError("error: HEAD is detached — check out a branch (e.g. `git switch main`) first")
    return branch


def _new_branch(branch: str) -> str:
    """Create and switch to `branch` from HEAD; the branch to come back to."""
    if git("branch", "--list", branch):
        raise GitError(f"error: branch {branch} exists already — merge or delete it (`git branch -D {branch}`)")
    start = current_branch()
    git("switch", "--quiet", "-c", branch)
    return start


def revert_on_branch(branch: str, commit: str, message: str) -> str:
    """`git revert` of `commit` on a new branch from HEAD, with `message`; the diff it made.

    A revert that does not apply cleanly is aborted, and nothing is left behind.
    """
    start = _new_branch(branch)
    try:
        git("revert", "--no-commit", commit)
        git("commit", "--quiet", "-m", message)
        diff = git("show", "--format=", "HEAD")
    except BaseException:
        subprocess.run(["git", "revert", "--abort"], capture_output=True)
        git("switch", "--quiet", "--force", start)
        git("branch", "--quiet", "-D", branch)
        raise
    git("switch", "--quiet", start)
    return diff


def commit_on_branch(branch: str, files: Mapping[Path, str], message: str) -> str:
    """Commit `files` (path → new text) on a new branch from HEAD and come back; the diff it made.

    Nothing is left half-done: on any failure the original branch is checked out again and the new
    branch deleted.
    """
    start = _new_branch(branch)
    try:
        for path, text in files.items():
            path.write_text(text)
        git("add", "--", *map(str, files))
        git("commit", "--quiet", "-m", message)
        diff = git("show", "--format=", "HEAD")
    except BaseException:
        git("checkout", "--quiet", "--", *map(str, files))
        git("switch", "--quiet", start)
        git("branch", "--quiet", "-D", branch)
        raise
    git("switch", "--quiet", start)
    return diff
