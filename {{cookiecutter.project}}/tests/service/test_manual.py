"""The deployment manual and docs/openapi.json cannot drift from the service: they equal a fresh rendering."""

from __future__ import annotations

import contextlib
import json
import re

import pytest

FIX = "run `make docs` and commit the result"


@pytest.fixture(scope="module")
def rendered(app_pkg, root) -> tuple[str, dict]:
    """The manual's Markdown and the OpenAPI document as `make docs` would write them now."""
    with contextlib.chdir(root):  # the manual reads the pipeline's outputs and .env.example from the root
        return app_pkg.manual.render()


def test_committed_manual_equals_a_fresh_rendering(app_pkg, root, rendered):
    committed = (root / app_pkg.manual.MANUAL).read_text()
    assert committed == rendered[0], f"{app_pkg.manual.MANUAL} drifted from the service: {FIX}"


def test_committed_openapi_document_equals_a_fresh_rendering(app_pkg, root, rendered):
    committed = json.loads((root / app_pkg.manual.OPENAPI).read_text())
    assert committed == rendered[1], f"{app_pkg.manual.OPENAPI} drifted from the service: {FIX}"


def test_manual_lists_every_setting_of_env_example(root, rendered):
    names = re.findall(r"^(MODELOPS_\w+)=", (root / ".env.example").read_text(), re.MULTILINE)
    assert names, "no MODELOPS_* variable in .env.example"
    assert [n for n in names if f"`{n}`" not in rendered[0]] == []


def test_manual_lists_every_endpoint_of_the_openapi_document(rendered):
    text, document = rendered
    assert "/predict" in document["paths"]
    assert [path for path in document["paths"] if f"`{path}`" not in text] == []
