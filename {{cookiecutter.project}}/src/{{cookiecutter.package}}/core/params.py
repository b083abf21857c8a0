"""Edit params.yaml line by line: values set at dotted keys, every other line and comment kept.

The one editor of params.yaml (`make retrain` sets `featurize.reference`, the tuning sets
`train.<model>.<param>`). A line edit, not a YAML rewrite: ruamel's round trip turns `null` into an
empty value and is not in the project's lock, and PyYAML's drops the comments. A value equal to the
current one leaves its line alone, so an edit that changes nothing gives the same bytes. The result
is parsed back and checked against the intended values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from . import paths

Scalar = None | bool | int | float | str


class ParamsError(SystemExit):
    """A key params.yaml lacks, or a line the editor cannot change; the message names the key and the fix."""


def set_values(text: str, values: Mapping[str, Scalar], path: Path = paths.PARAMS, add: bool = False) -> str:
    """`text` (the file at `path`) with each dotted key of `values` set, e.g. {"featurize.reference": "recent"}.

    A key the file lacks fails naming it; with `add`, a missing key below a top-level section is
    added at the end of its block instead (a section itself is never added).
    """
    before = yaml.safe_load(text) or {}
    expected = before
    lines = text.splitlines(keepends=True)
    for dotted, value in values.items():
        if isinstance(value, dict | list | tuple):
            raise ParamsError(f"error: {path} `{dotted}`: {value!r} is not a plain value — set one value per key")
        keys = tuple(dotted.split("."))
        if _lookup(before, keys) != (True, value):
            _set_line(lines, keys, _scalar(value), path, add)
        expected = _with(expected, keys, value)
    result = "".join(lines)
    if yaml.safe_load(result) != expected:
        raise ParamsError(
            f"error: could not edit {path} line by line — set {', '.join(f'{k}: {v!r}' for k, v in values.items())}"
            " there by hand"
        )
    return result


def update(values: Mapping[str, Scalar], path: Path = paths.PARAMS, add: bool = False) -> bool:
    """Set `values` in the file at `path`; whether its text changed (it is written only then)."""
    text = path.read_text()
    new = set_values(text, values, path, add)
    if new != text:
        path.write_text(new)
    return new != text


def _lookup(data: Any, keys: tuple[str, ...]) -> tuple[bool, Any]:
    """(found, value) of `keys` in `data`."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return False, None
        data = data[key]
    return True, data


def _with(data: dict[str, Any], keys: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of `data` with `keys` set to `value` (the data the edited text must parse to)."""
    head, *rest = keys
    inner = data.get(head)
    return {**data, head: _with(inner if isinstance(inner, dict) else {}, tuple(rest), value) if rest else value}


def _scalar(value: Scalar) -> str:
    """A value as YAML writes it (`1.0e-05`, `null`)."""
    written: str = yaml.safe_dump(value, default_flow_style=True)
    return written.removesuffix("\n...\n").strip()


def _set_line(lines: list[str], keys: tuple[str, ...], value: str, path: Path, add: bool) -> None:
    """Set the entry at `keys` in `lines`, in place: its value, or (`add`) a new line at its block's end."""
    start, end, indent, step = 0, len(lines), 0, 2
    for depth, key in enumerate(keys):
        leaf = depth == len(keys) - 1
        found = _find(lines, start, end, indent, key)
        if found is None:
            if depth == 0:
                raise ParamsError(f"error: {path} has no `{key}:` section — restore it (`git checkout -- {path}`)")
            if not add:
                parent = ".".join(keys[:depth])
                raise ParamsError(
                    f"error: {path} has no `{'.'.join(keys)}:` line — add a `{key}:` line under `{parent}`"
                )
            if end and not lines[end - 1].endswith("\n"):
                lines[end - 1] += "\n"
            lines.insert(end, f"{' ' * indent}{key}:{' ' + value if leaf else ''}\n")
            found = end
        elif leaf:
            match = re.match(rf"^(\s*{re.escape(key)}:[ \t]*)(.*?)([ \t]+#.*)?(\r?\n)?$", lines[found])
            assert match is not None
            head, _, comment, newline = match.groups()
            lines[found] = f"{head}{value}{comment or ''}{newline or ''}"
            return
        elif not re.match(rf"^\s*{re.escape(key)}:\s*(#.*)?$", lines[found]):
            raise ParamsError(
                f"error: {path} `{'.'.join(keys[: depth + 1])}` is not a block — write it one `name: value` per line"
            )
        if leaf:
            return
        block_end = _block_end(lines, found, indent)
        children = [_indent(line) for line in lines[found + 1 : block_end] if not _blank(line)]
        child = children[0] if children else indent + step
        start, end, step, indent = found + 1, block_end, child - indent, child


def _find(lines: list[str], start: int, end: int, indent: int, key: str) -> int | None:
    pattern = re.compile("^" + " " * indent + re.escape(key) + r":(\s|$)")
    return next((i for i in range(start, end) if pattern.match(lines[i])), None)


def _block_end(lines: list[str], header: int, indent: int) -> int:
    """The line after the last line of the block under `header` (trailing blank and comment lines excluded)."""
    end = header + 1
    while end < len(lines) and (_blank(lines[end]) or _indent(lines[end]) > indent):
        end += 1
    while end > header + 1 and _blank(lines[end - 1]):
        end -= 1
    return end


def _blank(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))
