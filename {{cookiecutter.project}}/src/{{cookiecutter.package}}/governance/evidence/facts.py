"""What the evidence checks read besides the pieces: DVC's status, git's tags and dates, deploy/, the history.

Gathered once, at the edge (`observe`), into `Facts`; the dates and versions of a path (`dated`, the
model's hash in dvc.lock at a revision) are read here too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from ...core import environments, paths
from ...core.git import GitError, latest_release_tag
from ...core.git import git as strict_git
from ...core.records import DeploymentEvent, read_history


def git(*args: str) -> str | None:
    """A git command's output; None on failure or when it prints nothing (no repository, no such path)."""
    try:
        return strict_git(*args) or None
    except GitError:
        return None


@dataclass(frozen=True)
class Facts:
    """What the checks read besides the pieces themselves, gathered once."""

    dvc_status: dict[str, Any] | None  # stage (or .dvc file) → its changes; None when dvc could not say
    dvc_error: str
    upstream: dict[str, frozenset[str]]  # stage → the stages and .dvc files whose outputs it reads, at any depth
    tag: str | None  # the newest release tag reachable from HEAD
    desired: dict[str, str]  # environment → the version its desired state names (named ones only)
    local: dict[str, Path]  # local environments that name a version → their desired-state file
    events: tuple[DeploymentEvent, ...]  # the deployment history, oldest first
    targets: frozenset[str]  # the Makefile's targets
    reached: frozenset[str]  # the points of `when` this checkout has reached
    skipped: frozenset[str] = frozenset()  # the points left out (--skip)

    def required(self, point: str) -> bool:
        return point in self.reached and point not in self.skipped


def dvc_status() -> tuple[dict[str, Any] | None, str]:
    """`dvc status --json` of the whole pipeline (the venv's dvc): stage → changes, or None and why."""
    command = [str(Path(sys.executable).with_name("dvc")), "status", "--json"]
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    except OSError as error:
        return None, str(error)
    if result.returncode != 0:
        return None, (result.stderr or result.stdout).strip()[-300:]
    try:
        status: dict[str, Any] = json.loads(result.stdout or "{}")
    except json.JSONDecodeError:
        return None, result.stdout.strip()[-300:]
    return status, ""


def release_tag() -> str | None:
    """The newest release tag reachable from HEAD (None: none, or no repository)."""
    try:
        return latest_release_tag()
    except GitError:
        return None


def makefile_targets(text: str) -> frozenset[str]:
    return frozenset(m.group(1) for m in re.finditer(r"(?m)^([a-z][\w-]*)[ \t]*:(?!=)", text))


def reached_points(desired: Mapping[str, str], tag: str | None, retrained: bool) -> frozenset[str]:
    """The points of `when` this checkout has reached, from what git holds."""
    found = {"always"}
    if retrained:
        found.add("retrain")
    if desired:
        found.add("deploy")
    if tag:
        found.add("release")
    return frozenset(found)


def declared(entries: Any) -> set[str]:
    """The paths of a dvc.yaml `deps`/`outs` list (an entry is a path, or a path with options)."""
    return {str(next(iter(e))) if isinstance(e, dict) else str(e) for e in entries or []}


def upstream(pipeline: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Per stage of dvc.yaml, every stage and .dvc file it reads from, directly or through others:
    a stage is stale when one of them is, even before `dvc status` can see it."""
    stages = pipeline.get("stages") or {}
    made = {
        name: declared(stage.get("outs")) | declared(stage.get("metrics")) | declared(stage.get("plots"))
        for name, stage in stages.items()
    }

    def feeds(dep: str, out: str) -> bool:
        return dep == out or dep.startswith(f"{out}/") or out.startswith(f"{dep}/")

    direct = {}
    for name, stage in stages.items():
        deps = declared(stage.get("deps"))
        direct[name] = {
            other for other, outs in made.items() if other != name and any(feeds(d, o) for d in deps for o in outs)
        }
        direct[name] |= {f"{dep}.dvc" for dep in deps if Path(f"{dep}.dvc").is_file()}
    found = {}
    for name in stages:
        seen, todo = set(), list(direct[name])
        while todo:
            other = todo.pop()
            if other not in seen:
                seen.add(other)
                todo += direct.get(other, set())
        found[name] = frozenset(seen)
    return found


def observe(skip: frozenset[str] = frozenset(), status: tuple[dict[str, Any] | None, str] | None = None) -> Facts:
    """Everything the checks need that is not a piece's own file: dvc, git tags, deploy/, the history.

    `status` is `dvc status` as `dvc_status` returns it (None: run it).
    """
    found, error = dvc_status() if status is None else status
    tag = release_tag()
    desired, local = {}, {}
    for name, environment in environments.known().items():
        version = environment.version
        if version:
            desired[name] = version
            if environment.kind == "local":
                local[name] = environment.path
    targets = makefile_targets(paths.MAKEFILE.read_text()) if paths.MAKEFILE.is_file() else frozenset()
    pipeline = yaml.safe_load(paths.PIPELINE.read_text()) if paths.PIPELINE.is_file() else {}
    reached = reached_points(desired, tag, bool(git("ls-files", "--", str(paths.PRODUCTION_POINTER))))
    events = tuple(read_history())
    return Facts(found, error, upstream(pipeline or {}), tag, desired, local, events, targets, reached, skip)


@dataclass(frozen=True)
class Dated:
    """When a piece last changed, and how to show it."""

    time: float
    label: str


def day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def newest_mtime(path: Path) -> float:
    if path.is_file():
        return path.stat().st_mtime
    times = [f.stat().st_mtime for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts]
    return max(times, default=path.stat().st_mtime)


def dated(path: Path) -> Dated | None:
    """The last commit of a committed, unchanged path; else its modification time (None: no such path)."""
    if not path.exists():
        return None
    tracked = git("ls-files", "--", str(path))
    changed = git("status", "--porcelain", "--", str(path))
    if tracked and not changed:
        last = git("log", "-1", "--format=%ct %h", "--", str(path))
        if last:
            stamp, commit = last.split()
            return Dated(float(stamp), f"`{commit}` {day(float(stamp))}")
    mtime = newest_mtime(path)
    return Dated(mtime, f"{'changed' if tracked else 'not in git'}, {day(mtime)}")


def lock_outs(text: str | None) -> dict[str, tuple[str, str]]:
    """Every output dvc.lock tracks: path → (stage, md5)."""
    data = yaml.safe_load(text or "") or {}
    found = {}
    for stage, entry in (data.get("stages") or {}).items():
        for out in entry.get("outs") or []:
            found[str(out["path"])] = (str(stage), str(out.get("md5", "")))
    return found


def model_md5(rev: str | None) -> str | None:
    """The model's hash in dvc.lock at `rev` (None: the work tree)."""
    text = git("show", f"{rev}:{paths.LOCK}") if rev else (paths.LOCK.read_text() if paths.LOCK.is_file() else None)
    return lock_outs(text).get(str(paths.MODEL), ("", None))[1]


def model_changed_at() -> float | None:
    """When the model dvc.lock holds now arrived: the oldest commit of the unbroken run with its hash,
    or dvc.lock's modification time while that hash is uncommitted."""
    now = model_md5(None)
    if now is None:
        return None
    if model_md5("HEAD") != now:
        return paths.LOCK.stat().st_mtime
    since = None
    for line in (git("log", "--format=%H %ct", "--", str(paths.LOCK)) or "").splitlines():
        commit, stamp = line.split()
        if model_md5(commit) != now:
            break
        since = float(stamp)
    return since
