"""Build facts: the release version and tag, and what the service reports about itself (`/metadata`).

The version's one source is `pyproject.toml` (read through `importlib.metadata` as `__version__`)
until the first `vX.Y.Z` release tag; after that, the newest release tag reachable from HEAD.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from .. import __version__
from . import paths
from .artifacts import read_json
from .git import GitError, git_or_none, latest_release_tag

log = logging.getLogger(__name__)


def release_version() -> str:
    """The newest `vX.Y.Z` release tag reachable from HEAD, without its `v`; before the first, the package version."""
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
