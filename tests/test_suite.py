"""The suite's own shape: test modules import no other test module (harnesses live in tests/support/,
fixtures in conftest.py), and xdist runs each shared project's tests as one unit, in story order."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from support.options import REPO_ROOT
from support.scheduling import (
    DEPLOYED_PROJECT,
    DEPLOYED_PROJECT_SCOPES,
    HEAVIEST_FIRST,
    S3_PROJECT,
    S3_PROJECT_SCOPES,
    SHARED,
    in_shared_order,
    scope_of,
    weight_rank,
)

TESTS = REPO_ROOT / "tests"


def imported_modules(path: Path) -> set[str]:
    """The top-level names of every module `path` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_no_test_module_imports_another():
    modules = sorted(TESTS.glob("test_*.py"))
    names = {path.stem for path in modules} | {"conftest"}
    crossing = {path.name: sorted(imported_modules(path) & names) for path in modules}
    assert {name: found for name, found in crossing.items() if found} == {}, (
        "a test module imports another (move the harness to tests/support/, the fixture to conftest.py)"
    )


@dataclass(frozen=True)
class Node:
    nodeid: str


def test_each_shared_projects_tests_run_together_in_story_order():
    """Update, then delivery, then monitoring; storage, then the data plane: each wherever the first of its tests
    was collected; the rest keep their place."""
    collected = [
        Node("tests/test_delivery.py::TestDelivery::test_b"),
        Node("tests/test_dataplane.py::TestTwoReplicas::test_p"),
        Node("tests/test_docs.py::test_x"),
        Node("tests/test_monitoring.py::TestMonitoring::test_c"),
        Node("tests/test_delivery.py::TestDelivery::test_a"),
        Node("tests/test_update.py::test_first"),
        Node("tests/test_storage.py::test_s"),
        Node("tests/test_lifecycle.py::TestRegressionCsv::test_y"),
    ]
    ordered = [node.nodeid for node in in_shared_order(collected)]
    assert ordered == [
        "tests/test_update.py::test_first",
        "tests/test_delivery.py::TestDelivery::test_b",
        "tests/test_delivery.py::TestDelivery::test_a",
        "tests/test_monitoring.py::TestMonitoring::test_c",
        "tests/test_storage.py::test_s",
        "tests/test_dataplane.py::TestTwoReplicas::test_p",
        "tests/test_docs.py::test_x",
        "tests/test_lifecycle.py::TestRegressionCsv::test_y",
    ]
    assert {scope_of(f"{scope}::test_z") for scope in DEPLOYED_PROJECT_SCOPES} == {DEPLOYED_PROJECT}
    assert {scope_of(f"{scope}::test_z") for scope in S3_PROJECT_SCOPES} == {S3_PROJECT}
    lifecycle = "tests/test_lifecycle.py::TestRegressionCsv"
    assert scope_of(f"{lifecycle}::test_y") == lifecycle


def test_the_shared_projects_scopes_exist_and_go_out_first():
    for scope in (scope for scopes in SHARED.values() for scope in scopes):
        module, _, cls = scope.partition("::")
        path = REPO_ROOT / module
        assert path.is_file(), f"support/scheduling.py names {module}, which is gone"
        if cls:
            classes = {n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ClassDef)}
            assert cls in classes, f"support/scheduling.py names {scope}, which is gone"
    assert weight_rank(DEPLOYED_PROJECT) == 0 and weight_rank(S3_PROJECT) < len(HEAVIEST_FIRST)
    lifecycle, render = "tests/test_lifecycle.py::TestRegressionCsv", "tests/test_render.py::TestRegressionCsv"
    assert weight_rank(lifecycle) < weight_rank(render)


def test_every_slow_module_goes_out_among_the_heaviest():
    """A module whose every test is slow (baked, installed, run for real) is in HEAVIEST_FIRST or a shared
    project: unlisted, it would go out last for its few tests, and one worker would run it alone at the end."""
    slow = sorted(
        f"tests/{path.name}"
        for path in TESTS.glob("test_*.py")
        if "\npytestmark = pytest.mark.slow\n" in path.read_text()
    )
    shared = {scope.partition("::")[0] for scopes in SHARED.values() for scope in scopes}
    unranked = [m for m in slow if m not in shared and weight_rank(f"{m}::") == len(HEAVIEST_FIRST)]
    assert slow and unranked == [], f"add {unranked} to support/scheduling.py's HEAVIEST_FIRST"


# Fixtures that install a generated project and run it (minutes), by the module defining them (names repeat:
# test_workflows.py's `project` only renders): a test using one belongs to the slow tier.
INSTALLING_FIXTURES = {
    ("conftest", "new_lifecycle"),
    ("conftest", "project"),
    ("conftest", "s3_project"),
    ("conftest", "deployed"),
    ("conftest", "update"),
    ("conftest", "delivery"),
    ("conftest", "monitored"),
    ("test_gitlab", "pipelines"),
}


def installing_fixtures(item) -> set[tuple[str, str]]:
    """The installing fixtures `item` uses, as (defining module, name)."""
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    used = {(defs[-1].func.__module__, name) for name, defs in definitions.items() if defs}
    return used & INSTALLING_FIXTURES


def test_every_test_that_installs_a_project_is_marked_slow(request):
    """`make test-fast` stays under a minute: what it selects uses none of the installing fixtures.

    It reads the items of this run (every one under `make test`, the fast ones under `make test-fast`)."""
    unmarked = [
        item.nodeid
        for item in request.session.items
        if item.get_closest_marker("slow") is None and installing_fixtures(item)
    ]
    assert not unmarked, "mark these @pytest.mark.slow (they install a generated project):\n" + "\n".join(unmarked)
