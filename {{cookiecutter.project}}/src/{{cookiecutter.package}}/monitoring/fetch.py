"""Fetch: copy the service's monitoring folder (prediction log segments, feedback store) from where it is written.

The source is a mounted volume (a folder, or a file:// URL) or an object-store URL (s3:// — an
S3-compatible store through AWS_ENDPOINT_URL — or any fsspec protocol) that the service's log
segments are uploaded to, read through `core/storage.py`. Credentials come only from the
environment (AWS_* for s3://). The copy goes to --to (default .deploy/local/monitoring, where
`make monitor` reads) and is incremental: a file already there with the same size and not older
than the source's is skipped, so the folder is a cache of the bucket. Files of the same name are
otherwise replaced, others are left alone. SQLite's `-shm` index is skipped: SQLite rebuilds it. An
object whose name would land outside --to (`../../Makefile`, an absolute key) is refused, named on
stderr, and the rest is copied. `make fetch-logs SOURCE=...` runs this.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from ..core import cli, paths, storage

SKIPPED_SUFFIXES = ("-shm",)  # SQLite's shared-memory index: rebuilt on open, stale once copied
SOURCE_FIX = (
    "set SOURCE (`make fetch-logs SOURCE=<folder or URL>`; in the monitor workflow the repository"
    " variable MONITORING_SOURCE) to where the service's monitoring folder is written"
)


class FetchError(SystemExit):
    """The source cannot be read; the message names the setting or the install to fix."""


@dataclass(frozen=True)
class Copied:
    """One file copied: its path under the folder, and its size."""

    path: str
    size: int


def filesystem(source: str) -> tuple[Any, str]:
    """The fsspec filesystem of `source` and the folder's path in it (core/storage.py, the one door)."""
    try:
        return storage.filesystem(source)
    except storage.StorageError as exc:
        raise FetchError(f"{exc} — {SOURCE_FIX}") from exc


def inside(relative: str) -> PurePosixPath | None:
    """An object's path under the folder, or None when it would leave it (`..`, absolute, empty parts)."""
    parts = relative.split("/")
    if relative.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\\" in relative:
        return None
    return PurePosixPath(*parts)


def modified(info: dict[str, Any]) -> float | None:
    """An fsspec entry's modification time (seconds since the epoch), when the protocol gives one."""
    value = info.get("mtime", info.get("LastModified", info.get("last_modified")))
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value) if isinstance(value, int | float) else None


def up_to_date(target: Path, size: int, source_time: float | None) -> bool:
    """Whether `target` holds the object already: the same size, and not older than the source's copy."""
    if not target.is_file():
        return False
    held = target.stat()
    return held.st_size == size and (source_time is None or source_time <= held.st_mtime)


def copy_folder(source: str, to: Path) -> list[Copied]:
    """Copy every file under `source` to `to`, keeping the layout; what was copied (files `to` holds already are
    skipped, objects whose name leads outside `to` refused)."""
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
    wanted: list[tuple[str, Path, Copied]] = []
    for path, info in sorted(found.items()):
        relative = path[len(root) + 1 :] if path.startswith(f"{root}/") else path
        if not relative or relative.endswith(SKIPPED_SUFFIXES):
            continue
        safe = inside(relative)
        if safe is None:
            print(f"warning: refused {path!r}: its name leads outside {to} — delete that object", file=sys.stderr)
            continue
        target = to.joinpath(*safe.parts)
        size = int(info.get("size") or 0)
        if up_to_date(target, size, modified(info)):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        wanted.append((path, target, Copied(safe.as_posix(), size)))
    if wanted:  # one call: an object store's filesystem (s3fs) fetches the objects concurrently
        try:
            fs.get([path for path, _, _ in wanted], [str(target) for _, target, _ in wanted])
        except Exception as exc:
            raise FetchError(f"error: cannot copy {source} to {to}: {exc} — check the credentials, run again") from exc
    return [c if c.size else Copied(c.path, target.stat().st_size) for _, target, c in wanted]


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
    print(report(copy_folder(source, args.to), source, args.to))


if __name__ == "__main__":
    main()
