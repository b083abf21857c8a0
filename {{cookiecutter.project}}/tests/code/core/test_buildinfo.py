"""Unit tests of core/buildinfo: a build's version (git-cliff's at its commit; the tags without it), /metadata."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess

import pytest


@pytest.fixture
def outside_git(tmp_path, monkeypatch):
    """An empty working directory that git sees as no repository, even when run from a git hook."""
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def git_repo(outside_git):
    """An empty git repository as the working directory; `git_repo("commit", ...)` runs git in it."""
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]

    def git(*args: str) -> str:
        command = ["git", *identity, *args]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    return git


@pytest.fixture
def version(pkg) -> str:
    """The package version (pyproject.toml, through the installed distribution)."""
    return importlib.import_module(pkg.name).__version__


def test_a_build_is_called_what_a_release_of_its_commit_would_be(pkg, git_repo, root):
    """git-cliff's next version from the conventional commits (cliff.toml): a tagged commit keeps its tag's."""
    shutil.copy(root / "cliff.toml", "cliff.toml")
    info = pkg.core.buildinfo
    git_repo("add", "cliff.toml")
    git_repo("commit", "-q", "-m", "chore: the version's rules")
    assert info.release_version() == "0.1.0", "before any tag: cliff.toml's initial_tag"
    git_repo("tag", "-a", "v0.1.0", "-m", "the first release")
    assert info.release_version() == "0.1.0"
    git_repo("commit", "-q", "--allow-empty", "-m", "fix: a fix")
    fixed = git_repo("rev-parse", "HEAD")
    assert info.release_version() == "0.1.1"
    git_repo("commit", "-q", "--allow-empty", "-m", "feat: a feature")
    assert info.release_version() == "0.2.0"
    assert info.build_info()["version"] == f"0.2.0-{git_repo('rev-parse', '--short=7', 'HEAD')}"
    assert info.next_version(fixed) == "0.1.1", "any commit's, not only HEAD's"
    git_repo("commit", "-q", "--allow-empty", "-m", "Merge something")  # not a conventional commit
    assert info.release_version() == "0.2.0"


def test_without_git_cliff_the_version_is_the_newest_semver_tag_reachable_from_head(pkg, git_repo):
    git_repo("commit", "-q", "--allow-empty", "-m", "first")
    git_repo("tag", "v0.9.0")
    git_repo("commit", "-q", "--allow-empty", "-m", "second")
    git_repo("tag", "-a", "v0.10.0", "-m", "release 0.10.0")
    git_repo("checkout", "-q", "-b", "side")
    git_repo("commit", "-q", "--allow-empty", "-m", "elsewhere")
    git_repo("tag", "v9.0.0")  # not reachable from HEAD below
    git_repo("checkout", "-q", "-")
    git_repo("commit", "-q", "--allow-empty", "-m", "third")
    git_repo("tag", "nightly")  # on HEAD, but not a version
    git_repo("tag", "v1.0.0-rc1")  # a pre-release: skipped
    assert pkg.core.buildinfo.release_version() == "0.10.0"
    build = pkg.core.buildinfo.build_info()
    assert build["version"] == f"0.10.0-{git_repo('rev-parse', '--short=7', 'HEAD')}"


def test_release_version_without_tags_is_the_package_version(pkg, git_repo, version):
    git_repo("commit", "-q", "--allow-empty", "-m", "first")
    assert pkg.core.buildinfo.release_version() == version
    assert pkg.core.buildinfo.build_info()["version"].startswith(f"{version}-")


def test_release_version_outside_git_is_the_package_version(pkg, outside_git, version):
    assert pkg.core.buildinfo.release_version() == version
    assert pkg.core.buildinfo.build_info()["version"] == f"{version}-nogit"


def write_records(pkg, model_sha256: str) -> None:
    """The records /metadata reports, as the pipeline writes them."""
    paths, write = pkg.core.paths, pkg.core.artifacts.write_json
    write(paths.PREPARE_RECORD, {"train": {"sha256": "1" * 64}, "test": {"sha256": "2" * 64}})
    write(paths.TRAIN_RECORD, {"model_sha256": model_sha256, "estimator": "Ridge"})
    write(paths.METRICS, {"metrics": {"r2": 0.5}, "gate": {"passed": True}})


def test_metadata_is_the_build_record_of_the_same_model_else_the_current_facts(pkg, outside_git, version):
    write_records(pkg, "a" * 64)
    built = {"version": "9.9.9-abcdef0", "model_sha256": "a" * 64}
    pkg.core.artifacts.write_json(pkg.core.paths.BUILD_RECORD, built)
    assert pkg.core.buildinfo.read_metadata() == built

    write_records(pkg, "b" * 64)  # retrained since the build: reports/build.json is stale
    live = pkg.core.buildinfo.read_metadata()
    assert live["model_sha256"] == "b" * 64 and live["version"] == f"{version}-nogit"
    assert (live["train_data_sha256"], live["estimator"], live["metrics"]) == ("1" * 64, "Ridge", {"r2": 0.5})
    assert live["gate_passed"] is True
    assert json.loads(pkg.core.paths.BUILD_RECORD.read_text()) == built  # reading never rewrites it
