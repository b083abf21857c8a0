"""One way to write a document: a Jinja template from `templates/`, filled with plain data.

Templates hold the prose and layout; the Python beside them only gathers the facts. The `table`
filter writes a Markdown table, `num` a number with 4 decimals, `yaml` a YAML block.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import jinja2
import yaml


def table(rows: Iterable[Sequence[Any]], header: Sequence[str]) -> str:
    """A Markdown table (no trailing newline)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def num(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}"


def to_yaml(value: Any) -> str:
    """A YAML block in the order it was written."""
    return str(yaml.safe_dump(value, sort_keys=False, allow_unicode=True)).strip()


@functools.cache
def environment() -> jinja2.Environment:
    """The templates shipped in this package; a missing variable is an error, not an empty string."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__ or "", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Markdown, not HTML  # noqa: S701
    )
    env.filters.update(table=table, num=num, yaml=to_yaml)
    return env


def render(template: str, **context: Any) -> str:
    """The document `template` renders to, ending in exactly one newline."""
    return environment().get_template(template).render(**context).rstrip("\n") + "\n"
