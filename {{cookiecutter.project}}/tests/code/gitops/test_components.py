"""The Kustomize components: every overlay renders with each, and each does what its comment says.

`smoke-test` is in every overlay; `pull-secret`, `ingress`, `canary` and `batch-score` are opt-in, enabled
by one line under an overlay's `components:` (deploy/README.md). Each is rendered here by kubectl, enabled in a copy of
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

OPT_IN = ["pull-secret", "ingress", "canary", "batch-score"]
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
    # each pair of the first two, and all three: the canary alone has its own test below
    [list(c) for n in range(3) for c in itertools.combinations(OPT_IN[:2], n)] + [OPT_IN],
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


def test_the_canary_adopts_the_deployment_and_its_analysis_runs_the_overlays_image(pkg, deploy_copy, root):
    """Argo Rollouts' Rollout runs the Deployment's pods in steps, the autoscaler scales it, the two Services it
    narrows select the service's pods, and each analysis step runs this image's canary command against them."""
    wiring = pkg.gitops.wiring
    enable(deploy_copy, "production", ["canary"])
    kustomization = yaml.safe_load((deploy_copy / "production" / "kustomization.yaml").read_text())
    objects = render(deploy_copy, "production")
    by_kind: dict[str, list[dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    (deployment,) = by_kind["Deployment"]
    (rollout,) = by_kind["Rollout"]
    (hpa,) = by_kind["HorizontalPodAutoscaler"]
    (template,) = by_kind["AnalysisTemplate"]
    name, pod_labels = deployment["metadata"]["name"], deployment["spec"]["template"]["metadata"]["labels"]
    assert rollout["metadata"]["name"] == name and "template" not in rollout["spec"]
    assert rollout["spec"]["workloadRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": name, "scaleDown": "onsuccess"
    }  # fmt: skip
    assert rollout["spec"]["selector"] == deployment["spec"]["selector"] and "replicas" not in rollout["spec"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": name}
    canary = rollout["spec"]["strategy"]["canary"]
    steps = canary["steps"]
    assert [s["setWeight"] for s in steps if "setWeight" in s] == [20, 50]
    analyses = [i for i, s in enumerate(steps) if "analysis" in s]
    assert len(analyses) == 2 and all("pause" in steps[i - 1] for i in analyses), "traffic first, then the analysis"
    assert {t["templateName"] for i in analyses for t in steps[i]["analysis"]["templates"]} == {
        template["metadata"]["name"]
    }
    services = {s["metadata"]["name"]: s for s in by_kind["Service"]}
    for role in ("canaryService", "stableService"):
        service = services[canary[role]]
        assert service["spec"]["selector"] == pod_labels and service["spec"]["ports"] == services[name]["spec"]["ports"]
    (metric,) = template["spec"]["metrics"]
    assert metric["count"] == 1 and metric["failureLimit"] == 0
    job = metric["provider"]["job"]["spec"]
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    entry = kustomization["images"][0]
    assert container["image"] == f"{entry['newName']}:{entry['newTag']}", "the new version's own command judges it"
    command = container["command"]
    assert command[:3] == ["python", "-m", f"{pkg.name}.improvement.canary"]
    assert command[command.index("--canary-url") + 1] == f"http://{canary['canaryService']}"
    assert command[command.index("--stable-url") + 1] == f"http://{canary['stableService']}"
    (configmap,) = by_kind["ConfigMap"]
    assert container["envFrom"] == [{"configMapRef": {"name": configmap["metadata"]["name"]}}]  # the hashed name
    assert configmap["data"]["MODELOPS_METRICS"] == "true", "the analysis reads BentoML's /metrics"
    assert wiring.pod_restrictions(pod, container) == []
    labels = job["template"]["metadata"]["labels"]
    assert not any(wiring.matches(s["spec"]["selector"], labels) for s in by_kind["Service"])
    assert wiring.egress_admits(objects, labels, 3000, pod_labels)
    problems = wiring.check_workload("production", objects, kustomization)
    problems += wiring.check_smoke_job("production", objects, kustomization)
    assert [str(p) for p in problems] == []
    project = yaml.safe_load((root / "deploy/argocd/project.yaml").read_text())
    apps = {env: yaml.safe_load((root / f"deploy/argocd/{env}.yaml").read_text()) for env in ("staging", "production")}
    rendered = {"staging": render(deploy_copy, "staging"), "production": objects}
    messages = [str(p) for p in wiring.check_project(project, apps, rendered)]
    assert [m.rpartition(" does not allow ")[2] for m in messages] == [
        "{group: 'argoproj.io', kind: AnalysisTemplate}", "{group: 'argoproj.io', kind: Rollout}"
    ]  # fmt: skip
    project["spec"]["namespaceResourceWhitelist"] += [
        {"group": "argoproj.io", "kind": "Rollout"}, {"group": "argoproj.io", "kind": "AnalysisTemplate"}
    ]  # fmt: skip
    assert wiring.check_project(project, apps, rendered) == []


def test_the_batch_score_cronjob_runs_the_overlays_image_on_the_patched_input(pkg, deploy_copy, root):
    """The scheduled `make score`: this image's score command on SCORE_INPUT/SCORE_OUTPUT (an overlay patches them),
    the service's settings and identity, one run at a time, a pod as restricted as the service's, reaching only
    DNS and the object store; the pull secret reaches its pods too; the project must allow CronJobs."""
    wiring = pkg.gitops.wiring
    enable(deploy_copy, "staging", ["batch-score", "pull-secret"])
    overlay = deploy_copy / "staging" / "kustomization.yaml"
    kustomization = yaml.safe_load(overlay.read_text())
    cronjob_name = yaml.safe_load((deploy_copy / "components/batch-score/cronjob.yaml").read_text())["metadata"]["name"]
    container_patch = {"name": "score", "env": [{"name": "SCORE_INPUT", "value": "s3://other-bucket/in/"}]}
    patch = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": cronjob_name},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [container_patch]}}}}},
    }
    (deploy_copy / "staging" / "batch-score-patch.yaml").write_text(yaml.safe_dump(patch))
    kustomization["patches"].append({"path": "batch-score-patch.yaml"})
    overlay.write_text(yaml.safe_dump(kustomization, sort_keys=False))
    objects = render(deploy_copy, "staging")
    (cronjob,) = [o for o in objects if o["kind"] == "CronJob"]
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid" and cronjob["spec"]["jobTemplate"]["spec"]["backoffLimit"]
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    entry = kustomization["images"][0]
    assert container["image"] == f"{entry['newName']}:{entry['newTag']}", "the deployed version scores the batch"
    assert container["command"][:3] == ["python", "-m", f"{pkg.name}.serving.score"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SCORE_INPUT"] == "s3://other-bucket/in/" and env["SCORE_OUTPUT"].endswith("/{run_id}.csv")
    command = container["command"]
    assert command[command.index("--input") + 1] == "$(SCORE_INPUT)"
    assert command[command.index("--output") + 1] == "$(SCORE_OUTPUT)"
    service_pod = deployment["spec"]["template"]["spec"]
    assert container["envFrom"] == service_pod["containers"][0]["envFrom"], "the service's settings: its log sink"
    assert (
        pod["serviceAccountName"] == service_pod["serviceAccountName"]
        and pod["securityContext"] == (service_pod["securityContext"])
    )
    assert pod["imagePullSecrets"] == [{"name": PULL_SECRET}]
    assert wiring.pod_restrictions(pod, container) == []
    labels = cronjob["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert not any(wiring.matches(s["spec"]["selector"], labels) for s in objects if s["kind"] == "Service")
    assert wiring.egress_admits(objects, labels, 443, {"app": "any-object-store"})
    assert not wiring.egress_admits(objects, labels, 3000, deployment["spec"]["template"]["metadata"]["labels"])
    problems = wiring.check_workload("staging", objects, kustomization)
    problems += wiring.check_smoke_job("staging", objects, kustomization)
    assert [str(p) for p in problems] == []
    project = yaml.safe_load((root / "deploy/argocd/project.yaml").read_text())
    apps = {env: yaml.safe_load((root / f"deploy/argocd/{env}.yaml").read_text()) for env in ("staging", "production")}
    rendered = {"staging": objects, "production": render(deploy_copy, "production")}
    messages = [str(p) for p in wiring.check_project(project, apps, rendered)]
    assert [m.rpartition(" does not allow ")[2] for m in messages] == ["{group: 'batch', kind: CronJob}"]
    project["spec"]["namespaceResourceWhitelist"].append({"group": "batch", "kind": "CronJob"})
    assert wiring.check_project(project, apps, rendered) == []
