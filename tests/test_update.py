"""Template updates, for real: a project generated from an older commit of the template takes a newer one.

The template is a copy of this working tree committed in a git repository of its own (`old`);
`new` adds two edits on top: a line in deploy/README.md, which the project never touches, and
another `prepare.test_size` in params.yaml, which the project changed too. The project, generated
from `old` (a local git path, so .cruft.json records the commit), runs `make template-update`
(cruft update on a branch): the README line arrives, params.yaml is reported as a conflict and
committed with its markers on the update branch, and main is left alone. Once the conflict is
resolved and merged, the project is up to date and its pipeline and tests pass.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from support.baking import bake_ok, cookies_in
from support.options import DEFAULTS, REPO_ROOT
from support.processes import find_interpreter, project_env, run
from support.repos import copy_working_tree, git_files

pytestmark = pytest.mark.slow

IDENTITY = {
    "GIT_AUTHOR_NAME": "Update Test",
    "GIT_AUTHOR_EMAIL": "update@example.invalid",
    "GIT_COMMITTER_NAME": "Update Test",
    "GIT_COMMITTER_EMAIL": "update@example.invalid",
}
INNER = "{{cookiecutter.project}}"
UNTOUCHED = "deploy/README.md"  # the project never edits it
NEW_LINE = "Template updates arrive by pull request: `make template-update` (template-update.yml)."
EDITED = "params.yaml"  # the project and the template both change one line of it
OLD_SIZE, PROJECT_SIZE, TEMPLATE_SIZE = "0.2", "0.3", "0.25"
# cruft's state: what it must skip so that an update keeps the project's git, DVC and data.
MUST_SKIP = {".git", ".dvc", ".dvcignore"}
MARKERS = re.compile(r"^<{7} [^\n]*\n(.*?)^={7}\n.*?^>{7} [^\n]*\n", re.M | re.S)


@dataclass
class TemplateUpdate:
    """The project after `make template-update`, the template's two commits, what the command did."""

    project: Path
    template: Path
    env: dict
    old: str
    new: str
    main: str  # main's commit before the update
    result: subprocess.CompletedProcess
    seconds: float

    @property
    def branch(self) -> str:
        return f"template-update/{self.new[:7]}"

    def git(self, *args: str, cwd: Path | None = None) -> str:
        return run(["git", *args], cwd=cwd or self.project, env=self.env).stdout.strip()

    def on_branch(self, path: str) -> str:
        return self.git("show", f"{self.branch}:{path}")

    def make(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(["make", *args], cwd=self.project, env=self.env, check=check)


def commit_all(where: Path, env: dict, message: str) -> str:
    run(["git", "add", "--all"], cwd=where, env=env)
    run(["git", "commit", "--quiet", "--no-verify", "-m", message], cwd=where, env=env)
    return run(["git", "rev-parse", "HEAD"], cwd=where, env=env).stdout.strip()


def set_test_size(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    line = f"  test_size: {old}\n"
    assert text.count(line) == 1, f"{path} has no single `{line.strip()}` line to change"
    path.write_text(text.replace(line, f"  test_size: {new}\n"))


def keep_ours(text: str) -> str:
    """A file's text with each inline conflict resolved to the project's side."""
    return MARKERS.sub(r"\1", text)


@pytest.fixture(scope="module")
def update(tmp_path_factory, dvc_site_cache_dir) -> TemplateUpdate:
    base = tmp_path_factory.mktemp("update")
    env = {**project_env(dvc_site_cache_dir, base / "bentoml"), **IDENTITY}
    template = copy_working_tree(REPO_ROOT, base / "cookiecutter-modelops")
    run(["git", "init", "--quiet", "--initial-branch=main"], cwd=template, env=env)
    old = commit_all(template, env, "the template, old")

    cookies = cookies_in(base / "projects", str(template), base / "cookiecutter-config")
    project = bake_ok(cookies, str(template), {})
    set_test_size(project / EDITED, OLD_SIZE, PROJECT_SIZE)
    main = commit_all(project, env, "feat: a larger test split")

    with (template / INNER / UNTOUCHED).open("a") as handle:
        handle.write(f"\n{NEW_LINE}\n")
    set_test_size(template / INNER / EDITED, OLD_SIZE, TEMPLATE_SIZE)
    new = commit_all(template, env, "the template, new")

    run(["make", "install", f"PYTHON={find_interpreter(str(DEFAULTS['python_version']))}"], cwd=project, env=env)
    started = time.monotonic()
    result = run(["make", "template-update"], cwd=project, env=env, check=False)
    return TemplateUpdate(project, template, env, old, new, main, result, time.monotonic() - started)


def test_the_first_commit_holds_crufts_state_at_the_old_commit(update):
    first = update.git("rev-list", "--max-parents=0", "HEAD")
    state = json.loads(update.git("show", f"{first}:.cruft.json"))
    assert state["template"] == str(update.template) and state["commit"] == update.old
    assert state["context"]["cookiecutter"]["_commit"] == update.old
    assert MUST_SKIP <= set(state["skip"]), f"cruft would touch {sorted(MUST_SKIP - set(state['skip']))}"


def test_the_update_stops_non_zero_naming_the_conflict(update):
    out = update.result.stdout
    assert update.result.returncode != 0, f"a conflicting update reported success:\n{out[-2000:]}"
    assert f"conflicts (1):\n  {EDITED}: inline conflict markers" in out, out[-2000:]
    assert f"error: the update conflicts with this project's edits in {EDITED} — resolve them on {update.branch}" in out
    print(f"make template-update: {update.seconds:.1f} s")


def test_the_change_to_an_untouched_file_arrives(update):
    assert update.on_branch(UNTOUCHED).rstrip().endswith(NEW_LINE)
    assert NEW_LINE not in (update.project / UNTOUCHED).read_text(), "main got the update without a merge"


def test_the_edited_file_is_committed_with_both_sides_marked(update):
    merged = update.on_branch(EDITED)
    resolved = keep_ours(merged + "\n")
    assert resolved != merged + "\n", f"no inline conflict in the branch's {EDITED}:\n{merged}"
    assert f"test_size: {PROJECT_SIZE}" in merged and f"test_size: {TEMPLATE_SIZE}" in merged
    assert yaml.safe_load(resolved)["prepare"]["test_size"] == float(PROJECT_SIZE)


def test_the_branch_changes_only_what_the_template_changed(update):
    changed = set(update.git("diff", "--name-only", f"{update.main}..{update.branch}").splitlines())
    assert changed == {".cruft.json", UNTOUCHED, EDITED}
    assert json.loads(update.on_branch(".cruft.json"))["commit"] == update.new


def test_main_is_left_as_it_was(update):
    assert update.git("rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert update.git("rev-parse", "main") == update.main
    assert update.git("status", "--porcelain", "--untracked-files=no") == ""


def test_resolved_and_merged_the_project_is_current_and_its_gates_pass(update):
    update.git("switch", "--quiet", update.branch)
    (update.project / EDITED).write_text(keep_ours((update.project / EDITED).read_text()))
    commit_all(update.project, update.env, "fix: keep the project's test split")
    update.git("switch", "--quiet", "main")
    update.git("merge", "--quiet", "--no-ff", "--no-verify", update.branch, "-m", f"Merge {update.branch}")

    assert "up to date: " in update.make("template-update").stdout
    assert NEW_LINE in (update.project / UNTOUCHED).read_text()
    update.make("pipeline")
    prepare = json.loads((update.project / "reports/data/prepare.json").read_text())
    share = prepare["test"]["rows"] / prepare["rows_out"]
    assert abs(share - float(PROJECT_SIZE)) < 0.01, f"the pipeline split {share:.3f}, not the project's {PROJECT_SIZE}"
    run([update.project / ".venv/bin/pytest", "-q", "tests/data", "tests/model"], cwd=update.project, env=update.env)
    assert ".cruft.json" in git_files(update.project)
