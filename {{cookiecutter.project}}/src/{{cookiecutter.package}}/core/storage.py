"""Storage: push or pull the pipeline's data and artifacts to or from the DVC remote.

The remote is the default one in `.dvc/config` unless `MODELOPS_DVC_REMOTE` (in the environment
or in `.env`) names another folder or object-store URL; it is then set as the git-ignored
local remote `override` and used for this command. `make push` / `make pull` run this.
DVC runs from `.venv-s3` when `make install-s3` made it (an s3:// remote needs its plugin).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from ..core import cli

OVERRIDE = "override"
S3_DVC = Path(".venv-s3/bin/dvc")


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


def dvc(*args: str) -> int:
    """Run DVC (with the S3 plugin when installed); its exit code."""
    command = S3_DVC if S3_DVC.exists() else Path(sys.executable).with_name("dvc")
    return subprocess.run([str(command), *args]).returncode


def transfer(direction: str, remote_url: str | None) -> int:
    """`dvc push` or `dvc pull`, to `remote_url` when given; dvc's exit code."""
    if not remote_url:
        return dvc(direction)
    if "://" not in remote_url:  # a folder: absolute, since DVC reads local paths from .dvc/
        remote_url = str(Path(remote_url).expanduser().resolve())
    code = dvc("remote", "add", "--local", "--force", OVERRIDE, remote_url)
    return code or dvc(direction, "--remote", OVERRIDE)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("direction", choices=["push", "pull"], help="push to or pull from the remote")
    args = parser.parse_args(argv)
    settings = cli.start(args)
    code = transfer(args.direction, settings.dvc_remote)
    if code:
        where = settings.dvc_remote or "the default remote (.dvc/config)"
        raise SystemExit(f"error: dvc {args.direction} to {where} failed — see dvc's message above")


if __name__ == "__main__":
    main()
