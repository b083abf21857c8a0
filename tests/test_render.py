"""Rendering per configuration: exact file inventory, no Jinja left, answers, bento files, first commit, DVC set-up.

One test class per configuration (support.matrix.per_configuration): each is baked once.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from slugify import slugify
from support.baking import answers_for, builtin_dataset
from support.matrix import CONFIGURATIONS, Configuration, per_configuration
from support.options import REPO_ROOT
from support.processes import run
from support.repos import dvc_config, git_files, recorded_answers
from support.tables import CsvTable

# What git tracks in every generated repo; {package} is the derived package name.
PROJECT_FILES = {
    ".cruft.json",
    ".dvc/.gitignore",
    ".dvc/config",
    ".dvcignore",
    "LICENSE",
    ".checkov.yaml",
    ".env.example",
    ".gitignore",
    ".pre-commit-config.yaml",
    ".python-version",
    "CHANGELOG.md",
    "Dockerfile.j2",
    "Makefile",
    "README.md",
    "bentofile.yaml",
    "cliff.toml",
    "data/README.md",
    "data/production/quarantine.csv",
    "data/production/recent.csv",
    "data/production/recent_inputs.csv",
    "data/production/train.csv",
    "deploy/README.md",
    "deploy/argocd/notifications.yaml",
    "deploy/argocd/production.yaml",
    "deploy/argocd/project.yaml",
    "deploy/argocd/staging.yaml",
    "deploy/base/deployment.yaml",
    "deploy/base/hpa.yaml",
    "deploy/base/kustomization.yaml",
    "deploy/base/networkpolicy.yaml",
    "deploy/base/pdb.yaml",
    "deploy/base/service.yaml",
    "deploy/base/serviceaccount.yaml",
    "deploy/components/batch-score/cronjob.yaml",
    "deploy/components/batch-score/kustomization.yaml",
    "deploy/components/batch-score/networkpolicy.yaml",
    "deploy/components/canary/analysis-template.yaml",
    "deploy/components/canary/hpa-patch.yaml",
    "deploy/components/canary/kustomization.yaml",
    "deploy/components/canary/kustomizeconfig.yaml",
    "deploy/components/canary/networkpolicy.yaml",
    "deploy/components/canary/rollout.yaml",
    "deploy/components/canary/service-canary.yaml",
    "deploy/components/canary/service-stable.yaml",
    "deploy/components/ingress/ingress.yaml",
    "deploy/components/ingress/kustomization.yaml",
    "deploy/components/pull-secret/kustomization.yaml",
    "deploy/components/smoke-test/job.yaml",
    "deploy/components/smoke-test/kustomization.yaml",
    "deploy/components/smoke-test/networkpolicy.yaml",
    "deploy/local/environment.yaml",
    "deploy/production/deployment-patch.yaml",
    "deploy/production/hpa-patch.yaml",
    "deploy/production/kustomization.yaml",
    "deploy/schemas/argo-rollouts-analysistemplate.json",
    "deploy/schemas/argo-rollouts-rollout.json",
    "deploy/schemas/argocd-application.json",
    "deploy/schemas/argocd-appproject.json",
    "deploy/schemas/argocd-notifications.json",
    "deploy/staging/deployment-patch.yaml",
    "deploy/staging/hpa-patch.yaml",
    "deploy/staging/kustomization.yaml",
    "docs/batch.md",
    "docs/criteria.yaml",
    "docs/evidence.yaml",
    "docs/problem_definition.md",
    "docs/production.md",
    "docs/setup.md",
    "dvc.yaml",
    "load/locustfile.py",
    "params.yaml",
    "pyproject.toml",
    "requirements-dev.in",
    "requirements-dev.lock",
    "requirements.in",
    "requirements.lock",
}
# The package and its tests (the layout's own block).
CODE_FILES = {
    "src/{package}/__init__.py",
    "src/{package}/core/__init__.py",
    "src/{package}/core/artifacts.py",
    "src/{package}/core/buildinfo.py",
    "src/{package}/core/cli.py",
    "src/{package}/core/cluster.py",
    "src/{package}/core/config.py",
    "src/{package}/core/environments.py",
    "src/{package}/core/estimators.py",
    "src/{package}/core/features.py",
    "src/{package}/core/forge.py",
    "src/{package}/core/git.py",
    "src/{package}/core/labels.py",
    "src/{package}/core/metrics.py",
    "src/{package}/core/params.py",
    "src/{package}/core/paths.py",
    "src/{package}/core/records.py",
    "src/{package}/core/requestids.py",
    "src/{package}/core/schema.py",
    "src/{package}/core/serviceclient.py",
    "src/{package}/core/settings.py",
    "src/{package}/core/storage.py",
    "src/{package}/gitops/__init__.py",
    "src/{package}/gitops/deploy.py",
    "src/{package}/gitops/doctor.py",
    "src/{package}/gitops/manifests.py",
    "src/{package}/gitops/promote.py",
    "src/{package}/gitops/release.py",
    "src/{package}/gitops/rollback.py",
    "src/{package}/gitops/wiring.py",
    "src/{package}/governance/__init__.py",
    "src/{package}/governance/evidence/__init__.py",
    "src/{package}/governance/evidence/__main__.py",
    "src/{package}/governance/evidence/checks.py",
    "src/{package}/governance/evidence/facts.py",
    "src/{package}/governance/evidence/map.py",
    "src/{package}/governance/evidence/page.py",
    "src/{package}/governance/prreport.py",
    "src/{package}/governance/templateupdate.py",
    "src/{package}/improvement/__init__.py",
    "src/{package}/improvement/canary.py",
    "src/{package}/improvement/changes.py",
    "src/{package}/improvement/compare.py",
    "src/{package}/improvement/impact.py",
    "src/{package}/improvement/publish.py",
    "src/{package}/improvement/refresh.py",
    "src/{package}/improvement/retrain.py",
    "src/{package}/improvement/tune.py",
    "src/{package}/monitoring/__init__.py",
    "src/{package}/monitoring/alert.py",
    "src/{package}/monitoring/drift.py",
    "src/{package}/monitoring/fetch.py",
    "src/{package}/monitoring/logs.py",
    "src/{package}/monitoring/monitor.py",
    "src/{package}/monitoring/plots.py",
    "src/{package}/monitoring/simulate.py",
    "src/{package}/packaging/__init__.py",
    "src/{package}/packaging/build.py",
    "src/{package}/packaging/container.py",
    "src/{package}/packaging/image.py",
    "src/{package}/packaging/loadtest.py",
    "src/{package}/packaging/localserver.py",
    "src/{package}/packaging/smoke.py",
    "src/{package}/pipeline/__init__.py",
    "src/{package}/pipeline/docs.py",
    "src/{package}/pipeline/evaluate.py",
    "src/{package}/pipeline/featurize.py",
    "src/{package}/pipeline/ingest.py",
    "src/{package}/pipeline/prepare.py",
    "src/{package}/pipeline/train.py",
    "src/{package}/reporting/__init__.py",
    "src/{package}/reporting/cards.py",
    "src/{package}/reporting/evaluation.py",
    "src/{package}/reporting/impact.py",
    "src/{package}/reporting/improvement.py",
    "src/{package}/reporting/manual.py",
    "src/{package}/reporting/monitoring.py",
    "src/{package}/reporting/render.py",
    "src/{package}/reporting/templates/architecture.md.j2",
    "src/{package}/reporting/templates/data_card.md.j2",
    "src/{package}/reporting/templates/deployment_manual.md.j2",
    "src/{package}/reporting/templates/evaluation_criteria.md.j2",
    "src/{package}/reporting/templates/evaluation_report.md.j2",
    "src/{package}/reporting/templates/evidence.md.j2",
    "src/{package}/reporting/templates/impact_report.md.j2",
    "src/{package}/reporting/templates/improvement_report.md.j2",
    "src/{package}/reporting/templates/model_card.md.j2",
    "src/{package}/reporting/templates/monitoring_report.md.j2",
    "src/{package}/serving/__init__.py",
    "src/{package}/serving/api.py",
    "src/{package}/serving/feedback.py",
    "src/{package}/serving/guard.py",
    "src/{package}/serving/predictionlog.py",
    "src/{package}/serving/predictor.py",
    "src/{package}/serving/score.py",
    "src/{package}/serving/service.py",
    "tests/code/core/test_artifacts.py",
    "tests/code/core/test_buildinfo.py",
    "tests/code/core/test_config.py",
    "tests/code/core/test_estimators.py",
    "tests/code/core/test_features.py",
    "tests/code/core/test_forge.py",
    "tests/code/core/test_forge_gitlab.py",
    "tests/code/core/test_git.py",
    "tests/code/core/test_labels.py",
    "tests/code/core/test_params.py",
    "tests/code/core/test_requestids.py",
    "tests/code/core/test_schema.py",
    "tests/code/core/test_serviceclient.py",
    "tests/code/core/test_settings.py",
    "tests/code/core/test_storage.py",
    "tests/code/gitops/answers/cluster-complete.json",
    "tests/code/gitops/answers/cluster-empty.json",
    "tests/code/gitops/answers/gh.py",
    "tests/code/gitops/answers/github-complete.json",
    "tests/code/gitops/answers/github-empty.json",
    "tests/code/gitops/answers/kubectl.py",
    "tests/code/gitops/test_components.py",
    "tests/code/gitops/test_deploy_stop.py",
    "tests/code/gitops/test_doctor.py",
    "tests/code/gitops/test_manifests.py",
    "tests/code/gitops/test_production_doc.py",
    "tests/code/gitops/test_promote.py",
    "tests/code/gitops/test_release.py",
    "tests/code/gitops/test_rollback.py",
    "tests/code/gitops/test_smoke_job.py",
    "tests/code/governance/test_evidence.py",
    "tests/code/governance/test_templateupdate.py",
    "tests/code/improvement/test_canary.py",
    "tests/code/improvement/test_compare.py",
    "tests/code/improvement/test_impact.py",
    "tests/code/improvement/test_publish.py",
    "tests/code/improvement/test_refresh.py",
    "tests/code/improvement/test_tune.py",
    "tests/code/layout.py",
    "tests/code/monitoring/test_alert.py",
    "tests/code/monitoring/test_fetch.py",
    "tests/code/monitoring/test_monitor.py",
    "tests/code/packaging/test_build.py",
    "tests/code/packaging/test_container.py",
    "tests/code/packaging/test_loadtest.py",
    "tests/code/packaging/test_localserver.py",
    "tests/code/pipeline/test_evaluate.py",
    "tests/code/pipeline/test_featurize.py",
    "tests/code/pipeline/test_ingest.py",
    "tests/code/pipeline/test_prepare.py",
    "tests/code/pipeline/test_stages.py",
    "tests/code/reporting/test_cards.py",
    "tests/code/reporting/test_render.py",
    "tests/code/serving/test_api.py",
    "tests/code/serving/test_feedback.py",
    "tests/code/serving/test_guard.py",
    "tests/code/serving/test_predictionlog.py",
    "tests/code/serving/test_predictor.py",
    "tests/code/serving/test_score.py",
    "tests/code/test_layout.py",
    "tests/conftest.py",
    "tests/services.py",
    "tests/data/test_data.py",
    "tests/service/test_contract.py",
    "tests/service/test_manual.py",
}
BASE_FILES = PROJECT_FILES | CODE_FILES
# Per-option differences from the base.
TASK_FILES = {
    "classification": {"tests/model/test_classification.py"},
    "regression": {"tests/model/test_regression.py"},
}
CSV_FILES = {"data/external/.gitignore", "data/external/source.csv.dvc"}
# The `ci` answer: GitHub's workflows and settings, GitLab's one pipeline file, or both.
GITHUB_FILES = {
    ".github/CODEOWNERS",
    ".github/actions/bot-identity/action.yml",
    ".github/actions/object-store/action.yml",
    ".github/dependabot.yml",
    ".github/rulesets/main.json",
    ".github/workflows/cd.yml",
    ".github/workflows/ci.yml",
    ".github/workflows/monitor.yml",
    ".github/workflows/promote-production.yml",
    ".github/workflows/release.yml",
    ".github/workflows/retrain.yml",
    ".github/workflows/rollback.yml",
    ".github/workflows/template-update.yml",
}
CI_FILES = {"github": GITHUB_FILES, "gitlab": {".gitlab-ci.yml"}, "both": GITHUB_FILES | {".gitlab-ci.yml"}}
# Where the image is pushed and Argo CD reads the repository from, per `ci` answer.
REGISTRY = {"github": "ghcr.io", "gitlab": "registry.gitlab.com", "both": "ghcr.io"}
FORGE_URL = {"github": "https://github.com", "gitlab": "https://gitlab.com", "both": "https://github.com"}
STAGES = ["ingest", "prepare", "featurize", "train", "evaluate", "docs"]
MAKE_TARGETS = [
    "install", "lint", "test", "pipeline", "docs", "serve", "build", "load-test", "push", "pull", "lock", "clean",
    "help", "deploy", "undeploy", "history", "smoke", "promote", "rollback", "release", "pr-report",
    "image", "simulate", "monitor", "fetch-logs", "monitor-alert", "retrain", "publish", "template-update",
    "evidence",
]  # fmt: skip
LICENCE_MARK = {"MIT": "MIT License", "Apache-2.0": "Apache License", "Proprietary": "All rights reserved"}
PYPROJECT_LICENSE = {"MIT": "MIT", "Apache-2.0": "Apache-2.0", "Proprietary": "LicenseRef-Proprietary"}
JINJA = re.compile(r"\{\{|\{%")
GITHUB_EXPRESSION = "${{"
# Files that are Jinja templates for another tool by design (patterns); each has its own test below.
DOCKERFILE_TEMPLATE = "Dockerfile.j2"  # BentoML renders it at `bentoml build`
REPORT_TEMPLATES = "src/*/reporting/templates/*.md.j2"  # the reporting package renders the documents
CHANGELOG_TEMPLATE = "cliff.toml"  # git-cliff renders its Tera templates at `make release`
NOTIFICATIONS_TEMPLATES = "deploy/argocd/notifications.yaml"  # Argo CD Notifications' Go templates
JINJA_BY_DESIGN = {DOCKERFILE_TEMPLATE, REPORT_TEMPLATES, CHANGELOG_TEMPLATE, NOTIFICATIONS_TEMPLATES}
# What cruft must leave alone: left out, `cruft update` re-runs git init in its renders and drops every change.
CRUFT_SKIPS = {".git", ".dvc", ".dvcignore"}
SLO_KEYS = {"users", "spawn_rate", "duration_s", "p95_ms", "max_error_rate", "min_rps"}


def expected_files(config: Configuration, package: str) -> set[str]:
    files = {f.format(package=package) for f in BASE_FILES}
    files |= TASK_FILES[config.task]
    files |= CI_FILES[str(config.answer("ci"))]
    if config.dataset == "csv":
        files |= CSV_FILES
    return files


def rendered_owner(rendered: Rendered) -> str:
    """The owner the project was rendered with: the answer, or the author's slug."""
    return str(rendered.answers.get("github_owner") or slugify(str(rendered.config.answer("author"))))


def jinja_by_design(rel: str) -> bool:
    return any(fnmatch.fnmatch(rel, pattern) for pattern in JINJA_BY_DESIGN)


@dataclass(frozen=True)
class Rendered:
    config: Configuration
    answers: dict
    path: Path
    table: CsvTable | None

    @property
    def slug(self) -> str:
        return slugify(self.answers["project_name"])

    @property
    def package(self) -> str:
        return self.slug.replace("-", "_")


@pytest.fixture(scope="class")
def rendered(request, bake_configuration, csv_tables) -> Rendered:
    config: Configuration = request.cls.config
    path = bake_configuration(config)
    return Rendered(config, answers_for(config, csv_tables), path, csv_tables[config.csv] if config.csv else None)


class RenderChecks:
    """What one rendered configuration must hold."""

    config: Configuration

    def test_project_folder_is_the_slug(self, rendered):
        assert rendered.path.name == rendered.slug
        assert (rendered.path / "src" / rendered.package / "__init__.py").is_file()
        if rendered.config.folder:
            assert rendered.config.folder in rendered.path.as_posix(), "baked outside its folder"

    def test_file_inventory_is_exact(self, rendered):
        tracked = git_files(rendered.path)
        expected = expected_files(rendered.config, rendered.package)
        extra, missing = sorted(tracked - expected), sorted(expected - tracked)
        assert not extra and not missing, f"tracked but not expected: {extra}\nexpected but not tracked: {missing}"

    def test_no_jinja_survives_rendering(self, rendered):
        leftovers = []
        for root, dirs, files in os.walk(rendered.path):
            dirs[:] = [d for d in dirs if d != ".git"]
            for name in files:
                path = Path(root) / name
                rel = path.relative_to(rendered.path).as_posix()
                if jinja_by_design(rel):
                    continue
                try:
                    text = path.read_text(encoding="utf-8")
                except UnicodeDecodeError:
                    continue
                if rel.startswith((".github/workflows/", ".github/actions/")):  # GitHub expressions, not Jinja
                    text = text.replace(GITHUB_EXPRESSION, "")
                for number, line in enumerate(text.splitlines(), start=1):
                    if JINJA.search(line):
                        leftovers.append(f"{rel}:{number}: {line.strip()}")
        assert leftovers == []

    def test_image_and_repository_follow_the_ci_answer(self, rendered):
        """The overlays' image is <registry>/<owner>/<project> of the answer's forge; Argo CD reads that forge."""
        ci, owner = str(rendered.config.answer("ci")), rendered_owner(rendered)
        image = f"{REGISTRY[ci]}/{owner}/{rendered.slug}"
        repo = f"{FORGE_URL[ci]}/{owner}/{rendered.slug}.git"
        for env in ("staging", "production"):
            kustomization = yaml.safe_load((rendered.path / "deploy" / env / "kustomization.yaml").read_text())
            assert [i["newName"] for i in kustomization["images"]] == [image]
            application = yaml.safe_load((rendered.path / "deploy" / "argocd" / f"{env}.yaml").read_text())
            assert application["spec"]["source"]["repoURL"] == repo
            subscriptions = {k.rpartition(".")[2] for k in application["metadata"]["annotations"] if "subscribe" in k}
            assert subscriptions == (
                {"modelops-gitlab"} | ({"modelops-gitlab-promote"} if env == "staging" else set())
                if ci == "gitlab"
                else {"github"}
            )

    def test_argo_cd_reports_to_the_forge_the_answer_names(self, rendered):
        """GitHub's App service, or (ci: gitlab) webhooks on this project's GitLab API; the variant's name is gone."""
        ci, owner = str(rendered.config.answer("ci")), rendered_owner(rendered)
        data = yaml.safe_load((rendered.path / "deploy" / "argocd" / "notifications.yaml").read_text())["data"]
        services = {key for key in data if key.startswith("service.")}
        if ci == "gitlab":
            assert services == {"service.webhook.modelops-gitlab", "service.webhook.modelops-gitlab-promote"}
            url = yaml.safe_load(data["service.webhook.modelops-gitlab"])["url"]
            assert url == f"{FORGE_URL[ci]}/api/v4/projects/{owner}%2F{rendered.slug}"
        else:
            assert services == {"service.github"}
        assert not (rendered.path / "deploy" / "argocd" / "notifications-gitlab.yaml").exists()

    def test_bentofile_names_the_service_and_the_python(self, rendered):
        bentofile = yaml.safe_load((rendered.path / "bentofile.yaml").read_text())
        assert bentofile["service"] == f"{rendered.package}.serving.service:ModelService"
        assert bentofile["name"] == rendered.slug
        assert bentofile["docker"]["python_version"] == rendered.config.python_version
        assert bentofile["docker"]["dockerfile_template"] == DOCKERFILE_TEMPLATE
        assert "models/model.joblib" in bentofile["include"]

    def test_dockerfile_template_keeps_its_own_jinja(self, rendered):
        """Dockerfile.j2 is BentoML's template: cookiecutter must pass its Jinja through untouched."""
        text = (rendered.path / DOCKERFILE_TEMPLATE).read_text()
        assert "{% extends bento_base_template %}" in text
        assert "{{ super() }}" in text
        assert "{% block SETUP_BENTO_ENTRYPOINT %}" in text and "{% endblock %}" in text
        assert "raw %}" not in text, "the template's {% raw %} wrapper leaked into the generated file"
        assert "HEALTHCHECK" in text

    def test_changelog_template_keeps_git_cliffs_own_templates(self, rendered):
        config = tomllib.loads((rendered.path / CHANGELOG_TEMPLATE).read_text())
        body = config["changelog"]["body"]
        assert "{{ version }}" in body and "{% for commit in commits %}" in body
        assert config["git"]["tag_pattern"] == "^v[0-9]+\\.[0-9]+\\.[0-9]+$"

    def test_report_templates_keep_their_own_jinja(self, rendered):
        """The reporting package's document templates reach the project as Jinja, not rendered by cookiecutter."""
        templates = sorted(rendered.path.glob(REPORT_TEMPLATES))
        assert templates, f"no {REPORT_TEMPLATES} in the project"
        for path in templates:
            text = path.read_text(encoding="utf-8")
            rel = path.relative_to(rendered.path).as_posix()
            assert JINJA.search(text), f"{rel} lost its Jinja (rendered by cookiecutter?)"
            assert "raw %}" not in text, f"a {{% raw %}} wrapper leaked into {rel}"
            assert "cookiecutter." not in text, f"{rel} still refers to cookiecutter's context"

    def test_answers_file_records_the_answers(self, rendered):
        recorded = recorded_answers(rendered.path)
        assert {k: recorded.get(k) for k in rendered.answers} == rendered.answers
        assert recorded["project"] == rendered.slug
        assert recorded["package"] == rendered.package
        private = sorted(k for k in recorded if k.startswith("_"))
        assert private == ["_commit", "_template"], f"{private}: only cruft's own private keys belong with the answers"

    def test_answers_file_is_crufts_state_at_the_templates_commit(self, rendered):
        """cruft update needs the template (here a local git repository), its commit, the context and the skips."""
        state = json.loads((rendered.path / ".cruft.json").read_text())
        head = run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, check=False)
        commit = head.stdout.strip() if head.returncode == 0 else None
        assert state["commit"] == commit and state["context"]["cookiecutter"]["_commit"] == commit
        if commit:
            top = run(["git", "rev-parse", "--show-toplevel"], cwd=REPO_ROOT).stdout.strip()
            assert state["template"] == str(Path(top).resolve())
        assert CRUFT_SKIPS <= set(state["skip"]), f"cruft would touch {sorted(CRUFT_SKIPS - set(state['skip']))}"

    def test_one_commit_and_a_clean_tree(self, rendered):
        count = run(["git", "rev-list", "--count", "HEAD"], cwd=rendered.path).stdout.strip()
        assert count == "1"
        status = run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=rendered.path).stdout
        assert status == "", f"the first commit left files out:\n{status}"

    def test_dvc_default_remote_follows_the_storage_answer(self, rendered):
        """storage=folder: a folder beside the project; storage=s3: the bucket's dvc/ prefix, its endpoint if given."""
        config = dvc_config(rendered.path)
        name = config.get("core", {}).get("remote")
        assert name, f"no default remote in .dvc/config: {config}"
        remote = config.get(f'remote "{name}"', {})
        url = remote.get("url")
        assert url, f"default remote {name!r} has no url"
        if rendered.config.answer("storage") == "s3":
            bucket = rendered.config.answers.get("s3_bucket", f"{rendered.slug}-modelops")
            assert url == f"s3://{bucket}/dvc"
            endpoint = rendered.config.answer("s3_endpoint")
            assert remote.get("endpointurl") == (endpoint or None), remote
        else:
            assert "://" not in url, f"the default remote should be a local folder, not {url}"
            assert "endpointurl" not in remote

    def test_params_follow_the_answers(self, rendered):
        params = yaml.safe_load((rendered.path / "params.yaml").read_text())
        config = rendered.config
        assert params["task"] == config.task
        if config.dataset == "csv":
            assert params["ingest"]["source"] == "csv:data/external/source.csv"
            assert params["ingest"]["target"] == rendered.table.target
        else:
            assert params["ingest"]["source"] == f"sklearn:{builtin_dataset(config)}"
        model = params["train"]["model"]
        assert isinstance(params["train"].get(model), dict), f"no train.{model} section"
        assert {"prepare", "featurize", "evaluate"} <= set(params)

    def test_python_version_answer_pins_the_interpreter(self, rendered):
        """CI (setup-python) and pyenv read .python-version: it must hold the answer."""
        assert (rendered.path / ".python-version").read_text().strip() == rendered.config.python_version

    def test_pipeline_and_criteria_follow_the_contract(self, rendered):
        dvc = yaml.safe_load((rendered.path / "dvc.yaml").read_text())
        assert list(dvc["stages"]) == STAGES
        criteria = yaml.safe_load((rendered.path / "docs" / "criteria.yaml").read_text())
        gate = criteria["gate"]
        assert gate and all(set(rule) <= {"min", "max"} and rule for rule in gate.values())
        if rendered.config.task == "regression":
            assert set(gate) == {"r2", "rmse_vs_baseline"}
        assert set(criteria["slo"]) == SLO_KEYS
        assert all(isinstance(v, int | float) for v in criteria["slo"].values())
        assert dvc["metrics"] == ["reports/load.json"], "the load test's record is not a DVC metric"

    def test_makefile_has_the_contract_targets(self, rendered):
        for target in MAKE_TARGETS:
            dry = run(["make", "-n", target], cwd=rendered.path, check=False)
            assert dry.returncode == 0, f"make {target}: {dry.stdout[-500:]}"

    def test_licence_matches_the_answer(self, rendered):
        licence = rendered.config.license
        text = (rendered.path / "LICENSE").read_text()
        assert LICENCE_MARK[licence] in text
        assert not (rendered.path / ".licenses").exists()
        pyproject = tomllib.loads((rendered.path / "pyproject.toml").read_text())
        assert pyproject["project"]["license"] == PYPROJECT_LICENSE[licence]
        if licence != "Apache-2.0":
            assert rendered.config.answer("author") in text

    def test_csv_is_tracked_by_dvc_not_git(self, rendered):
        tracked = git_files(rendered.path)
        copy = rendered.path / "data" / "external" / "source.csv"
        if rendered.table is None:
            assert not copy.exists() and "data/external/source.csv.dvc" not in tracked
            return
        assert "data/external/source.csv.dvc" in tracked
        assert "data/external/source.csv" not in tracked
        assert copy.read_bytes() == rendered.table.path.read_bytes()
        pointer = yaml.safe_load((rendered.path / "data/external/source.csv.dvc").read_text())
        assert pointer["outs"][0]["md5"] == hashlib.md5(copy.read_bytes()).hexdigest()
        ignored = run(["git", "check-ignore", "data/external/source.csv"], cwd=rendered.path, check=False)
        assert ignored.returncode == 0, "git does not ignore the DVC-tracked CSV"


globals().update(per_configuration(RenderChecks, CONFIGURATIONS))
