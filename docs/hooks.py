"""MkDocs hooks (mkdocs.yml `hooks:`): add the pages docs/sitegen/ generates to the site.

- `index.md`: the README's introduction, "Two commands" and "Use it for your own model", quoted whole;
- `options.md`: cookiecutter.json's questions, choices and defaults;
- `lifecycle.md` and `demo/…`: the last `make demo`, read from the events and step logs it wrote in
  the folder `extra.demo_dir` names (DOCS_DEMO_DIR, default build/demo);
- `troubleshooting.md`: every `error:` message in the source.

A missing, stopped or cut-off demo run is a warning: `mkdocs build --strict` fails naming the command
to run, and a plain build shows the page saying so.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sitegen
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.sitegen")  # under `mkdocs`: strict mode counts its warnings


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = Path(config.config_file_path).resolve().parent
    site = sitegen.build(root, Path(config.extra.get("demo_dir") or "build/demo"))
    for warning in site.warnings:
        log.warning(warning)
    for src_uri, content in sorted(site.pages.items()):
        files.append(File.generated(config, src_uri, content=content))
    for src_uri, path in sorted(site.assets.items()):
        files.append(File.generated(config, src_uri, abs_src_path=str(path)))
    return files
