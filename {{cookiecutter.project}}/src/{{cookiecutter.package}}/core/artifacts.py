"""Artifacts and records: read and write the pipeline's JSON facts and tables, hash files, name the stage to run."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas costs seconds to import; commands that read no table skip it
    import pandas as pd

log = logging.getLogger(__name__)


class MissingArtifact(SystemExit):
    """An input a stage needs is not there; the message says what to run."""

    def __init__(self, path: Path | str, stage: str) -> None:
        super().__init__(f"error: no {path} — run `dvc repro {stage}` (or `make pipeline`; `make pull` fetches it)")


def require(path: Path | str, stage: str) -> Path:
    """The path of an artifact another stage makes, or say which stage to run."""
    path = Path(path)
    if not path.exists():
        raise MissingArtifact(path, stage)
    return path


def sha256_file(path: Path | str) -> str:
    """Content hash of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: Path | str, payload: Any) -> Path:
    """Write a record as sorted, indented JSON (stable diffs) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=_jsonable) + "\n")
    log.info("wrote %s", path)
    return path


def read_json(path: Path | str, stage: str) -> Any:
    """Read a record another stage wrote, or say which stage to run."""
    return json.loads(require(path, stage).read_text())


def write_table(path: Path | str, frame: pd.DataFrame) -> Path:
    """Write a table as CSV without the index."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    log.info("wrote %s (%d rows, %d columns)", path, *frame.shape)
    return path


def read_table(
    path: Path | str, stage: str, dtype: Mapping[str, type] | None = None, nrows: int | None = None
) -> pd.DataFrame:
    """Read a table another stage wrote, or say which stage to run; `dtype` fixes column types."""
    import pandas as pd

    return pd.read_csv(require(path, stage), dtype=dtype, nrows=nrows)


def _jsonable(value: Any) -> Any:
    """Turn numpy scalars and paths into plain JSON values."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
