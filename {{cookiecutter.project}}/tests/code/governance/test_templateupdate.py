"""Tests of governance/templateupdate: real cruft updates from a tiny cookiecutter template in git, a fake `gh`.

The template has two files; its second commit changes both. The project, made from its first
commit by `cruft create`, edits one of them or not. The fake `gh` records its calls and says
which pull requests are open (FAKE_GH_OPEN).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

GIT = shutil.which("git") or "git"
README = "# demo\n\nHow to run it.\n"
PARAMS = "train:\n  C: 1.0\n  seed: 42\n"
INNER = "{" * 2 + "cookiecutter.project" + "}" * 2  # the template's project folder (cookiecutter renders this file)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run([GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def templateupdate(module):
    return module("governance.templateupdate")


@pytest.fixture
def template(private_git) -> Path:
    """A cookiecutter template in git, one commit; git configured for these tests alone."""
    folder = private_git / "template"
    (folder / INNER).mkdir(parents=True)
    (folder / "cookiecutter.json").write_text(json.dumps({"project": "demo"}))
    (folder / INNER / "README.md").write_text(README)
    (folder / INNER / "params.yaml").write_text(PARAMS)
    git("init", "--quiet", "-b", "main", cwd=folder)
    git("add", ".", cwd=folder)
    git("commit", "--quiet", "-m", "the template", cwd=folder)
    return folder


@pytest.fixture
def project(template, isolated, monkeypatch) -> Path:
    """A project made from the template by `cruft create`, committed on main, with a bare `origin`; the cwd."""
    import cruft

    path = cruft.create(str(template), output_dir=isolated / "projects")
    git("init", "--quiet", "-b", "main", cwd=path)
    git("add", ".", cwd=path)
    git("commit", "--quiet", "-m", "generated", cwd=path)
    git("init", "--quiet", "--bare", str(isolated / "remote.git"), cwd=isolated)
    git("remote", "add", "origin", str(isolated / "remote.git"), cwd=path)
    monkeypatch.chdir(path)
    return Path(path)


def new_template_commit(template: Path) -> str:
    """The template's second commit: a line added to the README, a parameter changed."""
    inner = template / INNER
    (inner / "README.md").write_text(README + "\nUpdates arrive by pull request.\n")
    (inner / "params.yaml").write_text(PARAMS.replace("C: 1.0", "C: 2.0"))
    git("commit", "--quiet", "-am", "the template, improved", cwd=template)
    return git("rev-parse", "HEAD", cwd=template)


def edit_params(project: Path) -> None:
    (project / "params.yaml").write_text(PARAMS.replace("C: 1.0", "C: 0.5"))
    git("commit", "--quiet", "-am", "tune C", cwd=project)


def show(project: Path, branch: str, path: str) -> str:
    return git("show", f"{branch}:{path}", cwd=project)


@pytest.fixture
def gh(fake_gh):
    return fake_gh


def test_an_unchanged_template_is_up_to_date_and_no_branch_is_made(templateupdate, project, capsys):
    templateupdate.main([])
    assert capsys.readouterr().out.startswith("up to date: ")
    assert git("branch", "--list", "template-update/*", cwd=project) == ""


def test_a_clean_update_is_committed_on_its_branch_and_main_is_left_alone(templateupdate, template, project, capsys):
    main_before = git("rev-parse", "main", cwd=project)
    old, new = git("rev-parse", "HEAD", cwd=template), new_template_commit(template)
    templateupdate.main([])
    branch = f"template-update/{new[:7]}"
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == branch
    assert "conflicts" not in out and "M params.yaml" in out and "M README.md" in out
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=project) == "main"
    assert git("rev-parse", "main", cwd=project) == main_before and git("status", "--porcelain", cwd=project) == ""
    assert show(project, branch, "README.md").endswith("Updates arrive by pull request.")
    assert "C: 2.0" in show(project, branch, "params.yaml")
    assert json.loads(show(project, branch, ".cruft.json"))["commit"] == new
    assert git("log", "-1", "--format=%s", branch, cwd=project) == f"chore: template update {old[:7]} → {new[:7]}"


def test_a_conflict_is_committed_listed_and_exits_3(templateupdate, template, project, capsys):
    edit_params(project)
    new = new_template_commit(template)
    with pytest.raises(SystemExit) as stopped:
        templateupdate.main([])
    assert stopped.value.code == templateupdate.CONFLICTED == 3
    branch = f"template-update/{new[:7]}"
    captured = capsys.readouterr()
    assert "conflicts (1):\n  params.yaml: inline conflict markers" in captured.out
    assert f"error: the update conflicts with this project's edits in params.yaml — resolve them on {branch}" in (
        captured.err
    )
    merged = show(project, branch, "params.yaml")
    assert templateupdate.has_markers(merged) and "C: 0.5" in merged and "C: 2.0" in merged
    assert show(project, branch, "README.md").endswith("Updates arrive by pull request."), "the clean change is lost"
    assert "conflict: params.yaml" in git("log", "-1", "--format=%b", branch, cwd=project)
    assert (project / "params.yaml").read_text() == PARAMS.replace("C: 1.0", "C: 0.5"), "main's work tree changed"


def test_the_pull_request_lists_the_conflicts_and_a_second_run_does_nothing(
    templateupdate, template, project, gh, capsys
):
    edit_params(project)
    new = new_template_commit(template)
    branch = f"template-update/{new[:7]}"
    with pytest.raises(SystemExit):
        templateupdate.main(["--pull-request"])
    assert capsys.readouterr().out.rstrip().splitlines()[-1] == "https://github.com/acme/model/pull/1"
    pushed = git("ls-remote", "--heads", "origin", branch, cwd=project).split()
    assert pushed and pushed[0] == git("rev-parse", branch, cwd=project), "the branch is not on the remote"
    create = gh.calls()[-1]
    assert create["args"][:6] == ["pr", "create", "--base", "main", "--head", branch]
    assert "### Conflicts (1) — resolve them before merging" in create["stdin"]
    assert "- `params.yaml`: inline conflict markers" in create["stdin"]
    assert "- M `README.md`" in create["stdin"]

    git("branch", "-D", branch, cwd=project)
    before = len(gh.calls())
    templateupdate.main(["--pull-request"])
    assert "is open already" in capsys.readouterr().out
    assert [c["args"][:2] for c in gh.calls()[before:]] == [["pr", "list"]], "an open pull request was redone"
    assert git("branch", "--list", branch, cwd=project) == ""


def test_an_update_that_fails_half_way_leaves_nothing_behind(templateupdate, template, project, monkeypatch):
    new = new_template_commit(template)
    head = git("rev-parse", "HEAD", cwd=project)

    def half_done() -> str:  # cruft wrote some files, then failed
        (project / "params.yaml").write_text("train: {}\n")
        (project / "brought.txt").write_text("a file the template brought\n")
        raise SystemExit("error: `cruft update` failed — the test says so")

    monkeypatch.setattr(templateupdate, "run_cruft_update", half_done)
    with pytest.raises(SystemExit, match="the test says so"):
        templateupdate.main([])
    assert (
        git("rev-parse", "--abbrev-ref", "HEAD", cwd=project) == "main"
        and git("rev-parse", "HEAD", cwd=project) == head
    )
    assert git("branch", "--list", f"template-update/{new[:7]}", cwd=project) == "", "the branch is left behind"
    assert (project / "params.yaml").read_text() == PARAMS and not (project / "brought.txt").exists()
    assert git("status", "--porcelain", cwd=project) == ""


def test_uncommitted_changes_stop_it_before_any_branch(templateupdate, template, project):
    new_template_commit(template)
    (project / "params.yaml").write_text("train: {}\n")
    with pytest.raises(SystemExit) as stopped:
        templateupdate.main([])
    assert "needs a clean work tree" in str(stopped.value.code) and "commit or stash them" in str(stopped.value.code)
    assert git("branch", "--list", "template-update/*", cwd=project) == ""


def test_check_says_when_the_template_moved_on(templateupdate, template, project):
    new_template_commit(template)
    with pytest.raises(SystemExit) as stopped:
        templateupdate.main(["--check"])
    assert "moved on" in str(stopped.value.code) and "run `make template-update`" in str(stopped.value.code)


@pytest.mark.parametrize(
    ("state", "fix"),
    [
        (None, "cruft link"),
        ({"template": "/nowhere/template", "commit": "0" * 40}, "set `template`"),
        ({"template": "https://github.com/acme/template", "commit": None}, "set `commit`"),
    ],
    ids=["no-state", "local-template-gone", "no-commit"],
)
def test_a_state_it_cannot_use_is_refused_with_the_fix(templateupdate, isolated, state, fix):
    if state is not None:
        (isolated / ".cruft.json").write_text(json.dumps(state))
    with pytest.raises(SystemExit) as stopped:
        templateupdate.main([])
    assert str(stopped.value.code).startswith("error: ") and fix in str(stopped.value.code)


def test_conflict_markers_are_found_only_in_order(templateupdate):
    assert templateupdate.has_markers("<<<<<<< ours\na\n=======\nb\n>>>>>>> theirs\n")
    assert not templateupdate.has_markers("a heading\n=======\n")
    assert not templateupdate.has_markers(">>>>>>> theirs\n=======\n<<<<<<< ours\n")


def test_rejected_hunks_and_unmerged_paths_are_conflicts_too(templateupdate):
    changed = [("M", "params.yaml"), ("A", "params.yaml.rej"), ("M", "logo.png"), ("M", "README.md")]
    texts = {"params.yaml": "train:\n  C: 2.0\n", "README.md": "a heading\n=======\n"}
    found = templateupdate.conflicts_in(changed, {"logo.png"}, texts)
    assert [(c.path, c.kind) for c in found] == [
        ("params.yaml.rej", "hunks of params.yaml that did not apply"),
        ("logo.png", "changed here and in the template (unmerged)"),
    ]


# --- the template's code runs without a token; pushing is a step of its own ------------------------

HOOK = """\
import json, os, pathlib
pathlib.Path(os.environ["HOOK_ENV_OUT"]).write_text(json.dumps(sorted(os.environ)))
"""
SECRETS = (
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "MODELOPS_APP_PRIVATE_KEY",
)


def test_the_templates_hooks_run_with_no_token_in_their_environment(
    templateupdate, template, project, isolated, monkeypatch
):
    (template / "hooks").mkdir()
    (template / "hooks" / "post_gen_project.py").write_text(HOOK)
    git("add", "hooks", cwd=template)
    new_template_commit(template)
    seen = isolated / "hook-env.json"
    monkeypatch.setenv("HOOK_ENV_OUT", str(seen))
    for name in SECRETS:
        monkeypatch.setenv(name, f"secret-{name}")
    templateupdate.main([])
    names = set(json.loads(seen.read_text()))
    assert "HOOK_ENV_OUT" in names and "PATH" in names, "the hook did not run with the rest of the environment"
    assert names.isdisjoint(SECRETS), f"the template's hook saw {sorted(names & set(SECRETS))}"


def test_publish_pushes_the_last_update_and_opens_its_pull_request(templateupdate, template, project, gh, capsys):
    new = new_template_commit(template)
    branch = f"template-update/{new[:7]}"
    templateupdate.main([])
    assert gh.calls() == [], "the update itself talked to the forge"
    assert capsys.readouterr().out.rstrip().splitlines()[-1] == branch
    templateupdate.main(["--publish"])
    assert capsys.readouterr().out.rstrip().splitlines()[-1] == "https://github.com/acme/model/pull/1"
    pushed = git("ls-remote", "--heads", "origin", branch, cwd=project).split()
    assert pushed and pushed[0] == git("rev-parse", branch, cwd=project), "the branch is not on the remote"
    create = gh.calls()[-1]
    assert create["args"][:6] == ["pr", "create", "--base", "main", "--head", branch]
    assert "- M `README.md`" in create["stdin"]


def test_publish_without_an_update_does_nothing(templateupdate, template, project, gh, capsys):
    templateupdate.main([])  # up to date
    templateupdate.main(["--publish"])
    assert "nothing to publish" in capsys.readouterr().out and gh.calls() == []


def test_a_workflow_change_the_job_token_cannot_push_stops_before_pushing(
    templateupdate, template, project, gh, monkeypatch
):
    workflow = template / INNER / ".github" / "workflows" / "ci.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text("name: ci\n")
    git("add", ".", cwd=template)
    new = new_template_commit(template)
    templateupdate.main([])
    monkeypatch.setenv("MODELOPS_BOT", "github-token")
    with pytest.raises(SystemExit, match=r"changes \.github/workflows/ci\.yml, which the job's GITHUB_TOKEN may not"):
        templateupdate.main(["--publish"])
    assert git("ls-remote", "--heads", "origin", cwd=project) == "" and ["pr", "create"] not in gh.commands()
    monkeypatch.setenv("MODELOPS_BOT", "app")
    templateupdate.main(["--publish"])
    assert git("ls-remote", "--heads", "origin", f"template-update/{new[:7]}", cwd=project)
