"""Evidence: where the proof of each duty lives, and whether it is present, current and filled.

`make evidence` reads the map docs/evidence.yaml (for every duty of the standard and every scope
note: the files, DVC outputs, make targets, workflows, release tag and deployment history that
prove it), checks each piece, prints one row per piece (duty, evidence, exists, version or date,
check) and writes the same table with links to docs/evidence.md. Same inputs, same bytes: the
only dates are the evidence's own (its last commit, or its modification time while uncommitted).

A piece is required once the checkout has reached its `when` point, found from git: always,
retrain (data/production.dvc is tracked), deploy (an environment in deploy/ names a version),
release (a vX.Y.Z tag is reachable from HEAD). --skip leaves points out: CI skips `deploy release`,
as it deploys nothing and a release is cut after it.
Exits 1 when a required piece is missing, stale or unfilled, naming the duty, the reason and the
command to run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from ..core import cli, environments, paths
from ..core.environments import DeployError
from ..core.git import git as strict_git
from ..gitops.release import TAG
from ..reporting.render import render

MAP = Path("docs/evidence.yaml")
PAGE = Path("docs/evidence.md")
MAKEFILE = Path("Makefile")
LOCK = Path("dvc.lock")
HISTORY = Path(".deploy/history.jsonl")  # what gitops/deploy.py appends (not imported: it loads the model stack)
PRODUCTION_POINTER = Path("data/production.dvc")  # tracked once a retraining proposal is merged
POINTS = ("always", "retrain", "deploy", "release")
KINDS = ("file", "dvc", "make", "workflow", "tag", "history")
CURRENT: dict[str, tuple[str, ...] | None] = {  # each check `current:` may name, and its values (None: any name)
    "stage": None,
    "newer_than": None,
    "model": ("sha256", "date"),
    "mentions": ("tag",),
    "versions": ("deployed",),
}
PLACEHOLDER = re.compile(r"\(fill in\b[^)]*\)")  # what the template leaves in the pages the team writes
DEPLOYED = ("ok", "unchanged")  # results of a deployment that left the desired version running


def git(*args: str) -> str | None:
    """A git command's output; None on failure or when it prints nothing (no repository, no such path)."""
    try:
        return strict_git(*args) or None
    except DeployError:
        return None


class EvidenceError(SystemExit):
    """The map itself is wrong; the message names the duty and the fix."""


@dataclass(frozen=True)
class Piece:
    """One piece of evidence as the map names it."""

    what: str
    kind: str
    name: str  # the path (file, dvc, workflow, history), the target (make); "" for the tag
    when: str = "always"
    check: str | None = None  # the `current:` check, with its argument
    against: str | None = None
    key: str | None = None
    filled: str | None = None
    runs: str | None = None
    fix: str | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any], duty: str) -> Piece:
        def wrong(why: str) -> EvidenceError:
            return EvidenceError(f"error: {MAP}: duty {duty}, {data.get('what') or data}: {why} — fix the map")

        kind = str(data.get("kind", ""))
        if kind not in KINDS:
            raise wrong(f"kind {kind!r} is none of {', '.join(KINDS)}")
        name = str(data.get("target" if kind == "make" else "path", "") or "")
        if not name and kind != "tag":
            raise wrong("no `target`" if kind == "make" else "no `path`")
        for field in ("when", "filled"):
            if field in data and data[field] not in POINTS:
                raise wrong(f"`{field}: {data[field]}` is none of {', '.join(POINTS)}")
        if kind == "workflow" and not data.get("runs"):
            raise wrong("a workflow names the command it `runs`")
        current = data.get("current") or {}
        if not isinstance(current, dict) or len(current) > 1:
            raise wrong("`current:` holds one check, e.g. {stage: evaluate}")
        check, against = next(iter(current.items()), (None, None))
        values = CURRENT.get(str(check))
        if check is not None and (check not in CURRENT or (values is not None and against not in values)):
            allowed = ", ".join(f"{k}: {'|'.join(v) if v else '<name>'}" for k, v in CURRENT.items())
            raise wrong(f"`current:` `{check}: {against}` is none of {allowed}")
        return cls(
            what=str(data.get("what") or name),
            kind=kind,
            name=name,
            when=str(data.get("when", "always")),
            check=check,
            against=None if against is None else str(against),
            key=data.get("key"),
            filled=data.get("filled"),
            runs=data.get("runs"),
            fix=data.get("fix"),
        )

    @property
    def label(self) -> str:
        """The piece as a reader finds it: a path, `make <target>`, a tag."""
        if self.kind == "make":
            return f"make {self.name}"
        if self.kind == "tag":
            return "release tag vX.Y.Z"
        return self.name

    def todo(self) -> str:
        """What to do about a gap: `run `make x`` or the map's own words."""
        if not self.fix:
            return "restore it from git or the template"
        return f"run `{self.fix}`" if self.fix.startswith(("make ", "dvc ")) else self.fix


@dataclass(frozen=True)
class Duty:
    """A duty of the standard, or one of its scope notes, and the pieces that prove it."""

    id: str
    text: str
    section: str
    scope: bool
    pieces: tuple[Piece, ...]

    @property
    def label(self) -> str:
        return f"{self.section} · {self.id}" if self.scope else self.id


@dataclass(frozen=True)
class EvidenceMap:
    standard: str
    sections: dict[str, str]
    duties: tuple[Duty, ...]


@dataclass(frozen=True)
class Facts:
    """What the checks read besides the pieces themselves, gathered once."""

    dvc_status: dict[str, Any] | None  # stage (or .dvc file) → its changes; None when dvc could not say
    dvc_error: str
    upstream: dict[str, frozenset[str]]  # stage → the stages and .dvc files whose outputs it reads, at any depth
    tag: str | None  # the newest release tag reachable from HEAD
    desired: dict[str, str]  # environment → the version its desired state names (named ones only)
    local: dict[str, Path]  # local environments that name a version → their desired-state file
    events: tuple[dict[str, Any], ...]  # the deployment history
    targets: frozenset[str]  # the Makefile's targets
    reached: frozenset[str]  # the points of `when` this checkout has reached
    skipped: frozenset[str] = frozenset()  # the points left out (--skip)

    def required(self, point: str) -> bool:
        return point in self.reached and point not in self.skipped


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


# --- the map ---------------------------------------------------------------------------------------


def load_map(path: Path = MAP) -> EvidenceMap:
    if not path.is_file():
        raise EvidenceError(f"error: no {path} — restore it from git (`git checkout -- {path}`)")
    data = yaml.safe_load(path.read_text()) or {}
    sections = {str(k): str(v) for k, v in (data.get("sections") or {}).items()}
    duties = []
    for entry in data.get("duties") or []:
        ident = str(entry.get("id", ""))
        section = str(entry.get("scope_of") or ident.partition(".")[0])
        if section not in sections:
            raise EvidenceError(f"error: {path}: duty {ident!r} belongs to no section of {sorted(sections)}")
        pieces = tuple(Piece.parse(piece, ident) for piece in entry.get("evidence") or [])
        if not pieces:
            raise EvidenceError(f"error: {path}: duty {ident} names no evidence")
        duties.append(Duty(ident, str(entry.get("duty", "")), section, "scope_of" in entry, pieces))
    return EvidenceMap(str(data.get("standard", "")), sections, tuple(duties))


# --- facts, gathered at the edge ---------------------------------------------------------------------


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


def deployments() -> tuple[dict[str, Any], ...]:
    """The deployment history, oldest first."""
    if not HISTORY.is_file():
        return ()
    events = []
    for line in HISTORY.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash says nothing about what runs
    return tuple(event for event in events if isinstance(event, dict))


def newest_tag() -> str | None:
    tags = (git("tag", "--merged", "HEAD", "--sort=-v:refname", "--list", "v*") or "").split()
    return next((tag for tag in tags if TAG.match(tag)), None)


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


def parse_points(text: str | None) -> frozenset[str]:
    """`--skip`: the points named (spaces or commas between them); `always` cannot be skipped."""
    words = frozenset(w for w in re.split(r"[\s,]+", text or "") if w)
    wrong = sorted(words - set(POINTS[1:]))
    if wrong:
        raise EvidenceError(f"error: --skip {' '.join(wrong)}: name some of {', '.join(POINTS[1:])}")
    return words


def observe(skip: frozenset[str] = frozenset(), status: tuple[dict[str, Any] | None, str] | None = None) -> Facts:
    """Everything the checks need that is not a piece's own file: dvc, git tags, deploy/, the history.

    `status` is `dvc status` as `dvc_status` returns it (None: run it).
    """
    found, error = dvc_status() if status is None else status
    tag = newest_tag()
    desired, local = {}, {}
    for name, environment in environments.known().items():
        version = environment.version
        if version:
            desired[name] = version
            if environment.kind == "local":
                local[name] = environment.path
    targets = makefile_targets(MAKEFILE.read_text()) if MAKEFILE.is_file() else frozenset()
    pipeline = yaml.safe_load(paths.PIPELINE.read_text()) if paths.PIPELINE.is_file() else {}
    reached = reached_points(desired, tag, bool(git("ls-files", "--", str(PRODUCTION_POINTER))))
    return Facts(found, error, upstream(pipeline or {}), tag, desired, local, deployments(), targets, reached, skip)


# --- dates and versions ------------------------------------------------------------------------------


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
    text = git("show", f"{rev}:{LOCK}") if rev else (LOCK.read_text() if LOCK.is_file() else None)
    return lock_outs(text).get(str(paths.MODEL), ("", None))[1]


def model_changed_at() -> float | None:
    """When the model dvc.lock holds now arrived: the oldest commit of the unbroken run with its hash,
    or dvc.lock's modification time while that hash is uncommitted."""
    now = model_md5(None)
    if now is None:
        return None
    if model_md5("HEAD") != now:
        return LOCK.stat().st_mtime
    since = None
    for line in (git("log", "--format=%H %ct", "--", str(LOCK)) or "").splitlines():
        commit, stamp = line.split()
        if model_md5(commit) != now:
            break
        since = float(stamp)
    return since


# --- the checks --------------------------------------------------------------------------------------


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
            return f"stale: older than the model in {LOCK} ({day(arrived)})"
        return None
    if piece.check == "mentions":
        if facts.tag and facts.tag not in path.read_text():
            return f"stale: does not name the release {facts.tag}"
        return None
    if piece.check == "versions":
        summary = record(path)
        judged = set(summary.get("model_versions") or []) | set(summary.get("versions_in_log") or [])
        if facts.desired and not judged & set(facts.desired.values()):
            names = ", ".join(f"{env} {v}" for env, v in sorted(facts.desired.items()))
            return f"stale: judged {', '.join(sorted(judged)) or 'nothing'}, deploy/ names {names}"
    return None


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
    tracked = lock_outs(LOCK.read_text() if LOCK.is_file() else None).get(piece.name)
    if tracked is None:
        return Finding(False, "", f"missing: not an output in {LOCK}", piece.when)
    version = f"md5 `{tracked[1][:8]}`"
    if not Path(piece.name).exists():
        return Finding(False, version, "missing: not in the work tree (`make pull`)", piece.when)
    problem = stage_problem(str(piece.against or tracked[0]), facts)
    return Finding(True, version, problem, piece.when, Path(piece.name))


def check_make(piece: Piece, facts: Facts) -> Finding:
    if piece.name not in facts.targets:
        return Finding(False, "", f"missing: no target `{piece.name}` in {MAKEFILE}", piece.when)
    return Finding(True, str(MAKEFILE), None, piece.when, MAKEFILE)


def check_tag(piece: Piece, facts: Facts) -> Finding:
    if facts.tag is None:
        return Finding(False, "", "missing: no release tag vX.Y.Z reachable from HEAD", piece.when)
    stamp = git("for-each-ref", "--format=%(creatordate:unix)", f"refs/tags/{facts.tag}")
    version = f"{facts.tag} {day(float(stamp))}" if stamp else facts.tag
    if model_md5(facts.tag) != model_md5(None):
        return Finding(True, version, f"stale: the model changed since {facts.tag} ({LOCK})", piece.when)
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
        events = [e for e in facts.events if e.get("env") == env]
        if not events:
            problems.append(f"no deployment of {env} recorded")
            continue
        last = events[-1]
        shown.append(f"{env} {last.get('version') or '-'} {str(last.get('time', ''))[:10]}")
        changed = dated(desired_file)
        stamp = datetime.fromisoformat(str(last["time"])).timestamp() if last.get("time") else 0.0
        if last.get("result") not in DEPLOYED:
            problems.append(f"the last deployment of {env} {last.get('result')}")
        elif last.get("version") != wanted:
            problems.append(f"{env} last deployed {last.get('version')}, {desired_file} names {wanted}")
        elif changed is not None and stamp < changed.time:
            problems.append(f"{desired_file} changed after the last deployment of {env}")
    problem = f"stale: {'; '.join(problems)}" if problems else None
    return Finding(True, "; ".join(shown), problem, piece.when, path)


CHECKS = {
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


# --- what it says ------------------------------------------------------------------------------------


def failures(rows: Iterable[Row]) -> list[str]:
    """One line per failing piece, naming every duty it fails, the reason and the command to run."""
    grouped: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if row.failed:
            grouped.setdefault((row.piece.label, str(row.finding.problem)), []).append(row)
    lines = []
    for (label, problem), found in grouped.items():
        duties = ", ".join(dict.fromkeys(row.duty.label for row in found))
        what, todo = found[0].piece.what, found[0].piece.todo()
        lines.append(f"error: {duties}: {what} ({label}) {problem} — {todo}")
    return lines


def terminal_table(rows: list[Row]) -> str:
    """The table as fixed-width text."""
    header = ("duty", "evidence", "exists", "version / date", "check")
    lines = [
        (r.duty.label, r.piece.label, "yes" if r.finding.exists else "no", r.finding.version, r.verdict) for r in rows
    ]
    widths = [min(48, max(len(line[i]) for line in [header, *lines])) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line[:4], widths, strict=True)) + "  " + line[4]
        for line in [header, *lines]
    )


def link(piece: Piece, finding: Finding, page: Path = PAGE) -> str:
    """The evidence cell of the page: what it is, and a link from the page to its file when there is one."""
    shown = finding.path if finding.path is not None and piece.kind != "make" else piece.label
    if finding.path is None or not finding.exists:
        return f"{piece.what}: `{shown}`"
    return f"{piece.what}: [`{shown}`]({Path(os.path.relpath(finding.path, page.parent)).as_posix()})"


def page(evidence: EvidenceMap, rows: list[Row], facts: Facts, source: Path = MAP, where: Path = PAGE) -> str:
    """docs/evidence.md: one table per section of the standard."""
    sections = []
    for number, title in evidence.sections.items():
        chosen = [r for r in rows if r.duty.section == number]
        cells = [
            [
                r.duty.label,
                link(r.piece, r.finding, where),
                r.piece.kind,
                "yes" if r.finding.exists else "no",
                r.finding.version or "—",
                r.verdict.replace("|", "\\|"),
            ]
            for r in chosen
        ]
        duties = [d for d in evidence.duties if d.section == number]
        sections.append({"number": number, "title": title, "duties": duties, "rows": cells})
    return render(
        "evidence.md.j2",
        standard=evidence.standard,
        source=source,
        source_link=Path(os.path.relpath(source, where.parent)).as_posix(),
        required=[p for p in POINTS if facts.required(p)],
        skipped=[p for p in POINTS if p in facts.skipped],
        failed=len(failures(rows)),
        pieces=len({r.piece for r in rows}),
        sections=sections,
    )


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--map", type=Path, default=MAP, help="the evidence map (default: %(default)s)")
    parser.add_argument("--page", type=Path, default=PAGE, help="the page to write (default: %(default)s)")
    parser.add_argument(
        "--skip",
        default="",
        help=f"`when` points not to require here, even when reached: some of {', '.join(POINTS[1:])}",
    )
    args = parser.parse_args(argv)
    cli.start(args)
    evidence = load_map(args.map)
    facts = observe(parse_points(args.skip))
    rows = evaluate(evidence, facts)
    args.page.parent.mkdir(parents=True, exist_ok=True)
    args.page.write_text(page(evidence, rows, facts, args.map, args.page))
    print(terminal_table(rows))
    failed = failures(rows)
    required = ", ".join(p for p in POINTS if facts.required(p))
    skipped = f" (skipped: {', '.join(sorted(facts.skipped))})" if facts.skipped else ""
    print(f"\n{len(evidence.duties)} duties; required here: {required}{skipped}; written {args.page}")
    if failed:
        sys.stdout.flush()
        print("\n".join(failed), file=sys.stderr)
        raise SystemExit(1)
    print("every required piece is present, current and filled")


if __name__ == "__main__":
    main()
