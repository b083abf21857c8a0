"""The deployment manual and docs/openapi.json cannot drift from the service: they equal a fresh rendering."""

from __future__ import annotations

import contextlib
import json
import re

import pytest

FIX = "run `make docs` and commit the result"


@pytest.fixture(scope="module")
def rendered(pkg, root, artifact) -> tuple[str, dict]:
    """The manual's Markdown and the OpenAPI document as `make docs` would write them now."""
    paths = pkg.core.paths
    for path in (paths.MODEL, paths.TRANSFORMER, paths.SCHEMA, paths.TEST, paths.MANUAL, paths.OPENAPI):
        artifact(path)  # what the rendering reads and what it is compared with: fail with the fix
    with contextlib.chdir(root):  # the manual reads the pipeline's outputs and .env.example from the root
        return pkg.reporting.manual.render_manual()


def test_committed_manual_equals_a_fresh_rendering(pkg, root, rendered):
    manual = pkg.core.paths.MANUAL
    assert (root / manual).read_text() == rendered[0], f"{manual} drifted from the service: {FIX}"


def test_committed_openapi_document_equals_a_fresh_rendering(pkg, root, rendered):
    openapi = pkg.core.paths.OPENAPI
    assert json.loads((root / openapi).read_text()) == rendered[1], f"{openapi} drifted from the service: {FIX}"


def test_manual_lists_every_setting_of_env_example(root, rendered):
    names = re.findall(r"^(MODELOPS_\w+)=", (root / ".env.example").read_text(), re.MULTILINE)
    assert names, "no MODELOPS_* variable in .env.example"
    assert [n for n in names if f"`{n}`" not in rendered[0]] == []


def test_manual_lists_every_endpoint_of_the_openapi_document(rendered):
    text, document = rendered
    assert "/predict" in document["paths"]
    assert [path for path in document["paths"] if f"`{path}`" not in text] == []
