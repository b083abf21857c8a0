"""Storage: the one door to object storage (fsspec) and to the DVC remote (`make push` / `make pull`).

The DVC remote is the default one in `.dvc/config` (a folder beside the project, or
`s3://<bucket>/dvc` when generated with storage=s3) unless `MODELOPS_DVC_REMOTE` (in the
environment or in `.env`) names another folder or object-store URL; it is then set as the
git-ignored local remote `override` and used for this command. Credentials come from the
environment, read by the store's own library (AWS_*, AWS_ENDPOINT_URL for an S3-compatible store,
a profile, or the runner's OIDC role). A missing remote or missing credentials stop with one line
naming the setting, before DVC starts.

`make pull` fetches what DVC tracks; data that only the remote holds (`dvc add`: a bring-your-own
CSV, the production records a merged retraining added) must arrive, while pipeline outputs the
remote lacks are left to `make pipeline`, which rebuilds them. A project whose DVC tracks only
pipeline outputs (a built-in data set, never retrained) and whose remote is a folder that is not
there (a CI runner, a fresh clone elsewhere) has nothing to pull: it says so and succeeds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core import cli
from ..core.git import git_or_none

OVERRIDE = "override"
REMOTE_FIX = (
    "set the repository variable MODELOPS_DVC_REMOTE=s3://<bucket>/dvc (on a laptop: MODELOPS_DVC_REMOTE"
    " in .env), or generate the project with storage=s3"
)
CREDENTIALS_FIX = (
    "set the repository variable AWS_ROLE_ARN (OIDC) or the secrets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    " (on a laptop: AWS_PROFILE, `aws configure` or those two variables)"
)
# Settings of an S3 remote that give DVC credentials (or need none) without the environment.
S3_OWN_CREDENTIALS = ("access_key_id", "profile", "credentialpath", "configpath")


class StorageError(SystemExit):
    """Object storage cannot be reached or read; the message names the setting or install to fix."""


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of a folder or object-store URL (s3://, gs://, file://, a path), and the
    path in it. Credentials come from the environment, read by the protocol's own library (AWS_*,
    AWS_ENDPOINT_URL for an S3-compatible store, or the pod's role)."""
    import fsspec.core  # type: ignore[import-untyped,unused-ignore]

    try:
        fs, root = fsspec.core.url_to_fs(url)
    except ImportError as exc:  # fsspec names the package: "Install s3fs to access S3"
        protocol = url.partition("://")[0]
        raise StorageError(
            f"error: no fsspec implementation of {protocol}:// here ({exc}) — add it to requirements.in, `make lock`"
        ) from exc
    except ValueError as exc:
        raise StorageError(f"error: cannot read {url!r}: {exc}") from exc
    return fs, str(root).rstrip("/")


@dataclass(frozen=True)
class Remote:
    """The DVC remote a transfer uses: its name in DVC's config, its URL (a folder: absolute), its settings."""

    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> Path | None:
        """The folder of a local remote; None for an object store."""
        if self.url.startswith("file://"):
            return Path(self.url.removeprefix("file://"))
        return None if "://" in self.url else Path(self.url)

    @property
    def shown(self) -> str:
        """The URL as a user recognises it: a folder relative to the project when it is near."""
        return os.path.relpath(self.folder) if self.folder is not None else self.url


def remote(override: str | None) -> Remote:
    """The remote `override` names (written as the local remote `override`), or .dvc/config's default."""
    from dvc.config import Config  # type: ignore[import-untyped,unused-ignore]

    config = Config(dvc_dir=".dvc")
    if override:
        url = override if "://" in override else str(Path(override).expanduser().resolve())
        with config.edit("local") as local:
            local["remote"][OVERRIDE] = {"url": url}
        return Remote(OVERRIDE, url)
    name = config["core"].get("remote")
    if not name or name not in config["remote"]:
        raise StorageError(f"error: .dvc/config names no default DVC remote — {REMOTE_FIX}")
    settings = dict(config["remote"][name])
    return Remote(name, str(settings.pop("url")), settings)


def credentials_problem(target: Remote) -> str | None:
    """Why an S3 remote cannot be reached with the credentials at hand, or None."""
    if not target.url.startswith(("s3://", "s3a://")):
        return None
    if target.options.get("allow_anonymous_login") or any(target.options.get(k) for k in S3_OWN_CREDENTIALS):
        return None
    # botocore resolves credentials as s3fs and dvc-s3 do: variables, profiles, SSO, the runner's role.
    import botocore.session  # type: ignore[import-untyped,unused-ignore]

    if botocore.session.get_session().get_credentials() is None:
        return f"error: no credentials for {target.url} — {CREDENTIALS_FIX}"
    return None


def added_data() -> list[Path]:
    """The .dvc files in git: data `dvc add` tracks, which no stage rebuilds."""
    listed = git_or_none("ls-files", "--", "*.dvc")
    return [Path(line) for line in (listed or "").splitlines() if line]


def outputs(dvc_file: Path) -> list[Path]:
    """The paths a .dvc file tracks."""
    described = yaml.safe_load(dvc_file.read_text()) or {}
    return [dvc_file.parent / out["path"] for out in described.get("outs", [])]


def dvc(*args: str) -> int:
    """Run DVC from this environment (its S3 plugin included); its exit code."""
    return subprocess.run([str(Path(sys.executable).with_name("dvc")), *args]).returncode


def pull(target: Remote) -> None:
    """Fetch what DVC tracks from `target`; fail naming the fix when data only it holds does not arrive."""
    needed = added_data()
    folder = target.folder
    if folder is not None and not folder.is_dir():
        if needed:
            listed = ", ".join(map(str, needed))
            raise StorageError(
                f"error: the DVC remote is the laptop folder {target.shown}, which is not here, and only it holds"
                f" {listed} — {REMOTE_FIX}"
            )
        print(
            f"nothing to pull: the DVC remote {target.shown} is not here and DVC tracks only the pipeline's"
            " outputs — `make pipeline` makes them"
        )
        return
    problem = credentials_problem(target)
    if problem:
        raise StorageError(problem)
    # The pipeline's outputs the remote lacks are rebuilt by `make pipeline`; added data is checked below.
    if dvc("pull", "--allow-missing", "--remote", target.name):
        raise StorageError(f"error: dvc pull from {target.shown} failed — see dvc's message above")
    missing = [str(path) for dvc_file in needed for path in outputs(dvc_file) if not path.exists()]
    if missing:
        raise StorageError(
            f"error: {', '.join(missing)} is not in the DVC remote {target.shown} — run `make push` where it was"
            " made (a retraining proposal: `make publish` pushes its data)"
        )


def push(target: Remote, revision: str | None = None, shared: bool = False) -> None:
    """Send to `target` what the work tree's dvc.lock and .dvc files name, or those of the commit `revision`.

    `shared`: others must read the remote (a pull request's CI), so a folder on this machine is refused.
    """
    if shared and target.folder is not None:
        raise StorageError(
            f"error: the DVC remote is the folder {target.shown} on this machine, which CI cannot read — {REMOTE_FIX}"
        )
    problem = credentials_problem(target)
    if problem:
        raise StorageError(problem)
    if revision is None:
        if dvc("push", "--remote", target.name):
            raise StorageError(f"error: dvc push to {target.shown} failed — see dvc's message above")
        return
    from dvc.exceptions import DvcException  # type: ignore[import-untyped,unused-ignore]
    from dvc.repo import Repo  # type: ignore[import-untyped,unused-ignore]

    try:
        with Repo() as repo:
            count = repo.push(revs=[revision], workspace=False, remote=target.name)
    except DvcException as exc:
        raise StorageError(f"error: dvc push of {revision} to {target.shown} failed: {exc}") from exc
    print(f"pushed {count} files of {revision} to {target.shown}")


def on_ci_runner() -> bool:
    """Whether this runs on a CI runner (GitHub Actions, GitLab CI), whose disk is gone when the job ends."""
    return os.environ.get("GITHUB_ACTIONS") == "true" or os.environ.get("GITLAB_CI") == "true"


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("direction", choices=["push", "pull"], help="push to or pull from the remote")
    args = parser.parse_args(argv)
    settings = cli.start(args)
    target = remote(settings.dvc_remote)
    if args.direction == "pull":
        pull(target)
    else:
        push(target)


if __name__ == "__main__":
    main()
