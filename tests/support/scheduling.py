"""How xdist shares the suite out: `--dist loadscope` (each class or module whole on one worker), except that
the tests of one shared project are one unit, and the heaviest units go out first.

The controller sees only node ids, so the units are named here by node id: the scopes that share one
project (conftest.py's `deployed` and `s3_project`) in the order their story runs, and the scopes
known to take minutes. Everything else follows xdist's own order (most tests first).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from xdist.scheduler.loadscope import LoadScopeScheduling

from support.lifecycle import REFERENCE

DEPLOYED_PROJECT = "the deployed project"
S3_PROJECT = "the storage=s3 project"
# The scopes that share the deployed project, in the order they run: the template update takes the
# fresh project, delivery deploys, promotes, rolls back and releases it, monitoring watches and
# retrains it.
DEPLOYED_PROJECT_SCOPES = (
    "tests/test_update.py",
    "tests/test_delivery.py::TestDelivery",
    "tests/test_monitoring.py::TestMonitoring",
)
# The scopes that share the storage=s3 project, its object store and its pipeline's outputs: the DVC
# remote's round trip commits a clean project, which the data plane then serves as two replicas.
S3_PROJECT_SCOPES = (
    "tests/test_storage.py",
    "tests/test_dataplane.py::TestTwoReplicas",
)
SHARED = {DEPLOYED_PROJECT: DEPLOYED_PROJECT_SCOPES, S3_PROJECT: S3_PROJECT_SCOPES}
# Units that take minutes, heaviest first (measured with `--durations`): handed out before the rest,
# so that no worker starts a long unit when the other is nearly done. Unlisted units go out by their
# number of tests, most first: a unit of few but long tests (a project baked, installed and run) left
# unlisted would go out last, and one worker would run it alone at the end.
# Their weights (--durations, clean-clone CI unless said): the deployed project ~8 min, the reference configuration's
# lifecycle ~5 (its project's whole suite), the GitLab pipelines ~3 (merge request 100 s, its report job again 9 s,
# main 57 s: build/artifacts/gitlab-ci-local.log, a loaded machine), the storage=s3 project ~2, each other lifecycle
# class ~1-1.5, the template's Makefile ~1, the docs' `make docs` under 1; the GitLab forge's project about a minute.
HEAVIEST_FIRST = (
    DEPLOYED_PROJECT,
    f"tests/test_lifecycle.py::{REFERENCE.class_name}",
    "tests/test_gitlab.py",
    S3_PROJECT,
    "tests/test_lifecycle.py::",
    "tests/test_forge_gitlab.py",
    "tests/test_makefile.py",
    "tests/test_docs.py",
)


class _HasNodeId(Protocol):
    @property
    def nodeid(self) -> str: ...


def scope_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its class or module, or the shared project whose scopes hold it."""
    scope = nodeid.rsplit("::", 1)[0]
    return next((unit for unit, scopes in SHARED.items() if scope in scopes), scope)


def weight_rank(scope: str) -> int:
    """Where a unit stands in HEAVIEST_FIRST (by prefix); units not listed come after all of them."""
    return next((rank for rank, prefix in enumerate(HEAVIEST_FIRST) if scope.startswith(prefix)), len(HEAVIEST_FIRST))


def in_shared_order(items: Sequence[_HasNodeId]) -> list[Any]:
    """`items` with each shared project's tests together, in its scopes' order, where the first of them was;
    every other test keeps its place."""

    def story_rank(item: _HasNodeId) -> int:
        return SHARED[scope_of(item.nodeid)].index(item.nodeid.rsplit("::", 1)[0])

    waiting = {
        unit: sorted((item for item in items if scope_of(item.nodeid) == unit), key=story_rank) for unit in SHARED
    }
    ordered: list[Any] = []
    for item in items:
        unit = scope_of(item.nodeid)
        if unit not in SHARED:
            ordered.append(item)
        elif waiting[unit]:
            ordered += waiting[unit]
            waiting[unit] = []
    return ordered


class SharedProjectScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """LoadScopeScheduling with each shared project as one unit and the heaviest units handed out first."""

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)

    def _assign_work_unit(self, node: Any) -> None:
        """Hand `node` the heaviest unit left: HEAVIEST_FIRST's order, then the most tests."""
        heaviest = min(self.workqueue, key=lambda scope: (weight_rank(scope), -len(self.workqueue[scope])))
        self.workqueue.move_to_end(heaviest, last=False)
        super()._assign_work_unit(node)
