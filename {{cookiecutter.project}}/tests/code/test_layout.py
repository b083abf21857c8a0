"""The package's layout rules, read from the source with `ast` (nothing is imported).

1. Each room (subpackage) imports only the rooms `pyproject.toml [tool.modelops.rooms]` allows it:
   `core/` none of the others, `serving/` only `core/` (the runtime never imports a stage, a tool or a document).
2. A DVC stage's code dependencies follow from its imports: every package file that
   `python -m <package>.pipeline.<stage>` runs is covered by one of the stage's `deps` (the file
   or a folder above it), and every `src/` dependency covers a file the stage runs.
   Exempt, because they run no code a stage's output depends on: the package's top `__init__.py`
   when it only sets `__version__`, and subpackage `__init__.py` files that hold only a docstring.
   A file that loses that property is no longer exempt, and the check asks for its dependency.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from layout import imports_of, runs

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())
# pyproject.toml [tool.modelops.rooms]: each room and the other rooms it may import.
ALLOWED = {
    room: set(may)
    for room, may in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["modelops"]["rooms"].items()
}


def role_of(module: str) -> str | None:
    """The subpackage a module belongs to (`core`, `serving`, ...); None for the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def layout_violations(src: Path, package: str, role: str) -> list[str]:
    """Each import in `role`'s files of a subpackage that the role may not import, as a sentence."""
    allowed = ALLOWED[role] | {role}
    found = []
    for file in sorted((src / package / role).rglob("*.py")):
        for imp in imports_of(file, src, package):
            other = role_of(imp.target)
            if other is not None and other not in allowed:
                may = ", ".join(f"{r}/" for r in sorted(allowed))
                found.append(f"{imp.file}:{imp.line} `{imp.statement}` imports {other}/ — {role}/ may import {may}")
    return found


def exempt(file: Path, src: Path, package: str) -> bool:
    """The top `__init__.py` that only sets `__version__`, or a subpackage `__init__.py` that is only a docstring."""
    if file.name != "__init__.py":
        return False
    tree = ast.parse(file.read_text())
    if file.parent == src / package:
        stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        defined = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        return stored == {"__version__"} and not defined and not imports_of(file, src, package)
    return len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant)


def stage_module(stage: dict, package: str) -> str:
    match = re.fullmatch(rf"python -m ({re.escape(package)}\.pipeline\.\w+)", str(stage.get("cmd", "")).strip())
    if not match:
        raise AssertionError(f"cmd {stage.get('cmd')!r} is not `python -m {package}.pipeline.<stage>`")
    return match.group(1)


def covered(path: str, deps: list[str]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def uncovered(stage: dict, root: Path, package: str) -> list[str]:
    """The package files the stage runs that none of its deps covers (exempt files aside)."""
    src = root / "src"
    deps = [str(dep) for dep in stage.get("deps", [])]
    files = (f for f in runs(stage_module(stage, package), src, package) if not exempt(f, src, package))
    return sorted(p for p in (f.relative_to(root).as_posix() for f in files) if not covered(p, deps))


def package_name(root: Path) -> str:
    (name,) = [p.name for p in (root / "src").iterdir() if (p / "__init__.py").is_file()]
    return name


# --- the project's package -------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_each_subpackage_imports_only_what_its_role_allows(role):
    package = package_name(ROOT)
    assert (ROOT / "src" / package / role).is_dir(), f"no {role}/ in the package"
    found = layout_violations(ROOT / "src", package, role)
    assert not found, "\n".join(found)


def test_the_package_has_only_the_subpackages_of_the_layout():
    top = ROOT / "src" / package_name(ROOT)
    found = {p.name for p in top.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()} - {"__init__.py"}
    assert found == set(ALLOWED), "a new module or folder: give it a room in pyproject.toml [tool.modelops.rooms]"


def test_each_pipeline_module_is_a_stage_of_dvc_yaml():
    package = package_name(ROOT)
    modules = {f.stem for f in (ROOT / "src" / package / "pipeline").glob("*.py")} - {"__init__"}
    assert modules == set(PIPELINE["stages"])
    for name, stage in PIPELINE["stages"].items():
        assert stage_module(stage, package) == f"{package}.pipeline.{name}", f"stage {name} runs another module"


@pytest.mark.parametrize("name", list(PIPELINE["stages"]))
def test_each_stage_depends_on_the_code_it_runs(name):
    missing = uncovered(PIPELINE["stages"][name], ROOT, package_name(ROOT))
    assert missing == [], f"dvc.yaml stage {name} runs {missing} without depending on them: add their folder to deps"


@pytest.mark.parametrize("name", list(PIPELINE["stages"]))
def test_each_code_dependency_of_a_stage_is_needed(name):
    """Without any one of its `src/` deps the check above fails: no dependency is stale or redundant."""
    stage, package = PIPELINE["stages"][name], package_name(ROOT)
    code = [str(dep) for dep in stage["deps"] if str(dep).startswith("src/")]
    assert code, f"dvc.yaml stage {name} depends on no code"

    def without(dep: str) -> dict:
        return {**stage, "deps": [d for d in stage["deps"] if d != dep]}

    unneeded = [dep for dep in code if not uncovered(without(dep), ROOT, package)]
    assert not unneeded, f"dvc.yaml stage {name}: {unneeded} cover no file it runs that no other dep covers"


def readme_rooms(readme: str) -> dict[str, tuple[str, set[str]]]:
    """The README's "The package" table: room → (what it holds, the rooms it imports)."""
    section = readme.split("## The package", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| `")]
    return {
        cells[0].strip().strip("`/"): (cells[1], set(re.findall(r"`(\w+)/`", cells[2])) - {"nothing"}) for cells in rows
    }


def test_the_readme_table_shows_every_room_its_modules_and_its_imports():
    """The README's layout table follows pyproject.toml's rooms: same rooms in order, every module named."""
    package = package_name(ROOT)
    table = readme_rooms((ROOT / "README.md").read_text())
    assert list(table) == list(ALLOWED), "README.md `The package`: one row per room of [tool.modelops.rooms], in order"
    for room, (what, imports) in table.items():
        allowed = sorted(ALLOWED[room])
        assert imports == ALLOWED[room], (
            f"README.md row {room}/: imports {sorted(imports)}, the layout allows {allowed}"
        )
        folder = ROOT / "src" / package / room
        modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"} | {
            p.name for p in folder.iterdir() if (p / "__init__.py").is_file()
        }
        unnamed = sorted(m for m in modules if f"`{m}`" not in what)
        assert not unnamed, f"README.md row {room}/ does not name {unnamed}"


def test_each_room_says_what_it_holds():
    """Every room's __init__.py is one docstring: the first thing a reader of the folder sees."""
    package = package_name(ROOT)
    for room in ALLOWED:
        tree = ast.parse((ROOT / "src" / package / room / "__init__.py").read_text())
        assert ast.get_docstring(tree), f"src/{package}/{room}/__init__.py has no docstring saying what the room holds"


# --- the checks themselves, on a synthetic package ---------------------------------------------------


def write_package(src: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)


SYNTHETIC = {
    "toy/__init__.py": "__version__ = '0.1.0'\n",
    "toy/core/__init__.py": '"""Docstring only."""\n',
    "toy/core/paths.py": "ROOT = '.'\n",
    "toy/core/schema.py": "from . import paths\n",
    "toy/core/settings.py": "import toy.serving.api\n",
    "toy/pipeline/__init__.py": '"""Docstring only."""\n',
    "toy/pipeline/train.py": "from ..core import schema\n",
    "toy/serving/__init__.py": '"""Docstring only."""\n',
    "toy/serving/api.py": "from ..core.schema import paths\n\n\ndef lazy():\n    from ..pipeline import train\n",
}


def test_the_layout_check_names_each_offending_import(tmp_path):
    write_package(tmp_path, SYNTHETIC)
    assert layout_violations(tmp_path, "toy", "serving") == [
        "toy/serving/api.py:5 `from ..pipeline import train` imports pipeline/ — serving/ may import core/, serving/"
    ]
    assert layout_violations(tmp_path, "toy", "core") == [
        "toy/core/settings.py:1 `import toy.serving.api` imports serving/ — core/ may import core/"
    ]
    assert layout_violations(tmp_path, "toy", "pipeline") == []


def test_the_dependency_check_fails_on_a_stage_missing_a_dependency(tmp_path):
    write_package(tmp_path / "src", SYNTHETIC)
    stage = {"cmd": "python -m toy.pipeline.train", "deps": ["data/x.csv", "src/toy/pipeline/train.py"]}
    assert uncovered(stage, tmp_path, "toy") == ["src/toy/core/paths.py", "src/toy/core/schema.py"]
    assert uncovered({**stage, "deps": [*stage["deps"], "src/toy/core"]}, tmp_path, "toy") == []
    assert uncovered({**stage, "deps": [*stage["deps"], "src/toy/core/schema.py"]}, tmp_path, "toy") == [
        "src/toy/core/paths.py"  # imported by schema.py: transitive
    ]
    write_package(tmp_path / "src", {"toy/core/__init__.py": "from .paths import ROOT\n"})  # code: not exempt
    write_package(tmp_path / "src", {"toy/__init__.py": "__version__ = '0.1.0'\nDEBUG = True\n"})
    assert uncovered(stage, tmp_path, "toy") == [
        "src/toy/__init__.py",
        "src/toy/core/__init__.py",
        "src/toy/core/paths.py",
        "src/toy/core/schema.py",
    ]
    with pytest.raises(AssertionError, match="is not `python -m toy.pipeline.<stage>`"):
        uncovered({**stage, "cmd": "python train.py"}, tmp_path, "toy")
