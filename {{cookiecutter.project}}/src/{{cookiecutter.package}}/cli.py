"""What every stage's command line shares: --help, --params, settings and logging."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from . import paths
from .settings import Settings, configure_logging


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser whose help is the stage module's docstring."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", type=Path, default=paths.PARAMS, help="parameters file (default: %(default)s)")
    return p


def start(args: argparse.Namespace) -> Settings:
    """Validate settings and configure logging before a stage does any work."""
    settings = Settings.from_env()
    configure_logging(settings)
    return settings


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
