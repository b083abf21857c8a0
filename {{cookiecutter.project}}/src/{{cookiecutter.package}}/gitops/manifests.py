"""Manifests: render each Kubernetes environment's overlay and check it before Argo CD applies it.

For each environment (`deploy/<env>/`, default: all), this renders the overlay with
`kubectl kustomize`, validates every object against the Kubernetes API schemas (kubernetes-validate,
strict: an unknown or misspelled field fails), validates the Argo CD Application
`deploy/argocd/<env>.yaml` against `deploy/schemas/argocd-application.json`, and checks what no
schema knows — the wiring between the manifests and the service: the image is the overlay's
version, the probes hit /livez and /readyz on port 3000, every MODELOPS_* setting exists and is
valid, every secret comes from a mounted Secret (or a secretKeyRef) and never a literal, nothing of
record stays in a pod, BentoML has a writable home under a read-only root, the graceful stop, the
in-cluster smoke Job (PostSync) tests the overlay's own image, and the Application follows
deploy/<env> on main with prune and self-heal. Once for all environments: the Argo CD project
(`deploy/argocd/project.yaml`, against `argocd-appproject.json`) allows what the overlays render and
nothing more cluster-wide, and the notifications (`deploy/argocd/notifications.yaml`, strict as a
ConfigMap and against `argocd-notifications.json`) report each Application's syncs to the forge.
It exits non-zero naming the environment, the object and the problem; an overlay still at
0.0.0-unreleased is a warning (its Application must not be applied yet), and `--released` makes it
the failure. The two Argo CD schemas are derived from Argo CD's CRDs (`--schema-from-crd`). An overlay
with the opt-in canary (deploy/components/canary) renders an Argo Rollouts Rollout and AnalysisTemplate:
each is validated against its schema derived from Argo Rollouts' CRDs (`argo-rollouts-*.json`), and
the analysis Job's spec as a batch/v1 Job (strict), since kubernetes-validate knows no custom kind.

Here: reading and rendering the overlays, the validators and the command; the wiring checks are in
gitops/wiring.py. kubernetes-validate (~110 MB of schemas) and jsonschema are not in the project's lock: the
pre-commit hook `manifests` (`make lint`) runs this command where they are pinned. `render()` and
`image_tag()` need only kubectl and PyYAML.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ..core import cli, paths
from ..core.environments import OVERLAY_FILE, PLACEHOLDER, known
from .wiring import (
    APPLICATIONS,
    NOTIFICATIONS_FILE,
    PROJECT_FILE,
    Object,
    Problem,
    check_application,
    check_notifications,
    check_overlay,
    check_project,
    check_smoke_job,
    check_workload,
    name_of,
)

SCHEMAS = paths.DEPLOY / "schemas"
APPLICATION_SCHEMA = SCHEMAS / "argocd-application.json"
PROJECT_SCHEMA = SCHEMAS / "argocd-appproject.json"
NOTIFICATIONS_SCHEMA = SCHEMAS / "argocd-notifications.json"
# Custom kinds an overlay may render, each checked against its schema from its tool's CRD (--schema-from-crd).
CUSTOM_SCHEMAS = {
    ("argoproj.io/v1alpha1", "Rollout"): SCHEMAS / "argo-rollouts-rollout.json",
    ("argoproj.io/v1alpha1", "AnalysisTemplate"): SCHEMAS / "argo-rollouts-analysistemplate.json",
}
KUBECTL_FIX = "install kubectl (it carries Kustomize): https://kubernetes.io/docs/tasks/tools/"


class ManifestError(SystemExit):
    """An overlay that cannot be read or rendered, or a missing tool; the message names the fix."""


# --- the desired state of an environment ------------------------------------------------------------


def environments() -> list[str]:
    """The Kubernetes environments: each folder of deploy/ with a kustomization.yaml, but the base."""
    return sorted(name for name, environment in known().items() if environment.kind == "kubernetes")


def overlay_file(env: str) -> Path:
    path = paths.DEPLOY / env / OVERLAY_FILE
    if env == "base" or not path.is_file():
        raise ManifestError(f"error: no overlay {path} — the environments are {', '.join(environments()) or 'none'}")
    return path


def overlay(env: str) -> dict[str, Any]:
    """The overlay `deploy/<env>/kustomization.yaml` as data."""
    path = overlay_file(env)
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ManifestError(f"error: {path} is not a Kustomization — restore it from git")
    return data


def _image_entry(env: str) -> dict[str, Any]:
    images = overlay(env).get("images")
    if not isinstance(images, list) or not images or not isinstance(images[0], dict):
        raise ManifestError(f"error: {overlay_file(env)} has no `images:` entry — restore it from git")
    return images[0]


def image_tag(env: str) -> str:
    """The version `env` runs: the overlay's `images[0].newTag`."""
    return str(_image_entry(env).get("newTag") or "")


def image(env: str) -> str:
    """The image reference the overlay gives the service's container (`newName:newTag`)."""
    entry = _image_entry(env)
    return f"{entry.get('newName') or entry.get('name')}:{image_tag(env)}"


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        raise ManifestError(f"error: kubectl not found on PATH — {KUBECTL_FIX}")
    return found


def render(env: str) -> list[Object]:
    """The objects `env`'s overlay renders to (`kubectl kustomize deploy/<env>`): what Argo CD applies."""
    overlay_file(env)
    result = subprocess.run([kubectl(), "kustomize", str(paths.DEPLOY / env)], capture_output=True, text=True)
    if result.returncode != 0:
        raise ManifestError(f"error: `kubectl kustomize {paths.DEPLOY / env}` failed:\n{result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def application(env: str) -> Object:
    """The Argo CD Application of `env` (`deploy/argocd/<env>.yaml`)."""
    path = APPLICATIONS / f"{env}.yaml"
    if not path.is_file():
        raise ManifestError(f"error: no Argo CD Application {path} — copy another environment's and adapt it")
    return read_object(path)


def read_object(path: Path) -> Object:
    """A one-object YAML file of deploy/ as data ({} when it holds no mapping)."""
    if not path.is_file():
        raise ManifestError(f"error: no {path} — restore it from git")
    data = yaml.safe_load(path.read_text())
    return data if isinstance(data, dict) else {}


def notifications_config(configmap: Object) -> dict[str, Any]:
    """The notifications ConfigMap's data, each value parsed as YAML (as Argo CD reads it)."""
    data = configmap.get("data") or {}
    parsed = {}
    for key, text in data.items():
        try:
            parsed[key] = yaml.safe_load(str(text))
        except yaml.YAMLError as exc:
            raise ManifestError(f"error: {NOTIFICATIONS_FILE}: data.{key} is not YAML: {exc}") from exc
    return parsed


def unreleased(env: str) -> bool:
    """Whether `env`'s overlay still names the placeholder tag: nothing promoted there yet."""
    return image_tag(env) == PLACEHOLDER


def unreleased_message(env: str) -> str:
    return (
        f"{env}: deploy/{env} still names {PLACEHOLDER}, an image that does not exist (ImagePullBackOff) —"
        f" merge the first promotion pull request, then `kubectl apply -n argocd -f deploy/argocd/{env}.yaml`"
    )


# --- checks by the pinned tools (the pre-commit hook's environment) ------------------------------


TOOLS = {"kubernetes_validate": "kubernetes-validate==1.37.0", "jsonschema": "jsonschema==4.26.0"}


def require_tools() -> None:
    """Fail with the fix unless this Python has the validators (the hook's environment has them pinned)."""
    missing = [pin for module, pin in TOOLS.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise ManifestError(
            f"error: {' and '.join(missing)} not installed in this Python ({sys.executable}) — the pre-commit"
            " hook `manifests` runs this command with them: `make lint`, or"
            " `.venv/bin/pre-commit run manifests --all-files`"
        )


def schema_problems(env: str, obj: object, schema_file: Path, where: Path) -> list[Problem]:
    """Every way `obj` (read from `where`) breaks the JSON schema in `schema_file` (unknown fields included)."""
    import jsonschema  # type: ignore[import-untyped,import-not-found,unused-ignore]

    schema = json.loads(schema_file.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    try:
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ManifestError(f"error: {schema_file} is not a valid JSON schema: {exc.message}") from exc
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return [
        Problem(env, str(where), f"{'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}")
        for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    ]


def custom_problems(env: str, objects: list[Object]) -> list[Problem]:
    """Each custom object (CUSTOM_SCHEMAS) that breaks its schema, and each analysis Job spec that breaks batch/v1."""
    problems = []
    for obj in objects:
        schema = CUSTOM_SCHEMAS.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
        if schema is not None:
            problems += schema_problems(env, obj, schema, Path(name_of(obj)))
    return problems + list(kubernetes_problems(env, analysis_jobs(objects)))


def analysis_jobs(objects: list[Object]) -> list[Object]:
    """The Jobs an AnalysisTemplate's metrics would create, as batch/v1 Jobs named after the template."""
    jobs = []
    for obj in objects:
        if obj.get("kind") != "AnalysisTemplate":
            continue
        for metric in (obj.get("spec") or {}).get("metrics") or []:
            job = ((metric or {}).get("provider") or {}).get("job")
            if isinstance(job, dict):
                name = f"{(obj.get('metadata') or {}).get('name')}-{metric.get('name')}"
                metadata = {**(job.get("metadata") or {}), "name": name}
                jobs.append({"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": job.get("spec")})
    return jobs


def kubernetes_problems(env: str, objects: list[Object]) -> Iterator[Problem]:
    """Each object that breaks its Kubernetes API schema (strict: unknown fields fail); custom kinds are
    custom_problems'."""
    import kubernetes_validate  # type: ignore[import-untyped,import-not-found,unused-ignore]

    version = kubernetes_validate.latest_version()
    for obj in objects:
        if (obj.get("apiVersion"), obj.get("kind")) in CUSTOM_SCHEMAS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(map(str, error.path)) or "(top)"
            yield Problem(env, name_of(obj), f"{path}: {error.message} (Kubernetes {version} API)")
        except kubernetes_validate.SchemaNotFoundError as error:
            print(f"warning: {env}: {name_of(obj)}: {error.message} — not validated", file=sys.stderr)


# --- the command ------------------------------------------------------------------------------------


def check(env: str) -> tuple[list[Object], list[Problem]]:
    """Render `env` and run every check; its objects and its problems."""
    kustomization = overlay(env)
    objects = render(env)
    app = application(env)
    problems = check_overlay(env, kustomization) + check_workload(env, objects, kustomization)
    problems += check_smoke_job(env, objects, kustomization)
    problems += check_application(env, app, kustomization)
    problems += schema_problems(env, app, APPLICATION_SCHEMA, APPLICATIONS / f"{env}.yaml")
    problems += list(kubernetes_problems(env, objects)) + custom_problems(env, objects)
    return objects, problems


def check_argocd(rendered: dict[str, list[Object]]) -> list[Problem]:
    """The project and the notifications, against the Applications and what each overlay renders."""
    apps = {env: application(env) for env in rendered}
    project = read_object(PROJECT_FILE)
    configmap = read_object(NOTIFICATIONS_FILE)
    config = notifications_config(configmap)
    problems = schema_problems("argocd", project, PROJECT_SCHEMA, PROJECT_FILE)
    problems += check_project(project, apps, rendered)
    problems += [
        Problem("argocd", str(NOTIFICATIONS_FILE), p.message) for p in kubernetes_problems("argocd", [configmap])
    ]
    problems += schema_problems("argocd", config, NOTIFICATIONS_SCHEMA, NOTIFICATIONS_FILE)
    problems += check_notifications(config, apps)
    return problems


def application_files() -> list[Path]:
    """The files of deploy/argocd/ that hold an Application (the project and notifications are not)."""
    return [path for path in sorted(APPLICATIONS.glob("*.yaml")) if read_object(path).get("kind") == "Application"]


def orphan_applications() -> list[Problem]:
    """Applications in deploy/argocd/ whose environment has no overlay (Argo CD would fail to sync them)."""
    overlays = set(environments())
    return [
        Problem(path.stem, str(path), f"no overlay deploy/{path.stem}/kustomization.yaml for this Application")
        for path in application_files()
        if path.stem not in overlays
    ]


# --- Argo CD's schemas, from its CRDs ---------------------------------------------------------------

WRITTEN_BY_ARGO_CD = ("status", "operation")  # never kept in git: a file holding them is refused


def strict_schema(node: object) -> object:
    """An OpenAPI v3 schema of a CRD as a JSON schema: descriptions dropped, every listed object closed.

    Where the CRD lists `properties` (and neither `additionalProperties` nor
    `x-kubernetes-preserve-unknown-fields`), any other key is refused: a misspelled field fails
    instead of being pruned by the API server. `x-kubernetes-int-or-string` keeps its `anyOf`.
    """
    if isinstance(node, list):
        return [strict_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, object] = {}
    for key, value in node.items():
        if key == "description" or key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        else:
            out[key] = strict_schema(value)
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


OBJECT_META = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
    },
}


def schema_from_crd(crd: Object, source: str, tool: str = "Argo CD") -> Object:
    """The JSON schema of a CRD's stored version as kept in git: its spec strict, metadata a small ObjectMeta."""
    names = (crd.get("spec") or {}).get("names") or {}
    versions = [v for v in (crd.get("spec") or {}).get("versions") or [] if v.get("storage")]
    if not versions or "kind" not in names:
        raise ManifestError("error: not a CustomResourceDefinition with a stored version — pass the CRD's YAML")
    (version,) = versions
    openapi = dict(version["schema"]["openAPIV3Schema"])
    properties = {k: v for k, v in openapi.get("properties", {}).items() if k not in WRITTEN_BY_ARGO_CD}
    properties["apiVersion"] = {"const": f"{crd['spec']['group']}/{version['name']}"}
    properties["kind"] = {"const": names["kind"]}
    properties["metadata"] = OBJECT_META
    body = strict_schema({**openapi, "properties": properties})
    assert isinstance(body, dict)
    required = sorted({"apiVersion", "kind", "metadata", *openapi.get("required", [])} - set(WRITTEN_BY_ARGO_CD))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": (
            f"Derived from {source} (its openAPIV3Schema, version {version['name']}) by"
            " `python -m <package>.gitops.manifests --schema-from-crd CRD --source ...`: descriptions dropped,"
            " every object whose properties the CRD lists closed (additionalProperties: false), status and"
            f" operation left out ({tool} writes them), metadata limited to name, namespace, labels,"
            f" annotations and finalizers. Regenerate it when you upgrade {tool}."
        ),
        "title": f"{tool} {names['kind']} ({crd['spec']['group']}/{version['name']}), as kept in git",
        **{k: v for k, v in body.items() if k != "required"},
        "required": required,
    }


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--env", default="all", help="an environment of deploy/, e.g. staging (default: all)")
    parser.add_argument(
        "--released",
        action="store_true",
        help=f"only check that each environment names a released version, not {PLACEHOLDER} (before its Application)",
    )
    parser.add_argument(
        "--schema-from-crd", type=Path, metavar="CRD", help="print the JSON schema derived from a CRD's YAML"
    )
    parser.add_argument(
        "--source", default="a CustomResourceDefinition", help="where the CRD comes from (its $comment)"
    )
    parser.add_argument("--tool", default="Argo CD", help="the CRD's tool, for the schema's title (e.g. Argo Rollouts)")
    args = parser.parse_args(argv)
    cli.start(args)
    if args.schema_from_crd:
        crd = yaml.safe_load(args.schema_from_crd.read_text())
        print(json.dumps(schema_from_crd(crd, args.source, args.tool), indent=1, ensure_ascii=False))
        return
    selected = environments() if args.env == "all" else [args.env]
    if not selected:
        raise ManifestError(
            f"error: no overlay in {paths.DEPLOY}/ (deploy/<env>/kustomization.yaml) — restore it from git"
        )
    if args.released:
        waiting = [env for env in selected if unreleased(env)]
        for env in waiting:
            print(f"error: {unreleased_message(env)}", file=sys.stderr)
        if waiting:
            raise SystemExit(1)
        print(f"released: {', '.join(f'{env} {image_tag(env)}' for env in selected)}")
        return
    require_tools()
    orphans = orphan_applications() if args.env == "all" else []
    for problem in orphans:
        print(f"FAILED {problem}", file=sys.stderr)
    failed = bool(orphans)
    rendered = {}
    for env in selected:
        objects, problems = check(env)
        rendered[env] = objects
        for problem in problems:
            print(f"FAILED {problem}", file=sys.stderr)
        failed |= bool(problems)
        if not problems:
            print(f"manifests ok: {env} ({len(objects)} objects, {image(env)})")
        if unreleased(env):
            print(f"warning: {unreleased_message(env)}", file=sys.stderr)
    argocd = check_argocd(rendered) if args.env == "all" else []
    for problem in argocd:
        print(f"FAILED {problem}", file=sys.stderr)
    failed |= bool(argocd)
    if args.env == "all" and not argocd:
        print(f"argocd ok: {PROJECT_FILE}, {NOTIFICATIONS_FILE}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
