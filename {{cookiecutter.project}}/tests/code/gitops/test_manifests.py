"""Unit tests of gitops/manifests and gitops/wiring: the overlays, the wiring checks, and that each validator can fail.

kubectl renders the overlays (it is on GitHub's runners): without it these tests fail with the fix.
The validators themselves (kubernetes-validate, the Argo CD schema, checkov) are tested through the
project's own pre-commit hooks, run on a copy of the project with one mistake each — so what is
tested is the hooks as configured, in their pinned environments.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HOOK_INPUTS = ["deploy", "src", ".github", ".pre-commit-config.yaml", ".checkov.yaml"]


@pytest.fixture(scope="module")
def manifests(pkg, root):
    """The module, run from the project's root with kubectl on PATH (or a failure naming the fix)."""
    if shutil.which("kubectl") is None:
        pytest.fail(f"kubectl not found on PATH — {pkg.gitops.manifests.KUBECTL_FIX}")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        yield pkg.gitops.manifests


@pytest.fixture(scope="module")
def wiring(pkg):
    """The wiring checks: plain data in, problems out."""
    return pkg.gitops.wiring


@pytest.fixture(scope="module")
def rendered(manifests) -> dict:
    """Per environment: its overlay, its rendered objects and its Argo CD Application (tests copy before editing)."""
    return {
        env: (manifests.overlay(env), manifests.render(env), manifests.application(env))
        for env in manifests.environments()
    }


def deployment(objects: list[dict]) -> dict:
    (found,) = [obj for obj in objects if obj["kind"] == "Deployment"]
    return found


def service_container(objects: list[dict]) -> dict:
    (found,) = [c for c in deployment(objects)["spec"]["template"]["spec"]["containers"] if c["name"] == "service"]
    return found


# --- the overlays: the desired state other commands read and write ---------------------------------


def test_the_environments_are_the_overlays(manifests):
    assert {"staging", "production"} <= set(manifests.environments())
    assert "base" not in manifests.environments() and "local" not in manifests.environments()
    with pytest.raises(SystemExit, match=r"no overlay deploy/base/kustomization.yaml — the environments are"):
        manifests.overlay("base")


def test_an_application_without_an_overlay_is_named(manifests, tmp_path, monkeypatch):
    (tmp_path / "canary.yaml").write_text("kind: Application\n")
    monkeypatch.setattr(manifests, "APPLICATIONS", tmp_path)
    assert [str(p) for p in manifests.orphan_applications()] == [
        f"canary: {tmp_path / 'canary.yaml'}: no overlay deploy/canary/kustomization.yaml for this Application"
    ]


def test_image_tag_is_the_overlays_version(pkg, manifests):
    for env in manifests.environments():
        tag = manifests.image_tag(env)
        assert tag == manifests.overlay(env)["images"][0]["newTag"]
        assert pkg.core.environments.VERSION.match(tag) or tag == pkg.core.environments.PLACEHOLDER


def test_overlays_are_in_the_form_promote_writes(manifests):
    """PyYAML's round trip (safe_load + safe_dump, sort_keys=False) keeps every byte: a promotion is one line."""
    for env in manifests.environments():
        text = manifests.overlay_file(env).read_text()
        data = yaml.safe_load(text)
        assert yaml.safe_dump(data, sort_keys=False) == text, f"{env}: rewrite it as yaml.safe_dump does"
        data["images"][0]["newTag"] = "9.9.9-abcdef1"
        promoted = yaml.safe_dump(data, sort_keys=False).splitlines()
        changed = [(a, b) for a, b in zip(text.splitlines(), promoted, strict=True) if a != b]
        assert changed == [(f"  newTag: {manifests.image_tag(env)}", "  newTag: 9.9.9-abcdef1")]


def test_render_gives_each_environment_its_namespace_and_image(manifests, rendered):
    for env, (kustomization, objects, _) in rendered.items():
        assert {obj["metadata"].get("namespace") for obj in objects} == {kustomization["namespace"]}
        assert service_container(objects)["image"] == manifests.image(env)


def test_the_projects_manifests_pass_the_wiring_checks(wiring, rendered):
    problems = []
    for env, (kustomization, objects, app) in rendered.items():
        problems += wiring.check_overlay(env, kustomization)
        problems += wiring.check_workload(env, objects, kustomization)
        problems += wiring.check_application(env, app, kustomization)
    assert [str(p) for p in problems] == []


# --- each wiring check names its mistake -------------------------------------------------------------


def _container(objects):
    return service_container(objects)


def _pod(objects):
    return deployment(objects)["spec"]["template"]["spec"]


def _settings(objects):
    (found,) = [obj for obj in objects if obj["kind"] == "ConfigMap"]
    return found["data"]


def _spec(objects, kind):
    (found,) = [obj for obj in objects if obj["kind"] == kind]
    return found["spec"]


WORKLOAD_MISTAKES = {
    "image name differs from the base's": (lambda o: _container(o).update(image="other:1"), "not the overlay's"),
    "readiness on /healthz": (
        lambda o: _container(o)["readinessProbe"]["httpGet"].update(path="/healthz"),
        "readinessProbe: probes /healthz",
    ),
    "liveness on port 8080": (lambda o: _container(o)["livenessProbe"]["httpGet"].update(port=8080), "on port 8080"),
    "replicas beside the autoscaler": (lambda o: deployment(o)["spec"].update(replicas=3), "spec.replicas is set"),
    "misspelled setting": (lambda o: _settings(o).update(MODELOPS_WORKER="2"), "MODELOPS_WORKER is not a setting"),
    "invalid setting": (lambda o: _settings(o).update(MODELOPS_LOG_LEVEL="LOUD"), "would not start"),
    "API key in a ConfigMap": (lambda o: _settings(o).update(MODELOPS_API_KEY="k"), "secret comes from the mounted"),
    "no Secret mount": (
        lambda o: _container(o).update(volumeMounts=[m for m in _container(o)["volumeMounts"] if m["name"] == "tmp"]),
        "is not in a mounted Secret volume",
    ),
    "no BentoML home": (
        lambda o: _container(o).update(env=[v for v in _container(o)["env"] if v["name"] != "BENTOML_HOME"]),
        "BENTOML_HOME is not a mounted volume",
    ),
    "grace shorter than preStop": (lambda o: _pod(o).update(terminationGracePeriodSeconds=5), "must exceed"),
    "no preStop": (lambda o: _container(o).pop("lifecycle"), "no preStop sleep"),
    "more workers than cores": (lambda o: _settings(o).update(MODELOPS_WORKERS="8"), "MODELOPS_WORKERS=8 but the cpu"),
    "Service to another port": (lambda o: _spec(o, "Service")["ports"][0].update(targetPort=8080), "targets 8080"),
    "no autoscaler": (lambda o: _spec(o, "HorizontalPodAutoscaler")["scaleTargetRef"].update(name="x"), "no Horiz"),
    "autoscaler bounds inverted": (
        lambda o: _spec(o, "HorizontalPodAutoscaler").update(minReplicas=5, maxReplicas=2),
        "minReplicas (5) is above maxReplicas (2)",
    ),
}


@pytest.mark.parametrize("mistake", list(WORKLOAD_MISTAKES))
def test_the_workload_check_names_each_mistake(wiring, rendered, mistake):
    break_it, words = WORKLOAD_MISTAKES[mistake]
    kustomization, objects, _ = rendered["staging"]
    objects = copy.deepcopy(objects)
    break_it(objects)
    messages = [str(p) for p in wiring.check_workload("staging", objects, kustomization)]
    assert any(words in m for m in messages), messages
    assert all(m.startswith(("staging: Deployment/", "staging: Service/", "staging: HorizontalPod")) for m in messages)


APPLICATION_MISTAKES = {
    "another path": (lambda a: a["spec"]["source"].update(path="deploy/production"), "source.path is"),
    "another branch": (lambda a: a["spec"]["source"].update(targetRevision="HEAD"), "expected 'main'"),
    "no self-heal": (lambda a: a["spec"]["syncPolicy"]["automated"].pop("selfHeal"), "selfHeal: true"),
    "another namespace": (lambda a: a["spec"]["destination"].update(namespace="default"), "is not the overlay's"),
}


@pytest.mark.parametrize("mistake", list(APPLICATION_MISTAKES))
def test_the_application_check_names_each_mistake(wiring, rendered, mistake):
    break_it, words = APPLICATION_MISTAKES[mistake]
    kustomization, _, app = rendered["staging"]
    app = copy.deepcopy(app)
    break_it(app)
    messages = [str(p) for p in wiring.check_application("staging", app, kustomization)]
    assert len(messages) == 1 and words in messages[0], messages
    assert messages[0].startswith("staging: deploy/argocd/staging.yaml: ")


@pytest.mark.parametrize(
    ("tag", "ok"), [("0.1.0-1a2b3c4", True), ("0.0.0-unreleased", True), ("latest", False), ("0.1.0", False)]
)
def test_the_overlay_check_wants_a_build_version(manifests, wiring, tag, ok):
    kustomization = copy.deepcopy(manifests.overlay("staging"))
    kustomization["images"][0]["newTag"] = tag
    messages = [str(p) for p in wiring.check_overlay("staging", kustomization)]
    wrong = f"staging: deploy/staging/kustomization.yaml: newTag {tag!r} is not a build version (<semver>-<commit>"
    assert (messages == []) if ok else (len(messages) == 1 and messages[0].startswith(wrong)), messages


def test_the_command_names_the_hook_when_its_validators_are_missing(manifests, monkeypatch):
    monkeypatch.setattr(manifests, "TOOLS", {"no_such_validator_here": "no-such-validator==1.0"})
    with pytest.raises(SystemExit, match=r"no-such-validator==1\.0 not installed .*pre-commit run manifests"):
        manifests.require_tools()


def test_render_without_kubectl_names_the_fix(manifests, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SystemExit, match="kubectl not found on PATH — install kubectl"):
        manifests.render("staging")


# --- each validator can fail: the pre-commit hooks on a copy with one mistake --------------------------


@pytest.fixture
def project_copy(root, tmp_path) -> Path:
    """The files the hooks read, in a new git repository (pre-commit lists files with git)."""
    copy_root = tmp_path / "project"
    copy_root.mkdir()
    for name in HOOK_INPUTS:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, copy_root / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copy2(source, copy_root / name)
    subprocess.run(["git", "init", "-q"], cwd=copy_root, check=True)
    return copy_root


def run_hook(project: Path, hook: str, *extra: str) -> subprocess.CompletedProcess[str]:
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    pre_commit = Path(sys.executable).with_name("pre-commit")
    command = [str(pre_commit), "run", hook, "--color=never", *(extra or ("--all-files",))]
    return subprocess.run(command, cwd=project, capture_output=True, text=True)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}: update this test"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.slow
def test_the_manifests_hook_passes_the_project_and_fails_a_misspelled_field(project_copy):
    assert run_hook(project_copy, "manifests").returncode == 0
    edit(project_copy / "deploy/base/deployment.yaml", "readinessProbe:", "readinesProbe:")
    result = run_hook(project_copy, "manifests")
    assert result.returncode != 0
    assert "staging: Deployment/" in result.stdout and "'readinesProbe' was unexpected" in result.stdout


@pytest.mark.slow
def test_the_manifests_hook_fails_a_misspelled_application_field(project_copy):
    edit(project_copy / "deploy/argocd/production.yaml", "targetRevision:", "targetRevison:")
    edit(project_copy / "deploy/argocd/production.yaml", "selfHeal:", "selfheal:")
    result = run_hook(project_copy, "manifests")
    assert result.returncode != 0
    assert "production: deploy/argocd/production.yaml: spec.source:" in result.stdout
    assert "'targetRevison' was unexpected" in result.stdout and "'selfheal' was unexpected" in result.stdout


@pytest.mark.slow
def test_the_checkov_hook_fails_a_writable_root_filesystem(project_copy):
    edit(project_copy / "deploy/base/deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")
    result = run_hook(project_copy, "checkov")
    assert result.returncode != 0
    assert "CKV_K8S_22" in result.stdout


@pytest.mark.slow
def test_the_dockerfile_hook_fails_a_root_image_without_healthcheck(project_copy):
    dockerfile = project_copy / "build" / "Dockerfile"
    dockerfile.parent.mkdir()
    dockerfile.write_text('FROM python:3.11-slim\nCOPY . /app\nEXPOSE 3000\nENTRYPOINT ["bentoml", "serve"]\n')
    result = run_hook(project_copy, "checkov-dockerfile", "--hook-stage", "manual", "--files", str(dockerfile))
    assert result.returncode != 0
    assert "CKV_DOCKER_2" in result.stdout and "CKV_DOCKER_3" in result.stdout  # HEALTHCHECK, USER
