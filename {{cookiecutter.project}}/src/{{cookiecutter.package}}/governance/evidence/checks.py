"""The checks of the evidence: one per kind of piece (file, dvc, make, workflow, tag, history), each a `Finding`.

A piece is present, current (not older than what it documents) and, from its `filled` point, free
of the template's `(fill in)` placeholders; `evaluate` checks every piece of the map once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ...core import paths
from ...core.records import MonitorSummary, RecordError
from .facts import Dated, Facts, dated, day, git, lock_outs, model_changed_at, model_md5
from .map import Duty, EvidenceMap, Piece

PLACEHOLDER = re.compile(r"\(fill in\b[^)]*\)")  # what the template leaves in the pages the team writes
DEPLOYED = ("ok", "unchanged")  # results of a deployment that left the desired version running


@dataclass(frozen=True)
class Finding:
    """One piece checked: whether it exists, its version or date, and what is wrong (None: nothing)."""

    exists: bool
    version: str
    problem: str | None = None
    point: str = "always"  # from which point the problem fails (the piece's `when`, or its `filled`)
    path: Path | None = None  # the file the piece resolved to, for the page's link


@dataclass(frozen=True)
class Row:
    duty: Duty
    piece: Piece
    finding: Finding
    required: bool
    skipped: bool = False  # its point was reached but left out (--skip)

    @property
    def failed(self) -> bool:
        return self.required and self.finding.problem is not None

    @property
    def verdict(self) -> str:
        problem = self.finding.problem
        if problem is None:
            return "ok"
        if self.required:
            return f"FAIL: {problem}"
        why = f"{self.finding.point} skipped" if self.skipped else f"until {self.finding.point}"
        return f"not required ({why}): {problem}"


def read_data(path: Path) -> Any:
    """A YAML or JSON file's data; None when it does not parse."""
    try:
        return yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError):
        return None


def record(path: Path) -> dict[str, Any]:
    data = read_data(path)
    return data if isinstance(data, dict) else {}


def lookup(data: Any, key: str) -> Any:
    for part in key.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def resolve(piece: Piece, facts: Facts) -> Path | None:
    """The file a path names: `{tag}` filled, a glob's newest match by name (None: nothing matches)."""
    name = piece.name
    if "{tag}" in name:
        if facts.tag is None:
            return None
        name = name.replace("{tag}", facts.tag)
    if any(c in name for c in "*?["):
        matches = sorted(Path().glob(name))
        return matches[-1] if matches else None
    return Path(name)


def describe_changes(changes: Any) -> str:
    """dvc status' entry for one stage as a phrase: `changed deps: params.yaml`."""
    parts = []
    for change in changes if isinstance(changes, list) else [changes]:
        if isinstance(change, dict):
            for what, files in change.items():
                names = ", ".join(sorted(files)) if isinstance(files, dict) else str(files)
                parts.append(f"{what}: {names}")
        else:
            parts.append(str(change))
    return "; ".join(parts)


def stage_problem(stage: str, facts: Facts) -> str | None:
    """Why `dvc status` finds the stage (`all`: any) or one it reads from changed; None: up to date."""
    if facts.dvc_status is None:
        return f"stale: `dvc status` failed ({facts.dvc_error})"
    before = facts.upstream.get(stage, frozenset())
    changed = {k: v for k, v in facts.dvc_status.items() if stage in ("all", k) or k in before}
    if not changed:
        return None
    return "stale: dvc status: " + "; ".join(
        f"{'' if stage in ('all', name) else 'upstream '}{name} ({describe_changes(v)})" for name, v in changed.items()
    )


def current_problem(piece: Piece, path: Path, when: Dated, facts: Facts) -> str | None:
    """What makes an existing piece older than what it documents (None: it is current)."""
    if piece.check == "stage":
        return stage_problem(str(piece.against), facts)
    if piece.check == "newer_than":
        other = dated(Path(str(piece.against)))
        if other is not None and when.time < other.time:
            return f"stale: older than {piece.against} ({other.label})"
        return None
    if piece.check == "model" and piece.against == "sha256":
        built, trained = record(path).get("model_sha256"), record(paths.TRAIN_RECORD).get("model_sha256")
        return None if built and built == trained else f"stale: made from another model than {paths.TRAIN_RECORD}'s"
    if piece.check == "model":
        arrived = model_changed_at()
        if arrived is not None and when.time < arrived:
            return f"stale: older than the model in {paths.LOCK} ({day(arrived)})"
        return None
    if piece.check == "mentions":
        if facts.tag and facts.tag not in path.read_text():
            return f"stale: does not name the release {facts.tag}"
        return None
    if piece.check == "versions":
        judged = judged_versions(path)
        if facts.desired and not judged & set(facts.desired.values()):
            names = ", ".join(f"{env} {v}" for env, v in sorted(facts.desired.items()))
            return f"stale: judged {', '.join(sorted(judged)) or 'nothing'}, deploy/ names {names}"
    return None


def judged_versions(path: Path) -> set[str]:
    """The versions a monitor summary judged (none when it is unreadable: a gap, not a crash)."""
    try:
        summary = MonitorSummary.read(path)
    except RecordError:
        return set()
    return set(summary.model_versions) | set(summary.versions_in_log)


def check_file(piece: Piece, facts: Facts) -> Finding:
    path = resolve(piece, facts)
    when = dated(path) if path is not None else None
    if path is None or when is None:
        why = "missing: no release tag yet" if "{tag}" in piece.name and facts.tag is None else "missing"
        return Finding(False, "", why, piece.when)
    version = when.label
    if piece.key:
        value = lookup(read_data(path), piece.key)
        if value in (None, "", {}, []):
            return Finding(True, version, f"missing: no `{piece.key}` in it", piece.when, path)
        if not isinstance(value, dict | list):
            version = f"{piece.key} = {value} · {version}"
    if piece.kind == "workflow" and str(piece.runs) not in path.read_text():
        return Finding(True, version, f"missing: it does not run `{piece.runs}`", piece.when, path)
    problem = current_problem(piece, path, when, facts)
    if problem:
        return Finding(True, version, problem, piece.when, path)
    if piece.filled:
        left = PLACEHOLDER.findall(path.read_text())
        if left:
            return Finding(True, version, f"unfilled: {len(left)} × `{left[0]}` left", piece.filled, path)
    return Finding(True, version, None, piece.when, path)


def check_dvc(piece: Piece, facts: Facts) -> Finding:
    tracked = lock_outs(paths.LOCK.read_text() if paths.LOCK.is_file() else None).get(piece.name)
    if tracked is None:
        return Finding(False, "", f"missing: not an output in {paths.LOCK}", piece.when)
    version = f"md5 `{tracked[1][:8]}`"
    if not Path(piece.name).exists():
        return Finding(False, version, "missing: not in the work tree (`make pull`)", piece.when)
    problem = stage_problem(str(piece.against or tracked[0]), facts)
    return Finding(True, version, problem, piece.when, Path(piece.name))


def check_make(piece: Piece, facts: Facts) -> Finding:
    if piece.name not in facts.targets:
        return Finding(False, "", f"missing: no target `{piece.name}` in {paths.MAKEFILE}", piece.when)
    return Finding(True, str(paths.MAKEFILE), None, piece.when, paths.MAKEFILE)


def check_tag(piece: Piece, facts: Facts) -> Finding:
    if facts.tag is None:
        return Finding(False, "", "missing: no release tag vX.Y.Z reachable from HEAD", piece.when)
    stamp = git("for-each-ref", "--format=%(creatordate:unix)", f"refs/tags/{facts.tag}")
    version = f"{facts.tag} {day(float(stamp))}" if stamp else facts.tag
    if model_md5(facts.tag) != model_md5(None):
        return Finding(True, version, f"stale: the model changed since {facts.tag} ({paths.LOCK})", piece.when)
    return Finding(True, version, None, piece.when)


def check_history(piece: Piece, facts: Facts) -> Finding:
    """The last deployment of each local environment is a success at its desired version, made after it."""
    path = Path(piece.name)
    if not facts.local:
        kubernetes = ", ".join(f"deploy/{env}" for env in sorted(facts.desired))
        if kubernetes:  # Argo CD deploys them: their history is git's
            return Finding(True, f"`git log -- {kubernetes}`", None, piece.when)
        return Finding(path.is_file(), "", None if path.is_file() else "missing", piece.when)
    if not path.is_file():
        return Finding(False, "", "missing", piece.when)
    shown, problems = [], []
    for env, desired_file in sorted(facts.local.items()):
        wanted = facts.desired[env]
        events = [e for e in facts.events if e.env == env]
        if not events:
            problems.append(f"no deployment of {env} recorded")
            continue
        last = events[-1]
        shown.append(f"{env} {last.version or '-'} {last.time[:10]}")
        changed = dated(desired_file)
        stamp = datetime.fromisoformat(last.time).timestamp() if last.time else 0.0
        if last.result not in DEPLOYED:
            problems.append(f"the last deployment of {env} {last.result}")
        elif last.version != wanted:
            problems.append(f"{env} last deployed {last.version}, {desired_file} names {wanted}")
        elif changed is not None and stamp < changed.time:
            problems.append(f"{desired_file} changed after the last deployment of {env}")
    problem = f"stale: {'; '.join(problems)}" if problems else None
    return Finding(True, "; ".join(shown), problem, piece.when, path)


CHECKS: dict[str, Callable[[Piece, Facts], Finding]] = {
    "file": check_file,
    "workflow": check_file,
    "dvc": check_dvc,
    "make": check_make,
    "tag": check_tag,
    "history": check_history,
}


def evaluate(evidence: EvidenceMap, facts: Facts) -> list[Row]:
    """Every piece of every duty, checked once each."""
    found: dict[Piece, Finding] = {}
    rows = []
    for duty in evidence.duties:
        for piece in duty.pieces:
            if piece not in found:
                found[piece] = CHECKS[piece.kind](piece, facts)
            finding = found[piece]
            rows.append(Row(duty, piece, finding, facts.required(finding.point), finding.point in facts.skipped))
    return rows
