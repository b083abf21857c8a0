"""`make doctor` against a fake `gh` and a fake `kubectl` that answer as GitHub's REST API and kubectl do.

The answers are recorded in `answers/` (shapes from GitHub's REST reference and Kubernetes' API
objects, `@owner@`/`@project@` filled in from this project's manifests); what depends on the
project — the settings its workflows use, the namespaces and Secrets its overlays name — is added
from the project's own files, so the fakes follow the workflows and the manifests as they change.
The doctor runs as a real process in the project, read-only.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ANSWERS = Path(__file__).parent / "answers"
DOCTOR = f"{next((Path(__file__).parents[3] / 'src').glob('*/gitops/doctor.py')).parents[1].name}.gitops.doctor"
SETTING = re.compile(r"^(variable|secret) [A-Z][A-Z0-9_]*$")
LINE = re.compile(r"^(ok|missing|unknown): (.+?) — (.+)$")


@pytest.fixture(scope="module")
def doctor(module):
    return module("gitops.doctor")


@pytest.fixture(scope="module")
def facts(doctor, root):
    """The project as the doctor reads it (the manifests, the workflows, the ruleset), from its root."""
    here = Path.cwd()
    os.chdir(root)
    try:
        found = doctor.project()
        envs = [doctor.environment(env) for env in doctor.manifests.environments()]
    finally:
        os.chdir(here)
    return found, envs


def filled(name: str, project) -> dict:
    text = (ANSWERS / name).read_text()
    owner, repo = project.repository.split("/")
    url = base64.b64encode(f"https://github.com/{project.repository}.git".encode()).decode()
    text = text.replace("@owner@", owner).replace("@project@", repo).replace("@repository_url_base64@", url)
    checks = json.dumps([{"context": check, "integration_id": 15368} for check in project.required_checks])
    return json.loads(text.replace('"@required_checks@"', checks))


def github_complete(project, envs=()) -> dict:
    answers = filled("github-complete.json", project)
    stamp = {"created_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-01T10:00:00Z"}
    for setting in project.settings:
        kind = "variables" if setting.kind == "variable" else "secrets"
        item = {"name": setting.name, **stamp}
        if setting.kind == "variable":
            item["value"] = "2481" if setting.name == "MODELOPS_APP_ID" else "set"
        listing = answers["repos/{owner}/{repo}/actions/" + kind + "?per_page=100"]["body"]
        listing[kind].append(item)
        listing["total_count"] += 1
    # Private only where the overlays name a pull Secret (the pull-secret component): else it must be public.
    private = any(env.pull_secrets for env in envs)
    package = answers[f"orgs/{project.owner}/packages/container/{project.package}"]["body"]
    package["visibility"] = "private" if private else "public"
    return answers


def of_kind(objects, kind: str) -> list[dict]:
    return [obj for obj in objects if obj.get("kind") == kind]


def cluster_complete(project, envs) -> dict:
    answers = filled("cluster-complete.json", project)
    templates = answers.pop("templates")

    def make(kind: str, name: str, namespace: str = "") -> dict:
        text = json.dumps(templates[kind]).replace("@name@", name).replace("@namespace@", namespace)
        return json.loads(text)

    # The notifications ConfigMap as deploy/argocd/ gives it (if it does), its Secret with every key it names.
    notifications = answers["ConfigMap/argocd/argocd-notifications-cm"]["data"]
    for ours in of_kind(project.argocd_objects, "ConfigMap"):
        if ours["metadata"]["name"] == "argocd-notifications-cm":
            notifications.update(ours.get("data") or {})
    if "context" in notifications:  # the address of an Argo CD, not the file's placeholder
        notifications["context"] = notifications["context"].replace("argocd.example.com", "argocd.ml.example.org")
    services = "".join(value for key, value in notifications.items() if key.startswith("service."))  # either forge's
    keys = re.findall(r"\$([A-Za-z0-9_.-]+)", services)
    answers["Secret/argocd/argocd-notifications-secret"]["data"] = {key: "<base64>" for key in keys}
    for env in envs:
        answers[f"Namespace//{env.namespace}"] = make("namespace", env.namespace)
        for name, keys in {**env.secrets, **{pull: () for pull in env.pull_secrets}, "ghcr-pull": ()}.items():
            secret = make("secret", name, env.namespace)
            secret["data"] = {key: "c2V0" for key in keys}
            answers[f"Secret/{env.namespace}/{name}"] = secret
        app = env.application
        answers[f"Application/argocd/{app['metadata']['name']}"] = make("application", app["metadata"]["name"])
        answers[f"AppProject/argocd/{app['spec']['project']}"] = make("appproject", app["spec"]["project"])
    return answers


def run_doctor(root, fake_program, tmp_path, github: dict | None, cluster: dict | None, *args: str, **extra: str):
    """The doctor as a process in the project, the fakes first on PATH; its exit status, lines and calls."""
    bin_dir = tmp_path / "bin"
    fake_program(bin_dir / "gh", (ANSWERS / "gh.py").read_text())
    fake_program(bin_dir / "kubectl", (ANSWERS / "kubectl.py").read_text())
    (tmp_path / "github.json").write_text(json.dumps(github or {}))
    (tmp_path / "cluster.json").write_text(json.dumps(cluster or {}))
    env = {
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GH_TOKEN": "ghp_fake0doctor0token",  # pragma: allowlist secret
        "FAKE_GH_ANSWERS": str(tmp_path / "github.json"),
        "FAKE_GH_LOG": str(tmp_path / "gh-calls.jsonl"),
        "FAKE_KUBECTL_ANSWERS": str(tmp_path / "cluster.json"),
        "REAL_KUBECTL": shutil.which("kubectl") or "kubectl",
        **extra,
    }
    env = {name: value for name, value in env.items() if value}
    result = subprocess.run(
        [sys.executable, "-m", DOCTOR, *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [LINE.match(line) for line in result.stdout.splitlines() if line.strip()]
    calls = (
        [json.loads(line) for line in (tmp_path / "gh-calls.jsonl").read_text().splitlines()]
        if (tmp_path / "gh-calls.jsonl").exists()
        else []
    )
    return result, [(m.group(1), m.group(2), m.group(3)) for m in lines if m], calls


needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl renders the overlays")
# GitHub's checks read the project's .github/; a GitLab project's doctor reads GitLab instead.
github_only = pytest.mark.skipif(
    not (Path(__file__).resolve().parents[3] / ".github" / "workflows").is_dir(),
    reason="a GitLab project (no .github/workflows/): its doctor checks GitLab, tested in test_forge_gitlab.py",
)


@github_only
@needs_kubectl
def test_a_complete_set_up_is_all_ok(root, fake_program, tmp_path, facts):
    project, envs = facts
    result, lines, calls = run_doctor(
        root, fake_program, tmp_path, github_complete(project, envs), cluster_complete(project, envs)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines and {status for status, _, _ in lines} == {"ok"}, result.stdout
    pieces = {piece for _, piece, _ in lines}
    assert {"approval", "ruleset on main", "CODEOWNERS", "metrics-server", "Argo CD"} <= pieces
    assert {f"{s.kind} {s.name}" for s in project.settings if s.name.startswith("MODELOPS_APP")} <= pieces
    assert "ok: GitHub App installation" in result.stdout
    # Read-only: every call a GET through `gh api`.
    assert calls and all(
        call[0] == "api" and "--method" not in call and "-X" not in call for call in calls if call[0] != "auth"
    )


@github_only
@needs_kubectl
def test_an_empty_set_up_names_every_missing_piece_with_its_fix(root, fake_program, tmp_path, facts, doctor):
    project, envs = facts
    result, lines, _ = run_doctor(
        root, fake_program, tmp_path, filled("github-empty.json", project), filled("cluster-empty.json", project)
    )
    assert result.returncode == 1
    expected = {"ruleset on main", "CODEOWNERS", "Actions may open pull requests", "metrics-server", "Argo CD"}
    expected |= {"ConfigMap argocd/argocd-notifications-cm", "Secret argocd/argocd-notifications-secret"}
    for env in envs:
        expected |= {f"Namespace {env.namespace}", *(f"Secret {env.namespace}/{name}" for name in env.secrets)}
        expected.add(f"Application argocd/{env.application['metadata']['name']}")
        if env.application["spec"]["project"] != "default":
            expected.add(f"AppProject argocd/{env.application['spec']['project']}")
    credentials = {pair for group in doctor.CREDENTIALS for pair in group}
    for setting in project.settings:
        needed = setting.name not in doctor.OPTIONAL and (
            project.object_store or setting.name not in doctor.OBJECT_STORE
        )
        if needed and (setting.kind, setting.name) not in credentials:
            expected.add(f"{setting.kind} {setting.name}")
    if project.object_store:
        expected.add("object-store credentials")
    assert {piece for status, piece, _ in lines if status == "missing"} == expected, result.stdout
    for status, piece, fix in lines:
        if status == "missing":
            assert len(fix) > 20, f"{piece}: no fix"
    assert "gh secret set MODELOPS_APP_PRIVATE_KEY" in result.stdout
    assert "import .github/rulesets/main.json" in result.stdout
    assert "docs/setup.md" in result.stderr


@needs_kubectl
def test_an_argo_cd_older_than_3_3_is_missing(root, fake_program, tmp_path, facts):
    project, envs = facts
    cluster = cluster_complete(project, envs)
    server = cluster["Deployment/argocd/argocd-server"]["spec"]["template"]["spec"]["containers"][0]
    server["image"] = "quay.io/argoproj/argocd:v2.14.9"
    result, lines, _ = run_doctor(root, fake_program, tmp_path, None, cluster, "--skip-forge")
    assert result.returncode == 1
    assert [(status, piece) for status, piece, _ in lines if status != "ok"] == [("missing", "Argo CD")]
    assert "v2.14 refuses the AppProject's Namespaces by name" in result.stdout


@needs_kubectl
def test_the_notifications_placeholder_address_is_missing_until_set(root, fake_program, tmp_path, facts, doctor):
    project, envs = facts
    cluster = cluster_complete(project, envs)
    notifications = cluster["ConfigMap/argocd/argocd-notifications-cm"]["data"]
    notifications["context"] = "argocdUrl: https://argocd.example.com\n"
    result, lines, _ = run_doctor(root, fake_program, tmp_path, None, cluster, "--skip-forge")
    assert result.returncode == 1
    missing = [(piece, text) for status, piece, text in lines if status == "missing"]
    assert [piece for piece, _ in missing] == ["ConfigMap argocd/argocd-notifications-cm"]
    assert "argocdUrl" in missing[0][1]


@github_only
def test_a_private_repository_on_github_free_is_told_no_approval_can_be_enforced(root, fake_program, tmp_path, facts):
    project, envs = facts
    answers = github_complete(project, envs)
    repo = answers["repos/{owner}/{repo}"]["body"]
    repo.update(private=True, visibility="private", owner={"login": project.owner, "id": 1, "type": "User"})
    answers["user"] = {
        "status": 200,
        "body": {
            "login": project.owner,
            "id": 1,
            "type": "User",
            "plan": {"name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000},
        },
    }
    refused = {
        "message": "Upgrade to GitHub Pro or make this repository public to enable this feature.",
        "documentation_url": "https://docs.github.com/rest",
        "status": "403",
    }
    for path in ("repos/{owner}/{repo}/rules/branches/main", "repos/{owner}/{repo}/branches/main/protection"):
        answers[path] = {"status": 403, "body": refused}
    result, lines, _ = run_doctor(root, fake_program, tmp_path, answers, None, "--skip-cluster")
    assert result.returncode == 1
    said = {piece: (status, text) for status, piece, text in lines}
    assert said["approval"][0] == "missing"
    assert "a private repository on GitHub Free can enforce no approval at all" in said["approval"][1]
    assert said["ruleset on main"] == ("missing", said["ruleset on main"][1])
    assert "see approval" in said["ruleset on main"][1]
    assert not any(piece.startswith(("Namespace", "Application")) for piece in said), "--skip-cluster asked the cluster"


@github_only
def test_a_private_repository_on_github_team_can_enforce_it(root, fake_program, tmp_path, facts):
    project, envs = facts
    answers = github_complete(project, envs)
    answers["repos/{owner}/{repo}"]["body"].update(private=True, visibility="private")
    result, lines, _ = run_doctor(root, fake_program, tmp_path, answers, None, "--skip-cluster")
    assert result.returncode == 0, result.stdout
    assert ("ok", "approval") in {(status, piece) for status, piece, _ in lines}
    assert "private on GitHub team" in result.stdout


@github_only
def test_without_gh_logged_in_or_a_cluster_each_part_says_what_to_do(root, fake_program, tmp_path, facts):
    project, envs = facts
    result, lines, _ = run_doctor(
        root, fake_program, tmp_path, github_complete(project, envs), {}, GH_TOKEN="", FAKE_GH_LOGGED_OUT="1"
    )
    assert result.returncode == 1
    said = {piece: (status, text) for status, piece, text in lines}
    assert said["gh"][0] == "missing" and "gh auth login" in said["gh"][1]
    assert said["cluster"][0] == "missing" and "--skip-cluster" in said["cluster"][1]
    assert set(said) == {"gh", "cluster"}
    result, lines, _ = run_doctor(root, fake_program, tmp_path, None, None, "--skip-cluster", FAKE_GH_OFFLINE="1")
    assert result.returncode == 1
    assert [(status, piece) for status, piece, _ in lines] == [("missing", "gh")]
    assert "got no answer: check your internet connection" in result.stdout


def test_help_and_skipping_both_parts(root, fake_program, tmp_path):
    result, _, _ = run_doctor(root, fake_program, tmp_path, None, None, "--help")
    assert result.returncode == 0 and "--skip-forge" in result.stdout and "--skip-cluster" in result.stdout
    result, lines, calls = run_doctor(root, fake_program, tmp_path, None, None, "--skip-forge", "--skip-cluster")
    assert (result.returncode, lines, calls) == (0, [], [])


@github_only
def test_the_settings_are_the_workflows_and_the_tables_name_only_those(doctor, root, facts):
    project, _ = facts
    text = "\n".join(p.read_text() for pattern in doctor.WORKFLOW_FILES for p in root.glob(pattern))
    named = set(re.findall(r"\b(?:vars|secrets)\.(\w+)", text)) - {"GITHUB_TOKEN"}
    assert {s.name for s in project.settings} == named
    listed = (
        set(doctor.OPTIONAL) | set(doctor.OBJECT_STORE) | {name for group in doctor.CREDENTIALS for _, name in group}
    )
    listed |= {name for _, name in doctor.APP}
    assert listed <= named, f"doctor's tables name settings no workflow uses: {sorted(listed - named)}"


@github_only
def test_the_ruleset_requires_ci_jobs_that_exist(doctor, root):
    import yaml

    jobs = yaml.safe_load((root / ".github/workflows/ci.yml").read_text())["jobs"]
    names = {job.get("name", job_id) for job_id, job in jobs.items()}
    required = doctor.required_checks(root / doctor.RULESET)
    assert required and set(required) <= names, (
        f"the ruleset requires checks ci.yml does not run: {set(required) - names}"
    )
    rules = {
        rule["type"]: rule.get("parameters", {}) for rule in json.loads((root / doctor.RULESET).read_text())["rules"]
    }
    assert {"deletion", "non_fast_forward", "pull_request", "required_status_checks"} <= set(rules)
    assert rules["pull_request"]["require_code_owner_review"] is True
    # With 0 approvals GitHub does not enforce code-owner review (docs/setup.md says where this was seen).
    assert rules["pull_request"]["required_approving_review_count"] >= 1


def test_setup_doc_names_every_setting_and_every_check(root, fake_program, tmp_path, facts):
    """docs/setup.md cannot drift: each setting the workflows use, each piece doctor reports, is in it."""
    project, envs = facts
    page = (root / "docs/setup.md").read_text()
    absent = [s.name for s in project.settings if f"`{s.name}`" not in page]
    assert absent == [], f"docs/setup.md does not name {absent}"
    pieces = set()
    for github, cluster in (
        (github_complete(project, envs), cluster_complete(project, envs)),
        (filled("github-empty.json", project), filled("cluster-empty.json", project)),
    ):
        if shutil.which("kubectl") is None:
            cluster = None
        _, lines, _ = run_doctor(
            root, fake_program, tmp_path, github, cluster, *([] if cluster else ["--skip-cluster"])
        )
        pieces |= {piece for _, piece, _ in lines if not SETTING.match(piece)}
    absent = sorted(piece for piece in pieces if f"`{piece}`" not in page and piece not in page)
    assert absent == [], f"docs/setup.md does not name the checks {absent}"


def test_argo_rollouts_is_checked_once_an_overlay_enables_the_canary(doctor):
    """components/canary renders a Rollout and an AnalysisTemplate: without Argo Rollouts' CRDs the sync fails."""

    class Cluster:
        def __init__(self, present: set[str]) -> None:
            self.present = present

        def get(self, ref):
            return {"metadata": {"name": ref.name}} if ref.name in self.present else None

    def env(name: str, canary: bool):
        return doctor.Environment(name, f"ns-{name}", {}, (), {}, canary)

    assert doctor.rollouts_findings(Cluster(set()), [env("staging", False), env("production", False)]) == []
    (found,) = doctor.rollouts_findings(
        Cluster({"rollouts.argoproj.io"}), [env("staging", False), env("production", True)]
    )
    assert str(found) == (
        "missing: Argo Rollouts — production enable the canary, but the cluster has no analysistemplates.argoproj.io —"
        ' install Argo Rollouts (docs/production.md, "The canary"), or remove `- ../components/canary` from the overlay'
    )
    both = {"rollouts.argoproj.io", "analysistemplates.argoproj.io"}
    (found,) = doctor.rollouts_findings(Cluster(both), [env("production", True)])
    assert (found.status, found.piece) == ("ok", "Argo Rollouts")
