"""Template updates, for real: a project generated from an older commit of the template takes a newer one.

The template is a copy of this working tree committed in a git repository of its own (`old`);
the project is the deployed project (conftest.py's `deployed`), fresh: it is baked from `old`, and
tests/test_delivery.py and tests/test_monitoring.py go on from where this module leaves it.
`new` adds two edits on top: a line in deploy/README.md, which the project never touches, and
another `prepare.test_size` in params.yaml, which the project changed too. The project, generated
from `old` (a local git path, so .cruft.json records the commit), runs `make template-update`
(cruft update on a branch): the README line arrives, params.yaml is reported as a conflict and
committed with its markers on the update branch, and main is left alone. Once the conflict is
resolved and merged, the project is up to date and its pipeline and tests pass.
"""

from __future__ import annotations

import json

import pytest
import yaml
from support.processes import run
from support.repos import git_files
from support.templaterepo import EDITED, NEW_LINE, PROJECT_SIZE, TEMPLATE_SIZE, UNTOUCHED, commit_all, keep_ours

pytestmark = pytest.mark.slow

# cruft's state: what it must skip so that an update keeps the project's git, DVC and data.
MUST_SKIP = {".git", ".dvc", ".dvcignore"}


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
