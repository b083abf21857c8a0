"""The wiring of the manifests no schema knows, checked on rendered objects as plain data.

The image is the overlay's version; the probes hit /livez and /readyz on port 3000; every
MODELOPS_* setting exists and is valid; the API key comes from a mounted Secret; BentoML has a
writable home under a read-only root; the graceful stop; an autoscaler owns the replica count; and
the Argo CD Application follows deploy/<env> on main with prune and self-heal. Each check returns
the `Problem`s it finds (none: the wiring holds); `gitops/manifests.py` renders the objects and runs them.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..core import paths
from ..core.environments import OVERLAY_FILE, PLACEHOLDER, VERSION
from ..core.settings import PREFIX, Settings

APPLICATIONS = paths.DEPLOY / "argocd"  # each Kubernetes environment's Argo CD Application, <env>.yaml
BRANCH = "main"  # the branch Argo CD follows: a merge into it is a deploy
CONTAINER = "service"  # the Deployment's container that runs the bento
PORT = 3000  # BentoML's port (the bento's Dockerfile exposes it)
PROBES = {"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"}
API_KEY_FILE = f"{PREFIX}API_KEY_FILE"

Object = dict[str, Any]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an environment's manifests."""

    env: str
    where: str  # `Kind/name` of a rendered object, or a file
    message: str

    def __str__(self) -> str:
        return f"{self.env}: {self.where}: {self.message}"


def name_of(obj: Object) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def of_kind(objects: list[Object], kind: str) -> list[Object]:
    return [obj for obj in objects if obj.get("kind") == kind]


def cpu_cores(quantity: object) -> float | None:
    """A Kubernetes CPU quantity ("500m", "2", 1.5) in cores; None when unset or unreadable."""
    text = str(quantity).strip() if quantity is not None else ""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m?)", text)
    if not match:
        return None
    value = float(match.group(1))
    return value / 1000 if match.group(2) else value


def setting_names() -> set[str]:
    """Every MODELOPS_* variable the project reads (.env.example documents each)."""
    return {f"{PREFIX}{f.name.upper()}" for f in fields(Settings)} | {API_KEY_FILE}


def container_settings(container: Object, objects: list[Object]) -> tuple[dict[str, str], list[str]]:
    """The MODELOPS_* values the container gets (ConfigMaps it loads, then `env`), and what is unreadable."""
    values: dict[str, str] = {}
    unreadable = []
    configmaps = {(cm.get("metadata") or {}).get("name"): cm for cm in of_kind(objects, "ConfigMap")}
    for source in container.get("envFrom") or []:
        ref = (source.get("configMapRef") or {}).get("name")
        if ref is None:
            continue
        if ref not in configmaps:
            unreadable.append(f"envFrom names ConfigMap {ref}, which the overlay does not render")
            continue
        values.update({k: str(v) for k, v in (configmaps[ref].get("data") or {}).items() if k.startswith(PREFIX)})
    for var in container.get("env") or []:
        name = str(var.get("name", ""))
        if name.startswith(PREFIX):
            if "value" in var:
                values[name] = str(var["value"])
            else:
                unreadable.append(f"{name} comes from valueFrom: its value cannot be checked here")
    return values, unreadable


def check_settings(values: dict[str, str], where: str, env: str) -> list[Problem]:
    """Unknown names, a literal API key, and values the service would refuse at start."""
    problems = []
    known = setting_names()
    for name in sorted(set(values) - known):
        problems.append(Problem(env, where, f"{name} is not a setting — the service reads {', '.join(sorted(known))}"))
    if f"{PREFIX}API_KEY" in values:
        problems.append(
            Problem(env, where, f"{PREFIX}API_KEY is set in the manifests: a secret comes from the mounted Secret")
        )
    try:
        Settings.from_env({k: v for k, v in values.items() if not k.endswith("_FILE")}, env_file=Path(os.devnull))
    except SystemExit as exc:
        problems.append(Problem(env, where, f"the service would not start: {exc}"))
    return problems


def service_port(container: Object) -> set[object]:
    """How a probe or a Service may name the container's port 3000: the number, or its port's name."""
    ports = [p for p in container.get("ports") or [] if p.get("containerPort") == PORT]
    return {PORT, *(p["name"] for p in ports if p.get("name"))} if ports else set()


def probe_problems(container: Object) -> list[str]:
    port = service_port(container)
    found = [] if port else [f"container {CONTAINER} does not declare containerPort {PORT} (BentoML's port)"]
    for probe, path in PROBES.items():
        get = (container.get(probe) or {}).get("httpGet")
        if not get:
            found.append(f"{probe}: no httpGet probe on {path}")
        elif get.get("path") != path or get.get("port") not in port:
            found.append(f"{probe}: probes {get.get('path')} on port {get.get('port')}, expected {path} on {PORT}")
    return found


def service_problems(env: str, objects: list[Object], container: Object, pod_labels: dict[str, str]) -> list[Problem]:
    """A Service that selects the pods sends its traffic to port 3000."""
    found = []
    for service in of_kind(objects, "Service"):
        spec = service.get("spec") or {}
        selector = spec.get("selector") or {}
        if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
            continue
        for port in spec.get("ports") or []:
            if port.get("targetPort", port.get("port")) not in service_port(container):
                message = f"port {port.get('name') or port.get('port')} targets {port.get('targetPort')}, not {PORT}"
                found.append(Problem(env, name_of(service), message))
    return found


def secret_problems(container: Object, pod: Object) -> list[str]:
    """MODELOPS_API_KEY_FILE must name a file of a mounted Secret volume."""
    env = {v.get("name"): v.get("value") for v in container.get("env") or []}
    key_file = env.get(API_KEY_FILE)
    if not key_file:
        return [f"no {API_KEY_FILE}: the API key must come from a mounted Secret (deploy/README.md)"]
    secrets = {v.get("name"): v["secret"] or {} for v in pod.get("volumes") or [] if "secret" in v}
    for mount in container.get("volumeMounts") or []:
        folder = str(mount.get("mountPath", "")).rstrip("/")
        if mount.get("name") in secrets and str(Path(key_file).parent) == folder:
            secret = secrets[mount["name"]]
            items = secret.get("items")
            if items and Path(key_file).name not in {item.get("path") for item in items}:
                return [f"{API_KEY_FILE}={key_file}, but Secret {secret.get('secretName')} mounts no such file"]
            return []
    return [f"{API_KEY_FILE}={key_file} is not in a mounted Secret volume"]


def filesystem_problems(container: Object) -> list[str]:
    """Under a read-only root, BentoML needs a writable home (it creates it at start) and /tmp."""
    if not (container.get("securityContext") or {}).get("readOnlyRootFilesystem"):
        return []
    mounts = {str(m.get("mountPath", "")).rstrip("/") for m in container.get("volumeMounts") or []}
    home = next((v.get("value") for v in container.get("env") or [] if v.get("name") == "BENTOML_HOME"), None)
    found = []
    if not home or str(home).rstrip("/") not in mounts:
        found.append("read-only root filesystem but BENTOML_HOME is not a mounted volume: BentoML writes there")
    if "/tmp" not in mounts:
        found.append("read-only root filesystem but /tmp is not a mounted volume: BentoML writes there")
    return found


def stop_problems(pod: Object, container: Object) -> list[str]:
    """A preStop pause (endpoints are removed before SIGTERM) shorter than the grace period."""
    pre_stop = (container.get("lifecycle") or {}).get("preStop") or {}
    command = (pre_stop.get("exec") or {}).get("command") or []
    if "sleep" in pre_stop:
        pause = float(pre_stop["sleep"].get("seconds", 0))
    elif len(command) == 2 and Path(str(command[0])).name == "sleep" and str(command[1]).isdigit():
        pause = float(command[1])
    else:
        return ["no preStop sleep: the pod would get SIGTERM while still receiving traffic"]
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if isinstance(grace, int | float) and grace <= pause:
        return [f"terminationGracePeriodSeconds ({grace}) must exceed the preStop sleep ({pause:g} s)"]
    return []


def check_workload(env: str, objects: list[Object], kustomization: dict[str, Any]) -> list[Problem]:
    """The Deployment runs the overlay's image and is wired the way the service needs."""
    deployments = of_kind(objects, "Deployment")
    if len(deployments) != 1:
        message = f"renders {len(deployments)} Deployments, expected the service's one"
        return [Problem(env, str(paths.DEPLOY / env), message)]
    (deployment,) = deployments
    where = name_of(deployment)
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = {c.get("name"): c for c in pod.get("containers") or []}
    if CONTAINER not in containers:
        return [Problem(env, where, f"no container named {CONTAINER!r} (the bento's)")]
    container = containers[CONTAINER]
    found: list[str] = []
    entry = (kustomization.get("images") or [{}])[0]
    expected = f"{entry.get('newName')}:{entry.get('newTag')}"
    if container.get("image") != expected:
        found.append(
            f"image is {container.get('image')!r}, not the overlay's {expected!r}: the `images:` name must be"
            " the image name of deploy/base/deployment.yaml"
        )
    autoscalers = {name_of(hpa): hpa.get("spec") or {} for hpa in of_kind(objects, "HorizontalPodAutoscaler")}
    targets = {hpa: (spec.get("scaleTargetRef") or {}).get("name") for hpa, spec in autoscalers.items()}
    name = deployment["metadata"]["name"]
    if name not in targets.values():
        found.append("no HorizontalPodAutoscaler scales it")
    elif "replicas" in deployment.get("spec", {}):
        found.append("spec.replicas is set while an autoscaler scales it: Argo CD's self-heal would reset the count")
    found += probe_problems(container) + secret_problems(container, pod)
    found += filesystem_problems(container) + stop_problems(pod, container)
    values, unreadable = container_settings(container, objects)
    found += unreadable
    problems = [Problem(env, where, message) for message in found]
    labels = ((deployment["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    problems += service_problems(env, objects, container, labels)
    problems += check_settings(values, where, env)
    workers = values.get(f"{PREFIX}WORKERS", str(Settings.workers))
    limit = cpu_cores(((container.get("resources") or {}).get("limits") or {}).get("cpu"))
    if workers.isdigit() and limit is not None and int(workers) > math.ceil(limit):
        message = f"{PREFIX}WORKERS={workers} but the cpu limit is {limit:g} cores: one model thread per worker"
        problems.append(Problem(env, where, message))
    for hpa, spec in autoscalers.items():
        if targets[hpa] != name:
            problems.append(Problem(env, hpa, f"scales {targets[hpa]}, not the Deployment {name}"))
        low, high = spec.get("minReplicas", 1), spec.get("maxReplicas", 0)
        if isinstance(low, int) and isinstance(high, int) and low > high:
            problems.append(Problem(env, hpa, f"minReplicas ({low}) is above maxReplicas ({high})"))
    return problems


def check_overlay(env: str, kustomization: dict[str, Any]) -> list[Problem]:
    """The overlay's own form: built on the base, one image entry carrying a version, a namespace."""
    where = str(paths.DEPLOY / env / OVERLAY_FILE)
    found = []
    if "../base" not in (kustomization.get("resources") or []):
        found.append("resources does not include ../base")
    images = kustomization.get("images") or []
    entry = images[0] if images and isinstance(images[0], dict) else {}
    if not {"name", "newName", "newTag"} <= set(entry):
        found.append("images[0] needs name (the base's image), newName and newTag")
    tag = entry.get("newTag")
    if not isinstance(tag, str) or not (VERSION.match(tag) or tag == PLACEHOLDER):
        found.append(f"newTag {tag!r} is not a build version (<semver>-<commit>, e.g. 0.1.0-1a2b3c4)")
    if not kustomization.get("namespace"):
        found.append("no namespace: each environment has its own")
    return [Problem(env, where, message) for message in found]


def check_application(env: str, app: Object, kustomization: dict[str, Any]) -> list[Problem]:
    """The Application follows deploy/<env> on main, syncs by itself, and targets the overlay's namespace."""
    spec = app.get("spec") or {}
    source = spec.get("source") or {}
    automated = (spec.get("syncPolicy") or {}).get("automated") or {}
    found = []
    if source.get("path") != f"deploy/{env}":
        found.append(f"source.path is {source.get('path', 'missing')!r}, expected 'deploy/{env}'")
    if source.get("targetRevision") != BRANCH:
        found.append(f"source.targetRevision is {source.get('targetRevision', 'missing')!r}, expected {BRANCH!r}")
    if automated.get("enabled") is False or not (automated.get("prune") and automated.get("selfHeal")):
        found.append("syncPolicy.automated needs prune: true and selfHeal: true (the cluster follows git)")
    namespace = (spec.get("destination") or {}).get("namespace")
    if namespace != kustomization.get("namespace"):
        found.append(f"destination.namespace {namespace!r} is not the overlay's {kustomization.get('namespace')!r}")
    return [Problem(env, str(APPLICATIONS / f"{env}.yaml"), message) for message in found]
