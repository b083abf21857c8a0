"""The READMEs cannot drift: the options table follows cookiecutter.json, and every `make` target,
`python -m` module and path they name exists.

README.md is checked against the template repo; the generated README against one project baked
with the default answers. A path that only a command makes (the pipeline, `make install`) is
accepted here when that command declares it, and checked for real after the lifecycle
(tests/test_lifecycle.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from support.baking import bake_ok
from support.makefiles import makefile_targets, variable
from support.markdown import (
    GENERATED_PROJECT_SECTIONS,
    MADE_BY_COMMANDS,
    PACKAGE_SECTIONS,
    PROJECT_FOLDER,
    USER_MADE,
    make_calls,
    path_mentions,
    python_modules,
    spans,
    table_after,
    unfound_paths,
    venv_tools,
)
from support.options import CHOICES, PROMPTS, REPO_ROOT, rendered_defaults
from support.processes import run
from support.repos import default_remote_dir, dvc_outputs

README = REPO_ROOT / "README.md"
OPTIONS_MARKER = "<!-- options-table"


@dataclass(frozen=True)
class Baked:
    """The project the default answers give, and what its README names."""

    path: Path
    package: str
    slug: str

    @property
    def readme(self) -> str:
        return (self.path / "README.md").read_text()

    @property
    def names(self) -> dict[str, str]:
        """What the READMEs' placeholders stand for here."""
        return {"package": self.package, "project": self.slug}


@pytest.fixture(scope="module")
def baked(cookies_session, template) -> Baked:
    path = bake_ok(cookies_session, template, {})
    defaults = rendered_defaults()
    return Baked(path, str(defaults["package"]), str(defaults["project"]))


def declared_by_the_project(baked: Baked, rel: str) -> bool:
    """A path the pipeline declares (dvc.yaml), a folder holding one, or the default DVC remote."""
    outputs = dvc_outputs(baked.path)
    rel = rel.rstrip("/")
    if rel in outputs or any(out.startswith(f"{rel}/") for out in outputs):
        return True
    return (baked.path / rel).resolve() == default_remote_dir(baked.path)


def git_ignores(project: Path, rel: str) -> bool:
    return run(["git", "check-ignore", "-q", rel], cwd=project, check=False).returncode == 0


# --- README.md: the options table -----------------------------------------------------------


def options_rows() -> dict[str, list[str]]:
    rows = table_after(README.read_text(), OPTIONS_MARKER)
    names = [spans(row[0])[:1] for row in rows]
    assert all(names), f"a row of the options table does not start with a `prompt`: {rows}"
    return {name[0]: row for name, row in zip(names, rows, strict=True)}


def test_options_table_lists_every_prompt_in_order():
    listed = list(options_rows())
    assert listed == PROMPTS, (
        f"README.md's options table lists {listed};\ncookiecutter.json prompts for {PROMPTS} (in this order)"
    )


@pytest.mark.parametrize("prompt", PROMPTS)
def test_options_table_gives_the_default_first_and_every_choice(prompt):
    """A choice option lists its choices in order (the default first); a text prompt shows its default first.

    Derived defaults (`project`, `package`) are shown as cookiecutter renders them for the
    default answers, first or as "derived from `<prompt>` (`<default>`)"; an empty default is
    written "empty".
    """
    rows = options_rows()
    if prompt not in rows:
        pytest.fail(f"README.md's options table has no row for `{prompt}`")
    row = rows[prompt]
    assert len(row) >= 3 and row[2], f"`{prompt}`: the row says nothing in 'what it sets': {row}"
    cell = row[1]
    if prompt in CHOICES:
        assert spans(cell) == [str(c) for c in CHOICES[prompt]], f"`{prompt}`: {cell!r} vs choices {CHOICES[prompt]}"
        return
    default = str(rendered_defaults()[prompt])
    if default == "":
        assert cell.lower().startswith("empty"), f"`{prompt}`: the default is empty, the table says {cell!r}"
    elif cell.lower().startswith("derived from"):
        source, *shown = spans(cell)
        assert source in PROMPTS and PROMPTS.index(source) < PROMPTS.index(prompt), (
            f"`{prompt}`: derived from `{source}`, which is not an earlier prompt"
        )
        assert default in shown, f"`{prompt}`: the derived default `{default}` is not shown in {cell!r}"
    else:
        assert spans(cell)[:1] == [default], f"`{prompt}`: the default `{default}` is not the first value in {cell!r}"


# --- README.md: commands and paths --------------------------------------------------------------


def test_every_make_target_readme_names_exists(baked):
    root = makefile_targets((REPO_ROOT / "Makefile").read_text())
    generated = makefile_targets((baked.path / "Makefile").read_text())
    calls = make_calls(README.read_text(), GENERATED_PROJECT_SECTIONS)
    assert calls, "README.md names no `make` target: the parser is broken"
    wrong = []
    for call in calls:
        if call.folder is None:
            targets, where = root, "the root Makefile"
        elif call.folder == PROJECT_FOLDER:
            targets, where = generated, "the generated Makefile"
        else:
            wrong.append(f"line {call.line}: `make {call.target}` in an unknown folder {call.folder!r}")
            continue
        if call.target not in targets:
            wrong.append(f"line {call.line}: `make {call.target}` is not a target of {where}")
    # A section about the generated project is listed in GENERATED_PROJECT_SECTIONS.
    assert not wrong, "README.md names missing make targets:\n" + "\n".join(wrong)


def test_every_tool_readme_runs_from_the_venv_is_pinned():
    pinned = {
        re.split(r"[=<>~!\[ ;]", line.strip(), maxsplit=1)[0].lower()
        for line in (REPO_ROOT / "requirements.in").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    }
    tools = venv_tools(README.read_text())
    unpinned = [f"line {n}: .venv/bin/{tool}" for n, tool in tools if tool.lower() not in pinned]
    assert not unpinned, "README.md runs tools requirements.in does not install:\n" + "\n".join(unpinned)


def test_every_path_readme_names_exists(baked):
    """At the template's root, in a freshly baked project, or declared by its pipeline; `build/` is make demo's,
    and a file the user creates (`.env`) must be git-ignored in the project."""
    demo_dir = variable((REPO_ROOT / "Makefile").read_text(), "DEMO_DIR")
    assert demo_dir, "the root Makefile sets no DEMO_DIR"
    demo_project = f"{demo_dir}/{baked.slug}"
    mentions = path_mentions(README.read_text())
    assert mentions, "README.md names no path: the parser is broken"
    missing = []
    for mention in unfound_path_mentions(mentions, [REPO_ROOT, baked.path], baked):
        if mention.text in USER_MADE:
            if not git_ignores(baked.path, mention.text):
                missing.append(f"line {mention.line}: `{mention.text}` (the user's to create) is not git-ignored")
            continue
        if mention.text.startswith("build/"):
            if not (mention.text.rstrip("/") + "/").startswith(f"{demo_project}/"):
                missing.append(f"line {mention.line}: `{mention.text}` is not under `make demo`'s {demo_project}/")
        else:
            missing.append(f"line {mention.line}: `{mention.text}`")
    assert not missing, "README.md names paths that do not exist:\n" + "\n".join(missing)


def unfound_path_mentions(mentions, bases: list[Path], baked: Baked):
    """Mentions found under no base and not declared by the baked project's pipeline."""
    unfound = set(unfound_paths(mentions, bases, baked.names))
    return [
        m
        for m in mentions
        if f"line {m.line}: `{m.text}`" in unfound
        and not any(declared_by_the_project(baked, rel) for rel in m.candidates(baked.names))
    ]


# --- the generated README ---------------------------------------------------------------------


def test_every_make_target_the_generated_readme_names_exists(baked):
    targets = makefile_targets((baked.path / "Makefile").read_text())
    calls = make_calls(baked.readme)
    assert calls, "the generated README names no `make` target: the parser is broken"
    wrong = [f"line {c.line}: `make {c.target}`" for c in calls if c.target not in targets]
    assert not wrong, "the generated README names targets its Makefile lacks:\n" + "\n".join(wrong)


def test_every_module_the_generated_readme_runs_exists(baked):
    """`python -m <package>.…` names a module of src/ (`<stage>` stands for each stage of dvc.yaml)."""
    stages = list(yaml.safe_load((baked.path / "dvc.yaml").read_text())["stages"])
    missing = []
    for number, module in python_modules(baked.readme):
        for name in [module.replace("<stage>", stage) for stage in stages] if "<stage>" in module else [module]:
            name = name.replace("<package>", baked.package)
            parts = name.split(".")
            base = baked.path / "src" / Path(*parts)
            if not (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()):
                missing.append(f"line {number}: python -m {name}")
    assert not missing, "the generated README runs modules src/ does not hold:\n" + "\n".join(missing)


def test_every_path_the_generated_readme_names_exists(baked):
    """In the fresh project, declared by its pipeline, made by a named command, or the user's (and git-ignored)."""
    mentions = path_mentions(baked.readme, PACKAGE_SECTIONS)
    assert mentions, "the generated README names no path: the parser is broken"
    missing = []
    for mention in unfound_path_mentions(mentions, [baked.path], baked):
        if mention.text in MADE_BY_COMMANDS:
            continue  # exists after that command: tests/test_lifecycle.py checks it
        if mention.text in USER_MADE:
            if not git_ignores(baked.path, mention.text):
                missing.append(f"line {mention.line}: `{mention.text}` (the user's to create) is not git-ignored")
            continue
        missing.append(f"line {mention.line}: `{mention.text}`")
    assert not missing, "the generated README names paths that neither exist nor get made:\n" + "\n".join(missing)
