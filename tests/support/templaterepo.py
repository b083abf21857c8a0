"""The template as a git repository of its own, so a project baked from it records a commit, and a newer
commit the project can take with `make template-update` (tests/test_update.py)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from support.options import REPO_ROOT
from support.processes import run
from support.repos import copy_working_tree

INNER = "{{cookiecutter.project}}"
# The update's two edits (tests/test_update.py): a line in a file the project never touches, and
# params.yaml's test split, which the project changes too.
UNTOUCHED = "deploy/README.md"
NEW_LINE = "Template updates arrive by pull request: `make template-update` (template-update.yml)."
EDITED = "params.yaml"
OLD_SIZE, PROJECT_SIZE, TEMPLATE_SIZE = "0.2", "0.3", "0.25"
MARKERS = re.compile(r"^<{7} [^\n]*\n(.*?)^={7}\n.*?^>{7} [^\n]*\n", re.M | re.S)


def commit_all(where: Path, env: dict[str, str], message: str) -> str:
    """Commit everything in `where` (hooks skipped); the new commit."""
    run(["git", "add", "--all"], cwd=where, env=env)
    run(["git", "commit", "--quiet", "--no-verify", "-m", message], cwd=where, env=env)
    return str(run(["git", "rev-parse", "HEAD"], cwd=where, env=env).stdout.strip())


def template_repo(destination: Path, env: dict[str, str]) -> tuple[Path, str]:
    """A copy of this working tree (edits included) committed on `main` of a new repository; (path, commit)."""
    template = copy_working_tree(REPO_ROOT, destination)
    run(["git", "init", "--quiet", "--initial-branch=main"], cwd=template, env=env)
    return template, commit_all(template, env, "the template, old")


def set_test_size(path: Path, old: str, new: str) -> None:
    """Change params.yaml's one `  test_size: <old>` line to `new`."""
    text = path.read_text()
    line = f"  test_size: {old}\n"
    assert text.count(line) == 1, f"{path} has no single `{line.strip()}` line to change"
    path.write_text(text.replace(line, f"  test_size: {new}\n"))


def keep_ours(text: str) -> str:
    """A file's text with each inline conflict resolved to the project's side."""
    return MARKERS.sub(r"\1", text)


@dataclass
class TemplateUpdate:
    """The project after `make template-update`, the template's two commits, what the command did."""

    project: Path
    template: Path
    env: dict[str, str]
    old: str
    new: str
    main: str  # main's commit before the update
    result: subprocess.CompletedProcess[str]
    seconds: float

    @property
    def branch(self) -> str:
        return f"template-update/{self.new[:7]}"

    def git(self, *args: str, cwd: Path | None = None) -> str:
        return str(run(["git", *args], cwd=cwd or self.project, env=self.env).stdout.strip())

    def on_branch(self, path: str) -> str:
        return self.git("show", f"{self.branch}:{path}")

    def make(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(["make", *args], cwd=self.project, env=self.env, check=check)
