"""The options page: every question of cookiecutter.json, its choices and default, as cookiecutter renders them.

The question and the choices' labels come from `__prompts__`; "what it sets" is the third column of
the README's options table (the one fact cookiecutter.json does not hold).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config

MARKER = "<!-- options-table"
CODE_SPAN = re.compile(r"`([^`\n]+)`")


def rendered(cookiecutter_json: Path) -> dict[str, object]:
    """Every variable as `cookiecutter --no-input` renders it (derived names and private `__` values included)."""
    context = generate_context(context_file=str(cookiecutter_json))
    return dict(prompt_for_config(context, no_input=True))


def readme_purposes(readme: str) -> dict[str, str]:
    """Option -> the README's options table's "what it sets" cell."""
    lines = readme.splitlines()
    start = next((i for i, line in enumerate(lines) if MARKER in line), None)
    if start is None:
        raise ValueError(f"README.md has no {MARKER} … --> line before its options table")
    purposes: dict[str, str] = {}
    for line in lines[start + 1 :]:
        if not line.strip() and not purposes:
            continue
        if not line.lstrip().startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = CODE_SPAN.findall(cells[0])
        if names and len(cells) >= 3:
            purposes[names[0]] = cells[2]
    return purposes


def code(value: object) -> str:
    """A value in a code span (a longer fence when it holds a backtick); an empty value as *empty*."""
    text = str(value)
    if text == "":
        return "*empty*"
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}"


def text(value: object) -> str:
    """A label as literal text in a table cell (`<owner>` is not an HTML tag, `|` not a column)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def choices_cell(name: str, value: object, prompts: Mapping[str, object]) -> str:
    if isinstance(value, bool):
        return "yes / no"
    if not isinstance(value, list):
        return "free text"
    labels = prompts.get(name)
    labels = labels if isinstance(labels, dict) else {}
    return "<br>".join(f"{code(c)}: {text(labels[c])}" if c in labels else code(c) for c in value)


def question(name: str, prompts: Mapping[str, object]) -> str:
    label = prompts.get(name, "")
    if isinstance(label, dict):
        label = label.get("__prompt__", "")
    return text(label) if label else name


def page(cookiecutter_json: Path, readme: str) -> str:
    """The options page's Markdown."""
    raw = json.loads(cookiecutter_json.read_text())
    prompts = raw.get("__prompts__", {})
    values = rendered(cookiecutter_json)
    purposes = readme_purposes(readme)
    asked = [k for k in raw if not k.startswith("_")]
    missing = [k for k in asked if k not in purposes]
    if missing:
        raise ValueError(f"README.md's options table has no row for {', '.join(missing)}: add it there")
    rows = []
    for name in asked:
        value = raw[name]
        default = code(values[name])
        if isinstance(value, str) and "{{" in value:
            default += f" (derived: {code(value)})"
        cells = [f"`{name}`", question(name, prompts), default, choices_cell(name, value, prompts), purposes[name]]
        rows.append(f"| {' | '.join(cells)} |")
    derived = [k for k in raw if k.startswith("__") and k != "__prompts__"]
    lines = [
        "# Options",
        "",
        "`cookiecutter .` asks these questions, in this order; `cookiecutter --no-input .` takes every",
        "default, as `make demo` does, and `cookiecutter --no-input . task=regression` changes one.",
        "The question, the choices and the default come from `cookiecutter.json` (the default as",
        "cookiecutter renders it with no input); *what it sets* is the README's options table.",
        "Answers that cannot make a working project are rejected before anything is written: see",
        "[Troubleshooting](troubleshooting.md#generating-a-project).",
        "",
        f"{MARKER}: generated from cookiecutter.json by docs/sitegen/options.py -->",
        "| option | question | default | choices (first is the default) | what it sets |",
        "|---|---|---|---|---|",
        *rows,
    ]
    if derived:
        lines += ["", "## Derived, not asked", "", "| variable | from | with the defaults |", "|---|---|---|"]
        lines += [f"| `{k}` | {code(raw[k])} | {code(values[k])} |" for k in derived]
    return "\n".join(lines) + "\n"
