"""The two files every command reads its facts from: `params.yaml` and the criteria file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from . import paths


def load_params(path: Path | str = paths.PARAMS) -> dict[str, Any]:
    """The whole parameters file."""
    path = Path(path)
    if not path.exists():
        raise SystemExit(f"error: no {path} — run commands from the repository root")
    return yaml.safe_load(path.read_text()) or {}


def load_criteria(path: Path | str = paths.CRITERIA) -> dict[str, Any]:
    """The evaluation criteria file: the one source of every threshold."""
    path = Path(path)
    if not path.exists():
        raise SystemExit(f"error: no {path} — restore it from git (`git checkout -- {path}`)")
    return yaml.safe_load(path.read_text()) or {}
