"""Facts read from a git + DVC repo (tracked files, remotes, stages run) and copies of a working tree."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from support.processes import run


def recorded_answers(project: Path) -> dict[str, Any]:
    """The answers a generated project records: the cookiecutter context in cruft's state file, .cruft.json."""
    state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    # A JSON object of the answers (text, booleans, lists): Any values, as JSON gives them.
    answers: dict[str, Any] = state["context"]["cookiecutter"]
    return answers


def git_files(project: Path) -> set[str]:
    """Paths git tracks in a generated repository."""
    out = run(["git", "ls-files", "-z"], cwd=project).stdout
    return {p for p in out.split("\0") if p}


def versioned_files(project: Path) -> set[str]:
    """Paths git tracks or would track (`git add -A`): tracked plus untracked, not ignored."""
    out = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=project).stdout
    return {p for p in out.split("\0") if p and (project / p).is_file()}


def copy_working_tree(repo: Path, destination: Path) -> Path:
    """Copy what a clone of `repo` would hold, as it is in the working tree (edits included).

    Tracked and untracked-but-not-ignored files, so a template being edited is tested as edited;
    `.venv/`, `build/` and caches (ignored) stay behind.
    """
    for rel in sorted(versioned_files(repo)):
        target = destination / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / rel, target)
    return destination


def dvc_config(project: Path, name: str = "config") -> dict[str, dict[str, str]]:
    """.dvc/config (configobj style) as {section: {key: value}}, section names without quotes."""
    sections: dict[str, dict[str, str]] = {}
    current = None
    path = project / ".dvc" / name
    if not path.is_file():
        return sections
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]").strip("'")
            sections[current] = {}
        elif current is not None and "=" in line:
            key, _, value = line.partition("=")
            sections[current][key.strip()] = value.strip()
    return sections


def default_remote_dir(project: Path) -> Path:
    """The folder of the default DVC remote in .dvc/config (a relative url is relative to .dvc/)."""
    config = dvc_config(project)
    url = config[f'remote "{config["core"]["remote"]}"']["url"]
    return (project / ".dvc" / url).resolve()


def dvc_outputs(project: Path) -> set[str]:
    """Every path dvc.yaml declares a stage writes (outs, metrics, plots), and top-level metrics/plots."""
    pipeline = yaml.safe_load((project / "dvc.yaml").read_text())

    def names(entries: list[str | dict[str, Any]] | None) -> set[str]:
        return {next(iter(e)) if isinstance(e, dict) else e for e in entries or []}

    declared = names(pipeline.get("metrics")) | names(pipeline.get("plots"))
    for stage in pipeline.get("stages", {}).values():
        for kind in ("outs", "metrics", "plots"):
            declared |= names(stage.get(kind))
    return declared


def dvc_lock_md5(project: Path, path: str) -> str:
    """The md5 dvc.lock records for one stage output."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] == path:
                md5: str = out["md5"]  # dvc.lock's YAML: an output's md5 is a hex string
                return md5
    raise AssertionError(f"dvc.lock records no output {path}")


STAGE_RUN = re.compile(r"Running stage '([^']+)'")


def stages_run(output: str) -> list[str]:
    """Stage names in `dvc repro` output's "Running stage 'x'" lines, in order."""
    return STAGE_RUN.findall(output)
