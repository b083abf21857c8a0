"""The two files every command reads its facts from: `params.yaml` and the criteria file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from . import paths

TARGETS_MARK = "  # targets: written by `dvc repro evaluate`"


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


def write_live_targets(path: Path | str, targets: dict[str, dict[str, float]]) -> None:
    """Replace `live.targets` in the criteria file, keeping every comment and line above it.

    The block is the file's last: from the marker comment to the end. Same targets, same bytes.
    """
    path = Path(path)
    text = path.read_text()
    head, mark, _ = text.partition(TARGETS_MARK)
    if not mark:
        if "\nlive:" not in text:
            raise SystemExit(f"error: {path} has no `live:` section — add one (see `make help`, docs/criteria.yaml)")
        head = text.rstrip("\n") + "\n"
    body = yaml.safe_dump({"targets": targets}, sort_keys=False, default_flow_style=None, width=200)
    block = "".join(f"  {line}\n" for line in body.splitlines())
    path.write_text(f"{head}{TARGETS_MARK} from reports/metrics.json and the policy above — do not edit\n{block}")
