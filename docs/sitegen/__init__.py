"""The documentation site's generated pages: files of the template in, Markdown out, same bytes each time.

docs/hooks.py hands them to MkDocs; tests/test_docs.py checks what they say against the template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import options, readme, troubleshooting, walkthrough

QUICK_START = ("Two commands", "Use it for your own model")
ON_THIS_SITE = """## On this site

- [Options](options.md): every question `cookiecutter` asks, its choices and default.
- [Lifecycle walkthrough](lifecycle.md): the output of the last `make demo`, step by step.
- [Design decisions](design.md): why the template and the project it generates look the way they do.
- [Troubleshooting](troubleshooting.md): every error message, where it comes from and its fix.
- [Benchmarks](benchmarks.md): the serving and monitoring measurements of `make bench`.
"""


@dataclass(frozen=True)
class Site:
    """What the build adds to docs/: pages ({site path: Markdown}), files to copy ({site path: file}),
    and the warnings a strict build fails on."""

    pages: dict[str, str]
    assets: dict[str, Path] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def quick_start(root: Path) -> str:
    """The home page: the README's introduction and its quick-start sections, quoted whole."""
    text = (root / "README.md").read_text()
    parts = ["# cookiecutter-modelops", "", readme.intro(text)]
    for heading in QUICK_START:
        parts += ["", f"## {heading}", "", readme.section(text, heading)]
    return readme.relink("\n".join(parts)) + "\n\n" + ON_THIS_SITE


def shown(root: Path, path: Path) -> str:
    """A path as the pages name it: relative to the repo when inside it."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def demo_site(root: Path, demo_dir: Path) -> Site:
    """The walkthrough and the demo project's documents; a warning and a "run make demo" page without a demo."""
    folder = (root / demo_dir).resolve()
    try:
        demo = walkthrough.read(folder)
    except walkthrough.DemoError as error:
        return Site({"lifecycle.md": walkthrough.missing_page(str(error))}, warnings=(str(error),))
    texts, assets = walkthrough.mirrored(demo.project) if demo.project else ({}, {})
    page = walkthrough.page(demo, shown(root, folder))
    return Site({"lifecycle.md": page, **texts}, assets)


def build(root: Path, demo_dir: Path) -> Site:
    """Every generated page of the site, from the template repo at `root` and the demo in `demo_dir`."""
    demo = demo_site(root, demo_dir)
    pages = {
        "index.md": quick_start(root),
        "options.md": options.page(root / "cookiecutter.json", (root / "README.md").read_text()),
        "troubleshooting.md": troubleshooting.page(root),
        **demo.pages,
    }
    return Site(pages, demo.assets, demo.warnings)
