"""Environments as code: the desired state of each environment lives in `deploy/<env>/`, in git.

`local` is `deploy/local/environment.yaml` (the version of the bento to serve on this machine, its
port, workers and settings). A Kubernetes environment (`staging`, `production`) is its Kustomize
overlay `deploy/<env>/kustomization.yaml`, whose image tag is the version that runs there; Argo CD
makes the cluster follow it. Every command that deploys, promotes or rolls back reads them here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from . import paths

DEPLOY = Path("deploy")
LOCAL_FILE = "environment.yaml"
OVERLAY_FILE = "kustomization.yaml"
# The image tag of an overlay that nothing was promoted to yet.
PLACEHOLDER = "0.0.0-unreleased"
# A bento version as `make build` makes it: <semver>-<commit>.
VERSION = re.compile(r"^\d+\.\d+\.\d+-[0-9a-f]{7,40}$")


class DeployError(SystemExit):
    """An environment or a version that cannot be used; the message names the fix."""


@dataclass(frozen=True)
class Environment:
    """One environment and the file that holds its desired state."""

    name: str
    kind: Literal["local", "kubernetes"]
    path: Path

    @property
    def version(self) -> str:
        """The version the desired state asks for ('' when nothing is deployed yet)."""
        data = self.read()
        if self.kind == "local":
            return str(data.get("version") or "")
        tag = str(data["images"][0].get("newTag") or "")
        return "" if tag == PLACEHOLDER else tag

    def read(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(self.path.read_text()) or {}
        return data

    def with_version(self, version: str) -> str:
        """The text of the desired state moved to `version` (nothing else changes)."""
        if self.kind == "local":
            text = self.path.read_text()
            new, count = re.subn(r"(?m)^version:.*$", f"version: {version!r}", text)
            if count != 1:
                raise DeployError(f"error: {self.path} has no `version:` line — restore it from git")
            return new
        data = self.read()
        data["images"][0]["newTag"] = version
        return str(yaml.safe_dump(data, sort_keys=False))


def known() -> dict[str, Environment]:
    """Every environment `deploy/` defines, by name."""
    found = {}
    for folder in sorted(p for p in DEPLOY.iterdir() if p.is_dir()) if DEPLOY.is_dir() else []:
        if (folder / LOCAL_FILE).is_file():
            found[folder.name] = Environment(folder.name, "local", folder / LOCAL_FILE)
        elif (folder / OVERLAY_FILE).is_file() and folder.name != "base":
            found[folder.name] = Environment(folder.name, "kubernetes", folder / OVERLAY_FILE)
    return found


def get(name: str) -> Environment:
    """The environment called `name`, or say which exist."""
    environments = known()
    if name not in environments:
        raise DeployError(
            f"error: unknown environment {name!r} — use one of {', '.join(environments) or '(none in deploy/)'}"
        )
    return environments[name]


def log_source(name: str) -> str | None:
    """Where environment `name`'s prediction log can be read: a local deployment's monitoring folder when it
    holds a log, or the sink a Kubernetes overlay names (MODELOPS_LOG_SINK); None when there is none."""
    environment = get(name)
    if environment.kind == "local":
        folder = paths.live_data(name)  # its log under predictions/ (serving.predictionlog.PREDICTIONS)
        return str(folder) if any((folder / "predictions").rglob("*.jsonl")) else None
    for generator in environment.read().get("configMapGenerator") or []:
        for literal in generator.get("literals") or []:
            setting, _, value = str(literal).partition("=")
            if setting == "MODELOPS_LOG_SINK" and value:
                return value
    return None


def check_version(version: str) -> str:
    """A version `make build` could have made, or say what one looks like."""
    if not VERSION.match(version):
        raise DeployError(
            f"error: {version!r} is not a build version (<semver>-<commit>, e.g. 0.1.0-1a2b3c4)"
            " — `make build` prints it; `bentoml list` shows the built ones"
        )
    return version
