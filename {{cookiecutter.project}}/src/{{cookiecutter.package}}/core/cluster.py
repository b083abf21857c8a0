"""The cluster as kubectl sees it: read-only queries of named objects, the one place that asks a cluster.

`make doctor` asks here whether the namespaces, Secrets, Argo CD and metrics-server the project
needs exist. Every query is a `kubectl get … -o json` of the current context (`kubectl config
current-context`; KUBECONFIG chooses another file); nothing is created or changed. A Secret's
values are never printed: callers read its keys. (`kubectl kustomize`, which renders manifests
without a cluster, stays in gitops/manifests.py.)
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

KUBECTL_FIX = "install kubectl: https://kubernetes.io/docs/tasks/tools/"
NO_KIND = "the server doesn't have a resource type"  # kubectl's words for a kind the cluster lacks (no CRD)

Object = dict[str, Any]


class ClusterError(SystemExit):
    """kubectl is missing, cannot reach the cluster, or may not read an object; the message names the fix."""


@dataclass(frozen=True)
class Ref:
    """One object by kind and name; `namespace` empty for a cluster-scoped kind."""

    kind: str
    name: str
    namespace: str = ""

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


class Cluster:
    """The cluster of kubectl's current context."""

    def __init__(self) -> None:
        self._executable: str | None = None

    def executable(self) -> str:
        if self._executable is None:
            found = shutil.which("kubectl")
            if found is None:
                raise ClusterError(f"error: kubectl not found on PATH — {KUBECTL_FIX}")
            self._executable = found
        return self._executable

    def _run(self, *args: str) -> str:
        result = subprocess.run([self.executable(), *args], capture_output=True, text=True)
        if result.returncode != 0:
            reason = (result.stderr or result.stdout).strip().splitlines()
            raise ClusterError(f"error: `{shlex.join(['kubectl', *args])}` failed: {reason[-1] if reason else '?'}")
        return result.stdout

    def server_version(self) -> str:
        """The API server's version (`kubectl version`): reaching it proves the context works."""
        answer = json.loads(self._run("version", "-o", "json") or "{}")
        server = answer.get("serverVersion") or {}
        if not server:
            raise ClusterError("error: kubectl reached no API server — check `kubectl config current-context`")
        return str(server.get("gitVersion") or f"{server.get('major')}.{server.get('minor')}")

    def get(self, ref: Ref) -> Object | None:
        """The object, or None when it (or its kind) does not exist."""
        args = ["get", ref.kind, ref.name, "-o", "json", "--ignore-not-found"]
        if ref.namespace:
            args += ["--namespace", ref.namespace]
        try:
            output = self._run(*args)
        except ClusterError as exc:
            if NO_KIND in str(exc.code):
                return None
            raise
        if not output.strip():
            return None
        found: Object = json.loads(output)
        return found

    def list(self, kind: str, namespace: str, selector: str) -> list[Object]:
        """The objects of `kind` in `namespace` whose labels match `selector` (kubectl's `-l`)."""
        args = ["get", kind, "--namespace", namespace, "--selector", selector, "-o", "json"]
        try:
            output = self._run(*args)
        except ClusterError as exc:
            if NO_KIND in str(exc.code):
                return []
            raise
        items: list[Object] = (json.loads(output or "{}").get("items")) or []
        return items


def condition(obj: Object, kind: str) -> str:
    """The status ('True', 'False', 'Unknown') of the object's condition `kind`, '' when it has none."""
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return str(item.get("status") or "")
    return ""
