"""Metadata: the release tag (semantic version + short commit) and what the service reports about itself.

`python -m <package>.metadata` writes reports/build.json and prints the tag; `make build` calls it
before `bentoml build`, so the bento, its tag and the service's /metadata agree.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from datetime import UTC, datetime

from . import __version__, paths
from .records import write_json

SEMVER_TAG = re.compile(r"^v?(\d+\.\d+\.\d+)$")


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip() or None


def release_version() -> str:
    """The newest `vX.Y.Z` tag reachable from HEAD, else the package version."""
    tag = _git("describe", "--tags", "--abbrev=0", "--match", "v[0-9]*")
    match = SEMVER_TAG.match(tag or "")
    return match.group(1) if match else __version__


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
    for path in (paths.PREPARE_RECORD, paths.TRAIN_RECORD, paths.METRICS):
        if not path.exists():
            raise SystemExit(f"error: no {path} — run `make pipeline`")
    prepare = json.loads(paths.PREPARE_RECORD.read_text())
    trained = json.loads(paths.TRAIN_RECORD.read_text())
    metrics = json.loads(paths.METRICS.read_text())
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
    if paths.BUILD_RECORD.exists():
        return json.loads(paths.BUILD_RECORD.read_text())
    return describe(build_info())


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    info = describe(build_info())
    write_json(paths.BUILD_RECORD, info)
    print(info["version"])


if __name__ == "__main__":
    main()
