"""Tests of core/storage: `make push` / `make pull` with real DVC against moto's S3 server, and the one-line errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

DVC = str(Path(sys.executable).with_name("dvc"))
SOURCE = b"a,b,target\n1,x,0\n2,y,1\n"
NO_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


@pytest.fixture
def storage(module):
    return module("core.storage")


IDENTITY = ("-c", "user.name=Storage Test", "-c", "user.email=storage@example.com")


def run(*command: str, cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def base_project(tmp_path_factory) -> Path:
    """A git + DVC project holding a `dvc add`-ed CSV, made once (DVC's start-ups are the cost here)."""
    folder = tmp_path_factory.mktemp("storage") / "base"
    folder.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DVC_SITE_CACHE_DIR", str(folder.parent / ".dvc-site"))
        patch.setenv("DVC_NO_ANALYTICS", "1")
        run("git", "init", "--quiet", "--initial-branch=main", cwd=folder)
        run(DVC, "init", "--quiet", cwd=folder)
        (folder / "data/external").mkdir(parents=True)
        (folder / "data/external/source.csv").write_bytes(SOURCE)
        run(DVC, "add", "--quiet", "data/external/source.csv", cwd=folder)
        run("git", "add", "--all", cwd=folder)
        run("git", *IDENTITY, "commit", "--quiet", "-m", "project", cwd=folder)
    return folder


@pytest.fixture
def make_project(base_project, private_git, monkeypatch):
    """`make_project(remote, added=True)`: a copy of the base project whose committed default remote is
    `remote` (without the CSV when not `added`), in the cwd's `project/`; DVC's site cache kept here."""
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(private_git / ".dvc-site"))
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")

    def make(remote: str, added: bool = True) -> Path:
        folder = private_git / "project"
        shutil.copytree(base_project, folder, symlinks=True)
        (folder / ".dvc/config").write_text(
            f"[core]\n    autostage = true\n    remote = storage\n['remote \"storage\"']\n    url = {remote}\n"
        )
        if not added:
            run("git", "rm", "--quiet", "data/external/source.csv.dvc", cwd=folder)
        run("git", "commit", "--quiet", "-am", "the remote", cwd=folder)
        return folder

    return make


def no_credentials(monkeypatch, folder: Path) -> None:
    """No AWS credentials anywhere botocore looks (variables, files, instance metadata)."""
    for name in NO_CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-aws/credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "no-aws/config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.slow
def test_push_to_s3_then_a_fresh_clone_pulls_the_same_bytes(storage, s3_env, make_project, private_git, monkeypatch):
    remote = f"s3://{s3_env.bucket}/storage/{uuid.uuid4().hex}/dvc"
    project = make_project(remote)
    monkeypatch.chdir(project)
    storage.main(["push"])

    clone = private_git / "clone"
    run("git", "clone", "--quiet", str(project), str(clone), cwd=private_git)
    assert not (clone / "data/external/source.csv").exists()
    monkeypatch.chdir(clone)
    storage.main(["pull"])
    assert (clone / "data/external/source.csv").read_bytes() == SOURCE


def test_a_missing_laptop_folder_remote_names_the_setting_when_data_needs_it(
    storage, make_project, private_git, monkeypatch
):
    project = make_project("../../project-dvc-storage")
    monkeypatch.chdir(project)
    with pytest.raises(SystemExit) as stopped:
        storage.main(["pull"])
    message = str(stopped.value.code)
    assert message.count("\n") == 0, message
    assert "the DVC remote is the laptop folder ../project-dvc-storage, which is not here" in message
    assert "data/external/source.csv.dvc" in message and "MODELOPS_DVC_REMOTE=s3://" in message
    assert "storage=s3" in message


def test_a_missing_folder_remote_is_no_error_when_the_pipeline_rebuilds_everything(
    storage, make_project, private_git, monkeypatch
):
    project = make_project("../../project-dvc-storage", added=False)
    monkeypatch.chdir(project)
    storage.main(["pull"])  # no SystemExit


def test_no_credentials_for_s3_names_oidc_and_the_secrets(storage, make_project, private_git, monkeypatch):
    project = make_project("s3://modelops-tests/nowhere/dvc")
    no_credentials(monkeypatch, private_git)
    monkeypatch.chdir(project)
    for direction in ("pull", "push"):
        with pytest.raises(SystemExit) as stopped:
            storage.main([direction])
        message = str(stopped.value.code)
        assert message.startswith("error: no credentials for s3://modelops-tests/nowhere/dvc — "), message
        assert "AWS_ROLE_ARN (OIDC)" in message and "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in message


@pytest.mark.slow
def test_data_the_remote_lacks_names_make_push(storage, s3_env, make_project, private_git, monkeypatch):
    """A remote that is there but was never pushed to: the added CSV cannot arrive, and the error says so."""
    remote = f"s3://{s3_env.bucket}/storage/{uuid.uuid4().hex}/dvc"
    project = make_project(remote)
    clone = private_git / "clone"
    run("git", "clone", "--quiet", str(project), str(clone), cwd=private_git)
    monkeypatch.chdir(clone)
    with pytest.raises(SystemExit) as stopped:
        storage.main(["pull"])
    message = str(stopped.value.code)
    assert f"data/external/source.csv is not in the DVC remote {remote} — run `make push`" in message, message


def test_an_override_remote_from_the_environment_is_used(storage, make_project, private_git, monkeypatch):
    """MODELOPS_DVC_REMOTE names another folder: the push lands there, the default stays untouched."""
    project = make_project("../../project-dvc-storage")
    other = private_git / "elsewhere"
    monkeypatch.chdir(project)
    monkeypatch.setenv("MODELOPS_DVC_REMOTE", str(other))
    storage.main(["push"])
    assert any(p.is_file() for p in other.rglob("*")), f"nothing pushed to {other}"
    assert not (private_git / "project-dvc-storage").exists()
