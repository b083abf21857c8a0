"""Tests of gitops/promote with `--pull-request`: a real repository, a bare remote, the fake `gh` (conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

VERSION = "0.2.0-abc1234"
BRANCH = f"promote/staging/{VERSION}"
OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
- name: demo
  newName: ghcr.io/acme/demo
  newTag: 0.1.0-1a2b3c4
"""


@pytest.fixture
def promote(module):
    return module("gitops.promote")


@pytest.fixture
def repo(project_with_remote, git) -> Path:
    """A project whose staging runs 0.1.0-1a2b3c4 (deploy/staging/), pushed to `origin`; the cwd."""
    overlay = project_with_remote / "deploy/staging/kustomization.yaml"
    overlay.parent.mkdir(parents=True)
    overlay.write_text(OVERLAY)
    git("add", ".", cwd=project_with_remote)
    git("commit", "--quiet", "-m", "deploy: staging", cwd=project_with_remote)
    git("push", "--quiet", "origin", "main", cwd=project_with_remote)
    return project_with_remote


def test_pull_request_pushes_the_promotion_and_opens_its_pull_request(
    promote, fake_gh, repo, git, remote_heads, capsys
):
    promote.main(["--env", "staging", "--version", VERSION, "--pull-request"])
    assert capsys.readouterr().out.rstrip().splitlines()[-1] == "https://github.com/acme/model/pull/1"
    assert remote_heads(repo).get(BRANCH) == git("rev-parse", BRANCH, cwd=repo), "the branch is not on the remote"
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo) == "main"
    assert fake_gh.commands() == [["pr", "list"], ["pr", "list"], ["pr", "create"]]
    create = fake_gh.calls()[-1]
    assert create["args"][:8] == [
        "pr",
        "create",
        "--base",
        "main",
        "--head",
        BRANCH,
        "--title",
        f"deploy(staging): promote {VERSION}",
    ]
    body = create["stdin"]
    assert "Previous version: 0.1.0-1a2b3c4." in body and "Merging this pull request is the approval" in body
    assert f"+  newTag: {VERSION}" in body, "the body does not show the change"


def test_a_rerun_with_its_pull_request_open_does_nothing(promote, fake_gh, repo, git, remote_heads, capsys):
    fake_gh.holds(prs=({"number": 4, "url": "https://github.com/acme/model/pull/4", "head": BRANCH},))
    promote.main(["--env", "staging", "--version", VERSION, "--pull-request"])
    out = capsys.readouterr().out
    assert f"a pull request from {BRANCH} is open already" in out and out.rstrip().endswith("/pull/4")
    assert fake_gh.commands() == [["pr", "list"]]
    assert git("branch", "--list", BRANCH, cwd=repo) == "" and BRANCH not in remote_heads(repo)


def test_without_pull_request_only_the_local_branch_is_made(promote, fake_gh, repo, git, remote_heads, capsys):
    promote.main(["--env", "staging", "--version", VERSION])
    assert capsys.readouterr().out.rstrip().splitlines()[-1] == BRANCH
    assert git("branch", "--list", BRANCH, cwd=repo) and BRANCH not in remote_heads(repo) and fake_gh.calls() == []


def test_a_rejected_push_opens_no_pull_request(promote, fake_gh, repo, git):
    git("remote", "set-url", "origin", str(repo.parent / "gone.git"), cwd=repo)
    with pytest.raises(SystemExit, match=rf"`git push origin {BRANCH}` was rejected"):
        promote.main(["--env", "staging", "--version", VERSION, "--pull-request"])
    assert ["pr", "create"] not in fake_gh.commands()
