"""Release: tag the commit an environment runs (CI: production) with its version, notes and changelog.

The release is the commit the environment's image was built from: its desired version in
`deploy/<env>/` (`X.Y.Z-<commit>`, `make build`) names it, and that commit gets the annotated tag
`vX.Y.Z`: git-cliff's next version there (cliff.toml), the X.Y.Z its build already carries, or
the next free one when a release took that name in the meantime (the notes then name the build).
Nothing is pushed to the branch itself: the notes (`reports/releases/<tag>.md`: the commits from
git-cliff, the model's changes since the previous release from DVC's `dvc metrics diff` and
`dvc params diff` between the two commits, the data and model hashes, the load-test figures) and
CHANGELOG.md (derived from the tags: each release's section carries its one-line model delta)
are committed on the branch `release/<tag>`, to merge (`--publish`: its pull request).

A tag on the environment's commit already means resume: whatever is missing is done again (the
branch, and with --publish the tag's push, the forge's release (GitHub or GitLab), the report's
upload, the pull/merge request). An environment that runs an older release (a rollback) has nothing to release.
The last line printed is the changelog branch to merge (with --publish: its pull request).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..core import cli, environments, forge, paths
from ..core.buildinfo import SEMVER, next_version
from ..core.environments import DeployError
from ..core.git import (
    GitError,
    branch_exists,
    commit_of,
    commit_on_branch,
    current_branch,
    file_at,
    git,
    is_ancestor,
    record_at,
    release_tags,
    remote_tag,
    require_clean,
)
from ..core.paths import CHANGELOG, RELEASES
from ..core.records import LoadRecord
from ..reporting.render import num, table

REPORT = Path("docs/evaluation_report.md")  # attached to the forge's release, as committed at the release


def tool(name: str, *args: str) -> str:
    """A command of this project's virtual environment; its output, or stop with its message."""
    result = subprocess.run([str(Path(sys.executable).with_name(name)), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise DeployError(
            f"error: `{name} {' '.join(args)}` failed: {(result.stderr or result.stdout).strip()[-1500:]}"
        )
    return result.stdout


# --- what runs, and what to do about it (plain data) --------------------------------------------


@dataclass(frozen=True)
class Running:
    """What an environment's desired state asks for: the build and the full commit it was built from."""

    env: str
    build: str  # X.Y.Z-<commit>
    commit: str

    @property
    def version(self) -> str:
        """The build's X.Y.Z."""
        return self.build.rpartition("-")[0]


@dataclass(frozen=True)
class Decision:
    """`release` a new tag, `resume` the one on the commit already, or `nothing` to release (and why)."""

    action: Literal["release", "resume", "nothing"]
    tag: str
    reason: str = ""


def semver(tag: str) -> tuple[int, ...]:
    found = SEMVER.match(tag)
    if not found:
        raise ValueError(f"{tag!r} is no vX.Y.Z version")
    return tuple(int(part) for part in found.group(1).split("."))


def next_free(candidate: str, taken: Mapping[str, str]) -> str:
    """`candidate` when no tag has that name; else the patch after the newest of it and the taken ones that is free."""
    if candidate not in taken:
        return candidate
    major, minor, patch = max(semver(t) for t in (candidate, *taken))
    while f"v{major}.{minor}.{patch}" in taken:
        patch += 1
    return f"v{major}.{minor}.{patch}"


def decide(running: Running, tags: Mapping[str, str], candidate: str, behind: bool) -> Decision:
    """What releasing `running` means, given every release tag (name → commit).

    `candidate` is git-cliff's version at the commit; `behind` says the commit is in the history of
    the newest release's (an environment rolled back to a build never released).
    """
    here = sorted((t for t, c in tags.items() if c == running.commit), key=semver)
    newest = max(tags, key=semver) if tags else None
    if here:
        if here[-1] == newest:
            return Decision(
                "resume", here[-1], f"{here[-1]} is on {running.commit[:7]} already: finishing what is missing"
            )
        return Decision("nothing", here[-1], f"{running.env} runs {here[-1]} (released): nothing to release")
    if behind and newest:
        return Decision(
            "nothing",
            newest,
            f"{running.env} runs {running.build}, older than {newest} (a rollback): nothing to release",
        )
    return Decision("release", next_free(candidate, tags))


def running(env: str) -> Running:
    """The build `env` asks for and its commit, which must be in HEAD's history; or say what to do."""
    build = environments.get(env).version
    if not build:
        raise DeployError(f"error: {env} runs nothing yet — promote a build to it first (`make promote ENV={env}`)")
    environments.check_version(build)
    sha = build.rpartition("-")[2]
    commit = commit_of(sha)
    if commit is None:
        raise DeployError(
            f"error: {env} runs {build}, whose commit {sha} is not in this repository — fetch the whole history"
            " (`git fetch --tags --unshallow`; CI: actions/checkout with fetch-depth: 0)"
        )
    if not is_ancestor(commit, "HEAD"):
        raise DeployError(
            f"error: {env} runs {build}, whose commit {sha} is not in HEAD's history — release from the branch"
            " the environments follow (`git switch main && git pull`)"
        )
    return Running(env, build, commit)


def previous_release(commit: str, tags: Mapping[str, str]) -> str | None:
    """The newest release tag in the history of `commit`, other than those on it."""
    before = [t for t, c in tags.items() if c != commit and is_ancestor(c, commit)]
    return max(before, key=semver) if before else None


# --- the model's changes between two commits -------------------------------------------------------


def dvc_diff(kind: str, old: str, new: str) -> dict[str, Any]:
    """`dvc metrics diff` / `dvc params diff` between two commits."""
    data: dict[str, Any] = json.loads(tool("dvc", kind, "diff", old, new, "--json", "--all") or "{}")
    return data


def _value(value: Any) -> str:
    return num(value) if isinstance(value, float) else f"`{value}`"


def _plain(value: Any) -> str:
    return num(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class ModelChanges:
    """The model's changes since the previous release (metric → old/new/diff, parameter → old/new, hashes)."""

    previous: str | None
    metrics: dict[str, dict[str, Any]]
    params: dict[str, dict[str, Any]]
    hashes: dict[str, tuple[str | None, str | None]]  # what changed: (then, now)

    def line(self) -> str:
        """The one-line model delta of the changelog: `Model: f1 0.9500 → 0.9700; parameters changed: train.C.`

        Only the model's metrics (reports/metrics.json) count here; other metric files (the load test's)
        are in the notes' table.
        """
        model = {m: c for m, c in self.metrics.items() if ": " not in m}  # other files' are `<file>: <name>`
        if self.previous is None:
            shown = ", ".join(f"{m} {_plain(c.get('new'))}" for m, c in model.items())
            return f"Model: first release{' — ' + shown if shown else ''}."
        parts = [", ".join(f"{m} {_plain(c.get('old'))} → {_plain(c.get('new'))}" for m, c in model.items())]
        if self.params:
            parts.append(f"parameters changed: {', '.join(self.params)}")
        parts = [part for part in parts if part]
        if parts:
            return f"Model: {'; '.join(parts)}."
        if self.hashes:
            return f"Model: retrained ({', '.join(self.hashes)} changed), metrics as in {self.previous}."
        return f"No model change since {self.previous}."


def model_changes(previous: str | None, commit: str) -> ModelChanges:
    """What changed in the model from the `previous` release to `commit` (for a first release: its metrics)."""
    if previous is None:
        metrics = record_at(commit, paths.METRICS).get("metrics", {})
        return ModelChanges(None, {m: {"new": v} for m, v in metrics.items()}, {}, {})
    metrics = {
        name.removeprefix("metrics.") if file == str(paths.METRICS) else f"{file}: {name}": change
        for file, entries in dvc_diff("metrics", previous, commit).items()
        for name, change in entries.items()
        if change.get("old") != change.get("new")
    }
    params = {
        f"{name}": change
        for entries in dvc_diff("params", previous, commit).values()
        for name, change in entries.items()
        if change.get("old") != change.get("new")
    }
    prepare_then, prepare_now = record_at(previous, paths.PREPARE_RECORD), record_at(commit, paths.PREPARE_RECORD)
    trained_then, trained_now = record_at(previous, paths.TRAIN_RECORD), record_at(commit, paths.TRAIN_RECORD)
    hashes = {
        "train data sha256": (prepare_then.get("train", {}).get("sha256"), prepare_now.get("train", {}).get("sha256")),
        "test data sha256": (prepare_then.get("test", {}).get("sha256"), prepare_now.get("test", {}).get("sha256")),
        "model sha256": (trained_then.get("model_sha256"), trained_now.get("model_sha256")),
    }
    return ModelChanges(previous, metrics, params, {k: v for k, v in hashes.items() if v[0] != v[1]})


def model_section(changes: ModelChanges, commit: str) -> str:
    """The notes' Markdown section of the model's changes (or its state, for a first release) and load figures."""
    lines: list[str] = []
    previous = changes.previous
    if previous is None:
        lines += ["## The model (first release)", ""]
        lines.append(table([[m, _value(c.get("new"))] for m, c in changes.metrics.items()], ["metric", "value"]))
    else:
        lines += [f"## Model changes since {previous}", ""]
        if not (changes.metrics or changes.params or changes.hashes):
            lines.append(f"No model change: data, parameters, model and metrics are those of {previous}.")
        if changes.metrics:
            rows = [
                [m, _value(c.get("old")), _value(c.get("new")), _value(c.get("diff", "—"))]
                for m, c in changes.metrics.items()
            ]
            header = ["metric", previous, "this release", "change"]
            lines += ["### Metrics (`dvc metrics diff`)", "", table(rows, header), ""]
        if changes.params:
            rows = [[p, _value(c.get("old")), _value(c.get("new"))] for p, c in changes.params.items()]
            header = ["parameter", previous, "this release"]
            lines += ["### Parameters (`dvc params diff`)", "", table(rows, header), ""]
        if changes.hashes:
            rows = [[k, f"`{(a or '—')[:12]}`", f"`{(b or '—')[:12]}`"] for k, (a, b) in changes.hashes.items()]
            lines += ["### Data and model", "", table(rows, ["what", previous, "this release"]), ""]
    load = LoadRecord.at(commit)
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


# --- the release, made here ------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """One release, prepared in this repository: its tag on the commit, notes and changelog branch."""

    tag: str
    running: Running
    notes: str
    branch: str
    merged: bool  # the branch HEAD is on holds its changelog already
    resumed: bool  # the tag was there: this run finishes an earlier one

    @property
    def title(self) -> str:
        """The tag, and the build it ships when its version differs."""
        same = self.tag.removeprefix("v") == self.running.version
        return self.tag if same else f"{self.tag} (build {self.running.build})"

    @property
    def notes_path(self) -> Path:
        return RELEASES / f"{self.tag}.md"


def branch_of(tag: str) -> str:
    return f"release/{tag}"


def tag_message(running: Running, changes: ModelChanges) -> str:
    """The annotated tag's message, which is also the release's line in CHANGELOG.md (cliff.toml's `message`)."""
    return f"Ships build `{running.build}` ({running.env}). {changes.line()}"


def render_notes(tag: str, commit: str, previous: str | None, changes: ModelChanges) -> str:
    """The notes: git-cliff's section of the release (its tag exists), then the model's changes."""
    span = f"{commit_of(previous)}..{commit}" if previous else commit
    commits = tool("git-cliff", "--strip", "all", span).strip()
    return f"# Release {tag}\n\n{commits}\n\n{model_section(changes, commit)}".rstrip() + "\n"


def changelog_merged(tag: str) -> bool:
    """Whether HEAD holds the release's notes and a CHANGELOG.md that names it."""
    changelog = file_at("HEAD", CHANGELOG) or ""
    return f"## {tag} " in changelog and file_at("HEAD", RELEASES / f"{tag}.md") is not None


def prepare(env: str) -> Release | Decision:
    """Tag (or find the tag of) the commit `env` runs and commit its changelog branch; or what stops it."""
    require_clean("release")
    current_branch()
    what = running(env)
    tags = release_tags()
    newest = max(tags, key=semver) if tags else None
    behind = newest is not None and is_ancestor(what.commit, tags[newest])
    candidate = f"v{next_version(what.commit) or what.version}"
    decision = decide(what, tags, candidate, behind)
    if decision.action == "nothing":
        return decision
    tag = decision.tag
    previous = previous_release(what.commit, tags)
    changes = model_changes(previous, what.commit)
    made = decision.action == "release"
    if made:
        git("tag", "--annotate", tag, what.commit, "--message", tag_message(what, changes))
    try:
        notes = render_notes(tag, what.commit, previous, changes)
        changelog = tool("git-cliff", what.commit).rstrip() + "\n"  # one newline at the end, as lint wants
        release = Release(tag, what, notes, branch_of(tag), changelog_merged(tag), resumed=not made)
        if not (release.merged or branch_exists(release.branch)):
            message = f"chore(release): {tag}\n\n{release.title}: CHANGELOG.md and the notes {release.notes_path}."
            commit_on_branch(release.branch, {CHANGELOG: changelog, release.notes_path: notes}, message)
    except BaseException:  # nothing half-done: a tag made here goes again
        if made:
            git("tag", "--delete", tag)
        raise
    return release


# --- publishing: the tag, the forge's release and the changelog's pull request ---------------------


def push_tag(remote: str, tag: str, commit: str, env: Mapping[str, str] | None = None) -> None:
    """Push `tag` unless `remote` has it on `commit` already; a tag there on another commit is an error.

    `env` is the forge's `git_environment()` (its push credentials)."""
    try:
        there = remote_tag(remote, tag)
        if there is None:
            git("push", "--quiet", remote, f"refs/tags/{tag}", env=env)
    except GitError as exc:
        raise forge.ForgeError(
            f"error: could not push {tag} to {remote!r} — check the remote (`git remote -v`) and that you may push"
            f" tags (CI: `contents: write`)\ngit: {forge.redact(exc.reason)}"
        ) from None
    if there is not None and there != commit:
        raise forge.ForgeError(
            f"error: {remote} has {tag} on {there[:7]}, not on {commit[:7]} — a release took the name meanwhile:"
            f" drop the local tag and take the remote's (`git tag --delete {tag} && git fetch --tags {remote}`),"
            " then release again"
        )
    print(f"{tag} is on {remote}" if there else f"pushed {tag} to {remote}")


def report_file(commit: str, folder: Path) -> Path:
    """The evaluation report as committed at `commit`, written into `folder` under its own name."""
    text = file_at(commit, REPORT)
    if text is None:
        raise DeployError(f"error: no {REPORT} at {commit[:7]} — run `make pipeline` and commit its outputs")
    path = folder / REPORT.name
    path.write_text(text)
    return path


def changelog_request(release: Release, base: str) -> forge.PullRequest:
    note = (
        f"Merging adds {release.tag}'s section to CHANGELOG.md and its notes; the tag {release.tag} is on"
        f" {release.running.commit[:7]}, the commit {release.running.env} runs (build `{release.running.build}`)."
    )
    return forge.commit_pull_request(release.branch, base, note)


def plan(site: forge.Forge, release: Release, remote: str, base: str, asset: Path) -> list[str]:
    """What `publish` does, as lines to print (a dry run)."""
    forge_release = forge.Release(release.tag, release.title, release.notes, (str(asset),))
    lines = [
        f"# dry run: {release.tag} on {release.running.commit[:7]} ({release.running.build})",
        shlex.join(["git", "push", remote, f"refs/tags/{release.tag}"]) + "  # unless the remote has it there",
        str(site.release_query(release.tag)),
        f"# if there is no release {release.tag}",
        *map(str, site.release_calls(forge_release, exists=False)),
        "# if there is one: its title and notes replaced, the report uploaded again",
        *map(str, site.release_calls(forge_release, exists=True)),
    ]
    if release.merged:
        return [*lines, f"# CHANGELOG.md names {release.tag} already: no pull request"]
    request = changelog_request(release, base)
    return [
        *lines,
        str(site.pull_request_query(release.branch)),
        f"# if no {site.noun} from {release.branch} is open (an open one is left as it is)",
        shlex.join(["git", "push", remote, release.branch]),
        *map(str, site.pull_request_calls(request, None, labelled=False)),
    ]


def publish(site: forge.Forge, release: Release, remote: str, base: str, asset: Path) -> str:
    """Push the tag, create or update the forge's release and its report, open the changelog's pull request.

    Every step is safe to run again: a rerun finishes what an earlier one left. The last line to print.
    """
    site.check()
    push_tag(remote, release.tag, release.running.commit, site.git_environment())
    exists = site.release_exists(release.tag)
    calls = site.release_calls(forge.Release(release.tag, release.title, release.notes, (str(asset),)), exists)
    forge.run_all(site, calls)
    if release.merged:
        return f"CHANGELOG.md names {release.tag} already"
    if found := forge.open_already(site, release.branch):
        return found
    return forge.publish_pull_request(site, changelog_request(release, base), remote, forge.IF_REJECTED)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--env", required=True, help="the environment whose commit is released (CI: production)")
    parser.add_argument(
        "--publish",
        action="store_true",
        help="push the tag, create or update the forge's release (the evaluation report attached), open the"
        " changelog branch's pull request",
    )
    parser.add_argument("--dry-run", action="store_true", help="with --publish: print its pushes and forge calls")
    parser.add_argument("--remote", default="origin", help="the git remote to push to (default: %(default)s)")
    parser.add_argument("--base", default="main", help="the branch the pull request merges into (default: %(default)s)")
    args = parser.parse_args(argv)
    cli.start(args)
    run(args)


def run(args: argparse.Namespace) -> None:
    outcome = prepare(args.env)
    if isinstance(outcome, Decision):
        print(outcome.reason)
        return
    release = outcome
    if not args.publish and release.resumed and release.merged:
        print(f"{args.env} runs {release.tag} (released; CHANGELOG.md names it): nothing to release")
        return
    print(release.notes)
    done = "resumed: the tag was there" if release.resumed else "tagged"
    print(f"{release.title}: the tag is on {release.running.commit[:7]}, the commit {args.env} runs ({done})")
    if not args.publish:
        if release.merged:
            print(f"CHANGELOG.md names {release.tag} already: push the tag with `git push origin {release.tag}`")
            print(release.tag)
            return
        print(f"merge {release.branch} (CHANGELOG.md and the notes), push the tag: `git push origin {release.tag}`")
        print(release.branch)
        return
    with tempfile.TemporaryDirectory() as folder:
        asset = report_file(release.running.commit, Path(folder))
        if args.dry_run:
            print("\n".join(plan(forge.default(), release, args.remote, args.base, asset)))
            return
        print(publish(forge.default(), release, args.remote, args.base, asset))


if __name__ == "__main__":
    main()
