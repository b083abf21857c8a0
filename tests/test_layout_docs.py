"""The generated package's layout as the template's pages describe it: every room of the one table.

The table is `[tool.modelops.rooms]` in the generated `pyproject.toml` (the project's own layout test
enforces it and checks its README against it); here the template's README and design decisions are
held to it, so no page drifts from the layout it describes.
"""

from __future__ import annotations

import re
import tomllib

import pytest
from support.options import REPO_ROOT

PYPROJECT = REPO_ROOT / "{{cookiecutter.project}}" / "pyproject.toml"
PACKAGE = REPO_ROOT / "{{cookiecutter.project}}" / "src" / "{{cookiecutter.package}}"
PAGES = {"README.md": "## What a generated project holds", "docs/design.md": "A package laid out by role"}


def rooms() -> dict[str, list[str]]:
    """The table, read from its own section (the rest of the file holds Jinja)."""
    section = re.search(r"^\[tool\.modelops\.rooms\]\n(.*?)(?=^\[|\Z)", PYPROJECT.read_text(), re.M | re.S)
    assert section, f"no [tool.modelops.rooms] in {PYPROJECT}"
    return tomllib.loads(section.group(1))


def test_the_table_holds_every_room_of_the_package():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert set(rooms()) == folders
    for room, may in rooms().items():
        assert set(may) <= set(rooms()) - {room}, f"{room} may import an unknown room: {may}"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_each_page_names_every_room_where_it_describes_the_layout(page):
    text = (REPO_ROOT / page).read_text()
    assert PAGES[page] in text, f"{page} lost its layout paragraph ({PAGES[page]!r})"
    paragraph = text.split(PAGES[page], 1)[1].split("\n- **", 1)[0].split("\n- `dvc.yaml`", 1)[0]
    missing = [room for room in rooms() if f"`{room}/`" not in paragraph]
    assert not missing, f"{page}: the layout paragraph does not name {missing}"
    assert "`delivery/`" not in paragraph, f"{page} still names the old delivery/ room"
