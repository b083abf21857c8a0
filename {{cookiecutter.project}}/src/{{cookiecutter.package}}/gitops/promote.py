"""Promote: prepare the change that moves one environment to a version — a branch and a commit, nothing else.

The commit touches only `deploy/<env>/`; merging it (locally, or its pull request in CI) is the
approval, and `make deploy ENV=<env>` (Argo CD for Kubernetes) applies it. The version is given,
or taken from another environment (`--from staging`), or is the last build (reports/build.json).
The branch name is the last line printed. With `--pull-request` the branch is pushed and its pull
request opened through the forge (`core/forge.py`), and its URL is the last line; when a pull
request from that branch is open already, nothing is done.
"""

from __future__ import annotations

from ..core import cli, environments, forge, paths
from ..core.environments import DeployError
from ..core.git import commit_on_branch, require_clean
from ..core.records import BuildRecord


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


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--env", required=True, help="environment in deploy/ to move")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--version", help="the build version to move it to (default: the last `make build`)")
    source.add_argument("--from", dest="from_env", help="take the version this other environment runs")
    forge.add_arguments(parser)
    args = parser.parse_args(argv)
    cli.start(args)
    version = args.version or (environments.get(args.from_env).version if args.from_env else last_build())
    if not version:
        raise DeployError(f"error: {args.from_env} runs nothing yet — promote it first")
    then = f"`make deploy ENV={args.env}`"
    forge.propose(args, branch_of(args.env, version), lambda: promote(args.env, version), approval(args.env), then)


if __name__ == "__main__":
    main()
