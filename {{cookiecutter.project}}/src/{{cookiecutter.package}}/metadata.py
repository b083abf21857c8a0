"""Metadata: the release tag (semantic version + short commit) and what the service reports about itself.

`python -m <package>.metadata` writes reports/build.json and prints the tag; `make build` calls it
before `bentoml build`, so the bento, its tag and the service's /metadata agree.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
from datetime import UTC, datetime

from . import __version__, paths
from .records import read_json, write_json

log = logging.getLogger(__name__)
SEMVER_TAG = re.compile(r"^v?(\d+\.\d+\.\d+)$")


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip() or None


def release_version() -> str:
    """The highest `vX.Y.Z` release tag reachable from HEAD (pre-releases skipped), else the package version."""
    tags = (_git("tag", "--merged", "HEAD", "--list", "v[0-9]*") or "").split()
    releases = [m.group(1) for m in map(SEMVER_TAG.match, tags) if m]
    if not releases:
        return __version__
    return max(releases, key=lambda v: tuple(int(part) for part in v.split(".")))


def build_info() -> dict:
    """Version, commit and tag of what is being built now."""
    version, commit = release_version(), _git("rev-parse", "--short=7", "HEAD") or "nogit"
    return {
        "model_version": version,
        "git_commit": commit,
        "version": f"{version}-{commit}",
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def describe(build: dict) -> dict:
    """Everything /metadata answers: the build plus the pipeline's records."""
    info = dict(build)
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


def read_metadata() -> dict:
    """The built metadata (reports/build.json) or, before a build, the same facts now."""
    live = describe(build_info())
    if paths.BUILD_RECORD.exists():
        built = json.loads(paths.BUILD_RECORD.read_text())
        if built.get("model_sha256") == live["model_sha256"]:
            return built
        log.warning("%s is for another model: reporting the current one (run `make build`)", paths.BUILD_RECORD)
    return live


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    info = describe(build_info())
    write_json(paths.BUILD_RECORD, info)
    print(info["version"])


if __name__ == "__main__":
    main()
