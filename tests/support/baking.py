"""Baking a configuration: its answers, a Cookies that bakes into a chosen folder, the checked result."""

from __future__ import annotations

from pathlib import Path

import yaml
from pytest_cookies.plugin import Cookies

from support.matrix import Configuration
from support.tables import CsvTable


def answers_for(config: Configuration, tables: dict[str, CsvTable]) -> dict[str, object]:
    """The extra_context to bake `config` with: its answers plus csv_path/target_column for CSVs."""
    answers = dict(config.answers)
    if config.csv:
        table = tables[config.csv]
        answers.update(csv_path=str(table.path), target_column=table.target)
    return answers


def bake_ok(cookies: Cookies, template: str, answers: dict[str, object]) -> Path:
    """Bake with a pytest-cookies `Cookies` and insist it worked; return the project's path."""
    result = cookies.bake(extra_context=answers, template=template)
    assert result.exit_code == 0 and result.exception is None, (
        f"baking {answers} failed (exit {result.exit_code}): {result.exception!r}"
    )
    # pytest-cookies is untyped: Result.project_path is a pathlib.Path when the bake raised nothing (asserted above).
    project: Path = result.project_path
    return project


def cookies_in(folder: Path, template: str, config_dir: Path) -> Cookies:
    """A `Cookies` whose bakes land in `folder`/bakeNN/ (any folder: dots and spaces included).

    `config_dir` gets a cookiecutter user config, so replays and clones stay out of the home folder.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    config_file = config_dir / "config.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {"cookiecutters_dir": str(config_dir / "cookiecutters"), "replay_dir": str(config_dir / "replay")}
        )
    )

    def new_folder(name: str) -> Path:
        path = folder / name
        path.mkdir(parents=True)
        return path

    return Cookies(template, new_folder, config_file)


def builtin_dataset(config: Configuration) -> str:
    """The scikit-learn data set a non-CSV configuration resolves to."""
    if config.dataset != "builtin":
        return config.dataset
    return "breast_cancer" if config.task == "classification" else "diabetes"
