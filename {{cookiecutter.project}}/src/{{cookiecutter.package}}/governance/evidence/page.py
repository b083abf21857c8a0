"""What `make evidence` says: the failure lines, the terminal table and docs/evidence.md (same inputs, same bytes)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ...core import paths
from ...reporting.render import render
from .checks import Finding, Row
from .facts import Facts
from .map import POINTS, EvidenceMap, Piece


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


def link(piece: Piece, finding: Finding, page: Path = paths.EVIDENCE_PAGE) -> str:
    """The evidence cell of the page: what it is, and a link from the page to its file when there is one."""
    shown = finding.path if finding.path is not None and piece.kind != "make" else piece.label
    if finding.path is None or not finding.exists:
        return f"{piece.what}: `{shown}`"
    return f"{piece.what}: [`{shown}`]({Path(os.path.relpath(finding.path, page.parent)).as_posix()})"


def page(
    evidence: EvidenceMap,
    rows: list[Row],
    facts: Facts,
    source: Path = paths.EVIDENCE_MAP,
    where: Path = paths.EVIDENCE_PAGE,
) -> str:
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
