"""Docs: render the data card, model card, criteria page, architecture and deployment manual.

Every page says which command wrote it; edit the records' sources (params.yaml,
docs/criteria.yaml, dvc.yaml, the service), never the pages.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml

from ..core import cli, config, paths
from ..core.artifacts import read_json
from ..core.schema import Schema
from ..reporting import cards, manual

log = logging.getLogger(__name__)


def render_all() -> dict[Path, str]:
    """Every generated page and its text."""
    ingest = read_json(paths.INGEST_RECORD, "ingest")
    prepare = read_json(paths.PREPARE_RECORD, "prepare")
    stats = read_json(paths.FEATURE_STATS, "featurize")
    features = read_json(paths.FEATURE_LIST, "featurize")
    trained = read_json(paths.TRAIN_RECORD, "train")
    metrics = read_json(paths.METRICS, "evaluate")
    text, document = manual.render_manual()
    return {
        paths.DOCS / "data_card.md": cards.data_card(ingest, prepare, Schema.load(), stats),
        paths.DOCS / "model_card.md": cards.model_card(ingest, trained, metrics, features),
        paths.DOCS / "evaluation_criteria.md": cards.criteria_page(config.load_criteria()),
        paths.DOCS / "architecture.md": cards.architecture(yaml.safe_load(paths.PIPELINE.read_text())),
        paths.MANUAL: text,
        paths.OPENAPI: json.dumps(document, indent=2, sort_keys=True) + "\n",
    }


def main(argv: list[str] | None = None) -> None:
    args = cli.parser(__doc__).parse_args(argv)
    cli.start(args)
    for path, text in render_all().items():
        path.write_text(text)
        log.info("wrote %s", path)


if __name__ == "__main__":
    main()
