"""What a README names: `make` targets, `python -m` modules, repo paths in code spans and links, tables.

Plain text in, plain data out; tests/test_readme.py and the lifecycle check what they find.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from support.makefiles import makefile_targets  # noqa: F401 - tests/test_docs.py imports it from here

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
LINK_TARGET = re.compile(r"\]\(([^)\s]+)\)")
TARGET = re.compile(r"[a-z][a-z0-9_-]*")
# What a path-like code span ends with; anything else without a slash (a value, a name) is not a path.
PATH_SUFFIXES = {
    ".cfg", ".csv", ".example", ".in", ".ini", ".j2", ".joblib", ".json", ".lock", ".md", ".pkl",
    ".png", ".py", ".sh", ".toml", ".txt", ".yaml", ".yml",
}  # fmt: skip
DOTFILE = re.compile(r"\.[A-Za-z][\w.-]*")
PLACEHOLDER = re.compile(r"<[^>]+>")
HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}")


def split_fences(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(lines inside fenced code blocks, lines outside them), each as (line number, text)."""
    inside: list[tuple[int, str]] = []
    outside: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        (inside if fenced else outside).append((number, line))
    return inside, outside


def sections(text: str) -> dict[int, str]:
    """Line number -> the heading (text after the #s) it sits under; "" before the first."""
    inside = {n for n, _ in split_fences(text)[0]}
    current, found = "", {}
    for number, line in enumerate(text.splitlines(), start=1):
        if number not in inside and re.match(r"#{1,6}\s", line):
            current = line.lstrip("#").strip()
        found[number] = current
    return found


def code_texts(text: str) -> list[tuple[int, str]]:
    """Every piece of code a README shows: fenced lines and inline code spans, with line numbers."""
    inside, outside = split_fences(text)
    spans = [(number, span) for number, line in outside for span in CODE_SPAN.findall(line)]
    return sorted(inside + spans)


@dataclass(frozen=True)
class MakeCall:
    """One `make <target>` a README names, and the folder it runs in (`cd <folder> &&`), if any."""

    target: str
    folder: str | None
    line: int


def _segments(code: str) -> list[list[str]]:
    code = re.split(r"\s#", f" {code}", maxsplit=1)[0]  # drop a trailing shell comment
    code = PLACEHOLDER.sub(lambda m: m.group(0).replace(" ", "_"), code)  # `SOURCE=<folder or URL>`: one word
    return [part.split() for part in re.split(r"&&|\|\||;|\|", code) if part.strip()]


def make_calls(text: str, section_folders: dict[str, str] | None = None) -> list[MakeCall]:
    """`make a b c` in fenced blocks and code spans, one MakeCall per target (variables skipped).

    A call's folder is the `cd` before it on its line, else the folder its section is about
    (`section_folders`: heading -> folder), else None.
    """
    calls, heading = [], sections(text)
    for number, code in code_texts(text):
        folder = (section_folders or {}).get(heading.get(number, ""))
        for words in _segments(code):
            if words[0] == "cd" and len(words) > 1:
                folder = words[1]
            if words[0] not in ("make", "$(MAKE)"):
                continue
            rest = iter(words[1:])
            for word in rest:
                if "=" in word:
                    continue
                if word == "-C":
                    folder = next(rest, folder)
                    continue
                if word.startswith("-") or not TARGET.fullmatch(word):
                    break
                calls.append(MakeCall(word, folder, number))
    return calls


def python_modules(text: str) -> list[tuple[int, str]]:
    """Modules a README runs with `python -m <module>`, with line numbers."""
    found = []
    for number, code in code_texts(text):
        for match in re.finditer(r"python3?\s+-m\s+([\w.<>{}-]+)", code):
            found.append((number, match.group(1).rstrip(".")))
    return found


def venv_tools(text: str) -> list[tuple[int, str]]:
    """Tools a README runs as `.venv/bin/<tool>`."""
    return [(n, m) for n, code in code_texts(text) for m in re.findall(r"\.venv/bin/([\w.-]+)", code)]


@dataclass(frozen=True)
class PathMention:
    """A code span or link that names a path, and what it may be relative to: the path named just
    before it in its paragraph (or table row, or list item), the last path there that has a folder,
    the folder just named there, and the folder its section is about."""

    text: str
    line: int
    previous: str | None = None
    with_folder: str | None = None
    in_folder: str | None = None
    section_folder: str | None = None

    def candidates(self, names: dict[str, str]) -> list[str]:
        """What the mention can mean, placeholders (`<package>`) filled, most literal first.

        A bare name after a path in the same paragraph is read in that path's folder
        (`docs/data_card.md`, `model_card.md`; `src/<package>/`, `core/`), in the folder named
        just before it (`reporting/` … `templates/`) and in its section's folder; a bare suffix
        after a file name replaces its suffix (`requirements.in` / `.lock`).
        """

        def fill(path: str | None) -> str:
            if not path:
                return ""
            path = PLACEHOLDER.sub(lambda m: names.get(m.group(0)[1:-1], m.group(0)), path)
            if path.endswith("/"):
                return path
            parent = str(PurePosixPath(path).parent)
            return "" if parent == "." else f"{parent}/"

        text = PLACEHOLDER.sub(lambda m: names.get(m.group(0)[1:-1], m.group(0)), self.text)
        found = [text]
        if "/" in text.rstrip("/"):
            return found  # a path of its own
        near, section, folder = fill(self.with_folder), fill(self.section_folder), fill(self.in_folder)
        for prefix in (near, section, near + folder, section + folder):
            if prefix and f"{prefix}{text}" not in found:
                found.append(f"{prefix}{text}")
        previous = PLACEHOLDER.sub(lambda m: names.get(m.group(0)[1:-1], m.group(0)), self.previous or "")
        if text in PATH_SUFFIXES and PurePosixPath(previous).suffix:
            found.append(str(PurePosixPath(previous).with_suffix(text)))
        return found


def looks_like_path(span: str) -> bool:
    """A span that names a file or folder: `dir/`, `a/b.md`, `name.yaml`, `.env` — not a value or a URL."""
    if any(c.isspace() for c in span) or "=" in span or "://" in span or ":" in span:
        return False
    if span.startswith(("/", "$", "-", "#", "http")):
        return False
    if PLACEHOLDER.sub("", span) != span and "/" not in span:
        return False  # `<semver>-<commit>`: a pattern, not a path
    if "/" in span:
        return not HOST.fullmatch(span.split("/")[0])  # `ghcr.io/<owner>/<project>`: an image, not a path
    suffix = PurePosixPath(span).suffix
    return suffix in PATH_SUFFIXES or bool(DOTFILE.fullmatch(span))


def path_mentions(text: str, section_folders: dict[str, str] | None = None) -> list[PathMention]:
    """Paths a README names in code spans and relative links, outside fenced blocks.

    `section_folders` maps a heading to the folder its bare names live in ("The package":
    "src/<package>/").
    """
    mentions = []
    _, outside = split_fences(text)
    heading = sections(text)
    previous = with_folder = in_folder = None
    for number, line in outside:
        if not line.strip() or line.lstrip().startswith(("|", "#", "-", "*")) or re.match(r"\s*\d+\.\s", line):
            previous = with_folder = in_folder = None  # a paragraph, table row or list item: its own context
        section_folder = (section_folders or {}).get(heading.get(number, ""))
        pieces = [(m.start(), m.group(1)) for m in CODE_SPAN.finditer(line)]
        pieces += [(m.start(), m.group(1).split("#")[0]) for m in LINK_TARGET.finditer(line)]
        for _, piece in sorted(pieces):
            if piece and looks_like_path(piece):
                mentions.append(PathMention(piece, number, previous, with_folder, in_folder, section_folder))
                previous = piece
                if "/" in piece.rstrip("/"):
                    with_folder = piece
                elif piece.endswith("/"):
                    in_folder = piece
    return mentions


def table_after(text: str, marker: str) -> list[list[str]]:
    """The rows (header and separator left out) of the first table after a line containing `marker`."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if marker in line), None)
    if start is None:
        raise AssertionError(f"no line contains {marker!r}")
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if not line.strip() and not rows:
            continue
        if not line.lstrip().startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    if len(rows) < 2 or not set("".join(rows[1])) <= set("-: "):
        raise AssertionError(f"no markdown table follows {marker!r}")
    return rows[2:]


def spans(cell: str) -> list[str]:
    """The code spans of a table cell, in order."""
    return CODE_SPAN.findall(cell)


# How the template's README.md refers to the generated project's folder in a command
# (`cd <project> && make …`), and its sections about the generated project, whose `make` targets
# are the generated Makefile's.
PROJECT_FOLDER = "<project>"
GENERATED_PROJECT_SECTIONS = {"What a generated project holds": PROJECT_FOLDER}
# Sections of the generated README whose bare folder names live in the package.
PACKAGE_SECTIONS = {"The package": "src/<package>/"}
# Paths a generated README may name that neither a template file nor a pipeline output accounts
# for: made by a command (checked after that command in the lifecycle) or by the user (git-ignored).
# Paths the delivery commands make: tests/test_delivery.py checks they exist after its steps.
MADE_BY_DELIVERY = {
    ".deploy/": "make deploy",
    ".deploy/history.jsonl": "make deploy",
    "reports/releases/": "make release",
    "reports/releases/<tag>.md": "make release",
    "reports/pr.md": "make pr-report",
    "reports/impact/": "make impact",
}
# Paths the monitoring commands make: tests/test_monitoring.py checks they exist after its steps.
MADE_BY_MONITORING = {
    ".deploy/local/monitoring/": "make deploy (the service's prediction log and feedback)",
    "reports/monitoring/": "make monitor",
    "reports/monitoring/<date>.md": "make monitor",
    "reports/monitoring/summary.json": "make monitor",
}
MADE_BY_RETRAINING = {
    "reports/improvement/": "make retrain",
    "reports/improvement/<date>.md": "make retrain",
    "reports/improvement/summary.json": "make retrain",
}
# What `make evidence` writes: tests/test_lifecycle.py checks it after running it on a fresh project.
MADE_BY_EVIDENCE = {"docs/evidence.md": "make evidence"}
MADE_BY_COMMANDS = {
    ".venv": "make install",
    "dvc.lock": "make pipeline",
    **MADE_BY_DELIVERY,
    **MADE_BY_MONITORING,
    **MADE_BY_RETRAINING,
    **MADE_BY_EVIDENCE,
}
USER_MADE = {".env"}


def unfound_paths(mentions: list[PathMention], bases: list[Path], names: dict[str, str]) -> list[str]:
    """The mentions none of whose candidates exists under any base (`*` globs allowed), as `line N: `text``."""

    def exists(base: Path, rel: str) -> bool:
        rel = PLACEHOLDER.sub("*", rel)  # a placeholder no answer fills (`deploy/<env>/`): any name
        return any(base.glob(rel.rstrip("/"))) if "*" in rel else (base / rel).exists()

    return [
        f"line {m.line}: `{m.text}`"
        for m in mentions
        if not any(exists(base, rel) for base in bases for rel in m.candidates(names))
    ]
