"""Unit tests of gitops/release: which tag a release takes, when it resumes or has nothing to do, the model's
one-line delta, the forge's calls; and the git facts it reads, on real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def release(module):
    return module("gitops.release")


@pytest.fixture
def gitmod(module):
    return module("core.git")


def running(release, commit: str = "c" * 40, build: str = "0.2.0-ccccccc", env: str = "production"):
    return release.Running(env, build, commit)


# --- the name and the decision ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "taken", "expected"),
    [
        ("v0.2.0", {}, "v0.2.0"),
        ("v0.2.0", {"v0.1.0": "a"}, "v0.2.0"),
        ("v0.2.0", {"v0.1.0": "a", "v0.2.0": "b"}, "v0.2.1"),
        ("v0.2.0", {"v0.2.0": "b", "v0.2.1": "d", "v0.3.0": "e"}, "v0.3.1"),  # past the newest, whatever it is
        ("v0.1.0", {"v0.1.0": "a", "v0.1.1": "b", "v0.1.3": "c"}, "v0.1.4"),  # never into a gap
    ],
    ids=["free", "free-after-older", "taken", "taken-newer-exists", "no-gap"],
)
def test_the_release_takes_its_builds_version_or_the_next_free_one(release, candidate, taken, expected):
    assert release.next_free(candidate, taken) == expected


def test_a_new_commit_is_released_under_git_cliffs_version(release):
    tags = {"v0.1.0": "a" * 40}
    assert release.decide(running(release), tags, "v0.2.0", behind=False) == release.Decision("release", "v0.2.0")


def test_a_build_made_before_an_intervening_release_takes_the_next_free_name(release):
    tags = {"v0.1.0": "a" * 40, "v0.2.0": "b" * 40}
    decision = release.decide(running(release), tags, "v0.2.0", behind=False)
    assert decision == release.Decision("release", "v0.2.1")
    made = release.Release("v0.2.1", running(release), "notes", "release/v0.2.1", merged=False, resumed=False)
    assert made.title == "v0.2.1 (build 0.2.0-ccccccc)", "the title names the build when the versions differ"
    same = release.Release("v0.2.0", running(release), "notes", "release/v0.2.0", merged=False, resumed=False)
    assert same.title == "v0.2.0"


def test_a_tag_on_the_commit_that_is_the_newest_release_resumes(release):
    """A rerun after a failure (the upload, the pull request) finishes it instead of saying there is nothing to do."""
    tags = {"v0.1.0": "a" * 40, "v0.2.0": "c" * 40}
    decision = release.decide(running(release), tags, "v0.2.0", behind=False)
    assert (decision.action, decision.tag) == ("resume", "v0.2.0")


def test_an_older_release_running_again_is_nothing_to_release(release):
    """A rollback to a released commit: exit 0, naming the release."""
    tags = {"v0.1.0": "c" * 40, "v0.2.0": "b" * 40}
    decision = release.decide(running(release), tags, "v0.1.0", behind=True)
    assert decision == release.Decision("nothing", "v0.1.0", "production runs v0.1.0 (released): nothing to release")


def test_a_never_released_build_older_than_the_newest_release_is_nothing_to_release(release):
    tags = {"v0.2.0": "b" * 40}
    decision = release.decide(running(release), tags, "v0.2.0", behind=True)
    assert decision.action == "nothing" and "older than v0.2.0 (a rollback)" in decision.reason


# --- the model's one-line delta --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "metrics", "params", "hashes", "line"),
    [
        (None, {"f1": {"new": 0.95}}, {}, {}, "Model: first release — f1 0.9500."),
        (
            "v0.1.0",
            {"f1": {"old": 0.95, "new": 0.97}},
            {"train.C": {"old": 1.0, "new": 0.5}},
            {"model sha256": ("a", "b")},
            "Model: f1 0.9500 → 0.9700; parameters changed: train.C.",
        ),
        (
            "v0.1.0",
            {"reports/load.json: rps": {"old": None, "new": 900.0}},
            {"train.C": {"old": 1.0, "new": 0.5}},
            {},
            "Model: parameters changed: train.C.",
        ),
        (
            "v0.1.0",
            {},
            {},
            {"train data sha256": ("a", "b")},
            "Model: retrained (train data sha256 changed), metrics as in v0.1.0.",
        ),
        ("v0.1.0", {}, {}, {}, "No model change since v0.1.0."),
    ],
    ids=["first", "metrics-and-params", "params-and-load-figures", "data-only", "none"],
)
def test_the_changelog_line_says_the_models_change_in_one_line(release, previous, metrics, params, hashes, line):
    assert release.ModelChanges(previous, metrics, params, hashes).line() == line


def test_the_tag_message_is_the_changelog_line_naming_the_build(release):
    changes = release.ModelChanges("v0.1.0", {}, {}, {})
    assert release.tag_message(running(release), changes) == (
        "Ships build `0.2.0-ccccccc` (production). No model change since v0.1.0."
    )


# --- the forge's calls: plain data ---------------------------------------------------------------


def test_the_forges_release_is_created_or_updated_and_its_report_uploaded_again(module):
    forge = module("core.forge")
    site = forge.GitHub()
    made = forge.Release("v0.2.0", "v0.2.0", "# notes\n", ("/tmp/x/evaluation_report.md",))
    create, upload = site.release_calls(made, exists=False)
    assert create.args == (
        "release", "create", "v0.2.0", "--verify-tag", "--title", "v0.2.0", "--notes-file", "-",
    ) and create.stdin == "# notes\n"  # fmt: skip
    assert upload.args == ("release", "upload", "v0.2.0", "/tmp/x/evaluation_report.md", "--clobber")
    edit, again = site.release_calls(made, exists=True)
    assert edit.args[:3] == ("release", "edit", "v0.2.0") and edit.stdin == "# notes\n" and again == upload
    assert str(site.release_query("v0.2.0")) == "gh release view v0.2.0 --json url"


def test_the_dry_run_plans_every_push_and_call_and_no_pull_request_once_the_changelog_is_merged(
    release, module, repo, git
):
    git("switch", "--quiet", "-c", "release/v0.2.1", cwd=repo)
    git("commit", "--quiet", "--allow-empty", "-m", "chore(release): v0.2.1", cwd=repo)
    git("switch", "--quiet", "main", cwd=repo)
    site, asset = module("core.forge").GitHub(), Path("/tmp/x/evaluation_report.md")
    made = release.Release("v0.2.1", running(release), "notes", "release/v0.2.1", merged=False, resumed=True)
    lines = release.plan(site, made, "origin", "main", asset)
    assert lines[1].startswith("git push origin refs/tags/v0.2.1")
    assert "gh release create v0.2.1 --verify-tag --title 'v0.2.1 (build 0.2.0-ccccccc)' --notes-file -" in lines
    assert lines[-2:] == [
        "git push origin release/v0.2.1",
        "gh pr create --base main --head release/v0.2.1 --title 'chore(release): v0.2.1' --body-file -",
    ]
    merged = release.Release("v0.2.1", running(release), "notes", "release/v0.2.1", merged=True, resumed=True)
    assert not any("gh pr" in line for line in release.plan(site, merged, "origin", "main", asset))


# --- the git facts, on real repositories -----------------------------------------------------------


@pytest.fixture
def repo(private_git, git, monkeypatch) -> Path:
    """A repository on main with three commits (the first two tagged), and a bare clone as `origin`; the cwd."""
    work = private_git / "repo"
    work.mkdir()
    git("init", "--quiet", "-b", "main", cwd=work)
    for message in ("first", "second", "third"):
        git("commit", "--quiet", "--allow-empty", "-m", message, cwd=work)
    git("tag", "v0.1.0", "HEAD~2", cwd=work)  # lightweight
    git("tag", "--annotate", "v0.2.0", "HEAD~1", "-m", "annotated", cwd=work)
    git("tag", "v0.3", "HEAD", cwd=work)  # no release tag
    git("clone", "--quiet", "--bare", str(work), str(private_git / "origin.git"), cwd=private_git)
    git("remote", "add", "origin", str(private_git / "origin.git"), cwd=work)
    monkeypatch.chdir(work)
    return work


def test_release_tags_name_the_commits_they_are_on(gitmod, repo, git):
    commits = [git("rev-parse", f"HEAD~{n}", cwd=repo) for n in (2, 1, 0)]
    assert gitmod.release_tags() == {"v0.1.0": commits[0], "v0.2.0": commits[1]}, "annotated tags peeled"
    assert gitmod.commit_of(commits[1][:7]) == commits[1] and gitmod.commit_of("f" * 7) is None
    assert gitmod.is_ancestor(commits[0], "HEAD") and not gitmod.is_ancestor(commits[2], commits[0])


def test_the_remotes_tag_is_read_where_it_points(gitmod, repo, git):
    assert gitmod.remote_tag("origin", "v0.2.0") == git("rev-parse", "HEAD~1", cwd=repo)
    assert gitmod.remote_tag("origin", "v0.1.0") == git("rev-parse", "HEAD~2", cwd=repo)
    assert gitmod.remote_tag("origin", "v9.9.9") is None


def test_a_tag_the_remote_has_on_another_commit_is_an_error_naming_the_fix(release, repo, git):
    git("tag", "--delete", "v0.2.0", cwd=repo)
    git("tag", "--annotate", "v0.2.0", "HEAD", "-m", "made here meanwhile", cwd=repo)
    head = git("rev-parse", "HEAD", cwd=repo)
    with pytest.raises(SystemExit) as failed:
        release.push_tag("origin", "v0.2.0", head)
    message = str(failed.value.code)
    assert (
        message.startswith("error: origin has v0.2.0 on ") and "git tag --delete v0.2.0 && git fetch --tags" in message
    )
    git("tag", "v0.4.0", "HEAD", cwd=repo)
    release.push_tag("origin", "v0.4.0", head)  # pushed for real
    release.push_tag("origin", "v0.4.0", head)  # and again: nothing to do
    assert git("rev-parse", "v0.4.0", cwd=repo.parent / "origin.git") == head
