"""Tests of core/forge through the fake `gh` (conftest): pull requests opened or updated, the one issue, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

BRANCH = "feature/forge"


@pytest.fixture
def forge(module):
    return module("core.forge")


@pytest.fixture
def repo(project_with_remote, git) -> Path:
    """A project on main pushed to `origin`, BRANCH with one more commit; the cwd."""
    git("switch", "--quiet", "-c", BRANCH, cwd=project_with_remote)
    (project_with_remote / "params.yaml").write_text("train:\n  C: 2.0\n")
    git("commit", "--quiet", "-am", "feat: C is 2", cwd=project_with_remote)
    git("switch", "--quiet", "main", cwd=project_with_remote)
    return project_with_remote


def request(forge, body: str = "the body\n"):
    label = forge.Label("model-retrain", "0e8a16", "proposals")
    return forge.PullRequest(BRANCH, "feat: C is 2", body, base="main", label=label)


def test_a_pull_request_is_opened_then_updated_never_opened_twice(forge, fake_gh, repo, git, remote_heads, capsys):
    url = forge.publish_pull_request(forge.GitHub(), request(forge), "origin", "rerun")
    assert url == "https://github.com/acme/model/pull/1"
    assert remote_heads(repo)[BRANCH] == git("rev-parse", BRANCH, cwd=repo)
    assert fake_gh.commands() == [["label", "create"], ["pr", "list"], ["pr", "create"]]
    create = fake_gh.calls()[-1]
    assert create["args"] == [
        "pr", "create", "--base", "main", "--head", BRANCH, "--title", "feat: C is 2", "--body-file", "-",
        "--label", "model-retrain",
    ]  # fmt: skip
    assert create["stdin"] == "the body\n"

    again = forge.publish_pull_request(forge.GitHub(), request(forge, "a new body\n"), "origin", "rerun")
    assert again == url and len(fake_gh.state()["prs"]) == 1, "a second pull request was opened"
    edit = fake_gh.calls()[-1]
    assert edit["args"] == [
        "pr",
        "edit",
        "1",
        "--title",
        "feat: C is 2",
        "--body-file",
        "-",
        "--add-label",
        "model-retrain",
    ]
    assert edit["stdin"] == "a new body\n" and "updated the open pull request #1" in capsys.readouterr().out


def test_a_rejected_push_names_the_fix_and_reaches_no_forge(forge, fake_gh, repo, git):
    git("remote", "set-url", "origin", str(repo.parent / "gone" / fake_gh.token / "remote.git"), cwd=repo)
    with pytest.raises(SystemExit) as failed:
        forge.publish_pull_request(forge.GitHub(), request(forge), "origin", "the caller's advice")
    message = str(failed.value.code)
    assert message.startswith(f"error: `git push origin {BRANCH}` was rejected — check that the remote 'origin'")
    assert "the caller's advice" in message and fake_gh.token not in message and "***" in message
    assert fake_gh.calls() == []


def test_the_one_issue_is_created_then_commented_and_retitled_then_closed(forge, fake_gh, isolated):
    github, label = forge.GitHub(), forge.Label("model-monitor", "d93f0b", "monitor")
    opened = forge.IssueUpdate(label, "Model monitor: retrain", "findings\n", marker="<!-- marker -->")
    assert github.open_issue(label) is None
    forge.run_all(github, github.issue_calls(opened, None))
    assert fake_gh.commands()[1:] == [["label", "create"], ["issue", "create"]]
    assert fake_gh.calls()[-1]["stdin"] == "<!-- marker -->\nfindings\n"

    found = github.open_issue(label)
    assert found is not None and found.number == "1"
    retitled = forge.IssueUpdate(label, "Model monitor: retire", "worse\n")
    forge.run_all(github, github.issue_calls(retitled, found.number))
    assert [c["args"] for c in fake_gh.calls()[-2:]] == [
        ["issue", "comment", "1", "--body-file", "-"],
        ["issue", "edit", "1", "--title", "Model monitor: retire"],
    ]
    assert len(fake_gh.state()["issues"]) == 1, "a second issue was opened"

    closed = forge.IssueUpdate(label, "Model monitor: keep", "back within targets\n", close=True)
    forge.run_all(github, github.issue_calls(closed, found.number))
    assert fake_gh.commands()[-2:] == [["issue", "comment"], ["issue", "close"]]
    assert github.open_issue(label) is None and github.issue_calls(closed, None) == []


def test_a_failing_call_is_named_and_the_token_redacted(forge, fake_gh, isolated, capsys):
    fake_gh.fail("workflow")
    github = forge.GitHub()
    call = github.dispatch_call("retrain.yml", {"reason": "drift"})
    assert str(call) == "gh workflow run retrain.yml -f reason=drift"
    with pytest.raises(SystemExit) as failed:
        github.run(call)
    message = str(failed.value.code)
    assert message.startswith("error: `gh workflow run retrain.yml -f reason=drift` failed (1): HTTP 403: token ***")
    assert fake_gh.token not in message
    fake_gh.fail("label")
    assert github.ensure_label(forge.Label("x", "000000", "y")) is False
    err = capsys.readouterr().err
    assert "warning: `gh label create x" in err and fake_gh.token not in err


def test_a_gh_answer_it_cannot_read_is_an_error_naming_the_call(forge, fake_gh, isolated):
    fake_gh.holds(prs=({"number": "seven", "url": "u", "head": BRANCH},))
    with pytest.raises(
        SystemExit, match=rf"error: `gh pr list --head {BRANCH} --state open --json number,url` answered"
    ):
        forge.GitHub().open_pull_request(BRANCH)


def test_without_gh_or_without_a_token_the_error_names_the_fix(forge, fake_gh, isolated, monkeypatch):
    monkeypatch.delenv("GH_TOKEN")
    with pytest.raises(SystemExit, match=r"no GH_TOKEN and gh is not logged in — set GH_TOKEN .* `gh auth login`"):
        forge.GitHub().check()
    assert fake_gh.calls() == [{"args": ["auth", "status"], "stdin": None}]
    monkeypatch.setenv("GITHUB_TOKEN", "another")
    forge.GitHub().check()  # GITHUB_TOKEN authenticates too
    monkeypatch.setenv("PATH", str(isolated))
    with pytest.raises(SystemExit, match=r"gh not found on PATH — install the GitHub CLI"):
        forge.GitHub().check()


def test_the_pull_request_of_a_commit_is_its_message_and_its_diff(forge, repo):
    made = forge.commit_pull_request(BRANCH, "trunk", "Merging is the approval.")
    assert made.title == "feat: C is 2" and made.base == "trunk" and made.branch == BRANCH
    assert made.body.startswith("Merging is the approval.\n\n```diff\n") and "+  C: 2.0" in made.body


def test_a_pull_request_the_job_token_opens_says_ci_did_not_run_and_how_to_run_it(forge, fake_gh, repo, monkeypatch):
    monkeypatch.setenv("MODELOPS_BOT", "github-token")
    forge.publish_pull_request(forge.default(), request(forge), "origin", "if rejected")
    body = fake_gh.calls()[-1]["stdin"]
    assert body.startswith("> [!IMPORTANT]\n> **CI has not run on this pull request.**")
    assert "close this pull request and reopen it" in body and "MODELOPS_APP_ID" in body
    assert body.endswith("the body\n")


@pytest.mark.parametrize("kind", ["app", ""], ids=["app", "unset"])
def test_a_pull_request_the_app_or_a_person_opens_has_its_body_alone(forge, fake_gh, repo, monkeypatch, kind):
    monkeypatch.setenv("MODELOPS_BOT", kind)
    forge.publish_pull_request(forge.default(), request(forge), "origin", "if rejected")
    assert fake_gh.calls()[-1]["stdin"] == "the body\n"


def test_an_unknown_bot_kind_is_refused_before_anything_is_pushed(forge, fake_gh, repo, monkeypatch, remote_heads):
    monkeypatch.setenv("MODELOPS_BOT", "pat")
    with pytest.raises(SystemExit, match=r"MODELOPS_BOT='pat' — set it to app or github-token"):
        forge.publish_pull_request(forge.default(), request(forge), "origin", "if rejected")
    assert BRANCH not in remote_heads(repo) and fake_gh.calls() == []
