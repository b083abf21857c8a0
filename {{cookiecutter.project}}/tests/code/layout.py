"""The package's import graph, read from the source with `ast` (nothing is imported): the one walker.

`tests/code/test_layout.py` checks the layout and the DVC stages' code dependencies with it; the
template's documentation generator loads this file to tell which command reaches each module.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Import:
    """One import statement of a package module, resolved to the package module it loads."""

    file: Path
    line: int
    statement: str
    target: str


def module_name(file: Path, src: Path) -> str:
    parts = file.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_file(name: str, src: Path) -> Path | None:
    """The file of a dotted module name under `src`, or None when it is no module there."""
    base = src.joinpath(*name.split("."))
    return next((f for f in (base.with_suffix(".py"), base / "__init__.py") if f.is_file()), None)


def imports_of(file: Path, src: Path, package: str) -> list[Import]:
    """Every import of `package` in `file`, relative or absolute, at any depth (lazy imports too)."""
    name = module_name(file, src)
    here = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = here.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            # `from X import y` loads the module X.y when there is one, else X (y is a name in it)
            targets = [f"{module}.{a.name}" if module_file(f"{module}.{a.name}", src) else module for a in node.names]
        else:
            continue
        for target in targets:
            if target == package or target.startswith(f"{package}."):
                found.append(Import(file.relative_to(src), node.lineno, ast.unparse(node), target))
    return found


def runs(module: str, src: Path, package: str) -> set[Path]:
    """Every package file Python runs to import `module`: it, its packages' `__init__`, all they import."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        parts = todo.pop().split(".")
        for end in range(1, len(parts) + 1):
            file = module_file(".".join(parts[:end]), src)
            if file is not None and file not in seen:
                seen.add(file)
                todo += [imp.target for imp in imports_of(file, src, package)]
    return seen
