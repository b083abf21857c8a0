"""Tests of core/git on a real repository: on_new_branch is all or nothing; one newest release tag."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def gitmod(module):
    return module("core.git")


@pytest.fixture
def repo(private_git, git, monkeypatch) -> Path:
    """A repository on main: params.yaml committed, notes.txt untracked; the cwd."""
    work = private_git / "repo"
    work.mkdir()
    git("init", "--quiet", "-b", "main", cwd=work)
    (work / "params.yaml").write_text("train:\n  C: 1.0\n")
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "first", cwd=work)
    (work / "notes.txt").write_text("untracked, and kept\n")
    monkeypatch.chdir(work)
    return work


def test_a_body_that_raises_leaves_the_original_branch_as_it_was(gitmod, repo, git):
    head = git("rev-parse", "HEAD", cwd=repo)
    undone = []
    with pytest.raises(RuntimeError, match="half way"):
        with gitmod.on_new_branch("work/half", undo=lambda: undone.append(True)) as start:
            assert start == "main" and git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo) == "work/half"
            (repo / "params.yaml").write_text("train:\n  C: 9.0\n")
            git("commit", "--quiet", "-am", "half", cwd=repo)
            (repo / "params.yaml").write_text("train:\n  C: 99.0\n")  # and an uncommitted edit
            raise RuntimeError("half way")
    assert undone == [True], "undo did not run"
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo) == "main" and git("rev-parse", "HEAD", cwd=repo) == head
    assert git("branch", "--list", "work/half", cwd=repo) == "", "the new branch is left behind"
    assert (repo / "params.yaml").read_text() == "train:\n  C: 1.0\n"
    assert git("status", "--porcelain", "--untracked-files=no", cwd=repo) == ""
    assert (repo / "notes.txt").read_text() == "untracked, and kept\n"


def test_a_body_that_returns_keeps_its_commit_on_the_branch_and_comes_back(gitmod, repo, git):
    diff = gitmod.commit_on_branch("work/done", {Path("params.yaml"): "train:\n  C: 2.0\n"}, "tune C")
    assert "+  C: 2.0" in diff
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo) == "main"
    assert (repo / "params.yaml").read_text() == "train:\n  C: 1.0\n"
    assert git("show", "work/done:params.yaml", cwd=repo) == "train:\n  C: 2.0"
    assert git("log", "-1", "--format=%s", "work/done", cwd=repo) == "tune C"


def test_an_existing_branch_or_an_option_like_name_is_refused_before_anything(gitmod, repo, git):
    git("branch", "work/taken", cwd=repo)
    with pytest.raises(SystemExit, match=r"branch work/taken exists already — merge or delete it"):
        with gitmod.on_new_branch("work/taken"):
            pytest.fail("the body ran")
    with pytest.raises(SystemExit, match=r"no branch name git can take"):
        with gitmod.on_new_branch("--force"):
            pytest.fail("the body ran")
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo) == "main"


def test_a_failing_git_command_carries_gits_reason(gitmod, repo):
    with pytest.raises(SystemExit) as failed:
        gitmod.git("rev-parse", "--verify", "no-such-thing")
    assert str(failed.value.code).startswith("error: `git rev-parse --verify no-such-thing` failed")
    assert failed.value.reason and failed.value.reason in str(failed.value.code)
    assert gitmod.file_at("HEAD", "params.yaml") == "train:\n  C: 1.0\n" and gitmod.file_at("HEAD", "nope") is None
    assert gitmod.branch_exists("main") and not gitmod.branch_exists("nope")


def test_the_newest_release_tag_is_by_version_and_only_vx_y_z(gitmod, repo, git, monkeypatch):
    assert gitmod.latest_release_tag() is None
    # Made in this order, a day apart: the newest version is neither the newest tag nor first or last in text order.
    tags = ("v0.9.0", "v1.10.0", "v1.9.0", "v1.2.0", "v1.0", "model@v1", "v2.0.0-rc1", "v3")
    for day, tag in enumerate(tags, start=1):
        monkeypatch.setenv("GIT_COMMITTER_DATE", f"2026-01-{day:02d}T12:00:00Z")
        git("commit", "--quiet", "--allow-empty", "-m", tag, cwd=repo)
        git("tag", tag, cwd=repo)
    assert gitmod.latest_release_tag() == "v1.10.0"
    assert gitmod.latest_release_tag("v1.10.0") == "v1.10.0"
    assert gitmod.latest_release_tag("v1.10.0~1") == "v0.9.0", "a tag not reachable from the revision counted"


def test_only_look_alike_tags_are_no_release(gitmod, repo, git):
    for tag in ("v1.0", "model@v1"):
        git("tag", tag, cwd=repo)
    assert gitmod.latest_release_tag() is None


def test_a_dirty_work_tree_is_refused_naming_each_changed_file_whole(gitmod, repo, git):
    (repo / "params.yaml").write_text("train:\n  C: 3.0\n")  # unstaged: " M params.yaml"
    (repo / "stage").mkdir()
    (repo / "stage" / "kustomization.yaml").write_text("resources: []\n")
    git("add", "stage/kustomization.yaml", cwd=repo)  # staged: "A  stage/…", listed after params.yaml
    with pytest.raises(SystemExit, match=r"in params\.yaml, stage/kustomization\.yaml — commit or stash"):
        gitmod.require_clean("promote")
