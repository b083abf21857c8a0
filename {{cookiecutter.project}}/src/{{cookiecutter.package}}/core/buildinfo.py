"""Build facts: the version a build is called, and what the service reports about itself (`/metadata`).

A build of commit C is called `X.Y.Z-<C>`, where X.Y.Z is what a release of C would be called:
git-cliff's next version at C (cliff.toml: the conventional commits since the last `vX.Y.Z` tag;
a tagged commit keeps its tag's). `make release` tags the commit production runs with that
version, so the release, the image tag and /metadata agree (a release whose name was taken in
the meantime names the build it ships). The version's one source is the tags: pyproject.toml's
`version` (`__version__`) is only the fallback where git or git-cliff is missing (a bento's copy,
a folder without a repository) and before a first commit.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from . import paths
from .artifacts import read_json
from .git import GitError, git_or_none, latest_release_tag

log = logging.getLogger(__name__)
CLIFF_CONFIG = Path("cliff.toml")  # git-cliff's settings: how commits bump the version
SEMVER = re.compile(r"^v?(\d+\.\d+\.\d+)$")


def next_version(commit: str | None = None) -> str | None:
    """git-cliff's version for `commit` (a full sha; default HEAD) without its `v`; None without git-cliff or git."""
    if not CLIFF_CONFIG.is_file():
        return None
    command = [str(Path(sys.executable).with_name("git-cliff")), "--config", str(CLIFF_CONFIG), "--bumped-version"]
    try:
        result = subprocess.run([*command, *([commit] if commit else [])], capture_output=True, text=True)
    except OSError:
        return None
    lines = result.stdout.split()
    found = SEMVER.match(lines[-1]) if result.returncode == 0 and lines else None
    return found.group(1) if found else None


def release_version() -> str:
    """The version a build of HEAD is called (`next_version`); without git-cliff the newest release tag
    reachable from HEAD; without either, the package's."""
    bumped = next_version()
    if bumped:
        return bumped
    try:
        tag = latest_release_tag()
    except GitError:  # no repository, no git: a bento's own copy, say
        tag = None
    return tag[1:] if tag else __version__


def build_info() -> dict[str, str]:
    """Version, commit and tag of what is being built now, and when."""
    version, commit = release_version(), git_or_none("rev-parse", "--short=7", "HEAD") or "nogit"
    return {
        "model_version": version,
        "git_commit": commit,
        "version": f"{version}-{commit}",
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def describe(build: dict[str, str]) -> dict[str, Any]:
    """Everything /metadata answers: the build plus the pipeline's records."""
    info: dict[str, Any] = dict(build)
    prepare = read_json(paths.PREPARE_RECORD, "prepare")
    trained = read_json(paths.TRAIN_RECORD, "train")
    metrics = read_json(paths.METRICS, "evaluate")
    info.update(
        train_data_sha256=prepare["train"]["sha256"],
        test_data_sha256=prepare["test"]["sha256"],
        model_sha256=trained["model_sha256"],
        estimator=trained["estimator"],
        metrics=metrics["metrics"],
        gate_passed=metrics["gate"]["passed"],
    )
    return info


def read_metadata() -> dict[str, Any]:
    """The built metadata (reports/build.json) or, before a build, the same facts now."""
    live = describe(build_info())
    if paths.BUILD_RECORD.exists():
        built: dict[str, Any] = json.loads(paths.BUILD_RECORD.read_text())
        if built.get("model_sha256") == live["model_sha256"]:
            return built
        log.warning("%s is for another model: reporting the current one (run `make build`)", paths.BUILD_RECORD)
    return live
