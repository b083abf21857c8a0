"""Build facts: the release version and tag, and what the service reports about itself (`/metadata`).

The version's one source is `pyproject.toml` (read through `importlib.metadata` as `__version__`)
until the first `vX.Y.Z` release tag; after that, the newest release tag reachable from HEAD.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
from datetime import UTC, datetime
from typing import Any

from .. import __version__
from . import paths
from .artifacts import read_json

log = logging.getLogger(__name__)
SEMVER_TAG = re.compile(r"^v?(\d+\.\d+\.\d+)$")


def git(*args: str) -> str | None:
    """A git command's output, or None outside a repository or on failure."""
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip() or None


def release_version() -> str:
    """The highest `vX.Y.Z` release tag reachable from HEAD (pre-releases skipped), else the package version."""
    tags = (git("tag", "--merged", "HEAD", "--list", "v[0-9]*") or "").split()
    releases = [m.group(1) for m in map(SEMVER_TAG.match, tags) if m]
    if not releases:
        return __version__
    return max(releases, key=lambda v: tuple(int(part) for part in v.split(".")))


def build_info() -> dict[str, str]:
    """Version, commit and tag of what is being built now, and when."""
    version, commit = release_version(), git("rev-parse", "--short=7", "HEAD") or "nogit"
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
