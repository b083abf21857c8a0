"""docs/production.md stays true: it names every secret and every log setting, and its figures are the code's.

A figure is quoted beside its source — "`MODELOPS_LOG_SEGMENT_SECONDS` (default 60)" or
"`FLUSH_SECONDS` (0.2 s)" — and checked here against the settings' defaults and the constants;
a figure with a unit anywhere else fails, since nothing would keep it true.
"""

from __future__ import annotations

import re
from dataclasses import fields

import pytest

SETTING_FIGURE = re.compile(r"`MODELOPS_(\w+)`(?:,| \() ?default (\d+(?:\.\d+)?)")
CONSTANT_FIGURE = re.compile(r"`([A-Z][A-Z_]+)` \((\d+(?:\.\d+)?)(?: s)?\)")
STRAY_FIGURE = re.compile(r"\b\d+(?:\.\d+)? ?(?:s|seconds|ms|MB|MiB|GB|GiB|bytes|days|%)(?![\w-])")


@pytest.fixture(scope="module")
def page(root) -> str:
    return (root / "docs" / "production.md").read_text()


def test_it_names_every_secret_and_its_secret_key(pkg, page):
    for name in pkg.core.settings.SECRETS:
        assert f"`MODELOPS_{name}`" in page, f"docs/production.md does not say which Secret holds MODELOPS_{name}"
        assert f"`{name.lower().replace('_', '-')}`" in page, f"no Secret key for MODELOPS_{name}"


def test_it_names_every_log_setting(pkg, page):
    names = [f"MODELOPS_{f.name.upper()}" for f in fields(pkg.core.settings.Settings) if f.name.startswith("log_")]
    assert names and [name for name in names if f"`{name}`" not in page] == []


def test_each_figure_is_the_codes(pkg, page):
    defaults = pkg.core.settings.Settings()
    quoted = SETTING_FIGURE.findall(page)
    assert {"LOG_SEGMENT_SECONDS", "LOG_BUFFER_MB"} <= {name for name, _ in quoted}
    for name, figure in quoted:
        assert float(figure) == getattr(defaults, name.lower()), f"MODELOPS_{name} defaults to another value"
    constants = {"FLUSH_SECONDS": pkg.serving.predictionlog, "MIN_KEY_BYTES": pkg.core.settings}
    for name, figure in CONSTANT_FIGURE.findall(page):
        assert name in constants, f"{name} ({figure}): say where this figure comes from in this test"
        assert float(figure) == getattr(constants[name], name), f"{name} is not {figure}"
    prose = CONSTANT_FIGURE.sub("", SETTING_FIGURE.sub("", page))
    assert STRAY_FIGURE.findall(prose) == [], "a figure no test keeps true: quote it beside its setting or constant"
