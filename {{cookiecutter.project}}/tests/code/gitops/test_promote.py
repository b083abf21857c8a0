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


# --- promotion on the cluster's report (promote-production.yml, on a deployment status) -----------

NEXT = "0.3.0-def5678"


@pytest.fixture
def reported(repo, git) -> dict[str, str]:
    """staging at VERSION (its commit `before`), then at NEXT (`after`, main); production behind. The commits."""
    for env in ("staging", "production"):
        overlay = repo / f"deploy/{env}/kustomization.yaml"
        overlay.parent.mkdir(parents=True, exist_ok=True)
        overlay.write_text(OVERLAY.replace("0.1.0-1a2b3c4", VERSION if env == "staging" else "0.1.0-1a2b3c4"))
    git("add", ".", cwd=repo)
    git("commit", "--quiet", "-m", f"deploy(staging): promote {VERSION}", cwd=repo)
    before = git("rev-parse", "HEAD", cwd=repo)
    staging = repo / "deploy/staging/kustomization.yaml"
    staging.write_text(staging.read_text().replace(VERSION, NEXT))
    git("commit", "--quiet", "-am", f"deploy(staging): promote {NEXT}", cwd=repo)
    git("push", "--quiet", "origin", "main", cwd=repo)
    return {"before": before, "after": git("rev-parse", "HEAD", cwd=repo)}


def test_a_healthy_staging_report_opens_the_production_promotion_naming_version_and_smoke(
    promote, fake_gh, repo, reported, remote_heads, capsys
):
    said = f"Healthy at {NEXT}; in-cluster smoke test passed"
    promote.main(
        ["--env", "production", "--from", "staging", "--synced", reported["after"], "--health", said,
         "--health-url", "https://argocd.example.com/applications/demo-staging", "--pull-request"]
    )  # fmt: skip
    assert capsys.readouterr().out.rstrip().splitlines()[-1] == "https://github.com/acme/model/pull/1"
    assert f"promote/production/{NEXT}" in remote_heads(repo)
    body = fake_gh.calls()[-1]["stdin"]
    assert f"**staging runs `{NEXT}` healthy**" in body and reported["after"][:12] in body
    assert said in body and "(https://argocd.example.com/applications/demo-staging)" in body
    assert f"+  newTag: {NEXT}" in body and "Merging this pull request is the approval" in body


def test_a_report_of_a_commit_staging_moved_on_from_changes_nothing(promote, fake_gh, repo, reported, git, capsys):
    promote.main(["--env", "production", "--from", "staging", "--synced", reported["before"], "--pull-request"])
    out = capsys.readouterr().out
    assert f"staging moved on since: the cluster synced {VERSION}" in out and f"names {NEXT}" in out
    assert git("branch", "--list", "promote/*", cwd=repo) == "" and ["pr", "create"] not in fake_gh.commands()


def test_a_report_of_what_production_runs_already_changes_nothing(promote, fake_gh, repo, reported, git, capsys):
    production = repo / "deploy/production/kustomization.yaml"
    production.write_text(production.read_text().replace("0.1.0-1a2b3c4", NEXT))
    git("commit", "--quiet", "-am", f"deploy(production): promote {NEXT}", cwd=repo)
    promote.main(["--env", "production", "--from", "staging", "--synced", reported["after"], "--pull-request"])
    assert f"production runs {NEXT} already — nothing to propose" in capsys.readouterr().out
    assert git("branch", "--list", "promote/*", cwd=repo) == ""


def test_a_reported_commit_this_clone_lacks_names_the_fix(promote, fake_gh, repo, reported):
    with pytest.raises(SystemExit, match=r"fetch main's whole history"):
        promote.main(["--env", "production", "--from", "staging", "--synced", "0" * 40])


def test_the_pull_request_carries_the_impact_table_or_says_why_not(
    pkg, promote, fake_gh, repo, git, make_predictor, make_toy, monkeypatch
):
    promote.main(["--env", "staging", "--version", VERSION, "--pull-request"])  # the overlay names no log sink
    assert "No logged traffic for staging: impact not judged." in fake_gh.calls()[-1]["stdin"]
    # with a sink, `make impact` runs first (its own command); here its report is made beforehand
    overlay = repo / "deploy/staging/kustomization.yaml"
    sink = "configMapGenerator:\n- name: settings\n  literals:\n  - MODELOPS_LOG_SINK=s3://bucket/logs/staging\n"
    overlay.write_text(overlay.read_text() + sink)
    git("commit", "--quiet", "-am", "deploy: staging's log sink", cwd=repo)
    promote.main(["--env", "staging", "--version", "0.3.0-abc5678", "--pull-request"])  # the real command, run
    body = fake_gh.calls()[-1]["stdin"]  # this toy repository has no params.yaml: said, and the promotion goes on
    assert "**NOT JUDGED**" in body and "- impact not judged: " in body, body[:1500]
    monkeypatch.setattr(promote, "judge_impact", lambda env, version: None)
    impact, predictor, later = pkg.improvement.impact, make_predictor(), "0.4.0-abc9999"
    model = pkg.improvement.compare.Candidate("champion", later, predictor.model, predictor.features)
    limits = impact.Thresholds(max_disagreement=0.1, max_segment_disagreement=0.25, min_segment_rows=20, min_rows=50)
    impact.write(impact.analyse(make_toy(n=60, seed=3), predictor.schema, model, model, limits, 0), "staging")
    promote.main(["--env", "staging", "--version", later, "--pull-request"])
    body = fake_gh.calls()[-1]["stdin"]
    assert f"### Impact on replayed traffic: `{later}`" in body and "| records replayed | 60 | min_rows 50 |" in body
    assert "Verdict (`docs/criteria.yaml` `impact`): **PASS**" in body
