"""Unit tests of packaging/build: the staging folder a bento is built from."""

from __future__ import annotations

import pytest
import yaml


@pytest.fixture
def bentofile(isolated) -> dict:
    """A bentofile and the files it names, in the working directory."""
    for name in ("requirements.lock", "Dockerfile.j2", "docs/model_card.md", "docs/openapi.json", "dist/p.whl"):
        (isolated / name).parent.mkdir(parents=True, exist_ok=True)
        (isolated / name).write_text(name)
    return {
        "name": "demo",
        "include": ["docs/*.md", "docs/openapi.json"],
        "python": {"requirements_txt": "requirements.lock"},
        "docker": {"dockerfile_template": "Dockerfile.j2"},
    }


def test_stage_copies_what_the_bentofile_names_and_the_wheel(pkg, isolated, bentofile):
    into = isolated / "context"
    into.mkdir()
    staged = pkg.packaging.build.stage(bentofile, isolated / "dist/p.whl", into)
    assert staged["python"] == {"requirements_txt": "requirements.lock", "wheels": ["dist/p.whl"]}
    assert yaml.safe_load((into / "bentofile.yaml").read_text()) == staged
    copied = sorted(str(p.relative_to(into)) for p in into.rglob("*") if p.is_file())
    expected = ["Dockerfile.j2", "bentofile.yaml", "dist/p.whl", "docs/model_card.md", "docs/openapi.json"]
    assert copied == sorted([*expected, "requirements.lock"])


def test_stage_names_an_include_that_matches_nothing(pkg, isolated, bentofile):
    (isolated / "context").mkdir()
    bentofile["include"].append("models/*.joblib")
    with pytest.raises(SystemExit, match=r"'models/\*\.joblib', which matches nothing — run `make pipeline`"):
        pkg.packaging.build.stage(bentofile, isolated / "dist/p.whl", isolated / "context")


def test_visible_tempdir_has_no_hidden_part(pkg):
    folder = pkg.packaging.build.visible_tempdir()
    try:
        assert folder.is_dir() and not any(part.startswith(".") for part in folder.parts)
    finally:
        folder.rmdir()


def test_the_wheel_carries_the_builds_version(pkg, isolated):
    """Only the project's own `version = "..."` line changes; a file without one is refused naming the fix."""
    pyproject = '[project]\nname = "p"\nversion = "0.1.0"  # a comment\n\n[tool.x]\nversion = "9"\n'
    assert pkg.packaging.build.stamped(pyproject, "0.2.0") == pyproject.replace('"0.1.0"', '"0.2.0"')
    with pytest.raises(SystemExit, match="restore it from git"):
        pkg.packaging.build.stamped('[project]\nname = "p"\n', "0.2.0")
