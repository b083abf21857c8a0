"""Promote: prepare the change that moves one environment to a version — a branch and a commit, nothing else.

The commit touches only `deploy/<env>/`; merging it (locally, or its pull request in CI) is the
approval, and `make deploy ENV=<env>` (Argo CD for Kubernetes) applies it. The version is given,
or taken from another environment (`--from staging`), or is the last build (reports/build.json).
The branch name is the last line printed. With `--pull-request` the branch is pushed and its pull
request opened through the forge (`core/forge.py`), and its URL is the last line; when a pull
request from that branch is open already, nothing is done.

On a cluster's report (`--synced`: the commit Argo CD synced the source environment to and found
healthy, as promote-production.yml receives it in a GitHub deployment status), it first checks that
this commit's `deploy/<from>/` names the version the source environment's desired state names now:
if it moved on since, or the target runs that version already, it says so and does nothing. The
report (`--health`, `--health-url`) goes into the pull request's body.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from ..core import cli, environments, forge, paths
from ..core.environments import DeployError
from ..core.git import commit_on_branch, file_at, require_clean
from ..core.records import BuildRecord
from ..reporting.impact import impact_markdown, read_report


def last_build() -> str:
    if not paths.BUILD_RECORD.is_file():
        raise DeployError(f"error: no {paths.BUILD_RECORD} — run `make build`, or name the version (VERSION=...)")
    return BuildRecord.read().version


def branch_of(env: str, version: str) -> str:
    return f"promote/{env}/{version}"


def promote(env: str, version: str) -> tuple[str, str]:
    """Branch and diff of the promotion of `env` to `version`."""
    environment = environments.get(env)
    environments.check_version(version)
    require_clean("promote")
    if environment.kind == "local":
        from ..packaging.build import bento_tag

        bento_tag(version)  # a local environment can only run a bento built here
    if environment.version == version:
        raise DeployError(f"error: {env} is at {version} already — nothing to promote (build a new version first)")
    branch = branch_of(env, version)
    message = f"deploy({env}): promote {version}\n\nPrevious version: {environment.version or '(none)'}."
    diff = commit_on_branch(branch, {environment.path: environment.with_version(version)}, message)
    return branch, diff


def approval(env: str) -> str:
    return (
        f"**Merging this pull request is the approval**: Argo CD (or `make deploy ENV={env}` for a local"
        f" environment) then makes {env} run what `deploy/{env}/` asks for."
    )


PACKAGE = (__package__ or __name__).split(".")[0]


def judge_impact(env: str, version: str) -> None:
    """`make impact` of `version` on `env`'s logged traffic, as its own command (a report, never a failure)."""
    command = ["-m", f"{PACKAGE}.improvement.impact", "--note-only", "--env", env, "--candidate", version]
    done = subprocess.run([sys.executable, *command], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"impact not judged: {(done.stdout + done.stderr).strip()[-500:]}")


def impact_note(env: str, version: str) -> str:
    """The pull request's impact section: `make impact`'s report of `version` in `env`, or why there is none."""
    if environments.log_source(env) is None:
        return f"No logged traffic for {env}: impact not judged."
    judge_impact(env, version)
    report = read_report(env, version)
    if report is None:
        return (
            f"Impact on {env}'s logged traffic not judged here: this pull request's check (`make impact-check`) does."
        )
    return impact_markdown(report, level=3).rstrip("\n")


@dataclass(frozen=True)
class Health:
    """What the cluster reported about the source environment: the commit it synced, its words, a link."""

    env: str
    commit: str
    description: str = ""
    url: str = ""

    def note(self, version: str) -> str:
        """The pull request's paragraph on the source environment's health."""
        said = " ".join(self.description.split()) or "(no description)"
        link = f" — [the sync in Argo CD]({self.url})" if self.url else ""
        return (
            f"**{self.env} runs `{version}` healthy**, as the cluster reported after syncing `{self.commit[:12]}`"
            f" (its smoke test ran in the cluster): {said}{link}"
        )


def version_at(env: str, commit: str) -> str:
    """The version `env`'s desired state named at `commit` ('' when nothing), or an error naming the fix."""
    environment = environments.get(env)
    text = file_at(commit, environment.path)
    if text is None:
        raise DeployError(
            f"error: no {environment.path} at {commit[:12]} here — fetch main's whole history"
            " (actions/checkout with fetch-depth: 0), or check the commit the deployment names"
        )
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / environment.path.name
        copy.write_text(text)
        return replace(environment, path=copy).version


def stale(health: Health, target: str, version: str) -> str | None:
    """Why the report of `health` asks for no promotion of `target` to `version` (the source's now), else None."""
    synced = version_at(health.env, health.commit)
    if synced != version:
        return (
            f"{health.env} moved on since: the cluster synced {synced or '(nothing)'} at {health.commit[:12]},"
            f" main's deploy/{health.env}/ names {version or '(nothing)'} — no promotion of {target} from this report"
        )
    if environments.get(target).version == version:
        return f"{target} runs {version} already — nothing to propose"
    return None


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--env", required=True, help="environment in deploy/ to move")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--version", help="the build version to move it to (default: the last `make build`)")
    source.add_argument("--from", dest="from_env", help="take the version this other environment runs")
    parser.add_argument(
        "--synced", metavar="COMMIT", help="with --from: the commit the cluster synced it to and reported healthy"
    )
    parser.add_argument("--health", default="", help="with --synced: what the cluster's report said (its description)")
    parser.add_argument("--health-url", default="", help="with --synced: the report's link (Argo CD)")
    forge.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.synced and not args.from_env:
        parser.error("--synced needs --from: the environment the cluster reported on")
    cli.start(args)
    version = args.version or (environments.get(args.from_env).version if args.from_env else last_build())
    if not version:
        raise DeployError(f"error: {args.from_env} runs nothing yet — promote it first")
    note = approval(args.env)
    if args.pull_request:  # the body of a pull request; a local branch has none
        note = f"{impact_note(args.env, version)}\n\n{note}"
    if args.synced:
        health = Health(args.from_env, args.synced, args.health, args.health_url)
        if reason := stale(health, args.env, version):
            print(reason)
            return
        note = f"{health.note(version)}\n\n{note}"
    then = f"`make deploy ENV={args.env}`"
    forge.propose(args, branch_of(args.env, version), lambda: promote(args.env, version), note, then)


if __name__ == "__main__":
    main()
