"""Unit tests of gitops/manifests and gitops/wiring: the overlays, the wiring checks, and that each validator can fail.

kubectl renders the overlays (it is on GitHub's runners): without it these tests fail with the fix.
The validators themselves (kubernetes-validate, the Argo CD schema, checkov) are tested through the
project's own pre-commit hooks, run on a copy of the project with one mistake each — so what is
tested is the hooks as configured, in their pinned environments.
"""

from __future__ import annotations

import copy
import json
import math
import re
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
    """The service's object of `kind` (not the smoke test's, components/smoke-test)."""
    (found,) = [
        obj
        for obj in objects
        if obj["kind"] == kind and obj["metadata"].get("labels", {}).get("app.kubernetes.io/component") != "smoke-test"
    ]
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
    "API key in a ConfigMap": (lambda o: _settings(o).update(MODELOPS_API_KEY="k"), "a secret never sits in"),
    "no Secret mount": (
        lambda o: _container(o).update(
            volumeMounts=[m for m in _container(o)["volumeMounts"] if m["name"] != "secrets"]
        ),
        "MODELOPS_API_KEY_FILE=/var/run/secrets/modelops/api-key is not in a mounted Secret volume",
    ),
    "no API key": (
        lambda o: _container(o).update(env=[v for v in _container(o)["env"] if v["name"] != "MODELOPS_API_KEY_FILE"]),
        "no MODELOPS_API_KEY_FILE: the API key must come from a mounted Secret",
    ),
    "no monitoring volume": (
        lambda o: _container(o).update(
            volumeMounts=[m for m in _container(o)["volumeMounts"] if m["name"] != "monitoring"]
        ),
        "MODELOPS_MONITORING_DIR is not a mounted volume",
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


# --- secrets and data of record: the production data plane (docs/production.md) -------------------------

SECRET_FOLDER = "/var/run/secrets/modelops"


def key_of(name: str) -> str:
    """The Secret key (and file) a secret setting is read from: MODELOPS_SIGNING_KEY → signing-key."""
    return name.removeprefix("MODELOPS_").lower().replace("_", "-")


def _env(objects) -> list[dict]:
    return _container(objects)["env"]


def _drop_env(objects, name: str) -> None:
    _container(objects)["env"] = [v for v in _env(objects) if v["name"] != name]


def with_secret_file(objects, name: str) -> None:
    """The secret `name` read from its file of the mounted Secret, as the base does for the API key."""
    _drop_env(objects, f"{name}_FILE")
    _env(objects).append({"name": f"{name}_FILE", "value": f"{SECRET_FOLDER}/{key_of(name)}"})
    (volume,) = [v for v in _pod(objects)["volumes"] if "secret" in v]
    items = volume["secret"]["items"]
    if key_of(name) not in {item["path"] for item in items}:
        items.append({"key": key_of(name), "path": key_of(name)})


def with_secret_ref(objects, name: str) -> None:
    """The secret `name` from `env.valueFrom.secretKeyRef` (e.g. a database operator's Secret)."""
    _drop_env(objects, f"{name}_FILE")
    _env(objects).append({"name": name, "valueFrom": {"secretKeyRef": {"name": "elsewhere", "key": key_of(name)}}})


def production_topology(objects) -> None:
    """What a storage=s3 overlay ships: the log to a sink, labels to PostgreSQL, request ids signed."""
    _settings(objects).pop("MODELOPS_PREDICTION_LOG", None)
    _settings(objects)["MODELOPS_LOG_SINK"] = "s3://bucket/logs/staging"
    for name in ("MODELOPS_FEEDBACK_TOKENS", "MODELOPS_DATABASE_URL", "MODELOPS_SIGNING_KEY"):
        with_secret_file(objects, name)
    _spec(objects, "NetworkPolicy")["egress"] = [
        {"ports": [{"port": 53, "protocol": "UDP"}]},
        {"ports": [{"port": 443}]},
    ]


def local_log(objects) -> None:
    """The prediction log on, with no sink: rows kept in the pod."""
    _settings(objects).pop("MODELOPS_LOG_SINK", None)
    _settings(objects)["MODELOPS_PREDICTION_LOG"] = "true"


def persistent_monitoring(objects, max_replicas: int) -> None:
    """The monitoring folder on a persistent volume, the autoscaler up to `max_replicas`."""
    (volume,) = [v for v in _pod(objects)["volumes"] if v["name"] == "monitoring"]
    volume.pop("emptyDir")
    volume["persistentVolumeClaim"] = {"claimName": "monitoring"}
    _spec(objects, "HorizontalPodAutoscaler").update(minReplicas=1, maxReplicas=max_replicas)


def checked(wiring, rendered, *changes) -> list[str]:
    """The workload check's messages for staging after `changes` (each a function of the objects)."""
    kustomization, objects, _ = rendered["staging"]
    objects = copy.deepcopy(objects)
    for change in changes:
        change(objects)
    return [str(p) for p in wiring.check_workload("staging", objects, kustomization)]


def test_every_secret_can_come_from_its_file(pkg, wiring, rendered):
    names = [f"MODELOPS_{name}" for name in pkg.core.settings.SECRETS]
    messages = checked(
        wiring,
        rendered,
        production_topology,
        lambda o: _settings(o).update(MODELOPS_LOG_HASH="mean radius"),  # the salt is then required
        *[lambda o, name=name: with_secret_file(o, name) for name in names],
    )
    assert messages == []
    assert {f"{name}_FILE" for name in names} <= wiring.setting_names()


def test_every_secret_can_come_from_a_secret_reference(pkg, wiring, rendered):
    names = [f"MODELOPS_{name}" for name in pkg.core.settings.SECRETS]
    changes = [lambda o, name=name: with_secret_ref(o, name) for name in names]
    assert checked(wiring, rendered, production_topology, *changes) == []


@pytest.mark.parametrize("where", ["ConfigMap", "env"])
def test_a_literal_secret_is_refused_and_never_printed(pkg, wiring, rendered, where):
    value = "do-not-print-" + "x" * 40
    for name in (f"MODELOPS_{name}" for name in pkg.core.settings.SECRETS):

        def write(objects, name=name):
            if where == "ConfigMap":
                _settings(objects)[name] = value
            else:
                _env(objects).append({"name": name, "value": value})

        messages = checked(wiring, rendered, write)
        expected = f"{name} has a literal value in {where}"
        assert any(expected in m and f"{name}_FILE" in m for m in messages), (name, messages)
        assert not any(value in m for m in messages)


SECRET_MISTAKES = {
    "a file outside any Secret": (
        lambda o: _env(o).append({"name": "MODELOPS_FEEDBACK_TOKENS_FILE", "value": "/etc/token"}),
        "MODELOPS_FEEDBACK_TOKENS_FILE=/etc/token is not in a mounted Secret volume",
    ),
    "a file the Secret's items do not mount": (
        lambda o: _env(o).append({"name": "MODELOPS_FEEDBACK_TOKENS_FILE", "value": f"{SECRET_FOLDER}/token"}),
        f"MODELOPS_FEEDBACK_TOKENS_FILE={SECRET_FOLDER}/token, but Secret ",
    ),
    "a secret from a ConfigMap key": (
        lambda o: _env(o).append(
            {"name": "MODELOPS_SIGNING_KEY", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k"}}}
        ),
        "MODELOPS_SIGNING_KEY comes from valueFrom but not a secretKeyRef",
    ),
    "a secret from a reference and a file": (
        lambda o: (
            with_secret_ref(o, "MODELOPS_API_KEY"),
            _env(o).append({"name": "MODELOPS_API_KEY_FILE", "value": f"{SECRET_FOLDER}/api-key"}),
        ),
        "MODELOPS_API_KEY comes from a secretKeyRef and MODELOPS_API_KEY_FILE is set too",
    ),
}


@pytest.mark.parametrize("mistake", list(SECRET_MISTAKES))
def test_the_secret_check_names_each_mistake(wiring, rendered, mistake):
    break_it, words = SECRET_MISTAKES[mistake]
    messages = checked(wiring, rendered, break_it)
    assert any(words in m for m in messages), messages


STATE_MISTAKES = {
    "the log kept in the pod": (
        [local_log],
        "the prediction log would stay in /var/lib/modelops/monitoring, an emptyDir lost with the pod — set"
        " MODELOPS_LOG_SINK",
    ),
    "labels kept in the pod": (
        [production_topology, lambda o: _drop_env(o, "MODELOPS_DATABASE_URL_FILE")],
        "labels would go to SQLite in /var/lib/modelops/monitoring, an emptyDir lost with the pod",
    ),
    "a database without a signing key": (
        [production_topology, lambda o: _drop_env(o, "MODELOPS_SIGNING_KEY_FILE")],
        "the service would not start: error: MODELOPS_DATABASE_URL is set but MODELOPS_SIGNING_KEY is not",
    ),
    "a persistent log shared by three pods": (
        [local_log, lambda o: persistent_monitoring(o, 3)],
        "the prediction log would stay in /var/lib/modelops/monitoring, one per pod of up to 3",
    ),
    "a buffer larger than its volume": (
        [
            production_topology,
            lambda o: [v for v in _pod(o)["volumes"] if v["name"] == "monitoring"][0]["emptyDir"].update(
                sizeLimit="64Mi"
            ),
        ],
        "volume monitoring holds 64 MiB but the upload buffers need MODELOPS_WORKERS × MODELOPS_LOG_BUFFER_MB",
    ),
    "egress closed to the stores": (
        [production_topology, lambda o: _spec(o, "NetworkPolicy").update(egress=[])],
        "egress is closed but the pod writes to the log sink and the database",
    ),
    "egress without DNS": (
        [production_topology, lambda o: _spec(o, "NetworkPolicy").update(egress=[{"ports": [{"port": 443}]}])],
        "egress allows no DNS (port 53)",
    ),
}


@pytest.mark.parametrize("mistake", list(STATE_MISTAKES))
def test_the_state_check_names_each_mistake(wiring, rendered, mistake):
    changes, words = STATE_MISTAKES[mistake]
    messages = checked(wiring, rendered, *changes)
    assert any(words in m for m in messages), messages


def test_one_pod_may_keep_its_log_on_a_persistent_volume(wiring, rendered):
    assert checked(wiring, rendered, local_log, lambda o: persistent_monitoring(o, 1)) == []


def test_the_buffer_check_follows_the_settings(pkg, wiring, rendered):
    """The volume's need is computed from the settings' default and the overlay's workers, not a typed figure."""
    needed_mib = math.ceil(2 * pkg.core.settings.Settings().log_buffer_mb * 10**6 / 2**20)

    def size(limit):
        def change(objects):
            [v for v in _pod(objects)["volumes"] if v["name"] == "monitoring"][0]["emptyDir"]["sizeLimit"] = limit
            _settings(objects)["MODELOPS_WORKERS"] = "2"
            _container(objects)["resources"]["limits"]["cpu"] = "2"

        return change

    assert checked(wiring, rendered, production_topology, size(f"{needed_mib}Mi")) == []
    messages = checked(wiring, rendered, production_topology, size(f"{needed_mib - 1}Mi"))
    assert any(
        f"need MODELOPS_WORKERS × MODELOPS_LOG_BUFFER_MB = {2 * pkg.core.settings.Settings().log_buffer_mb} MB" in m
        for m in messages
    )


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


# --- the Argo CD project, the notifications, the schemas from Argo CD's CRDs ------------------------------


@pytest.fixture(scope="module")
def argocd(manifests, rendered) -> dict:
    """The project, the notifications config (parsed) and, by environment, each Application and its objects."""
    return {
        "project": manifests.read_object(manifests.PROJECT_FILE),
        "config": manifests.notifications_config(manifests.read_object(manifests.NOTIFICATIONS_FILE)),
        "apps": {env: app for env, (_, _, app) in rendered.items()},
        "objects": {env: objects for env, (_, objects, _) in rendered.items()},
    }


def test_the_project_and_notifications_pass_their_wiring_checks(wiring, argocd):
    assert wiring.check_project(argocd["project"], argocd["apps"], argocd["objects"]) == []
    assert wiring.check_notifications(argocd["config"], argocd["apps"]) == []


def test_the_notifications_pass_their_schema_and_a_misspelled_field_fails_it(manifests, argocd):
    """The schema check `make lint` runs (its manifests hook), here on the forge's own notifications file."""
    assert manifests.schema_problems("argocd", argocd["config"], manifests.NOTIFICATIONS_SCHEMA, Path("n.yaml")) == []
    config = copy.deepcopy(argocd["config"])
    template = config["template.modelops-deployed"]
    section = template.get("github", {}).get("deployment") or next(iter(template["webhook"].values()))
    section["misspeled"] = section.popitem()[1]
    problems = manifests.schema_problems("argocd", config, manifests.NOTIFICATIONS_SCHEMA, Path("n.yaml"))
    assert any("'misspeled' was unexpected" in str(problem) for problem in problems), problems


def test_the_project_allows_exactly_what_the_overlays_render(wiring, argocd):
    """Namespaced kinds: the rendered ones and no more; cluster-wide: the two Namespaces by name only."""
    rendered = {wiring.group_kind(o) for objects in argocd["objects"].values() for o in objects}
    spec = argocd["project"]["spec"]
    assert {(e["group"], e["kind"]) for e in spec["namespaceResourceWhitelist"]} == rendered
    assert ("", "Secret") not in rendered, "a Secret never comes from git"
    namespaces = {app["spec"]["destination"]["namespace"] for app in argocd["apps"].values()}
    assert spec["clusterResourceWhitelist"] == [
        {"group": "", "kind": "Namespace", "name": ns}
        for ns in sorted(namespaces, key=lambda n: n.endswith("production"))
    ]
    for app in argocd["apps"].values():
        assert app["spec"]["project"] == argocd["project"]["metadata"]["name"] != "default"


def _whitelist(project, section):
    return project["spec"][section]


PROJECT_MISTAKES = {
    "the default project": (lambda p, a: a["staging"]["spec"].update(project="default"), "spec.project is 'default'"),
    "another repository": (
        lambda p, a: p["spec"].update(sourceRepos=["https://github.com/x/y.git"]),
        "sourceRepos does not list",
    ),
    "a wildcard repository": (lambda p, a: p["spec"]["sourceRepos"].append("*"), "a wildcard source or destination"),
    "a missing destination": (lambda p, a: p["spec"]["destinations"].pop(), "destinations do not list"),
    "a kind not allowed": (
        lambda p, a: p["spec"].update(
            namespaceResourceWhitelist=[e for e in _whitelist(p, "namespaceResourceWhitelist") if e["kind"] != "Job"]
        ),
        "Job/",
    ),
    "every cluster kind": (
        lambda p, a: _whitelist(p, "clusterResourceWhitelist").append({"group": "*", "kind": "*"}),
        "clusterResourceWhitelist allows {'group': '*', 'kind': '*'}",
    ),
    "any namespace": (
        lambda p, a: _whitelist(p, "clusterResourceWhitelist").append({"group": "", "kind": "Namespace"}),
        "clusterResourceWhitelist allows {'group': '', 'kind': 'Namespace'}",
    ),
}


@pytest.mark.parametrize("mistake", list(PROJECT_MISTAKES))
def test_the_project_check_names_each_mistake(wiring, argocd, mistake):
    break_it, words = PROJECT_MISTAKES[mistake]
    project, apps = copy.deepcopy(argocd["project"]), copy.deepcopy(argocd["apps"])
    break_it(project, apps)
    messages = [str(p) for p in wiring.check_project(project, apps, argocd["objects"])]
    assert any(words in m for m in messages), messages


PEM_HEADER = "-----BEGIN " + "RSA PRIVATE KEY-----"  # split: the private-key hook reads the text


def _annotations(apps):
    return apps["production"]["metadata"]["annotations"]


def _leak(config, apps, service):
    """Put a credential's value into git in place of its $key: GitHub's App key, GitLab's token header."""
    if service == "github":
        config["service.github"].update(privateKey=PEM_HEADER)
        return "service.github.privateKey is not a $key of argocd-notifications-secret"
    config[f"service.webhook.{service}"]["headers"][0]["value"] = PEM_HEADER
    return f"service.webhook.{service}.headers[PRIVATE-TOKEN] is not a $key of argocd-notifications-secret"


def _unsubscribe(config, apps, service):
    del _annotations(apps)[f"notifications.argoproj.io/subscribe.on-modelops-deployed.{service}"]
    return "production: deploy/argocd/production.yaml: not subscribed to on-modelops-deployed"


def _misspelled_trigger(config, apps, service):
    _annotations(apps)[f"notifications.argoproj.io/subscribe.on-deployd.{service}"] = ""
    return f"subscribe.on-deployd.{service}: no trigger.on-deployd in deploy/argocd/notifications.yaml"


def _unknown_service(config, apps, service):
    _annotations(apps)["notifications.argoproj.io/subscribe.on-modelops-deployed.slack"] = ""
    return "no service.slack in"


def _missing_template(config, apps, service):
    config["trigger.on-modelops-degraded"][0]["send"] = ["modelops-gone"]
    return "trigger on-modelops-degraded sends template modelops-gone, not defined"


def _no_label(config, apps, service):
    del apps["staging"]["metadata"]["labels"]["app.kubernetes.io/instance"]
    return "metadata.labels['app.kubernetes.io/instance'] is not 'staging'"


def _no_report_service(config, apps, service):
    for key in ("service.github", f"service.webhook.{service}"):
        config.pop(key, None)
    return "nothing reports to the forge"


# Each mistake: it breaks (config, applications) for the forge's report service, and says the words naming it.
NOTIFICATION_MISTAKES = {
    "a report not subscribed": _unsubscribe,
    "a trigger that does not exist": _misspelled_trigger,
    "a service that does not exist": _unknown_service,
    "a template that does not exist": _missing_template,
    "a credential in git": _leak,
    "no environment label": _no_label,
    "no report service": _no_report_service,
}


@pytest.mark.parametrize("mistake", list(NOTIFICATION_MISTAKES))
def test_the_notifications_check_names_each_mistake(wiring, argocd, mistake):
    config, apps = copy.deepcopy(argocd["config"]), copy.deepcopy(argocd["apps"])
    service = wiring.report_service(config)
    assert service in wiring.REPORT_SERVICES
    words = NOTIFICATION_MISTAKES[mistake](config, apps, service)
    messages = [str(p) for p in wiring.check_notifications(config, apps)]
    assert any(words in m for m in messages), messages
    assert PEM_HEADER not in " ".join(messages)


def test_the_notifications_file_keeps_argo_cds_go_templates(manifests):
    """The template generator passes the Go templates through: Argo CD renders them, not cookiecutter."""
    text = manifests.NOTIFICATIONS_FILE.read_text()
    assert "raw %}" not in text
    # Argo CD fills in its own address in the Application's link: a Go template action, not cookiecutter's
    assert re.search("\\{" + "\\{[^}]*\\.context\\.argocdUrl", text) and "/applications/" in text


def test_the_notifications_merge_into_argo_cds_configmap_keeping_its_keys(manifests, tmp_path):
    """The documented `kubectl patch --type merge --patch-file`, run locally on a ConfigMap holding other keys."""
    live = tmp_path / "live.yaml"
    live.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "argocd-notifications-cm", "namespace": "argocd"},
                "data": {"service.slack": "token: $slack-token\n", "trigger.on-sync-failed": "- when: 'true'\n"},
            }
        )
    )
    command = ["kubectl", "patch", "--local", "-f", str(live), "--type", "merge", "-o", "yaml"]
    result = subprocess.run(
        [*command, "--patch-file", str(manifests.NOTIFICATIONS_FILE)], capture_output=True, text=True, check=True
    )
    merged = yaml.safe_load(result.stdout)["data"]
    ours = manifests.read_object(manifests.NOTIFICATIONS_FILE)["data"]
    assert {"service.slack", "trigger.on-sync-failed"} | set(ours) == set(merged)
    assert all(merged[key] == value for key, value in ours.items())


def _report_github(config, apps):
    """What the production promotion workflow reads: environment, state, the version first in the description."""
    deployed = config["template.modelops-deployed"]["github"]
    assert deployed["deployment"]["state"] == deployed["status"]["state"] == "success"
    assert deployed["deployment"]["requiredContexts"] == [] and deployed["deployment"]["autoMerge"] is False
    assert "app.kubernetes.io/instance" in deployed["deployment"]["environment"]
    for name in ("modelops-sync-failed", "modelops-degraded"):
        state = config[f"template.{name}"]["github"]["deployment"]["state"]
        assert state == "failure" or ("error" in state and "failure" in state and "Error" in state), state


def _json_of_body(body):
    """A webhook body's JSON with each value Argo CD fills in as a JSON string: its lines of Go template
    assignments (opening with a trimming action) print nothing, each action piped to toJson one quoted string."""
    lines = [line for line in body.splitlines() if not line.lstrip().startswith("{" + "{-")]
    return json.loads(re.sub(r"\{\{[^}]*\}\}", '"x"', "\n".join(lines)))


def _report_gitlab(config, apps):
    """What GitLab's commit status API and promote-production's pipeline read: state, name, the variables."""
    deployed = config["template.modelops-deployed"]["webhook"]
    status, promote = deployed["modelops-gitlab"], deployed["modelops-gitlab-promote"]
    assert status["method"] == promote["method"] == "POST"
    assert status["path"].startswith("/statuses/") and promote["path"] == "/pipeline"
    assert _json_of_body(status["body"])["state"] == "success"
    variables = {v["key"]: v["value"] for v in _json_of_body(promote["body"])["variables"]}
    assert variables.pop("MODELOPS_JOB") == "promote-production"
    assert set(variables) == {"SYNCED", "HEALTH", "HEALTH_URL"}
    for name in ("modelops-sync-failed", "modelops-degraded"):
        body = _json_of_body(config[f"template.{name}"]["webhook"]["modelops-gitlab"]["body"])
        assert body["state"] == "failed" and set(body) == {"state", "name", "target_url", "description"}
    # Only staging's healthy sync proposes production.
    promoting = {
        env
        for env, app in apps.items()
        if any(key.endswith(".modelops-gitlab-promote") for key in app["metadata"]["annotations"])
    }
    assert promoting == {"staging"}


def test_the_report_templates_name_the_contract(wiring, argocd):
    config = argocd["config"]
    {"github": _report_github, "modelops-gitlab": _report_gitlab}[wiring.report_service(config)](config, argocd["apps"])
    assert "smoke test passed" in config["template.modelops-deployed"]["message"]
    for key, conditions in config.items():
        if key.startswith("trigger."):
            assert conditions[0]["oncePer"] == "app.status.operationState?.syncResult?.revision", key


TINY_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "spec": {
        "group": "example.io",
        "names": {"kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "required": ["spec"],
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": {"type": "object"},
                            "spec": {
                                "type": "object",
                                "description": "dropped",
                                "properties": {
                                    "size": {
                                        "anyOf": [{"type": "integer"}, {"type": "string"}],
                                        "x-kubernetes-int-or-string": True,
                                    },
                                    "values": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                        "properties": {"a": {"type": "string"}},
                                    },
                                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                },
                            },
                            "status": {"type": "object"},
                        },
                    }
                },
            }
        ],
    },
}


def test_a_schema_from_a_crd_closes_every_listed_object(manifests):
    import jsonschema

    schema = manifests.schema_from_crd(TINY_CRD, "a test CRD")
    assert "a test CRD" in schema["$comment"] and '"description":' not in json.dumps(schema)
    valid = {
        "apiVersion": "example.io/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": "10%", "values": {"any": 1}, "labels": {"a": "b"}},
    }
    jsonschema.validate(valid, schema)
    for wrong in (
        {**valid, "spec": {"sise": 1}},  # a misspelled field
        {**valid, "status": {}},  # written by the controller, never in git
        {**valid, "metadata": {"name": "w", "uid": "x"}},  # metadata beyond what git holds
        {**valid, "kind": "Gadget"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, schema)


def test_the_argocd_schemas_are_argo_cds_own_crds_made_strict(root):
    """Derived from the CRDs at a pinned tag; every object that lists its properties refuses others."""

    def walk(node, path="#"):
        if isinstance(node, dict):
            if "properties" in node and node.get("type") == "object" and path.count("/values") == 0:
                yield path, node
            for key, value in node.items():
                yield from walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, f"{path}/{i}")

    for name, kind in (("argocd-application.json", "Application"), ("argocd-appproject.json", "AppProject")):
        schema = json.loads((root / "deploy/schemas" / name).read_text())
        assert "argoproj/argo-cd v3.5.1 (commit 109ca7ca71139e514114499d294a492e7910a965)" in schema["$comment"]
        assert schema["properties"]["kind"] == {"const": kind}
        assert "status" not in schema["properties"] and "operation" not in schema["properties"]
        objects = list(walk(schema))
        assert len(objects) > 10
        open_ = [path for path, node in objects if node.get("additionalProperties") is not False]
        assert open_ == [], open_


def test_released_refuses_the_placeholder_with_the_fix(manifests, capsys):
    unreleased = [env for env in manifests.environments() if manifests.unreleased(env)]
    if not unreleased:
        pytest.skip("every overlay names a released version")
    with pytest.raises(SystemExit) as exc:
        manifests.main(["--released", "--env", unreleased[0]])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert f"deploy/{unreleased[0]} still names 0.0.0-unreleased" in err
    assert (
        f"merge the first promotion pull request, then `kubectl apply -n argocd -f deploy/argocd/{unreleased[0]}.yaml`"
        in err
    )


def test_released_passes_a_promoted_overlay(manifests, monkeypatch, capsys):
    monkeypatch.setattr(manifests, "image_tag", lambda env: "0.1.0-1a2b3c4")
    manifests.main(["--released", "--env", "staging"])
    assert capsys.readouterr().out == "released: staging 0.1.0-1a2b3c4\n"


def test_only_application_files_need_an_overlay(manifests):
    names = {path.name for path in manifests.application_files()}
    assert names == {f"{env}.yaml" for env in manifests.environments()}
    assert manifests.orphan_applications() == []


@pytest.mark.slow
def test_the_hooks_pass_every_component_enabled(project_copy):
    """Both overlays with batch-score, pull-secret and ingress, production with the canary too, the project allowing
    their kinds: the validators (the Rollout and AnalysisTemplate against Argo Rollouts' schemas, the CronJob
    --strict) and checkov pass."""
    for env in ("staging", "production"):
        canary = "- ../components/canary\n" if env == "production" else ""
        edit(
            project_copy / f"deploy/{env}/kustomization.yaml",
            "- ../components/smoke-test\n",
            "- ../components/smoke-test\n- ../components/batch-score\n- ../components/pull-secret\n"
            "- ../components/ingress\n" + canary,
        )
    kinds = [("networking.k8s.io", "Ingress"), ("argoproj.io", "Rollout"), ("argoproj.io", "AnalysisTemplate")]
    kinds.append(("batch", "CronJob"))
    edit(
        project_copy / "deploy/argocd/project.yaml",
        "  namespaceResourceWhitelist:\n",
        "  namespaceResourceWhitelist:\n" + "".join(f"    - group: {g}\n      kind: {k}\n" for g, k in kinds),
    )
    manifests = run_hook(project_copy, "manifests")
    assert manifests.returncode == 0, manifests.stdout
    checkov = run_hook(project_copy, "checkov", "--all-files", "--verbose")
    assert checkov.returncode == 0, checkov.stdout
    assert "kustomize scan results" in checkov.stdout and "Failed checks: 0," in checkov.stdout


@pytest.mark.slow
def test_the_manifests_hook_fails_misspelled_job_project_and_notification_fields(project_copy):
    """Each checked against its schema; the canary's custom kinds against Argo Rollouts' (enabled in production),
    the analysis Job's spec as a batch/v1 Job."""
    edit(project_copy / "deploy/components/smoke-test/job.yaml", "  activeDeadlineSeconds:", "  activeDeadlineSecond:")
    overlay, canary = project_copy / "deploy/production/kustomization.yaml", project_copy / "deploy/components/canary"
    edit(overlay, "- ../components/smoke-test\n", "- ../components/smoke-test\n- ../components/canary\n")
    edit(overlay, "- ../components/canary\n", "- ../components/canary\n- ../components/batch-score\n")
    edit(project_copy / "deploy/components/batch-score/cronjob.yaml", "  concurrencyPolicy:", "  concurencyPolicy:")
    edit(canary / "rollout.yaml", "      canaryService:", "      canaryServise:")
    edit(canary / "analysis-template.yaml", "      failureLimit:", "      failureLimt:")
    edit(canary / "analysis-template.yaml", "            backoffLimit:", "            backofLimit:")
    edit(project_copy / "deploy/argocd/project.yaml", "  sourceRepos:", "  sourceRepo:")
    notifications = project_copy / "deploy/argocd/notifications.yaml"
    github = "requiredContexts:" in notifications.read_text()  # else GitLab's webhooks
    edit(notifications, *(("requiredContexts:", "requiredContext:") if github else ("method: POST", "methd: POST")))
    result = run_hook(project_copy, "manifests")
    assert result.returncode != 0
    assert "staging: Job/" in result.stdout and "'activeDeadlineSecond' was unexpected" in result.stdout
    assert (
        "argocd: deploy/argocd/project.yaml: spec: " in result.stdout and "'sourceRepo' was unexpected" in result.stdout
    )
    section = "github.deployment" if github else "webhook.modelops-gitlab"
    assert f"argocd: deploy/argocd/notifications.yaml: template.modelops-deployed.{section}:" in result.stdout
    assert ("'requiredContext' was unexpected" if github else "'methd' was unexpected") in result.stdout
    out = result.stdout
    assert "production: Rollout/" in out and "spec.strategy.canary: " in out and "'canaryServise' was unexpected" in out
    assert "production: AnalysisTemplate/" in out and "'failureLimt' was unexpected" in out
    assert "-model-behaviour: spec: " in out and "'backofLimit' was unexpected) (Kubernetes" in out
    assert "production: CronJob/" in out and "'concurencyPolicy' was unexpected" in out
