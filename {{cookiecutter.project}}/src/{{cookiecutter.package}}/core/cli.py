"""What every command line shares: --help from the module's docstring, --params, settings and logging."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import paths
from .settings import Settings, configure_logging


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser whose help is the command module's docstring."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", type=Path, default=paths.PARAMS, help="parameters file (default: %(default)s)")
    return p


def start(args: argparse.Namespace) -> Settings:
    """Validate settings and configure logging before a command does any work."""
    settings = Settings.from_env()
    configure_logging(settings)
    return settings
