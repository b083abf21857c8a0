"""storage=s3, the CI path for real: push to an S3 server on loopback, then a fresh clone given only the remote
reproduces the pipeline of a merged retraining proposal, which tracks production data with DVC.

The project and the S3 server are conftest.py's `s3_project`, which tests/test_dataplane.py serves next: the
server is moto's, started with the generated project's own tests/services.py (its venv has moto); the
endpoint reaches DVC through AWS_ENDPOINT_URL, as the workflows' object-store step sets it. The test leaves
the project committed and clean.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from support.lifecycle import Lifecycle, S3Project, sha256
from support.processes import run

pytestmark = pytest.mark.slow

IDENTITY = ("-c", "user.name=Storage Test", "-c", "user.email=storage@example.invalid")
MODEL = "models/model.joblib"
PRODUCTION = "data/production/train.csv"  # production records, DVC-tracked once a retraining is merged


def fresh_clone(project: Lifecycle, name: str) -> Path:
    clone = project.scratch / name
    run(["git", "clone", "--quiet", str(project.path), str(clone)], cwd=project.scratch)
    return clone


def commit(project: Lifecycle, message: str) -> None:
    run(["git", "add", "--all"], cwd=project.path)
    run(["git", *IDENTITY, "commit", "--quiet", "--no-verify", "-m", message], cwd=project.path)


def share_the_venv(project: Lifecycle, clone: Path) -> None:
    """The clone uses the project's .venv, as a CI job restores a cached one for the same lock: `make install` from
    the lock is every lifecycle class's first test. The clone's lock and pyproject.toml are dated before the venv's
    markers, so make installs nothing (an install would point the venv's editable package at the clone)."""
    venv = project.path / ".venv"
    (clone / ".venv").symlink_to(venv)
    with (clone / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write("/.venv\n")  # .gitignore's `.venv/` matches a folder, not a link to one
    made = min((venv / marker).stat().st_mtime for marker in (".synced", ".installed"))
    for rel in ("requirements-dev.lock", "requirements.lock", "pyproject.toml"):
        os.utime(clone / rel, (made - 1, made - 1))


def reproduce_in_a_fresh_clone(project: Lifecycle, s3: dict[str, str], name: str) -> tuple[Path, dict[str, float]]:
    """`make install pull pipeline` in a fresh clone given only the remote: the pushed model and production data,
    no stage rerun."""
    clone = fresh_clone(project, name)
    assert not (clone / MODEL).exists() and not (clone / PRODUCTION).exists()
    env = {**project.env, **s3}
    share_the_venv(project, clone)
    times = {}
    start = time.monotonic()
    installed = run(["make", "install", f"PYTHON={project.python}"], cwd=clone, env=env).stdout
    assert " pip " not in installed, f"make install reinstalled the shared .venv:\n{installed[-1500:]}"
    times["install"] = time.monotonic() - start
    start = time.monotonic()
    run(["make", "pull"], cwd=clone, env=env)
    times["pull"] = time.monotonic() - start
    out = run(["make", "pipeline"], cwd=clone, env=env).stdout
    assert sha256(clone / MODEL) == sha256(project.path / MODEL), "the clone's model is not the pushed one"
    assert (clone / PRODUCTION).read_bytes() == (project.path / PRODUCTION).read_bytes()
    assert "Running stage" not in out, f"make pipeline reran stages after the pull:\n{out[-2000:]}"
    status = run([clone / ".venv/bin/dvc", "status", "--quiet"], cwd=clone, env=project.env, check=False)
    assert status.returncode == 0, f"dvc status is not clean in the clone:\n{status.stdout}"
    return clone, times


def test_a_fresh_clone_given_only_the_remote_reproduces_a_merged_retraining_proposal(s3_project: S3Project):
    """What a merged retraining proposal leaves, committed and pushed (`make publish` pushes with storage.push, as
    `make push` does): data/production moved from git to DVC, dvc.lock moved on. A fresh clone given only the
    remote pulls the model and that data and reruns no stage.

    A new project's clone (data/production in git) takes the same path but for the checkout of
    data/production.dvc, so it is not cloned again here; the project's own tests/code/core/test_storage.py
    pushes to S3 and pulls in a clone too."""
    project, s3 = s3_project.project, s3_project.env
    times = {}
    project.make("pipeline", env=s3)
    commit(project, "chore: the pipeline's records")
    rows = (project.path / "data/processed/train.csv").read_text().splitlines()[:30]  # records, as refresh writes
    (project.path / PRODUCTION).write_text("\n".join(rows) + "\n")
    run(["git", "rm", "-r", "--quiet", "--cached", "data/production"], cwd=project.path)
    project.dvc("add", "--quiet", "data/production")
    project.make("pipeline", env=s3)
    commit(project, "feat(model): retrain on 29 production records")
    start = time.monotonic()
    project.make("push", env=s3)
    times["push"] = time.monotonic() - start
    _, times["clone"] = reproduce_in_a_fresh_clone(project, s3, "clone")
    print(f"seconds: {times}")
