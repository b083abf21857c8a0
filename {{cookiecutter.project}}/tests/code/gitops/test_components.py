"""The Kustomize components: every overlay renders with each, and each does what its comment says.

`smoke-test` is in every overlay; `pull-secret` and `ingress` are opt-in, enabled by one line under
an overlay's `components:` (deploy/README.md). Each is rendered here by kubectl, enabled in a copy of
deploy/, and checked by the same wiring the manifests hook runs. The hooks' validators and checkov
on the enabled components are in test_manifests.py (slow).
"""

from __future__ import annotations

import copy
import itertools
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

OPT_IN = ["pull-secret", "ingress"]
PULL_SECRET = "ghcr-pull"  # pragma: allowlist secret (a Secret's name)


def enable(deploy: Path, env: str, components: list[str]) -> None:
    """Add components to an overlay the way deploy/README.md says: one line each, after smoke-test."""
    path = deploy / env / "kustomization.yaml"
    data = yaml.safe_load(path.read_text())
    data["components"] = data["components"] + [f"../components/{name}" for name in components]
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def render(deploy: Path, env: str) -> list[dict]:
    result = subprocess.run(["kubectl", "kustomize", str(deploy / env)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture
def deploy_copy(root, tmp_path) -> Path:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl not found on PATH — install kubectl (it carries Kustomize)")
    shutil.copytree(root / "deploy", tmp_path / "deploy")
    return tmp_path / "deploy"


def test_the_components_are_kustomize_components(root):
    for folder in sorted((root / "deploy" / "components").iterdir()):
        data = yaml.safe_load((folder / "kustomization.yaml").read_text())
        assert data["kind"] == "Component" and data["apiVersion"] == "kustomize.config.k8s.io/v1alpha1", folder
    assert sorted(p.name for p in (root / "deploy" / "components").iterdir()) == sorted(["smoke-test", *OPT_IN])


@pytest.mark.parametrize(
    "components",
    [list(c) for n in range(len(OPT_IN) + 1) for c in itertools.combinations(OPT_IN, n)],
    ids=lambda c: "+".join(c) or "as committed",
)
def test_every_overlay_renders_with_every_component(pkg, deploy_copy, components):
    wiring = pkg.gitops.wiring
    for env in ("staging", "production"):
        enable(deploy_copy, env, components)
        kustomization = yaml.safe_load((deploy_copy / env / "kustomization.yaml").read_text())
        objects = render(deploy_copy, env)
        assert {o["metadata"]["namespace"] for o in objects} == {kustomization["namespace"]}
        problems = wiring.check_workload(env, objects, kustomization) + wiring.check_smoke_job(
            env, objects, kustomization
        )
        assert [str(p) for p in problems] == []
        pods = [o["spec"]["template"]["spec"] for o in objects if o["kind"] in {"Deployment", "Job"}]
        assert len(pods) == 2
        for spec in pods:
            expected = [{"name": PULL_SECRET}] if "pull-secret" in components else None
            assert spec.get("imagePullSecrets") == expected
        ingresses = [o for o in objects if o["kind"] == "Ingress"]
        assert len(ingresses) == ("ingress" in components)


def test_the_ingress_routes_to_the_service_and_needs_the_project_to_allow_it(pkg, deploy_copy, root):
    enable(deploy_copy, "staging", ["ingress"])
    objects = render(deploy_copy, "staging")
    (ingress,) = [o for o in objects if o["kind"] == "Ingress"]
    (service,) = [o for o in objects if o["kind"] == "Service"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": service["spec"]["ports"][0]["name"]}}
    project = yaml.safe_load((root / "deploy/argocd/project.yaml").read_text())
    apps = {env: yaml.safe_load((root / f"deploy/argocd/{env}.yaml").read_text()) for env in ("staging", "production")}
    rendered = {"staging": objects, "production": render(deploy_copy, "production")}
    messages = [str(p) for p in pkg.gitops.wiring.check_project(project, apps, rendered)]
    assert messages == [
        "staging: deploy/argocd/project.yaml: Ingress/"
        f"{ingress['metadata']['name']} is rendered but namespaceResourceWhitelist does not allow"
        " {group: 'networking.k8s.io', kind: Ingress}"
    ]
    project["spec"]["namespaceResourceWhitelist"].append({"group": "networking.k8s.io", "kind": "Ingress"})
    assert pkg.gitops.wiring.check_project(project, apps, rendered) == []


def test_an_overlay_sets_the_ingress_host_with_one_patch_file(deploy_copy):
    """deploy/README.md's way: `patches: - path: ingress-patch.yaml`, an Ingress of the same name with the host."""
    enable(deploy_copy, "staging", ["ingress"])
    (ingress,) = [o for o in render(deploy_copy, "staging") if o["kind"] == "Ingress"]
    host = "staging.models.example.org"
    patch = copy.deepcopy({k: ingress[k] for k in ("apiVersion", "kind")})
    patch["metadata"] = {"name": ingress["metadata"]["name"]}
    rule = copy.deepcopy(ingress["spec"]["rules"][0]) | {"host": host}
    tls = {"hosts": [host], "secretName": "staging-tls"}  # pragma: allowlist secret (a Secret's name)
    patch["spec"] = {"tls": [tls], "rules": [rule]}
    (deploy_copy / "staging" / "ingress-patch.yaml").write_text(yaml.safe_dump(patch))
    overlay = deploy_copy / "staging" / "kustomization.yaml"
    data = yaml.safe_load(overlay.read_text())
    data["patches"].append({"path": "ingress-patch.yaml"})
    overlay.write_text(yaml.safe_dump(data, sort_keys=False))
    (patched,) = [o for o in render(deploy_copy, "staging") if o["kind"] == "Ingress"]
    assert [r["host"] for r in patched["spec"]["rules"]] == [host]
    assert patched["spec"]["tls"] == [tls]
    assert patched["spec"]["rules"][0]["http"] == ingress["spec"]["rules"][0]["http"]
