"""Tests of gitops/rollback with `--pull-request`: a real repository, a bare remote, the fake `gh` (conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
- name: demo
  newName: ghcr.io/acme/demo
  newTag: {tag}
"""


@pytest.fixture
def rollback(module):
    return module("gitops.rollback")


@pytest.fixture
def repo(project_with_remote, git) -> Path:
    """A project whose staging was promoted 0.1.0 → 0.2.0 (a merged promotion commit), pushed; the cwd."""
    overlay = project_with_remote / "deploy/staging/kustomization.yaml"
    overlay.parent.mkdir(parents=True)
    overlay.write_text(OVERLAY.format(tag="0.1.0-1a2b3c4"))
    git("add", ".", cwd=project_with_remote)
    git("commit", "--quiet", "-m", "deploy: staging", cwd=project_with_remote)
    overlay.write_text(OVERLAY.format(tag="0.2.0-abc1234"))
    git("commit", "--quiet", "-am", "deploy(staging): promote 0.2.0-abc1234", cwd=project_with_remote)
    git("push", "--quiet", "origin", "main", cwd=project_with_remote)
    return project_with_remote


def test_pull_request_pushes_the_revert_and_opens_its_pull_request(rollback, fake_gh, repo, git, remote_heads, capsys):
    promotion = git("rev-parse", "HEAD", cwd=repo)
    branch = f"rollback/staging/{promotion[:7]}"
    rollback.main(["--env", "staging", "--pull-request"])
    assert capsys.readouterr().out.rstrip().splitlines()[-1] == "https://github.com/acme/model/pull/1"
    assert remote_heads(repo).get(branch) == git("rev-parse", branch, cwd=repo), "the branch is not on the remote"
    assert "newTag: 0.1.0-1a2b3c4" in git("show", f"{branch}:deploy/staging/kustomization.yaml", cwd=repo)
    create = fake_gh.calls()[-1]
    assert create["args"][:8] == [
        "pr", "create", "--base", "main", "--head", branch, "--title", "revert(staging): roll back 0.2.0-abc1234",
    ]  # fmt: skip
    assert f"This reverts commit {promotion}" in create["stdin"] and "+  newTag: 0.1.0-1a2b3c4" in create["stdin"]


def test_a_rerun_with_its_pull_request_open_does_nothing(rollback, fake_gh, repo, git, capsys):
    branch = f"rollback/staging/{git('rev-parse', '--short=7', 'HEAD', cwd=repo)}"
    fake_gh.holds(prs=({"number": 3, "url": "https://github.com/acme/model/pull/3", "head": branch},))
    rollback.main(["--env", "staging", "--pull-request", "--base", "trunk"])
    assert "is open already" in capsys.readouterr().out and fake_gh.commands() == [["pr", "list"]]
    assert git("branch", "--list", branch, cwd=repo) == ""


def test_a_missing_token_stops_before_any_branch(rollback, fake_gh, repo, git, monkeypatch):
    monkeypatch.delenv("GH_TOKEN")
    with pytest.raises(SystemExit, match=r"no GH_TOKEN and gh is not logged in"):
        rollback.main(["--env", "staging", "--pull-request"])
    assert git("branch", "--list", "rollback/*", cwd=repo) == ""
