"""Doctor: check what the flow needs outside git — the GitHub repository's settings and the cluster.

Each check prints one line: `ok: <piece> — <what was found>`, `missing: <piece> — <the fix>`, or
`unknown: <piece> — <why it cannot tell, and how to look by hand>`. The exit status is 1 when
anything is missing, 0 otherwise. Nothing is changed: the repository is read through `gh api` (the
work tree's repository, or GH_REPO), the cluster through `kubectl get` (the current context).

The repository: its name (the manifests and the image name assume `<owner>/<project>`), whether its
plan and visibility can enforce an approval at all, the ruleset on main (.github/rulesets/main.json:
pull requests, code-owner review, CI's checks, no force push or deletion) or classic branch
protection, CODEOWNERS, whether Actions may open pull requests, every variable and secret the
workflows use (read from .github/workflows/ and .github/actions/), the GitHub App for bot pull
requests, the container package's visibility. The cluster: each environment's namespace, its
Secret and the keys the Deployment reads, the image pull Secret, metrics-server, Argo CD, the
AppProject and Applications in deploy/argocd/, repository credentials for a private repository,
the notifications ConfigMap and Secret, and Argo Rollouts once an overlay enables the canary.
docs/setup.md is the same list as steps, in order.

On GitLab (core/forge.py's choice: GitLab CI, MODELOPS_FORGE=gitlab, or a project without
.github/workflows/) the repository part reads GitLab's API instead (CI_SERVER_URL, CI_PROJECT_ID,
GITLAB_TOKEN): the project and its name, main protected (no one pushes, no force push: changes
arrive by merge request), the environment production protected with at least one approval, and
the CI/CD variables GITLAB_TOKEN (masked, protected) and GITLAB_REPORT_TOKEN (masked, unprotected:
the merge-request report note) present, and pipeline variables allowed
(retraining is dispatched as a pipeline with variables). GitHub's rulesets, CODEOWNERS
review, Actions permissions, App and package checks have no counterpart there and are not run.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core import cli, storage
from ..core.cluster import Cluster, ClusterError, Ref, condition
from ..core.forge import Answer, Forge, ForgeError, GitLab, default
from . import manifests
from .wiring import APPLICATIONS, BRANCH, CONTAINER, REPORT_SERVICES, of_kind

OK, MISSING, UNKNOWN = "ok", "missing", "unknown"
REPOSITORY = "repos/{owner}/{repo}"  # gh fills in the work tree's repository (or GH_REPO)
SETUP = "docs/setup.md"
RULESET = Path(".github/rulesets/main.json")
WORKFLOW_FILES = (".github/workflows/*.yml", ".github/actions/*/action.yml")
REFERENCE = re.compile(r"\b(vars|secrets)\.([A-Za-z_][A-Za-z0-9_]*)")
KINDS = {"vars": "variable", "secrets": "secret"}  # pragma: allowlist secret
GITHUB_TOKEN = "GITHUB_TOKEN"  # every job has it; nobody sets it

# How the workflows need the settings they name. A name listed nowhere here is needed always.
OPTIONAL = frozenset({"AWS_REGION", "AWS_ENDPOINT_URL", "MODELOPS_DVC_REMOTE"})  # each has a default
OBJECT_STORE = frozenset({"MONITORING_SOURCE", "MODELOPS_DATABASE_URL"})  # only with an s3:// DVC remote
# The object store's credentials, needed with an s3:// DVC remote: an OIDC role, or a key pair.
CREDENTIALS = (("variable", "AWS_ROLE_ARN"),), (("secret", "AWS_ACCESS_KEY_ID"), ("secret", "AWS_SECRET_ACCESS_KEY"))
APP = (("variable", "MODELOPS_APP_ID"), ("secret", "MODELOPS_APP_PRIVATE_KEY"))  # the GitHub App of bot PRs

FREE = "free"
NO_APPROVAL = (
    "a private repository on GitHub Free can enforce no approval at all: rulesets, branch protection and"
    " code-owner review need GitHub Pro or Team for a private repository, environment reviewers need"
    " Enterprise — so merging a pull request here is not an approval anyone enforced. Make the"
    " repository public, or move its owner to GitHub Pro (a user) or GitHub Team (an organization)"
)
ARGOCD = "argocd"  # the namespace Argo CD runs in, as deploy/argocd/ applies to
ARGOCD_CRD = Ref("CustomResourceDefinition", "applications.argoproj.io")
ARGOCD_SERVER = Ref("Deployment", "argocd-server", ARGOCD)  # its image's tag is Argo CD's version
ARGOCD_MINIMUM = (3, 3)  # deploy/argocd/project.yaml names the Namespaces it allows: Argo CD 3.3 or later
METRICS = Ref("APIService", "v1beta1.metrics.k8s.io")
# The kinds deploy/components/canary renders: Argo Rollouts' CRDs, needed once an overlay enables it.
ROLLOUTS_CRDS = (
    Ref("CustomResourceDefinition", "rollouts.argoproj.io"),
    Ref("CustomResourceDefinition", "analysistemplates.argoproj.io"),
)
NOTIFICATIONS_CM = Ref("ConfigMap", "argocd-notifications-cm", ARGOCD)  # Argo CD Notifications' own names
NOTIFICATIONS_SECRET = Ref("Secret", "argocd-notifications-secret", ARGOCD)
GITHUB_SERVICE = "service.github"  # the report service when deploy/argocd/ names none (wiring.REPORT_SERVICES)
PULL_SECRET = "ghcr-pull"  # pragma: allowlist secret
REPOSITORY_SECRETS = "argocd.argoproj.io/secret-type in (repository,repo-creds)"  # pragma: allowlist secret
EXAMPLE_URL = "argocd.example.com"  # deploy/argocd/notifications.yaml's placeholder for Argo CD's address
FROM = "__file__"  # where an object of deploy/argocd/ was read from (doctor's own key)
ARGOCD_DOC = "docs/production.md, Argo CD"

Object = dict[str, Any]


@dataclass(frozen=True)
class Finding:
    """One piece of the set-up: whether it is there, and what was seen or what to do."""

    status: str
    piece: str
    detail: str

    def __str__(self) -> str:
        return f"{self.status}: {self.piece} — {self.detail}"


def ok(piece: str, detail: str) -> Finding:
    return Finding(OK, piece, detail)


def missing(piece: str, fix: str) -> Finding:
    return Finding(MISSING, piece, fix)


def unknown(piece: str, why: str) -> Finding:
    return Finding(UNKNOWN, piece, why)


# --- what the project's files say it needs ----------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """A repository variable or secret the workflows read, and the files that read it."""

    kind: str  # "variable" or "secret"
    name: str
    used_by: tuple[str, ...]

    @property
    def piece(self) -> str:
        return f"{self.kind} {self.name}"


def workflow_settings(root: Path = Path()) -> list[Setting]:
    """Every `vars.X` and `secrets.X` the workflows and composite actions name (GITHUB_TOKEN aside)."""
    used: dict[tuple[str, str], set[str]] = {}
    for pattern in WORKFLOW_FILES:
        for path in sorted(root.glob(pattern)):
            for scope, name in REFERENCE.findall(path.read_text()):
                if name != GITHUB_TOKEN:
                    used.setdefault((KINDS[scope], name), set()).add(
                        path.name if "workflows" in path.parts else str(path)
                    )
    return [Setting(kind, name, tuple(sorted(files))) for (kind, name), files in sorted(used.items())]


@dataclass(frozen=True)
class Environment:
    """A Kubernetes environment as its rendered overlay and Application name it."""

    name: str
    namespace: str
    secrets: dict[str, tuple[str, ...]]  # Secret name → the keys the Deployment mounts
    pull_secrets: tuple[str, ...]
    application: Object
    canary: bool = False  # the overlay renders an Argo Rollouts Rollout (deploy/components/canary)


@dataclass(frozen=True)
class Project:
    """What the repository's own files say the outside world must hold."""

    repository: str  # <owner>/<project>, from the Applications' repoURL
    image: str  # ghcr.io/<owner>/<project>
    object_store: bool  # the DVC remote is s3://
    settings: list[Setting]
    required_checks: tuple[str, ...]  # the ruleset's status checks: ci.yml's job names
    argocd_objects: list[Object] = field(default_factory=list)  # every object of deploy/argocd/*.yaml

    @property
    def owner(self) -> str:
        return self.repository.split("/")[0]

    @property
    def package(self) -> str:
        return self.image.rsplit("/", 1)[-1]


def required_checks(path: Path = RULESET) -> tuple[str, ...]:
    """The status checks the ruleset to import requires (each a job name of ci.yml)."""
    ruleset = json.loads(path.read_text())
    return tuple(
        str(check["context"])
        for rule in ruleset.get("rules", [])
        if rule.get("type") == "required_status_checks"
        for check in rule["parameters"]["required_status_checks"]
    )


def pod_spec(objects: list[Object]) -> Object:
    for deployment in of_kind(objects, "Deployment"):
        spec: Object = deployment["spec"]["template"]["spec"]
        if any(c.get("name") == CONTAINER for c in spec.get("containers") or []):
            return spec
    return {}


def environment(env: str) -> Environment:
    objects = manifests.render(env)
    namespace = str(manifests.overlay(env).get("namespace") or "")
    spec = pod_spec(objects)
    secrets = {
        str(volume["secret"]["secretName"]): tuple(str(item["key"]) for item in volume["secret"].get("items") or [])
        for volume in spec.get("volumes") or []
        if volume.get("secret")
    }
    pulls = tuple(str(ref["name"]) for ref in spec.get("imagePullSecrets") or [])
    canary = bool(of_kind(objects, "Rollout"))
    return Environment(env, namespace, secrets, pulls, manifests.application(env), canary)


def argocd_objects() -> list[Object]:
    """Every object of deploy/argocd/*.yaml, each with the file it comes from under the key FROM."""
    return [
        {**doc, FROM: str(path)}
        for path in sorted(APPLICATIONS.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict)
    ]


def repository_of(objects: list[Object]) -> str:
    """`<owner>/<project>` of the Applications' `repoURL` (https://github.com/<owner>/<project>.git, or the
    GitLab server's `<group>/<project>`)."""
    for obj in of_kind(objects, "Application"):
        url = str((obj.get("spec") or {}).get("source", {}).get("repoURL") or "")
        found = re.match(r"^https://[^/]+/([^/]+(?:/[^/]+)*?/[^/]+?)(\.git)?/?$", url)
        if found:
            return found.group(1)
    return ""


def project() -> Project:
    """Read the project's own files: the manifests, the workflows, the ruleset, the DVC remote."""
    objects = argocd_objects()
    envs = manifests.environments()
    image = str(manifests.overlay(envs[0])["images"][0].get("newName") or "") if envs else ""
    try:
        object_store = storage.remote(None).url.startswith(("s3://", "s3a://"))
    except SystemExit:
        object_store = False
    return Project(
        repository=repository_of(objects),
        image=image,
        object_store=object_store,
        settings=workflow_settings(),
        required_checks=required_checks() if RULESET.is_file() else (),  # a GitLab-only project has none
        argocd_objects=objects,
    )


# --- the repository, through the forge ----------------------------------------------------------------


def body_of(answer: Answer) -> Object:
    return answer.body if answer.ok and isinstance(answer.body, dict) else {}


def names(answer: Answer, key: str) -> dict[str, Object]:
    """The `name` of each item of a list answer (`{"total_count": …, key: [{"name": …}]}`)."""
    return {str(item["name"]): item for item in body_of(answer).get(key) or [] if isinstance(item, dict)}


def plan_of(forge: Forge, owner: Object) -> str:
    """The owner's plan name ('free', 'pro', 'team', …), or '' when this token cannot see it."""
    login = str(owner.get("login") or "")
    if owner.get("type") == "Organization":
        plan = body_of(forge.get(f"orgs/{login}")).get("plan") or {}
    else:
        user = body_of(forge.get("user"))
        plan = (user.get("plan") or {}) if user.get("login") == login else {}
    return str(plan.get("name") or "").lower()


def approval_finding(repo: Object, plan: str) -> Finding:
    piece = "approval"
    if not repo.get("private"):
        return ok(piece, "public: the ruleset and code-owner review are enforced on every plan")
    if plan == FREE:
        return missing(piece, NO_APPROVAL)
    if plan:
        return ok(
            piece,
            f"private on GitHub {plan}: the ruleset and code-owner review are enforced"
            " (environment reviewers would need Enterprise)",
        )
    return unknown(
        piece,
        "private, and this token cannot see the owner's plan: on GitHub Free a private repository can enforce"
        " no approval at all — check the plan under Settings → Billing and plans",
    )


@dataclass
class Protection:
    """What the ruleset's rules and classic branch protection enforce on main, together."""

    pull_request: bool = False
    code_owners: bool = False
    approvals: int = 0
    checks: set[str] = field(default_factory=set)
    no_force_push: bool = False
    no_deletion: bool = False

    def add_rules(self, rules: object) -> None:
        for rule in rules if isinstance(rules, list) else []:
            kind, parameters = rule.get("type"), rule.get("parameters") or {}
            if kind == "pull_request":
                self.pull_request = True
                self.code_owners |= bool(parameters.get("require_code_owner_review"))
                self.approvals = max(self.approvals, int(parameters.get("required_approving_review_count") or 0))
            elif kind == "required_status_checks":
                self.checks |= {str(c.get("context")) for c in parameters.get("required_status_checks") or []}
            elif kind == "non_fast_forward":
                self.no_force_push = True
            elif kind == "deletion":
                self.no_deletion = True

    def add_branch_protection(self, protection: Object) -> None:
        if not protection:
            return
        reviews = protection.get("required_pull_request_reviews") or {}
        if reviews:
            self.pull_request = True
            self.code_owners |= bool(reviews.get("require_code_owner_reviews"))
            self.approvals = max(self.approvals, int(reviews.get("required_approving_review_count") or 0))
        status = protection.get("required_status_checks") or {}
        self.checks |= set(map(str, status.get("contexts") or []))
        self.checks |= {str(c.get("context")) for c in status.get("checks") or []}
        self.no_force_push |= not (protection.get("allow_force_pushes") or {}).get("enabled", False)
        self.no_deletion |= not (protection.get("allow_deletions") or {}).get("enabled", False)

    def gaps(self, required: Iterable[str]) -> list[str]:
        gaps = [] if self.pull_request else ["pull requests are not required"]
        if not self.code_owners:
            gaps.append("code-owner review is not required")
        if self.approvals < 1:
            gaps.append("no approving review is required (with 0, code-owner review is not enforced)")
        absent = sorted(set(required) - self.checks)
        if absent:
            gaps.append(f"CI's check{'s' if len(absent) > 1 else ''} {', '.join(map(repr, absent))} not required")
        if not self.no_force_push:
            gaps.append("force pushes are allowed")
        if not self.no_deletion:
            gaps.append("the branch may be deleted")
        return gaps


def ruleset_finding(forge: Forge, required: tuple[str, ...], can_enforce: bool) -> Finding:
    piece = f"ruleset on {BRANCH}"
    protection = Protection()
    protection.add_rules(forge.get(f"{REPOSITORY}/rules/branches/{BRANCH}").body)
    protection.add_branch_protection(body_of(forge.get(f"{REPOSITORY}/branches/{BRANCH}/protection")))
    gaps = protection.gaps(required)
    if not gaps:
        return ok(piece, f"pull requests, code-owner review, {len(protection.checks)} required check(s), no force push")
    if not can_enforce:
        return missing(
            piece, f"{'; '.join(gaps)} — this plan cannot enforce one on a private repository (see approval)"
        )
    return missing(
        piece,
        f"{'; '.join(gaps)} — import {RULESET} (Settings → Rules → Rulesets → New ruleset → Import a ruleset)",
    )


def codeowners_finding(forge: Forge) -> Finding:
    piece = "CODEOWNERS"
    answer = forge.get(f"{REPOSITORY}/codeowners/errors")
    if answer.status == 404:
        return missing(
            piece,
            f"no CODEOWNERS file on {BRANCH} — merge .github/CODEOWNERS (it names who approves deploy/production/)",
        )
    errors = body_of(answer).get("errors")
    if not answer.ok or errors is None:
        return unknown(piece, f"the API answered {answer.status} — open .github/CODEOWNERS on GitHub, it flags errors")
    if errors:
        first = errors[0]
        return missing(
            piece,
            f"{first.get('path')} line {first.get('line')}: {first.get('kind')} — an owner must be a user or"
            " @org/team with write access; fix the line and merge",
        )
    return ok(piece, "GitHub reads it without errors")


def actions_finding(forge: Forge, app_ready: bool) -> Finding:
    piece = "Actions may open pull requests"
    permissions = body_of(forge.get(f"{REPOSITORY}/actions/permissions/workflow"))
    if permissions.get("can_approve_pull_request_reviews"):
        return ok(piece, "the workflows' GITHUB_TOKEN may open the bot's pull requests")
    if app_ready:
        return ok(piece, "not needed: the GitHub App's token opens the bot's pull requests")
    if not permissions:
        return unknown(piece, "this token may not read the Actions settings — check Settings → Actions → General")
    return missing(
        piece,
        "Settings → Actions → General → Workflow permissions → Allow GitHub Actions to create and approve pull"
        " requests (or set up the GitHub App)",
    )


def setting_fix(setting: Setting) -> str:
    command = (
        f"gh variable set {setting.name} --body <value>"
        if setting.kind == "variable"
        else f"gh secret set {setting.name}"
    )
    return f"used by {', '.join(setting.used_by)} — `{command}` (Settings → Secrets and variables → Actions)"


def settings_findings(project: Project, present: set[tuple[str, str]]) -> list[Finding]:
    """One finding per setting the workflows use, judged by how they need it."""
    findings: list[Finding] = []
    credential_names = {pair for group in CREDENTIALS for pair in group}
    for setting in project.settings:
        key = (setting.kind, setting.name)
        if key in credential_names:
            continue
        if key in present:
            findings.append(ok(setting.piece, f"set (used by {', '.join(setting.used_by)})"))
        elif setting.name in OPTIONAL:
            findings.append(ok(setting.piece, "not set: optional, its default applies"))
        elif setting.name in OBJECT_STORE and not project.object_store:
            findings.append(ok(setting.piece, "not set: not needed without an s3:// DVC remote"))
        else:
            findings.append(missing(setting.piece, setting_fix(setting)))
    used = {(s.kind, s.name) for s in project.settings}
    groups = [group for group in CREDENTIALS if set(group) <= used]
    if groups:
        piece = "object-store credentials"
        described = " or ".join(" and ".join(f"{kind} {name}" for kind, name in group) for group in groups)
        if any(set(group) <= present for group in groups):
            findings.append(ok(piece, f"set ({described})"))
        elif not project.object_store:
            findings.append(ok(piece, "not needed without an s3:// DVC remote"))
        else:
            findings.append(missing(piece, f"set {described} — `gh variable set` / `gh secret set` ({SETUP})"))
    return findings


def app_installation_finding(forge: Forge, owner: Object, app_id: str) -> Finding:
    piece = "GitHub App installation"
    login = str(owner.get("login") or "")
    if owner.get("type") != "Organization":
        return unknown(
            piece, f"GitHub shows a user's App installations only to the App — check {login}'s Settings → Applications"
        )
    answer = forge.get(f"orgs/{login}/installations")
    if not answer.ok:
        return unknown(
            piece,
            f"this token may not list {login}'s installations (an owner's token with admin:read) — check the"
            " organization's Settings → GitHub Apps",
        )
    for installation in body_of(answer).get("installations") or []:
        if app_id in (str(installation.get("app_id")), str(installation.get("client_id"))):  # either names the App
            chosen = installation.get("repository_selection")
            where = "every repository" if chosen == "all" else "selected repositories: include this one"
            return ok(piece, f"{installation.get('app_slug') or app_id} installed on {where}")
    return missing(
        piece, f"the App {app_id} (MODELOPS_APP_ID) is not installed on {login} — App settings → Install App"
    )


def package_finding(forge: Forge, owner: Object, package: str) -> tuple[Finding, bool | None]:
    """The container package's visibility, and whether it is private (None: unknown)."""
    piece = "container package"
    login = str(owner.get("login") or "")
    scope = "orgs" if owner.get("type") == "Organization" else "users"
    answer = forge.get(f"{scope}/{login}/packages/container/{package}")
    if answer.status == 404:
        return unknown(piece, f"ghcr.io/{login}/{package} not pushed yet: cd.yml pushes it on the first merge"), None
    if not answer.ok:
        return unknown(piece, "this token may not read packages — `gh auth refresh -s read:packages`"), None
    visibility = str(body_of(answer).get("visibility") or "")
    if visibility == "public":
        return ok(piece, f"ghcr.io/{login}/{package} is public: the cluster pulls it without a Secret"), False
    return ok(
        piece, f"ghcr.io/{login}/{package} is {visibility}: the cluster pulls it with the Secret {PULL_SECRET}"
    ), True


@dataclass
class ForgeFacts:
    """What the cluster part needs to know of the repository (None: not known)."""

    private_repository: bool | None = None
    private_package: bool | None = None


def forge_findings(forge: Forge, project: Project, facts: ForgeFacts) -> list[Finding]:
    """The repository's findings; if gh fails on the way (no gh, no token, no network): those so far, then gh's."""
    findings: list[Finding] = []
    try:
        forge.check()
        repository_findings(forge, project, facts, findings)
    except ForgeError as exc:
        findings.append(missing("gh", str(exc.code).removeprefix("error: ")))
    return findings


def repository_findings(forge: Forge, project: Project, facts: ForgeFacts, findings: list[Finding]) -> None:
    repo_answer = forge.get(REPOSITORY)
    if not repo_answer.ok:
        fix = (
            f"gh finds no repository here ({repo_answer.status}) — create {project.repository} on GitHub,"
            f" `git remote add origin https://github.com/{project.repository}.git` and push, or set GH_REPO"
        )
        findings.append(missing("repository", fix))
        return
    repo = body_of(repo_answer)
    owner = repo.get("owner") or {}
    facts.private_repository = bool(repo.get("private"))
    full_name = str(repo.get("full_name") or "")
    visibility = str(repo.get("visibility") or ("private" if repo.get("private") else "public"))
    findings.append(ok("repository", f"{full_name} ({visibility})"))
    if full_name.lower() == project.repository.lower():
        findings.append(ok("repository name", f"{full_name}, as deploy/argocd/ and the image {project.image} assume"))
    else:
        findings.append(
            missing(
                "repository name",
                f"this is {full_name}, but deploy/argocd/ and the image {project.image} name {project.repository}"
                f" — rename the repository to {project.repository}, or regenerate with that owner and project",
            )
        )
    plan = plan_of(forge, owner)
    approval = approval_finding(repo, plan)
    findings.append(approval)
    findings.append(ruleset_finding(forge, project.required_checks, approval.status != MISSING))
    findings.append(codeowners_finding(forge))
    variables = names(forge.get(f"{REPOSITORY}/actions/variables?per_page=100"), "variables")
    variables |= names(forge.get(f"{REPOSITORY}/actions/organization-variables?per_page=100"), "variables")
    secrets = names(forge.get(f"{REPOSITORY}/actions/secrets?per_page=100"), "secrets")
    secrets |= names(forge.get(f"{REPOSITORY}/actions/organization-secrets?per_page=100"), "secrets")
    present = {("variable", name) for name in variables} | {("secret", name) for name in secrets}
    app_ready = set(APP) <= present
    findings.append(actions_finding(forge, app_ready))
    findings += settings_findings(project, present)
    if app_ready:
        app_id = str(variables[APP[0][1]].get("value") or "")
        findings.append(app_installation_finding(forge, owner, app_id))
    package, facts.private_package = package_finding(forge, owner, project.package)
    findings.append(package)


# --- the GitLab project, through its API --------------------------------------------------------------------

GITLAB_BRANCH_FIX = (
    f"protect {BRANCH}: Settings → Repository → Protected branches, allowed to merge Maintainers, allowed to push"
    " and merge No one, force push off — changes arrive by merge request"
)
GITLAB_ENVIRONMENT = "production"
GITLAB_ENVIRONMENT_FIX = (
    "protect it: Settings → CI/CD → Protected environments, production, required approvals 1 or more"
    " (GitLab Premium); without it the merge request into main is the only approval"
)
# The tokens .gitlab-ci.yml gives core/forge.py (GitLab sets CI_SERVER_URL, CI_PROJECT_ID): each one's
# role and scopes, and whether it must be protected. GITLAB_REPORT_TOKEN must not be: merge-request
# pipelines run on unprotected branches, which see no protected variable.
GITLAB_VARIABLES = {
    "GITLAB_TOKEN": ("a project access token, Maintainer, scopes api and write_repository", True),
    "GITLAB_REPORT_TOKEN": ("a project access token, Reporter, scope api (the merge-request report note)", False),
}


def gitlab_findings(forge: GitLab, project: Project, facts: ForgeFacts) -> list[Finding]:
    """The GitLab project's findings; if a call fails on the way (no token, no network): those so far, then why."""
    findings: list[Finding] = []
    try:
        forge.check()
        answer = forge.get("/projects/:id")
        if not answer.ok:
            fix = f"GitLab finds no project {forge.project} ({answer.status}) — check CI_PROJECT_ID and GITLAB_TOKEN"
            return [missing("project", fix)]
        found = body_of(answer)
        name, visibility = str(found.get("path_with_namespace") or ""), str(found.get("visibility") or "private")
        facts.private_repository = visibility != "public"
        findings.append(ok("project", f"{name} ({visibility})"))
        if project.repository and name.lower() != project.repository.lower():
            fix = f"this is {name}, but deploy/argocd/ names {project.repository} — rename one to match the other"
            findings.append(missing("project name", fix))
        findings.append(protected_branch_finding(forge))
        findings.append(protected_environment_finding(forge))
        if role := found.get("ci_pipeline_variables_minimum_override_role"):  # shown to a Maintainer's token
            findings.append(pipeline_variables_finding(str(role)))
        findings += variable_findings(forge)
    except ForgeError as exc:
        findings.append(missing("gitlab", str(exc.code).removeprefix("error: ")))
    return findings


def protected_branch_finding(forge: GitLab) -> Finding:
    piece = f"protected branch {BRANCH}"
    answer = forge.get(f"/projects/:id/protected_branches/{BRANCH}")
    if answer.status == 404:
        return missing(piece, GITLAB_BRANCH_FIX)
    if not answer.ok:
        return unknown(piece, f"GitLab answered {answer.status} — look at Settings → Repository → Protected branches")
    found = body_of(answer)
    pushers = [level.get("access_level") for level in found.get("push_access_levels") or [] if isinstance(level, dict)]
    if any(level != 0 for level in pushers) or found.get("allow_force_push"):
        return missing(piece, f"pushes or force pushes are allowed — {GITLAB_BRANCH_FIX}")
    return ok(piece, "no one pushes, no force push: changes arrive by merge request")


def pipeline_variables_finding(role: str) -> Finding:
    """Whether `make monitor-alert` may start retraining: a pipeline whose variables say what to do."""
    piece = "pipeline variables"
    if role == "no_one_allowed":
        fix = (
            "retraining is dispatched as a pipeline with variables (MODELOPS_JOB=retrain): set Settings → CI/CD →"
            " Variables → Minimum role to use pipeline variables to Maintainer, GITLAB_TOKEN's role"
        )
        return missing(piece, fix)
    return ok(piece, f"the minimum role to set them is {role}: GITLAB_TOKEN's role must be at least that")


def protected_environment_finding(forge: GitLab) -> Finding:
    piece = f"protected environment {GITLAB_ENVIRONMENT}"
    answer = forge.get(f"/projects/:id/protected_environments/{GITLAB_ENVIRONMENT}")
    if answer.status == 404:
        return missing(piece, GITLAB_ENVIRONMENT_FIX)
    if not answer.ok:
        why = f"GitLab answered {answer.status} (Premium, and a Maintainer's token, are needed to read it)"
        return unknown(piece, f"{why} — look at Settings → CI/CD → Protected environments")
    found = body_of(answer)
    rules = [rule for rule in found.get("approval_rules") or [] if isinstance(rule, dict)]
    approvals = int(found.get("required_approval_count") or 0) + sum(
        int(r.get("required_approvals") or 0) for r in rules
    )
    if approvals < 1:
        return missing(piece, f"no approval is required — {GITLAB_ENVIRONMENT_FIX}")
    return ok(piece, f"{approvals} approval(s) required to deploy")


def variable_findings(forge: GitLab) -> list[Finding]:
    """Each token .gitlab-ci.yml reads: defined (in any environment scope), masked, protected or not as it must be."""
    answer = forge.get("/projects/:id/variables?per_page=100")
    if not answer.ok:
        why = f"GitLab answered {answer.status}: listing CI/CD variables needs a Maintainer's token"
        look = f"look at Settings → CI/CD → Variables for {', '.join(GITLAB_VARIABLES)} (masked)"
        return [unknown("CI/CD variables", f"{why} — {look}")]
    listed = [item for item in answer.body if isinstance(item, dict)] if isinstance(answer.body, list) else []
    findings = []
    for name, (token, protect) in GITLAB_VARIABLES.items():
        defined, piece = [item for item in listed if item.get("key") == name], f"variable {name}"
        scopes = ", ".join(sorted(str(item.get("environment_scope") or "*") for item in defined))
        if not defined:
            findings.append(missing(piece, f"add it, masked: {token} ({SETUP})"))
        elif not all(item.get("masked") for item in defined):
            findings.append(missing(piece, "mark it masked (Settings → CI/CD → Variables)"))
        elif protect and not all(item.get("protected") for item in defined):
            findings.append(missing(piece, "mark it protected: only protected branches' jobs may push and merge"))
        elif not protect and any(item.get("protected") for item in defined):
            findings.append(missing(piece, "unprotect it: merge-request pipelines run on unprotected branches"))
        else:
            findings.append(ok(piece, f"masked, {'protected' if protect else 'unprotected'} (environments: {scopes})"))
    return findings


# --- the cluster, through kubectl -------------------------------------------------------------------------


def secret_finding(cluster: Cluster, ref: Ref, keys: Iterable[str], fix: str) -> Finding:
    found = cluster.get(ref)
    if found is None:
        return missing(str(ref), fix)
    absent = sorted(set(keys) - set((found.get("data") or {}) | (found.get("stringData") or {})))
    if absent:
        return missing(str(ref), f"lacks the key(s) {', '.join(absent)} — recreate it with them: {fix}")
    return ok(str(ref), f"holds {', '.join(sorted(keys)) or 'its keys'}" if keys else "exists")


def environment_findings(cluster: Cluster, env: Environment, private_package: bool | None) -> list[Finding]:
    namespace = Ref("Namespace", env.namespace)
    findings = [
        ok(str(namespace), "exists")
        if cluster.get(namespace)
        else missing(str(namespace), f"`kubectl create namespace {env.namespace}` (docs/production.md)")
    ]
    for name, keys in sorted(env.secrets.items()):
        literals = " ".join(f"--from-literal={key}=…" for key in keys)
        fix = f"`kubectl -n {env.namespace} create secret generic {name} {literals}` (docs/production.md)"
        findings.append(secret_finding(cluster, Ref("Secret", name, env.namespace), keys, fix))
    pulls = env.pull_secrets or ((PULL_SECRET,) if private_package else ())
    for name in pulls:
        ref = Ref("Secret", name, env.namespace)
        fix = (
            f"`kubectl -n {env.namespace} create secret docker-registry {name} --docker-server=ghcr.io"
            " --docker-username=<user> --docker-password=<token with read:packages>`"
        )
        if name not in env.pull_secrets:
            fix += f", and add `- ../components/pull-secret` under components: in deploy/{env.name}/kustomization.yaml"
        found = secret_finding(cluster, ref, (), fix)
        if found.status == OK and name not in env.pull_secrets:
            found = missing(
                str(ref),
                f"exists, but deploy/{env.name} does not use it: add `- ../components/pull-secret` under components:",
            )
        findings.append(found)
    return findings


def argocd_findings(cluster: Cluster, project: Project, private_repository: bool | None) -> list[Finding]:
    findings = [argocd_finding(cluster)]
    applications = of_kind(project.argocd_objects, "Application")
    projects = {str(obj["metadata"]["name"]) for obj in of_kind(project.argocd_objects, "AppProject")}
    projects |= {str(app["spec"].get("project")) for app in applications} - {"default"}
    files = {str(obj["metadata"]["name"]): str(obj.get(FROM)) for obj in project.argocd_objects}
    for name in sorted(projects):
        ref = Ref("AppProject", name, ARGOCD)
        fix = f"`kubectl apply -n argocd -f {files.get(name, 'deploy/argocd/project.yaml')}` ({ARGOCD_DOC})"
        findings.append(ok(str(ref), "exists") if cluster.get(ref) else missing(str(ref), fix))
    for app in applications:
        ref = Ref("Application", str(app["metadata"]["name"]), ARGOCD)
        found = cluster.get(ref)
        if found is None:
            fix = (
                f"`kubectl apply -n argocd -f {app.get(FROM)}` once its overlay names a released version"
                " (docs/production.md, set-up)"
            )
            findings.append(missing(str(ref), fix))
            continue
        status = found.get("status") or {}
        sync, health = (status.get("sync") or {}).get("status"), (status.get("health") or {}).get("status")
        findings.append(ok(str(ref), f"{sync or 'not synced yet'}, {health or 'health unknown'}"))
    findings.append(repository_credentials_finding(cluster, project, private_repository))
    findings += notifications_findings(cluster, project)
    return findings


def argocd_finding(cluster: Cluster) -> Finding:
    """Argo CD is installed, at a version whose AppProject may name the Namespaces it allows (3.3 or later)."""
    install = f"install Argo CD {ARGOCD_MINIMUM[0]}.{ARGOCD_MINIMUM[1]} or later in the namespace argocd"
    if cluster.get(ARGOCD_CRD) is None:
        return missing("Argo CD", f"{install} (https://argo-cd.readthedocs.io/en/stable/getting_started/)")
    server = cluster.get(ARGOCD_SERVER) or {}
    images = [
        str(c.get("image") or "")
        for c in server.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    ]
    found = next((re.search(r":v(\d+)\.(\d+)\.\d+", image) for image in images if "argocd" in image), None)
    if found is None:
        return ok("Argo CD", "installed (its version not read: the AppProject needs 3.3 or later)")
    version = (int(found.group(1)), int(found.group(2)))
    if version < ARGOCD_MINIMUM:
        return missing(
            "Argo CD", f"v{version[0]}.{version[1]} refuses the AppProject's Namespaces by name — upgrade: {install}"
        )
    return ok("Argo CD", f"v{version[0]}.{version[1]}, its Application kind installed")


def repository_credentials_finding(cluster: Cluster, project: Project, private_repository: bool | None) -> Finding:
    piece = "Argo CD repository credentials"
    url = f"https://github.com/{project.repository}"
    for secret in cluster.list("Secret", ARGOCD, REPOSITORY_SECRETS):
        encoded = (secret.get("data") or {}).get("url") or ""
        prefix = base64.b64decode(encoded).decode(errors="replace").removesuffix(".git") if encoded else ""
        if prefix and url.lower().startswith(prefix.lower()):
            return ok(piece, f"Argo CD may read {prefix}")
    if private_repository is False:
        return ok(piece, "not needed: the repository is public")
    fix = (
        f"Argo CD cannot read a private {url} without them — `argocd repo add {url}.git --github-app-id …` or a"
        " Secret labelled argocd.argoproj.io/secret-type=repository (docs/production.md)"
    )
    return (
        missing(piece, fix)
        if private_repository
        else unknown(piece, f"none found; needed if the repository is private: {fix}")
    )


def notifications_findings(cluster: Cluster, project: Project) -> list[Finding]:
    """The notifications ConfigMap (the keys deploy/argocd/ gives it, the forge's report service at least) and its
    Secret."""
    ours = [
        obj
        for obj in of_kind(project.argocd_objects, "ConfigMap")
        if obj.get("metadata", {}).get("name") == NOTIFICATIONS_CM.name
    ]
    ours_data: dict[str, str] = (ours[0].get("data") or {}) if ours else {}
    service = next((key for key, _ in REPORT_SERVICES.values() if key in ours_data), GITHUB_SERVICE)
    wanted = set(ours_data) | {service}
    found = cluster.get(NOTIFICATIONS_CM)
    source = str(ours[0].get(FROM)) if ours else "<your notifications config>"
    merge = f"`kubectl -n argocd patch configmap {NOTIFICATIONS_CM.name} --type merge --patch-file {source}`"
    data: dict[str, str] = (found or {}).get("data") or {}
    if found is None:
        findings = [missing(str(NOTIFICATIONS_CM), f"install Argo CD with its notifications controller, then {merge}")]
    elif absent := sorted(wanted - set(data)):
        findings = [missing(str(NOTIFICATIONS_CM), f"lacks {', '.join(absent)} — {merge} ({ARGOCD_DOC})")]
    elif EXAMPLE_URL in data.get("context", ""):
        findings = [
            missing(
                str(NOTIFICATIONS_CM),
                f"argocdUrl is still {EXAMPLE_URL} — set yours under context in {source}, then {merge}",
            )
        ]
    else:
        findings = [ok(str(NOTIFICATIONS_CM), f"has {service} and the {len(wanted) - 1} other key(s) of {source}")]
    references = ours_data.get(service, "") + data.get(service, "")
    keys = sorted(set(re.findall(r"\$([A-Za-z0-9_.-]+)", references)))
    if service == GITHUB_SERVICE:
        fix = f"put the Argo CD GitHub App's {', '.join(keys) or 'credentials'} in it ({ARGOCD_DOC}, its GitHub App)"
    else:
        fix = f"put a GitLab project access token (scope api) as {', '.join(keys) or 'its key'} in it (docs/setup.md)"
    findings.append(secret_finding(cluster, NOTIFICATIONS_SECRET, keys, fix))
    return findings


def rollouts_findings(cluster: Cluster, envs: list[Environment]) -> list[Finding]:
    """Argo Rollouts' kinds installed, once an overlay enables the canary (nothing to check otherwise)."""
    using = [env.name for env in envs if env.canary]
    if not using:
        return []
    absent = [ref.name for ref in ROLLOUTS_CRDS if cluster.get(ref) is None]
    if absent:
        return [
            missing(
                "Argo Rollouts",
                f"{', '.join(using)} enable the canary, but the cluster has no {' or '.join(absent)} — install Argo"
                ' Rollouts (docs/production.md, "The canary"), or remove `- ../components/canary` from the overlay',
            )
        ]
    return [ok("Argo Rollouts", f"its Rollout and AnalysisTemplate kinds installed, for {', '.join(using)}")]


def cluster_findings(cluster: Cluster, project: Project, facts: ForgeFacts) -> list[Finding]:
    try:
        version = cluster.server_version()
    except ClusterError as exc:
        reason = str(exc.code).removeprefix("error: ")
        piece = "kubectl" if "not found on PATH" in reason else "cluster"
        return [missing(piece, f"{reason} — or skip this part: `make doctor DOCTOR_ARGS=--skip-cluster`")]
    findings = [ok("cluster", f"kubectl reaches Kubernetes {version}")]
    try:
        envs = [environment(env) for env in manifests.environments()]
        for env in envs:
            findings += environment_findings(cluster, env, facts.private_package)
        findings += rollouts_findings(cluster, envs)
        available = condition(cluster.get(METRICS) or {}, "Available")
        if available == "True":
            findings.append(ok("metrics-server", f"{METRICS.name} is Available"))
        else:
            findings.append(
                missing(
                    "metrics-server",
                    f"{METRICS.name} is {'not Available' if available else 'absent'}: the autoscalers cannot read"
                    " CPU and Argo CD shows the apps Degraded — install metrics-server"
                    " (https://github.com/kubernetes-sigs/metrics-server#installation)",
                )
            )
        findings += argocd_findings(cluster, project, facts.private_repository)
    except ClusterError as exc:
        findings.append(missing("cluster", f"{str(exc.code).removeprefix('error: ')} — may this context read it?"))
    return findings


# --- the command ----------------------------------------------------------------------------------------------


def report(findings: list[Finding]) -> int:
    """Print each finding, then a summary; the exit status (1: something is missing)."""
    for finding in findings:
        print(finding)
    absent = [f for f in findings if f.status == MISSING]
    if absent:
        print(f"\n{len(absent)} missing — {SETUP} gives each step in order", file=sys.stderr)
        return 1
    print(f"\nnothing missing of what doctor can check ({sum(f.status == UNKNOWN for f in findings)} unknown)")
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--skip-forge", action="store_true", help="do not check the repository (GitHub or GitLab)")
    parser.add_argument("--skip-cluster", action="store_true", help="do not check the cluster")
    args = parser.parse_args(argv)
    cli.start(args)
    facts = ForgeFacts()
    found = project()
    findings: list[Finding] = []
    if not args.skip_forge:
        site = default()
        findings = (
            gitlab_findings(site, found, facts) if isinstance(site, GitLab) else forge_findings(site, found, facts)
        )
    if not args.skip_cluster:
        findings += cluster_findings(Cluster(), found, facts)
    raise SystemExit(report(findings))


if __name__ == "__main__":
    main()
