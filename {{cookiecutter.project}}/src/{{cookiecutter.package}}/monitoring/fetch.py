"""Fetch: copy the service's monitoring folder (prediction log, feedback store) from where it is written.

The source is a mounted volume (a folder, or a file:// URL) or an object-store URL of any fsspec
protocol (s3://, gs://, az://, ...) that a log shipper copies the folder to. Credentials come only
from the environment, read by the protocol's own library (AWS_* for s3://). The copy goes to
--to (default .deploy/local/monitoring, where `make monitor` reads); files of the same name are
replaced, others are left alone. SQLite's `-shm` index is skipped: SQLite rebuilds it.

s3:// needs s3fs, which lives in `.venv-s3` (`make install-s3`): when this Python lacks the
protocol's implementation and `.venv-s3` exists, the copy runs there. `make fetch-logs SOURCE=...`
runs this.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core import cli, paths

S3_PYTHON = Path(".venv-s3/bin/python")
SKIPPED_SUFFIXES = ("-shm",)  # SQLite's shared-memory index: rebuilt on open, stale once copied
SOURCE_FIX = (
    "set SOURCE (`make fetch-logs SOURCE=<folder or URL>`; in the monitor workflow the repository"
    " variable MONITORING_SOURCE) to where the service's monitoring folder is written"
)


class FetchError(SystemExit):
    """The source cannot be read; the message names the setting or the install to fix."""


class MissingProtocol(FetchError):
    """This Python has no fsspec implementation of the source's protocol."""


@dataclass(frozen=True)
class Copied:
    """One file copied: its path under the folder, and its size."""

    path: str
    size: int


def filesystem(source: str) -> tuple[Any, str]:
    """The fsspec filesystem of `source` and the folder's path in it."""
    import fsspec.core  # type: ignore[import-untyped,unused-ignore]

    try:
        fs, root = fsspec.core.url_to_fs(source)
    except ImportError as exc:  # fsspec names the package: "Install s3fs to access S3"
        protocol = source.partition("://")[0]
        fix = "`make install-s3` (s3fs, in .venv-s3)" if protocol in ("s3", "s3a") else "add it to requirements-dev.in"
        raise MissingProtocol(f"error: no fsspec implementation of {protocol}:// here ({exc}) — {fix}") from exc
    except ValueError as exc:
        raise FetchError(f"error: cannot read {source!r}: {exc} — {SOURCE_FIX}") from exc
    return fs, str(root).rstrip("/")


def copy_folder(source: str, to: Path) -> list[Copied]:
    """Copy every file under `source` to `to`, keeping the layout; what was copied."""
    fs, root = filesystem(source)
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    if "file" in protocols and Path(root).resolve() == to.resolve():
        raise FetchError(f"error: the monitoring source {source} is the destination — pass another --to")
    try:
        if not fs.isdir(root):
            what = "a file, not a folder" if fs.isfile(root) else "not there"
            raise FetchError(f"error: the monitoring source {source} is {what} — {SOURCE_FIX}")
        found = fs.find(root, withdirs=False, detail=True)
    except FetchError:
        raise
    except Exception as exc:  # each protocol has its own errors (credentials, permissions, network)
        raise FetchError(
            f"error: cannot list {source}: {exc} — check its credentials in the environment (AWS_* for s3://)"
        ) from exc
    copied = []
    for path, info in sorted(found.items()):
        relative = path[len(root) :].lstrip("/")
        if not relative or relative.endswith(SKIPPED_SUFFIXES):
            continue
        target = to / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fs.get_file(path, str(target))
        except Exception as exc:
            raise FetchError(f"error: cannot copy {path} to {target}: {exc}") from exc
        copied.append(Copied(relative, int(info.get("size") or target.stat().st_size)))
    return copied


def in_s3_venv() -> bool:
    return Path(sys.prefix).resolve() == S3_PYTHON.parent.parent.resolve()


def delegate(source: str, to: Path) -> int:
    """Run this command with .venv-s3's Python (it has s3fs; the package comes from src/); its exit code."""
    module = f"{__package__}.fetch"
    src = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))}
    print(f"running the copy with {S3_PYTHON} (it has the protocol's implementation)")
    return subprocess.run([str(S3_PYTHON), "-m", module, "--source", source, "--to", str(to)], env=env).returncode


def report(copied: list[Copied], source: str, to: Path) -> str:
    lines = [f"  {c.path}  {c.size / 1e6:.2f} MB" for c in copied]
    total = sum(c.size for c in copied) / 1e6
    lines.append(f"copied {len(copied)} files ({total:.2f} MB) from {source} to {to}")
    if not copied:
        lines.append("warning: the source holds no file yet — has the service answered a request since it started?")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--source", default="", help="the monitoring folder: a path, file:// or object-store URL")
    parser.add_argument("--to", type=Path, default=paths.live_data(), help="where to copy it (default: %(default)s)")
    args = parser.parse_args(argv)
    cli.start(args)
    source = args.source.strip()
    if not source:
        raise FetchError(f"error: no monitoring source — {SOURCE_FIX}")
    if "://" not in source:  # a mounted folder
        source = str(Path(source).expanduser())
        if not Path(source).exists():
            raise FetchError(f"error: the monitoring source {source} is not there — {SOURCE_FIX}")
    try:
        copied = copy_folder(source, args.to)
    except MissingProtocol:
        if S3_PYTHON.exists() and not in_s3_venv():
            raise SystemExit(delegate(source, args.to)) from None
        raise
    print(report(copied, source, args.to))


if __name__ == "__main__":
    main()
