"""Manifests: render each Kubernetes environment's overlay and check it before Argo CD applies it.

For each environment (`deploy/<env>/`, default: all), this renders the overlay with
`kubectl kustomize`, validates every object against the Kubernetes API schemas (kubernetes-validate,
strict: an unknown or misspelled field fails), validates the Argo CD Application
`deploy/argocd/<env>.yaml` against `deploy/schemas/argocd-application.json`, and checks what no
schema knows — the wiring between the manifests and the service: the image is the overlay's
version, the probes hit /livez and /readyz on port 3000, every MODELOPS_* setting exists and is
valid, every secret comes from a mounted Secret (or a secretKeyRef) and never a literal, nothing of
record stays in a pod, BentoML has a writable home under a read-only root, the graceful stop, and
the Application follows deploy/<env> on main with prune and self-heal.
It exits non-zero naming the environment, the object and the problem.

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
from ..core.environments import OVERLAY_FILE, known
from .wiring import APPLICATIONS, Object, Problem, check_application, check_overlay, check_workload, name_of

APPLICATION_SCHEMA = paths.DEPLOY / "schemas" / "argocd-application.json"
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
    data = yaml.safe_load(path.read_text())
    return data if isinstance(data, dict) else {}


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


def schema_problems(env: str, app: Object, schema: Object) -> list[Problem]:
    """Every way the Application breaks the schema (unknown fields included)."""
    import jsonschema  # type: ignore[import-untyped,import-not-found,unused-ignore]

    validator_class = jsonschema.validators.validator_for(schema)
    try:
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ManifestError(f"error: {APPLICATION_SCHEMA} is not a valid JSON schema: {exc.message}") from exc
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    where = str(APPLICATIONS / f"{env}.yaml")
    return [
        Problem(env, where, f"{'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}")
        for error in sorted(validator.iter_errors(app), key=lambda e: list(map(str, e.absolute_path)))
    ]


def kubernetes_problems(env: str, objects: list[Object]) -> Iterator[Problem]:
    """Each object that breaks its Kubernetes API schema (strict: unknown fields fail)."""
    import kubernetes_validate  # type: ignore[import-untyped,import-not-found,unused-ignore]

    version = kubernetes_validate.latest_version()
    for obj in objects:
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
    schema = json.loads(APPLICATION_SCHEMA.read_text())
    problems = check_overlay(env, kustomization) + check_workload(env, objects, kustomization)
    problems += check_application(env, app, kustomization) + schema_problems(env, app, schema)
    problems += list(kubernetes_problems(env, objects))
    return objects, problems


def orphan_applications() -> list[Problem]:
    """Applications in deploy/argocd/ whose environment has no overlay (Argo CD would fail to sync them)."""
    overlays = set(environments())
    return [
        Problem(path.stem, str(path), f"no overlay deploy/{path.stem}/kustomization.yaml for this Application")
        for path in sorted(APPLICATIONS.glob("*.yaml"))
        if path.stem not in overlays
    ]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--env", default="all", help="an environment of deploy/, e.g. staging (default: all)")
    args = parser.parse_args(argv)
    cli.start(args)
    require_tools()
    selected = environments() if args.env == "all" else [args.env]
    if not selected:
        raise ManifestError(
            f"error: no overlay in {paths.DEPLOY}/ (deploy/<env>/kustomization.yaml) — restore it from git"
        )
    orphans = orphan_applications() if args.env == "all" else []
    for problem in orphans:
        print(f"FAILED {problem}", file=sys.stderr)
    failed = bool(orphans)
    for env in selected:
        objects, problems = check(env)
        for problem in problems:
            print(f"FAILED {problem}", file=sys.stderr)
        failed |= bool(problems)
        if not problems:
            print(f"manifests ok: {env} ({len(objects)} objects, {image(env)})")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
