"""Tests of improvement/publish: a real git repository pushing to a real bare remote, and the fake `gh` (conftest).

The fake `gh` records each call (arguments and standard input) and keeps the pull requests it
opened, so `gh pr list --head` finds them on the next run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

BRANCH = "retrain/2026-12-02-abc1234"
TITLE = "Retrain: f1_macro 0.91 → 0.95 on the recent window"
BODY_PATH = "reports/improvement/2026-12-02.md"
REPORT = "# Champion against challenger\n\n| metric | champion | challenger |\n| f1_macro | 0.91 | 0.95 |\n"


@pytest.fixture
def publish(module):
    return module("improvement.publish")


@pytest.fixture
def gh(fake_gh):
    return fake_gh


@pytest.fixture
def repo(project_with_remote, git) -> Path:
    """A project on main pushed to `origin`, with the proposal committed on BRANCH (not pushed); the cwd."""
    work = project_with_remote
    git("switch", "--quiet", "-c", BRANCH, cwd=work)
    (work / "params.yaml").write_text("train:\n  C: 3.2\n")
    git("commit", "--quiet", "-am", "retrain: the challenger", cwd=work)
    git("switch", "--quiet", "main", cwd=work)
    return work


def write_summary(folder: Path, report: str | None = REPORT, **changes) -> None:
    summary = {
        "proposed": True,
        "branch": BRANCH,
        "title": TITLE,
        "body": BODY_PATH,
        "reasons": ["the challenger beats the champion by 4.4% on the recent window"],
        "decision": "propose",
        **changes,
    }
    (folder / "reports/improvement").mkdir(parents=True, exist_ok=True)
    (folder / "reports/improvement/summary.json").write_text(json.dumps(summary))
    if report is not None:
        (folder / BODY_PATH).write_text(report)


def test_a_proposal_is_pushed_and_opened_as_a_labelled_pull_request(publish, gh, repo, capsys, git, remote_heads):
    write_summary(repo)
    publish.main([])
    assert remote_heads(repo).get(BRANCH) == git("rev-parse", BRANCH, cwd=repo), "the branch is not on the remote"
    made = gh.calls()
    assert [c["args"][:2] for c in made] == [["label", "create"], ["pr", "list"], ["pr", "create"]]
    assert made[0]["args"][:3] == ["label", "create", "model-retrain"]
    assert made[1]["args"] == ["pr", "list", "--head", BRANCH, "--state", "open", "--json", "number,url"]
    assert made[2]["args"] == [
        "pr", "create", "--base", "main", "--head", BRANCH, "--title", TITLE, "--body-file", "-",
        "--label", "model-retrain",
    ]  # fmt: skip
    body = made[2]["stdin"]
    assert body.startswith(REPORT.rstrip()), "the body is not the report"
    assert body.rstrip().splitlines()[-1] == publish.APPROVAL and "Merging this pull request is the approval" in body
    assert capsys.readouterr().out.rstrip().splitlines()[-1] == "https://github.com/acme/model/pull/1"


def test_a_second_run_updates_the_open_pull_request_instead_of_opening_another(publish, gh, repo, capsys):
    write_summary(repo)
    publish.main(["--base", "trunk"])
    write_summary(repo, report=REPORT + "\nRerun: the same proposal, a fresh report.\n")
    publish.main(["--base", "trunk"])
    made = gh.calls()
    assert [c["args"][:2] for c in made].count(["pr", "create"]) == 1, "a second pull request was opened"
    assert made[2]["args"][2:4] == ["--base", "trunk"]
    edit = made[-1]
    assert edit["args"] == [
        "pr", "edit", "1", "--title", TITLE, "--body-file", "-", "--add-label", "model-retrain",
    ]  # fmt: skip
    assert "a fresh report" in edit["stdin"] and edit["stdin"].rstrip().endswith(publish.APPROVAL)
    out = capsys.readouterr().out
    assert "updated the open pull request #1" in out and out.rstrip().splitlines()[-1].endswith("/pull/1")


def test_without_a_proposal_nothing_is_pushed_and_gh_is_never_called(publish, gh, repo, capsys, remote_heads):
    reasons = ["the challenger trails the champion on the holdout by 3.1% (> 2%)", "only 12 recent labels (< 30)"]
    write_summary(repo, report=None, proposed=False, branch=None, decision="no proposal", reasons=reasons)
    publish.main([])
    assert BRANCH not in remote_heads(repo) and gh.calls() == []
    out = capsys.readouterr().out
    assert "nothing to publish" in out and all(f"- {reason}" in out for reason in reasons)


@pytest.mark.parametrize("rejection", ["missing-remote", "diverged"])
def test_a_rejected_push_stops_with_the_fix_and_opens_no_pull_request(
    publish, gh, repo, rejection, capsys, git, remote_heads
):
    if rejection == "missing-remote":  # a URL holding the token, as a careless remote might
        git("remote", "set-url", "origin", str(repo.parent / "gone" / gh.token / "remote.git"), cwd=repo)
    else:  # the remote has the branch with other commits
        git("push", "--quiet", "origin", BRANCH, cwd=repo)
        git("switch", "--quiet", BRANCH, cwd=repo)
        git("commit", "--quiet", "--amend", "-m", "retrain: another challenger", cwd=repo)
        git("switch", "--quiet", "main", cwd=repo)
    write_summary(repo)
    with pytest.raises(SystemExit) as failed:
        publish.main([])
    message = str(failed.value.code)
    assert message.startswith(f"error: `git push origin {BRANCH}` was rejected — check that the remote 'origin'")
    assert "`git remote -v`" in message and "rerun `make retrain`" in message
    assert gh.token not in message + capsys.readouterr().out
    if rejection == "missing-remote":
        assert "***" in message
    else:
        assert "rejected" in message.partition("\ngit: ")[2] and remote_heads(repo)[BRANCH] != git(
            "rev-parse", BRANCH, cwd=repo
        )
    assert gh.calls() == [], "gh ran after a failed push"


def test_a_label_the_token_may_not_create_is_skipped_with_a_warning(publish, gh, repo, monkeypatch, capsys):
    gh.fail("label")
    write_summary(repo)
    publish.main([])
    create = gh.calls()[-1]
    assert create["args"][:2] == ["pr", "create"] and "--label" not in create["args"]
    err = capsys.readouterr().err
    assert "warning: `gh label create model-retrain" in err and "without the model-retrain label" in err
    assert gh.token not in err


def test_a_body_that_already_ends_with_the_approval_gets_it_once(publish, gh, repo):
    write_summary(repo, report=f"{REPORT}\n{publish.APPROVAL}\n")
    publish.main([])
    assert gh.calls()[-1]["stdin"].count(publish.APPROVAL) == 1


def test_the_report_is_read_from_the_branch_when_the_work_tree_has_none(publish, gh, repo, git):
    git("switch", "--quiet", BRANCH, cwd=repo)
    (repo / "reports/improvement").mkdir(parents=True)
    (repo / BODY_PATH).write_text("# Committed on the branch only\n")
    git("add", BODY_PATH, cwd=repo)
    git("commit", "--quiet", "-m", "retrain: the report", cwd=repo)
    git("switch", "--quiet", "main", cwd=repo)
    write_summary(repo, report=None)
    publish.main([])
    assert gh.calls()[-1]["stdin"].startswith("# Committed on the branch only\n")


def test_dry_run_prints_the_commands_and_the_body_and_runs_nothing(publish, gh, repo, capsys, remote_heads):
    write_summary(repo)
    publish.main(["--dry-run"])
    out = capsys.readouterr().out
    assert BRANCH not in remote_heads(repo) and gh.calls() == []
    assert f"git push origin {BRANCH}" in out and f"gh pr list --head {BRANCH} --state open" in out
    assert f"gh pr create --base main --head {BRANCH} --title '{TITLE}' --body-file - --label model-retrain" in out
    assert "gh pr edit NUMBER --title" in out and "| f1_macro | 0.91 | 0.95 |" in out and publish.APPROVAL in out


def test_without_gh_the_error_says_to_install_it_or_run_in_actions(publish, gh, repo, monkeypatch, remote_heads):
    monkeypatch.setenv("PATH", str(repo))
    write_summary(repo)
    with pytest.raises(SystemExit, match=r"gh not found on PATH — install the GitHub CLI .* or run in GitHub Actions"):
        publish.main([])
    assert BRANCH not in remote_heads(repo)


def test_without_a_token_the_error_names_gh_token_and_nothing_is_pushed(publish, gh, repo, monkeypatch, remote_heads):
    monkeypatch.delenv("GH_TOKEN")
    write_summary(repo)
    with pytest.raises(SystemExit, match=r"no GH_TOKEN and gh is not logged in — set GH_TOKEN .* `gh auth login`"):
        publish.main([])
    assert BRANCH not in remote_heads(repo) and [c["args"] for c in gh.calls()] == [["auth", "status"]]


def test_a_missing_summary_or_branch_names_make_retrain(publish, gh, repo):
    with pytest.raises(SystemExit, match=r"no reports/improvement/summary.json — run `make retrain`"):
        publish.main([])
    write_summary(repo, branch="retrain/2026-12-03-gone000")
    with pytest.raises(SystemExit, match=r"no local branch retrain/2026-12-03-gone000 — run `make retrain`"):
        publish.main([])
    assert gh.calls() == []


DVC = str(Path(sys.executable).with_name("dvc"))


@pytest.fixture
def dvc_repo(repo, git, monkeypatch) -> Path:
    """`repo` with DVC: the proposal branch tracks data/production with `dvc add` (what make retrain commits)."""
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(repo.parent / ".dvc-site"))
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")

    def dvc(*args: str) -> None:
        done = subprocess.run([DVC, *args], cwd=repo, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr

    dvc("init", "--quiet")
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "-m", "dvc", cwd=repo)
    git("switch", "--quiet", BRANCH, cwd=repo)
    git("rebase", "--quiet", "main", cwd=repo)
    (repo / "data/production").mkdir(parents=True)
    (repo / "data/production/train.csv").write_text("a,target\n1,0\n")
    dvc("add", "--quiet", "data/production")
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "-m", "retrain: the production records", cwd=repo)
    git("switch", "--quiet", "main", cwd=repo)
    return repo


@pytest.mark.slow
def test_the_proposals_data_reaches_the_dvc_remote_before_its_pull_request(
    publish, gh, dvc_repo, s3_env, monkeypatch, remote_heads
):
    """dvc push of the branch (not the work tree, which is main's): its objects are in the bucket first."""
    import s3fs

    prefix = f"{s3_env.bucket}/publish/{uuid.uuid4().hex}"
    monkeypatch.setenv("MODELOPS_DVC_REMOTE", f"s3://{prefix}")
    write_summary(dvc_repo)
    publish.main([])
    assert [c["args"][:2] for c in gh.calls()][-1] == ["pr", "create"]
    pushed = s3fs.S3FileSystem().find(prefix)
    assert len(pushed) == 2, f"the directory's manifest and its one file, not {pushed}"


@pytest.mark.slow
def test_a_failed_dvc_push_opens_no_pull_request_and_names_the_fix(publish, gh, dvc_repo, monkeypatch, remote_heads):
    """On a CI runner a folder remote is the runner's own disk: refused before the branch or the PR."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("MODELOPS_DVC_REMOTE", str(dvc_repo.parent / "runner-folder"))
    write_summary(dvc_repo)
    with pytest.raises(
        SystemExit,
        match=r"runner-folder on this machine, which CI cannot read — set the repository variable MODELOPS_DVC_REMOTE",
    ):
        publish.main([])
    assert ["pr", "create"] not in [c["args"][:2] for c in gh.calls()]
    assert BRANCH not in remote_heads(dvc_repo), "the branch was pushed though its data was not"
