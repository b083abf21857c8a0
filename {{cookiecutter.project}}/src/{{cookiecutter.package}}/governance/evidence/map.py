"""The evidence map (docs/evidence.yaml) as typed data: duties, their pieces of evidence, and the map's own checks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ...core import paths

POINTS = ("always", "retrain", "deploy", "release")
KINDS = ("file", "dvc", "make", "workflow", "tag", "history")
CURRENT: dict[str, tuple[str, ...] | None] = {  # each check `current:` may name, and its values (None: any name)
    "stage": None,
    "newer_than": None,
    "model": ("sha256", "date"),
    "mentions": ("tag",),
    "versions": ("deployed",),
}


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
            return EvidenceError(
                f"error: {paths.EVIDENCE_MAP}: duty {duty}, {data.get('what') or data}: {why} — fix the map"
            )

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
    """The map: the standard, its sections (number → title) and every duty."""

    standard: str
    sections: dict[str, str]
    duties: tuple[Duty, ...]


def load_map(path: Path = paths.EVIDENCE_MAP) -> EvidenceMap:
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


def parse_points(text: str | None) -> frozenset[str]:
    """`--skip`: the points named (spaces or commas between them); `always` cannot be skipped."""
    words = frozenset(w for w in re.split(r"[\s,]+", text or "") if w)
    wrong = sorted(words - set(POINTS[1:]))
    if wrong:
        raise EvidenceError(f"error: --skip {' '.join(wrong)}: name some of {', '.join(POINTS[1:])}")
    return words
