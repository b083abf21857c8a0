"""The template's own Makefile, run from a copy of the template kept in a dot-folder with a space.

`make venv`, `make help` and `make demo` must work wherever a user clones the template
(`~/.local/src/…`, a CI runner's `~/.jenkins/workspace/…`, `~/My Projects/…`). The copy holds
the working tree's tracked and untracked-but-not-ignored files, as a clone of these edits would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.makefiles import help_texts
from support.markdown import GENERATED_PROJECT_SECTIONS, make_calls, path_mentions, venv_tools
from support.matrix import HIDDEN_SPACED_FOLDER
from support.options import REPO_ROOT, rendered_defaults
from support.processes import project_env, run
from support.repos import copy_working_tree

pytestmark = pytest.mark.slow

# The generated project's targets the demo runs here: the rest of its lifecycle (lint, its tests,
# the load test against criteria.yaml's real SLO, which needs the machine to itself) runs in
# tests/test_lifecycle.py, one configuration of which also lives in a dot-folder with a space.
DEMO_STEPS = "install pipeline build push"


@dataclass(frozen=True)
class TemplateCopy:
    path: Path
    env: dict

    def make(self, *args: str) -> str:
        return run(["make", *args], cwd=self.path, env=self.env).stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory, dvc_site_cache_dir) -> TemplateCopy:
    base = tmp_path_factory.mktemp("template")
    path = copy_working_tree(REPO_ROOT, base / HIDDEN_SPACED_FOLDER / "cookiecutter-modelops")
    assert " " in str(path) and "/." in str(path)
    return TemplateCopy(path, project_env(dvc_site_cache_dir, base / "bentoml"))


def test_venv_installs_the_pinned_tools(copy):
    copy.make("venv")
    assert (copy.path / ".venv" / ".installed").is_file()
    tools = {tool for _, tool in venv_tools((copy.path / "README.md").read_text())} | {"cookiecutter", "pytest"}
    missing = sorted(t for t in tools if not (copy.path / ".venv" / "bin" / t).is_file())
    assert missing == [], f"make venv did not install the README's .venv/bin/ tools {missing}"


def test_help_lists_every_target_readme_names(copy):
    out = copy.make("help")
    listed = set(re.findall(r"^\s+make (\S+)", out, re.MULTILINE))
    assert listed and listed == set(help_texts((copy.path / "Makefile").read_text())), out
    calls = make_calls((copy.path / "README.md").read_text(), GENERATED_PROJECT_SECTIONS)
    named = {c.target for c in calls if c.folder is None}
    assert named <= listed, f"make help does not list {sorted(named - listed)}, which README.md names"


def test_demo_generates_and_runs_the_default_project(copy):
    out = copy.make("demo", f"DEMO_STEPS={DEMO_STEPS}")
    project = copy.path / "build" / "demo" / str(rendered_defaults()["project"])
    assert f"==> demo done: see build/demo/{project.name}/docs/evaluation_report.md" in out, out[-2000:]
    assert (project / "docs" / "evaluation_report.md").is_file()
    assert (project / "reports" / "build.json").is_file(), "the demo built no bento"
    named = [m.text for m in path_mentions((copy.path / "README.md").read_text()) if m.text.startswith("build/")]
    assert named and all((copy.path / rel).exists() for rel in named), f"README.md names {named}"
