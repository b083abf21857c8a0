"""Sections of the template's README.md, quoted whole so the site restates none of its prose."""

from __future__ import annotations

import re

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")


def split(text: str) -> tuple[str, dict[str, str]]:
    """(the text before the first `## ` heading, heading -> its section's body), fences respected."""
    lead: list[str] = []
    found: dict[str, list[str]] = {}
    current, fenced = lead, False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        match = None if fenced else HEADING.match(line)
        if match and len(match.group(1)) == 2:
            current = found.setdefault(match.group(2), [])
            continue
        current.append(line)
    return "\n".join(lead).strip(), {name: "\n".join(body).strip() for name, body in found.items()}


def section(text: str, heading: str) -> str:
    """The body of the README's `## <heading>` section."""
    sections = split(text)[1]
    if heading not in sections:
        raise ValueError(f"README.md has no `## {heading}` section (it has: {', '.join(sections)})")
    return sections[heading]


def intro(text: str) -> str:
    """What the README says before its first section, its `# title` left out."""
    lead = split(text)[0].splitlines()
    return "\n".join(line for line in lead if not line.startswith("# ")).strip()


def relink(markdown: str, docs_dir: str = "docs/") -> str:
    """Point the README's links into docs/ (`docs/design.md`) at the site's page (`design.md`).

    A link to another file of the repo has no page on the site: it becomes the path in a code span.
    """

    def move(match: re.Match[str]) -> str:
        text, target = match.group(1), match.group(2)
        if target.startswith(docs_dir):
            return f"[{text}]({target[len(docs_dir) :]})"
        if "://" in target or target.startswith(("#", "mailto:")):
            return match.group(0)
        return f"{text} (`{target}`)"

    return LINK.sub(move, markdown)
