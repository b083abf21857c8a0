"""Tests of improvement/publish: a real git repository pushing to a real bare remote, and a fake `gh`.

The fake `gh` is first on PATH: it records each call (arguments and standard input), keeps the
pull requests it opened in FAKE_GH_STATE (so `gh pr list --head` finds them on the next run),
says it is not logged in to `gh auth status`, and fails the subcommand FAKE_GH_FAIL names.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

TOKEN = "ghp_fake0token0that0must0never0show"  # noqa: S105  # pragma: allowlist secret
BRANCH = "retrain/2026-12-02-abc1234"
TITLE = "Retrain: f1_macro 0.91 → 0.95 on the recent window"
BODY_PATH = "reports/improvement/2026-12-02.md"
REPORT = "# Champion against challenger\n\n| metric | champion | challenger |\n| f1_macro | 0.91 | 0.95 |\n"
GIT = shutil.which("git") or "git"  # absolute: some tests take PATH away from the command under test
FAKE_GH = """\
import json, os, sys
args = sys.argv[1:]
stdin = sys.stdin.read() if "-" in args else None
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(json.dumps({"args": args, "stdin": stdin}) + "\\n")
if args[:1] == [os.environ.get("FAKE_GH_FAIL")]:
    sys.stderr.write("HTTP 403: token " + os.environ.get("GH_TOKEN", "") + " may not do this\\n")
    sys.exit(1)
state = os.environ["FAKE_GH_STATE"]
prs = json.load(open(state)) if os.path.exists(state) else []
if args[:2] == ["auth", "status"]:
    sys.stderr.write("You are not logged into any GitHub hosts.\\n")
    sys.exit(1)
elif args[:2] == ["pr", "list"]:
    head = args[args.index("--head") + 1]
    print(json.dumps([{"number": p["number"], "url": p["url"]} for p in prs if p["head"] == head]))
elif args[:2] == ["pr", "create"]:
    number = len(prs) + 1
    url = f"https://github.com/acme/model/pull/{number}"
    prs.append({"number": number, "url": url, "head": args[args.index("--head") + 1]})
    json.dump(prs, open(state, "w"))
    print("Creating pull request\\n" + url)
elif args[:2] == ["pr", "edit"]:
    print(f"https://github.com/acme/model/pull/{args[2]}")
"""


@pytest.fixture
def publish(root):
    """The module alone: `pkg` would import the whole package, seconds these tests need not wait."""
    (name,) = {path.parents[1].name for path in (root / "src").glob("*/improvement/publish.py")}
    return importlib.import_module(f"{name}.improvement.publish")


@pytest.fixture
def gh(isolated, monkeypatch, fake_program) -> Path:
    """A fake `gh` first on PATH, the token in the environment; the path of its call log."""
    folder = isolated / "fake-bin"
    fake_program(folder / "gh", FAKE_GH)
    monkeypatch.setenv("PATH", f"{folder}:{Path(GIT).parent}:/usr/bin:/bin")
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("FAKE_GH_LOG", str(isolated / "gh-calls.jsonl"))
    monkeypatch.setenv("FAKE_GH_STATE", str(isolated / "gh-prs.json"))
    return isolated / "gh-calls.jsonl"


def git(*args: str, cwd: Path) -> str:
    return subprocess.run([GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(isolated, monkeypatch) -> Path:
    """A project on main with the proposal committed on BRANCH, and `origin`, an empty bare remote; the cwd."""
    for name, value in {
        "GIT_CONFIG_GLOBAL": str(isolated / "gitconfig"),  # none of this machine's settings
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }.items():
        monkeypatch.setenv(name, value)
    git("init", "--quiet", "--bare", "remote.git", cwd=isolated)
    work = isolated / "project"
    work.mkdir()
    git("init", "--quiet", "-b", "main", cwd=work)
    (work / "params.yaml").write_text("train:\n  C: 1.0\n")
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "the champion", cwd=work)
    git("remote", "add", "origin", str(isolated / "remote.git"), cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)
    git("switch", "--quiet", "-c", BRANCH, cwd=work)
    (work / "params.yaml").write_text("train:\n  C: 3.2\n")
    git("commit", "--quiet", "-am", "retrain: the challenger", cwd=work)
    git("switch", "--quiet", "main", cwd=work)
    monkeypatch.chdir(work)
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


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def remote_heads(repo: Path) -> dict[str, str]:
    """Branch → commit on the bare remote."""
    listed = git("ls-remote", "--heads", str(repo.parent / "remote.git"), cwd=repo)
    return {ref.removeprefix("refs/heads/"): sha for sha, ref in (line.split("\t") for line in listed.splitlines())}


def test_a_proposal_is_pushed_and_opened_as_a_labelled_pull_request(publish, gh, repo, capsys):
    write_summary(repo)
    publish.main([])
    assert remote_heads(repo).get(BRANCH) == git("rev-parse", BRANCH, cwd=repo), "the branch is not on the remote"
    made = calls(gh)
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
    made = calls(gh)
    assert [c["args"][:2] for c in made].count(["pr", "create"]) == 1, "a second pull request was opened"
    assert made[2]["args"][2:4] == ["--base", "trunk"]
    edit = made[-1]
    assert edit["args"] == [
        "pr", "edit", "1", "--title", TITLE, "--body-file", "-", "--add-label", "model-retrain",
    ]  # fmt: skip
    assert "a fresh report" in edit["stdin"] and edit["stdin"].rstrip().endswith(publish.APPROVAL)
    out = capsys.readouterr().out
    assert "updated the open pull request #1" in out and out.rstrip().splitlines()[-1].endswith("/pull/1")


def test_without_a_proposal_nothing_is_pushed_and_gh_is_never_called(publish, gh, repo, capsys):
    reasons = ["the challenger trails the champion on the holdout by 3.1% (> 2%)", "only 12 recent labels (< 30)"]
    write_summary(repo, report=None, proposed=False, branch=None, decision="no proposal", reasons=reasons)
    publish.main([])
    assert BRANCH not in remote_heads(repo) and calls(gh) == []
    out = capsys.readouterr().out
    assert "nothing to publish" in out and all(f"- {reason}" in out for reason in reasons)


@pytest.mark.parametrize("rejection", ["missing-remote", "diverged"])
def test_a_rejected_push_stops_with_the_fix_and_opens_no_pull_request(publish, gh, repo, rejection, capsys):
    if rejection == "missing-remote":  # a URL holding the token, as a careless remote might
        git("remote", "set-url", "origin", str(repo.parent / "gone" / TOKEN / "remote.git"), cwd=repo)
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
    assert TOKEN not in message + capsys.readouterr().out
    if rejection == "missing-remote":
        assert "***" in message
    else:
        assert "rejected" in message.partition("\ngit: ")[2] and remote_heads(repo)[BRANCH] != git(
            "rev-parse", BRANCH, cwd=repo
        )
    assert calls(gh) == [], "gh ran after a failed push"


def test_a_label_the_token_may_not_create_is_skipped_with_a_warning(publish, gh, repo, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_GH_FAIL", "label")
    write_summary(repo)
    publish.main([])
    create = calls(gh)[-1]
    assert create["args"][:2] == ["pr", "create"] and "--label" not in create["args"]
    err = capsys.readouterr().err
    assert "warning: `gh label create model-retrain" in err and "without the model-retrain label" in err
    assert TOKEN not in err


def test_a_body_that_already_ends_with_the_approval_gets_it_once(publish, gh, repo):
    write_summary(repo, report=f"{REPORT}\n{publish.APPROVAL}\n")
    publish.main([])
    assert calls(gh)[-1]["stdin"].count(publish.APPROVAL) == 1


def test_the_report_is_read_from_the_branch_when_the_work_tree_has_none(publish, gh, repo):
    git("switch", "--quiet", BRANCH, cwd=repo)
    (repo / "reports/improvement").mkdir(parents=True)
    (repo / BODY_PATH).write_text("# Committed on the branch only\n")
    git("add", BODY_PATH, cwd=repo)
    git("commit", "--quiet", "-m", "retrain: the report", cwd=repo)
    git("switch", "--quiet", "main", cwd=repo)
    write_summary(repo, report=None)
    publish.main([])
    assert calls(gh)[-1]["stdin"].startswith("# Committed on the branch only\n")


def test_dry_run_prints_the_commands_and_the_body_and_runs_nothing(publish, gh, repo, capsys):
    write_summary(repo)
    publish.main(["--dry-run"])
    out = capsys.readouterr().out
    assert BRANCH not in remote_heads(repo) and calls(gh) == []
    assert f"git push origin {BRANCH}" in out and f"gh pr list --head {BRANCH} --state open" in out
    assert f"gh pr create --base main --head {BRANCH} --title '{TITLE}' --body-file - --label model-retrain" in out
    assert "gh pr edit NUMBER --title" in out and "| f1_macro | 0.91 | 0.95 |" in out and publish.APPROVAL in out


def test_without_gh_the_error_says_to_install_it_or_run_in_actions(publish, gh, repo, monkeypatch):
    monkeypatch.setenv("PATH", str(repo))
    write_summary(repo)
    with pytest.raises(SystemExit, match=r"gh not found on PATH — install the GitHub CLI .* or run in GitHub Actions"):
        publish.main([])
    assert BRANCH not in remote_heads(repo)


def test_without_a_token_the_error_names_gh_token_and_nothing_is_pushed(publish, gh, repo, monkeypatch):
    monkeypatch.delenv("GH_TOKEN")
    write_summary(repo)
    with pytest.raises(SystemExit, match=r"no GH_TOKEN and gh is not logged in — set GH_TOKEN .* `gh auth login`"):
        publish.main([])
    assert BRANCH not in remote_heads(repo) and [c["args"] for c in calls(gh)] == [["auth", "status"]]


def test_a_missing_summary_or_branch_names_make_retrain(publish, gh, repo):
    with pytest.raises(SystemExit, match=r"no reports/improvement/summary.json — run `make retrain`"):
        publish.main([])
    write_summary(repo, branch="retrain/2026-12-03-gone000")
    with pytest.raises(SystemExit, match=r"no local branch retrain/2026-12-03-gone000 — run `make retrain`"):
        publish.main([])
    assert calls(gh) == []
