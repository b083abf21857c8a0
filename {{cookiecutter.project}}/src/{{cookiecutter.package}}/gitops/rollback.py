"""Rollback: prepare the revert of an environment's last promotion — a branch with one revert commit.

Under GitOps the way back is a revert in git, merged like any change (Argo CD refuses its own
UI rollback while auto-sync is on). `make deploy ENV=<env>` then applies it. The commit subject
is a conventional `revert(<env>): …`, so the changelog records it. The branch name is printed last.
With `--pull-request` the branch is pushed and its pull request opened through the forge
(`core/forge.py`), and its URL is the last line; when a pull request from that branch is open
already, nothing is done.
"""

from __future__ import annotations

from ..core import cli, environments, forge
from ..core.environments import DeployError
from ..core.git import git, require_clean, revert_on_branch


def last_promotion(env: str) -> str:
    """The newest promotion commit of `env` reachable from HEAD that no later commit reverted."""
    environment = environments.get(env)
    promotions = git("log", "--format=%H", f"--grep=^deploy({env}): promote ", "--", str(environment.path)).split()
    reverted = set(git("log", "--format=%b", "--", str(environment.path)).split())
    for commit in promotions:
        if commit not in reverted:
            return commit
    raise DeployError(f"error: {env} has no promotion to roll back (`git log -- {environment.path}`)")


def branch_of(env: str, commit: str) -> str:
    return f"rollback/{env}/{commit[:7]}"


def rollback(env: str) -> tuple[str, str]:
    """Branch and diff of the revert of `env`'s last promotion."""
    environment = environments.get(env)
    require_clean("rollback")
    commit = last_promotion(env)
    version = git("show", "--no-patch", "--format=%s", commit).rpartition(" ")[2]
    branch = branch_of(env, commit)
    message = f"revert({env}): roll back {version}\n\nThis reverts commit {commit}"
    diff = revert_on_branch(branch, commit, message)
    if environment.version != version:  # HEAD no longer runs what it reverts: say what it was
        print(f"note: {env} desired state is {environment.version or '(none)'}; the revert undoes {version}")
    return branch, diff


def approval(env: str) -> str:
    return (
        f"**Merging this pull request is the approval**: Argo CD (or `make deploy ENV={env}` for a local"
        f" environment) then makes {env} run the version it ran before."
    )


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--env", required=True, help="environment in deploy/ to roll back")
    forge.add_arguments(parser)
    args = parser.parse_args(argv)
    cli.start(args)
    then = f"`make deploy ENV={args.env}`"
    branch = branch_of(args.env, last_promotion(args.env))
    forge.propose(args, branch, lambda: rollback(args.env), approval(args.env), then)


if __name__ == "__main__":
    main()
