"""Release: the next semantic version from conventional commits, a tag, CHANGELOG.md and release notes.

git-cliff (cliff.toml) reads the commits since the last `vX.Y.Z` tag, chooses the next version
and writes the changelog. The notes (`reports/releases/<tag>.md`) add what changed in the model
since the previous release, from DVC's own `dvc metrics diff` and `dvc params diff` between the
two tags, the data and model hashes of both, and the load-test figures. One commit
(`chore(release): <tag>`: changelog, notes, the version in pyproject.toml) and an annotated tag;
the tag is the last line printed, for the workflow that pushes it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..core import cli, paths
from ..core.environments import DeployError
from ..core.git import RELEASE_TAG, current_branch, git, latest_release_tag, record_at, require_clean
from ..core.paths import CHANGELOG, PYPROJECT, RELEASES
from ..core.records import LoadRecord
from ..reporting.render import num, table


def tool(name: str, *args: str) -> str:
    """A command of this project's virtual environment; its output, or stop with its message."""
    result = subprocess.run([str(Path(sys.executable).with_name(name)), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise DeployError(
            f"error: `{name} {' '.join(args)}` failed: {(result.stderr or result.stdout).strip()[-1500:]}"
        )
    return result.stdout


def next_tag(previous: str | None) -> str:
    """git-cliff's next version, or say why there is nothing to release."""
    if previous and not git("rev-list", f"{previous}..HEAD"):
        raise DeployError(f"error: nothing to release — no commit since {previous}")
    bumped = tool("git-cliff", "--bumped-version").strip()
    tag = bumped if bumped.startswith("v") else f"v{bumped}"
    if not RELEASE_TAG.match(tag) or tag == previous:
        raise DeployError(
            f"error: no conventional commit since {previous} moves the version (git-cliff says {bumped!r})"
            " — commit with feat:/fix:/... subjects (see cliff.toml)"
        )
    return tag


def dvc_diff(kind: str, previous: str) -> dict[str, Any]:
    """`dvc metrics diff` / `dvc params diff` from the previous tag to the work tree (= HEAD: it is clean)."""
    data: dict[str, Any] = json.loads(tool("dvc", kind, "diff", previous, "--json", "--all") or "{}")
    return data


def _value(value: Any) -> str:
    return num(value) if isinstance(value, float) else f"`{value}`"


def model_changes(previous: str | None) -> str:
    """The Markdown section of the model's changes since `previous` (or its state, for a first release)."""
    prepare_now, trained_now = record_at(None, paths.PREPARE_RECORD), record_at(None, paths.TRAIN_RECORD)
    metrics_now = record_at(None, paths.METRICS).get("metrics", {})
    load = LoadRecord.at(None)
    lines = []
    if previous is None:
        lines += ["## The model (first release)", ""]
        lines.append(table([[m, _value(v)] for m, v in metrics_now.items()], ["metric", "value"]))
    else:
        metrics = {
            name.removeprefix("metrics.") if file == str(paths.METRICS) else f"{file}: {name}": change
            for file, entries in dvc_diff("metrics", previous).items()
            for name, change in entries.items()
            if change.get("old") != change.get("new")
        }
        params = {
            f"{name}": change
            for entries in dvc_diff("params", previous).values()
            for name, change in entries.items()
            if change.get("old") != change.get("new")
        }
        prepare_then, trained_then = record_at(previous, paths.PREPARE_RECORD), record_at(previous, paths.TRAIN_RECORD)
        hashes = {
            "train data sha256": (
                prepare_then.get("train", {}).get("sha256"),
                prepare_now.get("train", {}).get("sha256"),
            ),
            "test data sha256": (prepare_then.get("test", {}).get("sha256"), prepare_now.get("test", {}).get("sha256")),
            "model sha256": (trained_then.get("model_sha256"), trained_now.get("model_sha256")),
        }
        changed = {k: v for k, v in hashes.items() if v[0] != v[1]}
        lines += [f"## Model changes since {previous}", ""]
        if not (metrics or params or changed):
            lines.append(f"No model change: data, parameters, model and metrics are those of {previous}.")
        if metrics:
            rows = [
                [m, _value(c.get("old")), _value(c.get("new")), _value(c.get("diff", "—"))] for m, c in metrics.items()
            ]
            lines += [
                "### Metrics (`dvc metrics diff`)",
                "",
                table(rows, ["metric", previous, "this release", "change"]),
                "",
            ]
        if params:
            rows = [[p, _value(c.get("old")), _value(c.get("new"))] for p, c in params.items()]
            lines += [
                "### Parameters (`dvc params diff`)",
                "",
                table(rows, ["parameter", previous, "this release"]),
                "",
            ]
        if changed:
            rows = [[k, f"`{(a or '—')[:12]}`", f"`{(b or '—')[:12]}`"] for k, (a, b) in changed.items()]
            lines += ["### Data and model", "", table(rows, ["what", previous, "this release"]), ""]
    if load:
        figures = load.figures
        lines += [
            "",
            "### Load test (`reports/load.json`)",
            "",
            f"{figures.get('rps', 0):.0f} req/s at {figures.get('users')} users,"
            f" p95 {figures.get('p95_ms', 0):.0f} ms, {figures.get('failures', 0)} failures,"
            f" SLO {'met' if load.slo_passed else 'MISSED'}.",
        ]
    return "\n".join(lines).strip() + "\n"


def set_version(text: str, version: str) -> str:
    new, count = re.subn(r'(?m)^version = "[^"]*"', f'version = "{version}"', text, count=1)
    if count != 1:
        raise DeployError(f'error: no `version = "..."` line in {PYPROJECT} — restore it from git')
    return new


def release() -> tuple[str, Path]:
    """Write, commit and tag the next release; its tag and notes."""
    require_clean("release")
    current_branch()
    previous = latest_release_tag()
    tag = next_tag(previous)
    changes = tool("git-cliff", "--unreleased", "--tag", tag, "--strip", "all").strip()
    notes = RELEASES / f"{tag}.md"
    head = git("rev-parse", "HEAD")
    try:
        notes.parent.mkdir(parents=True, exist_ok=True)
        notes.write_text(f"# Release {tag}\n\n{changes}\n\n{model_changes(previous)}".rstrip() + "\n")
        CHANGELOG.write_text(tool("git-cliff", "--tag", tag).rstrip() + "\n")  # one newline at the end, as lint wants
        PYPROJECT.write_text(set_version(PYPROJECT.read_text(), tag.removeprefix("v")))
        git("add", "--", str(CHANGELOG), str(notes), str(PYPROJECT))
        git("commit", "--quiet", "--no-verify", "-m", f"chore(release): {tag}")
        git("tag", "--annotate", tag, "--file", str(notes))
    except BaseException:  # nothing half-done: back to where the release started
        git("reset", "--quiet", "--hard", head)
        notes.unlink(missing_ok=True)
        raise
    return tag, notes


def main(argv: list[str] | None = None) -> None:
    args = cli.parser(__doc__).parse_args(argv)
    cli.start(args)
    tag, notes = release()
    print(notes.read_text())
    print(f"released {tag}: push it with `git push --follow-tags`")
    print(tag)


if __name__ == "__main__":
    main()
