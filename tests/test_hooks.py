"""The hooks: answers that must be rejected with a readable reason, and hostile answers that must work."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException
from slugify import slugify
from support.matrix import REJECTED
from support.repos import git_files, recorded_answers

# REJECTED (support.matrix): answers the pre-generation hook must refuse, and what its reason names.


def _fill(value: str, csv_tables, tmp_path) -> str:
    if value == "{missing}":
        return str(tmp_path / "nowhere" / "data.csv")
    if value.startswith("{csv:"):
        return str(csv_tables[value[5:-1]].path)
    return value


@pytest.mark.parametrize("case", list(REJECTED), ids=list(REJECTED))
def test_rejected_answers_abort_with_a_reason(case, cookies, template, csv_tables, tmp_path, capfd):
    answers, fragments = REJECTED[case]
    answers = {k: _fill(v, csv_tables, tmp_path) for k, v in answers.items()}
    fragments = [_fill(f, csv_tables, tmp_path) for f in fragments]

    result = cookies.bake(extra_context=answers, template=template)
    err = capfd.readouterr().err
    # cookiecutter's FailedHookException only says "Hook script failed (exit status: 1)": the
    # reason is what the hook printed on stderr. A failure before the hook runs is in the exception.
    said = f"{err}\n{result.exception}"

    assert result.exit_code != 0, f"{answers} was accepted"
    assert isinstance(result.exception, FailedHookException), (
        f"rejected before the pre-generation hook could say why: {result.exception!r}"
    )
    assert "Traceback" not in err, f"the hook crashed instead of rejecting:\n{err}"
    reason_lines = [line for line in said.splitlines() if all(f.lower() in line.lower() for f in fragments)]
    assert reason_lines, f"no line of the error names {fragments}; stderr and exception were:\n{said}"


def test_csv_path_is_ignored_for_a_builtin_dataset(bake, tmp_path):
    """A csv_path left over from another answer set must not matter when dataset is not csv."""
    project = bake(
        {
            "project_name": "Wine Leftover",
            "task": "classification",
            "dataset": "wine",
            "csv_path": str(tmp_path / "does-not-exist.csv"),
        }
    )
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["ingest"]["source"] == "sklearn:wine"
    assert not any(p.startswith("data/external/") for p in git_files(project))
    assert not (project / "data" / "external" / "source.csv").exists()


def test_relative_csv_path_is_taken_from_where_cookiecutter_runs(bake, csv_tables, monkeypatch):
    """`csv_path=churn.csv` run from the CSV's folder finds it, though the hooks run in the new project."""
    table = csv_tables["classification"]
    monkeypatch.setenv("PWD", str(table.path.parent))
    project = bake(
        {
            "project_name": "Relative Csv",
            "task": "classification",
            "dataset": "csv",
            "csv_path": table.path.name,
            "target_column": table.target,
        }
    )
    assert (project / "data" / "external" / "source.csv").read_bytes() == table.path.read_bytes()


HOSTILE = {
    "quotes-and-backslashes": {  # project_name: quotes at both ends, two in a row (three are rejected)
        "project_name": '"Bob\'s" ""Quoted"" Model"',
        "author": 'O\'Brien & "Sons" \\ Ltd',
        "description": 'Says "hi", it\'s a \\back\\slash\\ C:\\new\\table # not a comment: key: value [x] %s $HOME',
    },
    "unicode": {
        "project_name": "Modèle Ünïcode 模型",
        "author": "Zoë Łukasz 山田",
        "description": "Prédire la «qualité» — ✓ 模型 ñ",
    },
    "extra-spaces": {
        "project_name": "   Spaced    Out   Name  ",
        "author": "  Team  Blue ",
        "description": "  leading,   inner   and trailing spaces  ",
    },
    "yaml-and-toml-specials": {
        "project_name": "no: yes # true",
        "author": "null",
        "description": "- [a, b]: {c: d} | > & * ! % @ `tick` '''\"\"\" \\u0041 \\n",
    },
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_but_valid_answers_render_parseable_files(case, bake):
    answers = HOSTILE[case]
    project = bake(answers)
    slug = slugify(answers["project_name"])
    package = slug.replace("-", "_")

    assert project.name == slug
    assert (project / "src" / package / "__init__.py").is_file()

    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == slug
    assert pyproject["project"]["description"] == answers["description"]
    assert [a["name"] for a in pyproject["project"]["authors"]] == [answers["author"]]

    for name in ("params.yaml", "docs/criteria.yaml"):
        assert isinstance(yaml.safe_load((project / name).read_text(encoding="utf-8")), dict), name

    tracked = sorted(git_files(project))
    for rel in tracked:
        path = project / rel
        if path.suffix in {".yaml", ".yml"} or path.name == "dvc.lock":
            yaml.safe_load(path.read_text(encoding="utf-8"))
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".py":
            compile(path.read_text(encoding="utf-8"), str(path), "exec")

    recorded = recorded_answers(project)
    for key, value in answers.items():
        assert recorded[key] == value, key
    assert recorded["package"] == package


def test_under_cruft_the_hooks_render_the_files_and_set_up_nothing(template, tmp_path):
    """`cruft update` and `cruft diff` render the answers twice into temporary folders and diff them.

    They build the context as cruft does (`_template`, `_commit`; no `_output_dir`) and call
    cookiecutter.generate_files: the hooks must neither fail (a CSV path is taken from where the
    project was generated, long ago) nor init git or DVC, commit, copy data or write the state file.
    """
    from cookiecutter.generate import generate_files
    from cruft._commands.utils.cookiecutter import generate_cookiecutter_context

    answers = {"project_name": "Cruft Render", "dataset": "csv", "csv_path": "gone/data.csv", "license": "Apache-2.0"}
    context = generate_cookiecutter_context(template, "0" * 40, Path(template), extra_context=answers, no_input=True)
    assert "_output_dir" not in context["cookiecutter"], "cruft's context changed: the hooks' signal is gone"
    project = Path(generate_files(repo_dir=template, context=context, output_dir=str(tmp_path)))

    assert "Apache License" in (project / "LICENSE").read_text(), "the licence was not chosen"
    assert not (project / "tests/model/test_regression.py").exists(), "the task's excluded files are still there"
    set_up = (".git", ".dvc", ".dvcignore", ".cruft.json", "data/production", "data/external")
    made = [path for path in set_up if (project / path).exists()]
    assert made == [], f"the post-generation hook set up {made} inside cruft's render"
