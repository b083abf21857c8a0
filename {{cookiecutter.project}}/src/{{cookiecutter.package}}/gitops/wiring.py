"""The wiring of the manifests no schema knows, checked on rendered objects as plain data.

The image is the overlay's version; the probes hit /livez and /readyz on port 3000; every
MODELOPS_* setting exists and is valid; every secret comes from a mounted Secret's file or a
`secretKeyRef`, never a literal; nothing of record stays in a pod (the log goes to a sink, labels
to a database); BentoML has a writable home under a read-only root; the upload buffer fits its
volume; egress reaches the stores; the graceful stop; an autoscaler owns the replica count; the
in-cluster smoke Job tests the overlay's own image against the Service; the Argo CD Application
follows deploy/<env> on main with prune and self-heal; the AppProject allows what the overlays render
and no cluster kind but their Namespaces; the notifications report every Application's syncs. Each
check returns the `Problem`s it finds (none: the wiring holds); `gitops/manifests.py` renders the
objects and runs them.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..core import paths
from ..core.environments import OVERLAY_FILE, PLACEHOLDER, VERSION
from ..core.requestids import require_shared_key
from ..core.settings import MIN_KEY_BYTES, PREFIX, SECRETS, Settings

APPLICATIONS = paths.DEPLOY / "argocd"  # each Kubernetes environment's Argo CD Application, <env>.yaml
BRANCH = "main"  # the branch Argo CD follows: a merge into it is a deploy
CONTAINER = "service"  # the Deployment's container that runs the bento
PORT = 3000  # BentoML's port (the bento's Dockerfile exposes it)
PROBES = {"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"}
FILE = "_FILE"  # `<NAME>_FILE` names the file a secret is read from (core/settings.py)
SECRET_SETTINGS = tuple(f"{PREFIX}{name}" for name in SECRETS)
REQUIRED_SECRET = f"{PREFIX}API_KEY"  # a cluster's service never answers without authentication
PRODUCTION_DOC = "docs/production.md"
MB, MIB = 10**6, 2**20  # MODELOPS_*_MB count MB (serving/predictionlog.py); Kubernetes sizes count MiB
QUANTITY = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}

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


def byte_quantity(quantity: object) -> int | None:
    """A Kubernetes storage quantity ("512Mi", "1G", 1000) in bytes; None when unset or unreadable."""
    match = re.fullmatch(r"(\d+)([kMGT]i?|Ki)?", str(quantity).strip()) if quantity is not None else None
    if not match or (match.group(2) or "") not in QUANTITY:
        return None
    return int(match.group(1)) * QUANTITY[match.group(2) or ""]


def setting_names() -> set[str]:
    """Every MODELOPS_* variable the project reads: each setting, and `<NAME>_FILE` for each secret."""
    return {f"{PREFIX}{f.name.upper()}" for f in fields(Settings)} | {f"{name}{FILE}" for name in SECRET_SETTINGS}


@dataclass(frozen=True)
class ContainerSettings:
    """How the container gets its MODELOPS_* settings, as the manifests say."""

    values: dict[str, str]  # literal values: the ConfigMaps it loads, then its `env` values
    origins: dict[str, str]  # where each literal is written: `ConfigMap/<name>` or `env`
    from_secrets: frozenset[str]  # set by `env.valueFrom.secretKeyRef`
    unreadable: tuple[str, ...]  # what cannot be checked here, each a problem

    def files(self) -> dict[str, str]:
        """Secret name → the file it is read from (`<NAME>_FILE`)."""
        return {name: self.values[name + FILE] for name in SECRET_SETTINGS if name + FILE in self.values}

    def provided_secrets(self) -> set[str]:
        """The secrets the container gets, from a file or a Secret reference (never literal: refused)."""
        return set(self.files()) | (self.from_secrets & set(SECRET_SETTINGS))


def container_settings(container: Object, objects: list[Object]) -> ContainerSettings:
    """The MODELOPS_* settings the container gets (ConfigMaps it loads, then `env`), and what is unreadable."""
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    from_secrets: set[str] = set()
    unreadable = []
    configmaps = {(cm.get("metadata") or {}).get("name"): cm for cm in of_kind(objects, "ConfigMap")}
    for source in container.get("envFrom") or []:
        ref = (source.get("configMapRef") or {}).get("name")
        if ref is None:
            continue
        if ref not in configmaps:
            unreadable.append(f"envFrom names ConfigMap {ref}, which the overlay does not render")
            continue
        for key, value in (configmaps[ref].get("data") or {}).items():
            if key.startswith(PREFIX):
                values[key], origins[key] = str(value), f"ConfigMap/{ref}"
    for var in container.get("env") or []:
        name = str(var.get("name", ""))
        if not name.startswith(PREFIX):
            continue
        if "value" in var:
            values[name], origins[name] = str(var["value"]), "env"
        elif name in SECRET_SETTINGS and (var.get("valueFrom") or {}).get("secretKeyRef"):
            from_secrets.add(name)
        elif name in SECRET_SETTINGS:
            unreadable.append(f"{name} comes from valueFrom but not a secretKeyRef: a secret comes from a Secret")
        else:
            unreadable.append(f"{name} comes from valueFrom: its value cannot be checked here")
    return ContainerSettings(values, origins, frozenset(from_secrets), tuple(unreadable))


def secret_literal_problems(settings: ContainerSettings) -> list[str]:
    """A secret written in the manifests (a ConfigMap or an env `value`) is readable by anyone who reads git."""
    found = []
    for name in SECRET_SETTINGS:
        if name in settings.values:
            found.append(
                f"{name} has a literal value in {settings.origins[name]}: a secret never sits in the manifests —"
                f" set {name}{FILE} to a file of a mounted Secret, or env valueFrom.secretKeyRef ({PRODUCTION_DOC})"
            )
        if name in settings.from_secrets and name + FILE in settings.values:
            found.append(f"{name} comes from a secretKeyRef and {name}{FILE} is set too — keep one of them")
    if REQUIRED_SECRET not in settings.provided_secrets():
        found.append(
            f"no {REQUIRED_SECRET}{FILE}: the API key must come from a mounted Secret (or a secretKeyRef),"
            f" else the service answers anyone ({PRODUCTION_DOC})"
        )
    return found


def startup_settings(settings: ContainerSettings) -> Settings:
    """The Settings the service would start with: each secret it gets stands in as a placeholder of a key's size.

    Raises the service's own SettingsError when it would refuse to start (e.g. a database URL without
    a signing key); `.env` is not read.
    """
    placeholder = "placeholder-" + "0" * MIN_KEY_BYTES
    shaped = {f"{PREFIX}FEEDBACK_TOKENS": f"placeholder={placeholder}"}  # `source=token` lines
    environ = {k: v for k, v in settings.values.items() if not k.endswith(FILE) and k not in SECRET_SETTINGS}
    environ |= {name: shaped.get(name, placeholder) for name in settings.provided_secrets()}
    started = Settings.from_env(environ, env_file=Path(os.devnull))
    require_shared_key(started)  # what the service checks when it builds its request ids
    return started


def check_settings(settings: ContainerSettings, where: str, env: str) -> list[Problem]:
    """Unknown names, and values the service would refuse at start."""
    problems = []
    known = setting_names()
    for name in sorted(set(settings.values) - known):
        problems.append(Problem(env, where, f"{name} is not a setting — the service reads {', '.join(sorted(known))}"))
    try:
        startup_settings(settings)
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


def secret_file_problems(container: Object, pod: Object, files: dict[str, str]) -> list[str]:
    """Each `<NAME>_FILE` names a file of a mounted Secret volume (one of its `items`, when it lists them)."""
    secrets = {v.get("name"): v["secret"] or {} for v in pod.get("volumes") or [] if "secret" in v}
    mounts = {str(m.get("mountPath", "")).rstrip("/"): m.get("name") for m in container.get("volumeMounts") or []}
    found = []
    for name, file in sorted(files.items()):
        volume = mounts.get(str(Path(file).parent))
        if volume not in secrets:
            found.append(f"{name}{FILE}={file} is not in a mounted Secret volume ({PRODUCTION_DOC})")
            continue
        items = secrets[volume].get("items")
        if items and Path(file).name not in {item.get("path") for item in items}:
            found.append(f"{name}{FILE}={file}, but Secret {secrets[volume].get('secretName')} mounts no such file")
    return found


def volume_at(container: Object, pod: Object, folder: Path) -> Object | None:
    """The pod volume mounted at `folder` or at a folder holding it (the deepest mount); None when none is."""
    mounts = [m for m in container.get("volumeMounts") or [] if folder.is_relative_to(str(m.get("mountPath", "/")))]
    if not mounts:
        return None
    name = max(mounts, key=lambda m: len(str(m.get("mountPath", ""))))["name"]
    volume: Object | None = next((v for v in pod.get("volumes") or [] if v.get("name") == name), None)
    return volume


def replica_count(deployment: Object, objects: list[Object]) -> int:
    """The most pods the Deployment may run: its `replicas`, or its autoscalers' maxReplicas."""
    name = (deployment.get("metadata") or {}).get("name")
    counts = [int((deployment.get("spec") or {}).get("replicas", 1))]
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        spec = hpa.get("spec") or {}
        if (spec.get("scaleTargetRef") or {}).get("name") == name and isinstance(spec.get("maxReplicas"), int):
            counts.append(spec["maxReplicas"])
    return max(counts)


def state_problems(settings: Settings, volume: Object | None, replicas: int) -> list[str]:
    """Data of record (the prediction log, the labels) must reach a store every pod shares and outlives a pod.

    Kept in the monitoring folder it is lost with the pod when the folder is an emptyDir (or no volume
    at all), and split across pods when more than one runs: each pod logs only its own answers, and
    a label for another pod's answer is refused. A persistent volume and one pod is the one way to
    keep them locally.
    """
    kept_in_pod = volume is None or "persistentVolumeClaim" not in volume
    if not (kept_in_pod or replicas > 1):
        return []
    where = f"{settings.monitoring_dir}" + (
        ", an emptyDir lost with the pod" if kept_in_pod else f", one per pod of up to {replicas}"
    )
    found = []
    if settings.prediction_log and not settings.log_sink:
        found.append(
            f"the prediction log would stay in {where} — set {PREFIX}LOG_SINK (s3://<bucket>/logs/<env>),"
            f" or {PREFIX}PREDICTION_LOG=false ({PRODUCTION_DOC})"
        )
    if settings.feedback_tokens and not settings.database_url:
        found.append(
            f"labels would go to SQLite in {where} — set {PREFIX}DATABASE_URL{FILE} (PostgreSQL) and"
            f" {PREFIX}SIGNING_KEY{FILE}, or drop {PREFIX}FEEDBACK_TOKENS ({PRODUCTION_DOC})"
        )
    return found


def buffer_problems(settings: Settings, volume: Object | None) -> list[str]:
    """Each worker's upload buffer (its cap includes its open segment) fits under the emptyDir's sizeLimit.

    Above the limit the kubelet evicts the pod, losing the buffer, before the service's own cap
    drops and counts rows.
    """
    limit = byte_quantity(((volume or {}).get("emptyDir") or {}).get("sizeLimit"))
    if not (settings.prediction_log and settings.log_sink) or limit is None:
        return []
    needed = settings.workers * settings.log_buffer_mb * MB
    if limit >= needed:
        return []
    return [
        f"volume {(volume or {}).get('name')} holds {limit / MIB:g} MiB but the upload buffers need"
        f" {PREFIX}WORKERS × {PREFIX}LOG_BUFFER_MB = {needed / MB:g} MB ({needed / MIB:.0f} MiB): raise its"
        f" sizeLimit (and the ephemeral-storage limit) or lower {PREFIX}LOG_BUFFER_MB"
    ]


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether `labels` carry every label of `selector` (an empty selector matches every pod)."""
    return all(labels.get(k) == v for k, v in selector.items())


def selects(policy: Object, labels: dict[str, str]) -> bool:
    return matches(((policy.get("spec") or {}).get("podSelector") or {}).get("matchLabels") or {}, labels)


def egress_problems(objects: list[Object], labels: dict[str, str], settings: Settings) -> list[str]:
    """With a sink or a database the pod must resolve names and reach out: NetworkPolicies that close
    egress must open some of it, DNS (port 53) included."""
    stores = [s for s, on in (("the log sink", settings.log_sink), ("the database", settings.database_url)) if on]
    policies = [p for p in of_kind(objects, "NetworkPolicy") if selects(p, labels)]
    closing = [p for p in policies if "Egress" in ((p.get("spec") or {}).get("policyTypes") or [])]
    if not stores or not closing:
        return []
    rules = [rule for p in closing for rule in (p.get("spec") or {}).get("egress") or []]
    if not rules:
        return [f"egress is closed but the pod writes to {' and '.join(stores)}: open it in networkpolicy.yaml"]
    ports = {port.get("port") for rule in rules for port in rule.get("ports") or []}
    if any(not rule.get("ports") for rule in rules) or 53 in ports:
        return []
    return [f"egress allows no DNS (port 53): the pod cannot resolve {' and '.join(stores)}"]


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
    folder = next(
        (v.get("value") for v in container.get("env") or [] if v.get("name") == f"{PREFIX}MONITORING_DIR"), None
    )
    if not folder or str(folder).rstrip("/") not in mounts:
        found.append(
            f"read-only root filesystem but {PREFIX}MONITORING_DIR is not a mounted volume: the service writes there"
        )
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
    settings = container_settings(container, objects)
    found += probe_problems(container) + list(settings.unreadable) + secret_literal_problems(settings)
    found += secret_file_problems(container, pod, settings.files())
    found += filesystem_problems(container) + stop_problems(pod, container)
    labels = ((deployment["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    with contextlib.suppress(SystemExit):  # a setting the service refuses: check_settings names it
        started = startup_settings(settings)
        volume = volume_at(container, pod, started.monitoring_dir)
        found += state_problems(started, volume, replica_count(deployment, objects))
        found += buffer_problems(started, volume) + egress_problems(objects, labels, started)
    problems = [Problem(env, where, message) for message in found]
    problems += service_problems(env, objects, container, labels)
    problems += check_settings(settings, where, env)
    workers = settings.values.get(f"{PREFIX}WORKERS", str(Settings.workers))
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


# --- the in-cluster smoke test (components/smoke-test) --------------------------------------------------

SMOKE_COMPONENT = "../components/smoke-test"  # every overlay lists it under `components:`
HOOK = "argocd.argoproj.io/hook"
SMOKE_MODULE = "packaging.smoke"  # the command the Job runs: `python -m <package>.packaging.smoke --built`


def smoke_jobs(objects: list[Object]) -> list[Object]:
    """The PostSync Jobs that run the image's smoke command."""
    return [
        job
        for job in of_kind(objects, "Job")
        if "PostSync" in str(((job.get("metadata") or {}).get("annotations") or {}).get(HOOK, "")).split(",")
    ]


def pod_restrictions(pod: Object, container: Object) -> list[str]:
    """What the restricted Pod Security Standard, and a read-only root, ask of a pod and its container."""
    pod_security, security = pod.get("securityContext") or {}, container.get("securityContext") or {}
    found = []
    if not (pod_security.get("runAsNonRoot") or security.get("runAsNonRoot")):
        found.append("runAsNonRoot is not set")
    seccomp = (security.get("seccompProfile") or pod_security.get("seccompProfile") or {}).get("type")
    if seccomp not in {"RuntimeDefault", "Localhost"}:
        found.append("no seccompProfile RuntimeDefault")
    if security.get("allowPrivilegeEscalation") is not False:
        found.append("allowPrivilegeEscalation is not false")
    if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
        found.append("capabilities do not drop ALL")
    if not security.get("readOnlyRootFilesystem"):
        found.append("the root filesystem is writable")
    return found


def egress_admits(objects: list[Object], labels: dict[str, str], port: int, to_labels: dict[str, str]) -> bool:
    """Whether the NetworkPolicies selecting a pod (`labels`) let it reach DNS and `port` of pods with `to_labels`."""
    policies = [p for p in of_kind(objects, "NetworkPolicy") if selects(p, labels)]
    closing = [p for p in policies if "Egress" in ((p.get("spec") or {}).get("policyTypes") or [])]
    if not closing:
        return True
    rules = [rule for p in closing for rule in (p.get("spec") or {}).get("egress") or []]

    def opens(rule: Object, wanted: int, peer: dict[str, str] | None) -> bool:
        ports = {p.get("port") for p in rule.get("ports") or []}
        peers = rule.get("to") or []
        port_ok = not ports or wanted in ports
        peer_ok = (
            not peers
            or peer is None
            or any(
                "podSelector" in to
                and "namespaceSelector" not in to
                and matches((to["podSelector"] or {}).get("matchLabels") or {}, peer)
                for to in peers
            )
        )
        return port_ok and peer_ok

    return any(opens(r, 53, None) for r in rules) and any(opens(r, port, to_labels) for r in rules)


def check_smoke_job(env: str, objects: list[Object], kustomization: dict[str, Any]) -> list[Problem]:
    """The overlay's PostSync Job runs this image's `--built` smoke test against the service, as the service's pod runs.

    Its pod must stay out of the service's Service (else traffic goes to it), read the API key from the
    service's Secret through a file, meet the restricted Pod Security Standard, stop (a backoff limit and a
    deadline), and reach the service through the NetworkPolicies.
    """
    where = str(paths.DEPLOY / env / OVERLAY_FILE)
    if SMOKE_COMPONENT not in (kustomization.get("components") or []):
        message = f"components does not include {SMOKE_COMPONENT}: nothing tests the service after a sync"
        return [Problem(env, where, message)]
    jobs = smoke_jobs(objects)
    if len(jobs) != 1:
        return [Problem(env, where, f"renders {len(jobs)} PostSync Jobs, expected the smoke test's one")]
    (job,) = jobs
    spec = job.get("spec") or {}
    template = spec.get("template") or {}
    pod = template.get("spec") or {}
    containers = pod.get("containers") or [{}]
    container = containers[0]
    found: list[str] = []
    entry = (kustomization.get("images") or [{}])[0]
    expected = f"{entry.get('newName')}:{entry.get('newTag')}"
    if container.get("image") != expected:
        found.append(f"image is {container.get('image')!r}, not the overlay's {expected!r}: it must test its own build")
    command = [str(part) for part in (container.get("command") or []) + (container.get("args") or [])]
    if not any(part.endswith(SMOKE_MODULE) for part in command) or "--built" not in command:
        found.append(f"does not run `python -m <package>.{SMOKE_MODULE} --built` (the image's own smoke test)")
    url = command[command.index("--url") + 1] if "--url" in command[:-1] else ""
    services = {(s.get("metadata") or {}).get("name") for s in of_kind(objects, "Service")}
    host = url.removeprefix("http://").partition("/")[0].partition(":")[0].partition(".")[0]
    if host not in services:
        found.append(f"--url {url!r} is not a Service of the overlay ({', '.join(sorted(map(str, services)))})")
    for field in ("backoffLimit", "activeDeadlineSeconds"):
        if not isinstance(spec.get(field), int):
            found.append(f"no {field}: a failing smoke test must end (and fail the sync)")
    hook_policy = ((job.get("metadata") or {}).get("annotations") or {}).get(f"{HOOK}-delete-policy")
    if not hook_policy:
        found.append(f"no {HOOK}-delete-policy: the next sync could not create the Job again")
    found += pod_restrictions(pod, container)
    if not ((container.get("resources") or {}).get("limits")):
        found.append("no resource limits")
    files = container_settings(container, objects).files()
    if f"{REQUIRED_SECRET}" not in files:
        found.append(f"no {REQUIRED_SECRET}{FILE}: the smoke test calls the service with its API key")
    found += secret_file_problems(container, pod, files)
    labels = (template.get("metadata") or {}).get("labels") or {}
    for service in of_kind(objects, "Service"):
        selector = (service.get("spec") or {}).get("selector") or {}
        if selector and matches(selector, labels):
            found.append(f"its pod's labels match {name_of(service)}'s selector: the Service would send traffic to it")
    deployments = of_kind(objects, "Deployment")
    service_labels = (
        (((deployments[0].get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
        if deployments
        else {}
    )
    if not egress_admits(objects, labels, PORT, service_labels):
        found.append(f"the NetworkPolicies do not let its pod reach DNS and the service's pods on port {PORT}")
    return [Problem(env, name_of(job), message) for message in found]


# --- the Argo CD project and notifications (deploy/argocd/) ---------------------------------------------

PROJECT_FILE = APPLICATIONS / "project.yaml"
NOTIFICATIONS_FILE = APPLICATIONS / "notifications.yaml"
INSTANCE_LABEL = "app.kubernetes.io/instance"  # an Application's environment, as the forge hears of it
SUBSCRIBE = "notifications.argoproj.io/subscribe."
# What every environment's Application must be subscribed to: the cluster's report of each sync.
REPORTS = ("on-modelops-deployed", "on-modelops-sync-failed", "on-modelops-degraded")
# The service that reports to the forge, by the forge: its subscription name, its config key, and
# where its credentials are (each must be a $key of argocd-notifications-secret, never a value).
REPORT_SERVICES = {
    "github": ("service.github", ("appID", "installationID", "privateKey")),
    "modelops-gitlab": ("service.webhook.modelops-gitlab", ("headers",)),
}


def report_service(config: dict[str, Any]) -> str | None:
    """The forge's service the notifications define (GitHub's or GitLab's webhook), or None."""
    return next((name for name, (key, _) in REPORT_SERVICES.items() if key in config), None)


def secret_fields(service: dict[str, Any], fields: tuple[str, ...]) -> list[tuple[str, str]]:
    """(field, value) of each credential a report service names: GitHub's App fields, a webhook's headers."""
    found: list[tuple[str, str]] = []
    for field in fields:
        value = service.get(field)
        if isinstance(value, list):  # a webhook's headers: the token's header; Content-Type is no secret
            found += [
                (f"{field}[{h.get('name')}]", str(h.get("value", "")))
                for h in value
                if isinstance(h, dict) and str(h.get("name", "")).lower() != "content-type"
            ]
        else:
            found.append((field, str(value or "")))
    return found


# Cluster-scoped kinds (core and common groups): the rest of what an overlay renders is namespaced.
CLUSTER_KINDS = {
    ("", "Namespace"),
    ("", "PersistentVolume"),
    ("", "Node"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("storage.k8s.io", "StorageClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("networking.k8s.io", "IngressClass"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
}


def group_kind(obj: Object) -> tuple[str, str]:
    api_version = str(obj.get("apiVersion", ""))
    return (api_version.rpartition("/")[0] if "/" in api_version else "", str(obj.get("kind", "")))


def listed(entries: object, group: str, kind: str) -> bool:
    """Whether a project's resource list holds (group, kind) (`*` matches any)."""
    return any(
        isinstance(e, dict) and e.get("group") in {group, "*"} and e.get("kind") in {kind, "*"}
        for e in (entries if isinstance(entries, list) else [])
    )


def check_project(project: Object, apps: dict[str, Object], objects: dict[str, list[Object]]) -> list[Problem]:
    """The Applications use this project, and it allows what they sync and nothing more cluster-wide.

    `apps` and `objects` are by environment: each Application and what its overlay renders.
    """
    where = str(PROJECT_FILE)
    name = (project.get("metadata") or {}).get("name")
    spec = project.get("spec") or {}
    found: list[Problem] = []
    destinations = [(d.get("server"), d.get("namespace")) for d in spec.get("destinations") or []]
    for env, app in sorted(apps.items()):
        app_spec = app.get("spec") or {}
        app_where = str(APPLICATIONS / f"{env}.yaml")
        if app_spec.get("project") != name:
            found.append(
                Problem(env, app_where, f"spec.project is {app_spec.get('project')!r}, not this repository's {name!r}")
            )
        repo = (app_spec.get("source") or {}).get("repoURL")
        if repo not in (spec.get("sourceRepos") or []):
            found.append(Problem(env, where, f"sourceRepos does not list {repo!r}, the Application's repository"))
        destination = app_spec.get("destination") or {}
        if (destination.get("server"), destination.get("namespace")) not in destinations:
            found.append(Problem(env, where, f"destinations do not list {destination.get('namespace')!r}"))
        for obj in objects.get(env, []):
            group, kind = group_kind(obj)
            section = "clusterResourceWhitelist" if (group, kind) in CLUSTER_KINDS else "namespaceResourceWhitelist"
            if not listed(spec.get(section), group, kind):
                allowed = "{" + f"group: {group!r}, kind: {kind}" + "}"
                message = f"{name_of(obj)} is rendered but {section} does not allow {allowed}"
                found.append(Problem(env, where, message))
    namespaces = {(a.get("spec") or {}).get("destination", {}).get("namespace") for a in apps.values()}
    for entry in spec.get("clusterResourceWhitelist") or []:
        if entry.get("kind") != "Namespace" or entry.get("group") != "" or entry.get("name") not in namespaces:
            message = (
                f"clusterResourceWhitelist allows {entry}: only the Applications' own Namespaces, by name"
                " (CreateNamespace writes them); nothing else cluster-wide"
            )
            found.append(Problem("argocd", where, message))
    if "*" in (spec.get("sourceRepos") or []) or any(ns in {"*", None} for _, ns in destinations):
        found.append(Problem("argocd", where, "a wildcard source or destination: list this repository and namespaces"))
    return found


def check_notifications(config: dict[str, Any], apps: dict[str, Object]) -> list[Problem]:
    """Each Application subscribes to the reports, each trigger sends templates that exist, no key is in git.

    `config` is the notifications ConfigMap's data, each value parsed as YAML.
    """
    where = str(NOTIFICATIONS_FILE)
    found: list[Problem] = []
    templates = {key.removeprefix("template.") for key in config if key.startswith("template.")}
    triggers = {key.removeprefix("trigger."): value for key, value in config.items() if key.startswith("trigger.")}
    for trigger, conditions in sorted(triggers.items()):
        for condition in conditions if isinstance(conditions, list) else []:
            for template in (condition.get("send") or []) if isinstance(condition, dict) else []:
                if template not in templates:
                    found.append(Problem("argocd", where, f"trigger {trigger} sends template {template}, not defined"))
    service_name = report_service(config)
    if service_name is None:
        keys = " or ".join(key for key, _ in REPORT_SERVICES.values())
        found.append(Problem("argocd", where, f"no {keys}: nothing reports to the forge"))
    else:
        key, fields = REPORT_SERVICES[service_name]
        service = config.get(key)
        for field, value in secret_fields(service if isinstance(service, dict) else {}, fields):
            if not value.startswith("$"):
                message = (
                    f"{key}.{field} is not a $key of argocd-notifications-secret:"
                    " the forge's credentials stay out of git (docs/production.md)"
                )
                found.append(Problem("argocd", where, message))
    for env, app in sorted(apps.items()):
        metadata = app.get("metadata") or {}
        app_where = str(APPLICATIONS / f"{env}.yaml")
        if (metadata.get("labels") or {}).get(INSTANCE_LABEL) != env:
            message = (
                f"metadata.labels[{INSTANCE_LABEL!r}] is not {env!r}: the notifications name the environment by it"
            )
            found.append(Problem(env, app_where, message))
        subscribed = set()
        for key in metadata.get("annotations") or {}:
            if not key.startswith(SUBSCRIBE):
                continue
            trigger, _, service = key.removeprefix(SUBSCRIBE).rpartition(".")
            subscribed.add((trigger, service))
            if trigger not in triggers:
                found.append(Problem(env, app_where, f"{key}: no trigger.{trigger} in {where}"))
            if f"service.{service}" not in config and f"service.webhook.{service}" not in config:
                found.append(Problem(env, app_where, f"{key}: no service.{service} in {where}"))
        for trigger in REPORTS if service_name else ():
            if (trigger, service_name) not in subscribed:
                message = (
                    f"not subscribed to {trigger} ({SUBSCRIBE}{trigger}.{service_name}): the forge would not hear of it"
                )
                found.append(Problem(env, app_where, message))
    return found
