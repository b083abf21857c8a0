"""The GitLab forge, run for real: a generated project's own commands against a fake GitLab API on loopback.

One project is baked and installed; its `origin` is a bare repository on disk, and CI_SERVER_URL,
CI_PROJECT_ID and GITLAB_TOKEN point it at `support.fakegitlab` (real HTTP, answers shaped as
GitLab's REST docs shape them, every call recorded). The commands run as make runs them: promote
and rollback open one merge request each (a rerun opens none), the retraining proposal's merge
request is opened with its label then updated in place, `make pr-note` keeps one report note,
`make monitor-alert` opens, notes, retitles and closes one issue and dispatches retraining as a
pipeline, and `make release RELEASE_ARGS=--publish` uploads the report and creates the release of
the pushed tag, then updates it on a rerun. No pipeline runs: small fixtures stand in for its outputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from support.fakegitlab import FakeGitLab, Recorded
from support.lifecycle import Lifecycle
from support.matrix import Configuration
from support.processes import run
from support.repos import recorded_answers

pytestmark = pytest.mark.slow

# A GitLab project: it picks its forge by its own files (.gitlab-ci.yml, no .github/workflows/).
CONFIG = Configuration("forge-gitlab", {"ci": "gitlab"}, lifecycle=False)
MARKER = "<!-- modelops-pr-report -->"  # governance/prreport.py's first line
MONITOR_SUMMARY = {
    "decision": "retrain",
    "exit_code": 10,
    "reasons": ["live accuracy 0.71 < target 0.92 (docs/criteria.yaml live.targets)"],
    "window": {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z"},
    "model_versions": ["0.1.0-abc1234"],
    "predictions": 342,
    "requests": 342,
    "labelled": 171,
    "corrupt_lines": 0,
    "quality": {
        "verdict": "missed",
        "min_labels": 50,
        "metrics": {"accuracy": {"value": 0.71, "target": 0.92, "rule": "min", "retire_below": 0.6, "passed": False}},
    },
    "drift": {
        "verdict": "drift",
        "drifted": ["mean radius"],
        "features": {
            "mean radius": {"psi": 1.9, "p_value": 1e-30, "psi_max": 0.25, "p_value_max": 0.01, "drifted": True}
        },
        "prediction": {"psi": 0.4, "p_value": 1e-5, "drifted": True},
    },
    "report": "reports/monitoring/2026-12-01.md",
}
# What a CI runner's environment would add that must not decide the forge here, nor leak into it.
NOT_PASSED = ("GITHUB_ACTIONS", "GITLAB_CI", "CI", "GH_TOKEN", "GITHUB_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN")


@dataclass
class GitLabProject:
    """The installed project, its bare `origin`, the fake GitLab it talks to, and how to run its commands."""

    project: Lifecycle
    remote: Path
    api: FakeGitLab
    env: dict[str, str]

    @property
    def path(self) -> Path:
        return self.project.path

    def make(self, *args: str, check: bool = True, **env: str) -> str:
        """`make <args>` in the project against the fake GitLab; its output (stdout and stderr), never the token."""
        done = run(["make", *args], cwd=self.path, env={**self.env, **env}, check=check)
        assert self.api.token not in done.stdout, f"`make {' '.join(args)}` printed GITLAB_TOKEN"
        return done.stdout

    def git(self, *args: str) -> str:
        return run(["git", *args], cwd=self.path, env=self.env).stdout.strip()

    def calls_during(self, action: Callable[[], Any]) -> list[Recorded]:
        """The calls the fake received while `action` ran."""
        before = len(self.api.calls)
        action()
        return self.api.calls[before:]


@pytest.fixture(scope="class")
def gitlab_project(
    bake_configuration: Callable[[Configuration], Path],
    new_lifecycle: Callable[[Configuration, Path], Lifecycle],
) -> Iterator[GitLabProject]:
    project = new_lifecycle(CONFIG, bake_configuration(CONFIG))
    project.install()
    env = {key: value for key, value in project.env.items() if key not in NOT_PASSED}
    env.update(
        GIT_AUTHOR_NAME="Forge Test",
        GIT_AUTHOR_EMAIL="forge@example.invalid",
        GIT_COMMITTER_NAME="Forge Test",
        GIT_COMMITTER_EMAIL="forge@example.invalid",
    )
    remote = project.scratch / "remote.git"
    run(["git", "init", "--quiet", "--bare", remote], cwd=project.scratch)
    run(["git", "remote", "add", "origin", remote], cwd=project.path, env=env)
    run(["git", "push", "--quiet", "origin", "main"], cwd=project.path, env=env)
    answers = recorded_answers(project.path)
    with FakeGitLab(remote=remote, path=f"{answers['github_owner']}/{answers['project']}") as api:
        env.update(api.environment())
        yield GitLabProject(project, remote, api, env)


def bodies(calls: list[Recorded], route: str) -> list[Any]:
    return [call.body for call in calls if call.route == route]


class TestGitLabForge:
    """One project's forge calls, in the order a model's life makes them."""

    def test_the_project_picks_gitlab_by_its_own_files(self, gitlab_project: GitLabProject) -> None:
        """Nothing names the forge: no MODELOPS_FORGE, no GITLAB_CI; .gitlab-ci.yml without .github/workflows/."""
        assert (gitlab_project.path / ".gitlab-ci.yml").is_file()
        assert not (gitlab_project.path / ".github" / "workflows").exists()
        assert not {"MODELOPS_FORGE", "GITLAB_CI", "GITHUB_ACTIONS"} & set(gitlab_project.env)

    def test_promote_and_rollback_open_one_merge_request_each_and_a_rerun_opens_none(
        self, gitlab_project: GitLabProject
    ) -> None:
        site, version = gitlab_project, "0.1.0-abc1234"
        promote = ("promote", "ENV=staging", f"VERSION={version}", "PROMOTE_ARGS=--pull-request")
        output: list[str] = []
        calls = site.calls_during(lambda: output.append(site.make(*promote)))
        assert output[0].strip().splitlines()[-1] == f"{site.api.web}/-/merge_requests/1"
        assert [c.route for c in calls] == [
            "GET /projects/:id/merge_requests",  # open already?
            "GET /projects/:id/merge_requests",  # after the push
            "POST /projects/:id/merge_requests",
        ]
        assert calls[0].query == {"source_branch": f"promote/staging/{version}", "state": "opened"}
        created = calls[-1].body
        assert created["source_branch"] == f"promote/staging/{version}" and created["target_branch"] == "main"
        assert created["title"] == f"deploy(staging): promote {version}" and created["remove_source_branch"] is True
        assert "+  newTag: 0.1.0-abc1234" in created["description"], "the body shows the change"
        assert calls[0].project == site.api.path and all(c.status < 300 for c in calls)
        branch = run(["git", "--git-dir", site.remote, "rev-parse", f"promote/staging/{version}"], cwd=site.path)
        assert branch.stdout.strip() == site.git("rev-parse", f"promote/staging/{version}")

        again = site.calls_during(lambda: output.append(site.make(*promote)))
        assert [c.route for c in again] == ["GET /projects/:id/merge_requests"]
        assert f"a merge request from promote/staging/{version} is open already" in output[-1]

        site.git("merge", "--quiet", "--no-ff", f"promote/staging/{version}", "-m", "Merge the promotion")
        rollback = site.calls_during(
            lambda: output.append(site.make("rollback", "ENV=staging", "ROLLBACK_ARGS=--pull-request"))
        )
        [made] = bodies(rollback, "POST /projects/:id/merge_requests")
        assert (
            made["source_branch"].startswith("rollback/staging/") and "-  newTag: 0.1.0-abc1234" in made["description"]
        )
        assert output[-1].strip().endswith("/-/merge_requests/2")
        assert len(site.api.project.merge_requests) == 2

    def test_the_report_note_is_posted_once_then_replaced(self, gitlab_project: GitLabProject) -> None:
        site = gitlab_project
        report = site.path / "reports" / "pr.md"
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(f"{MARKER}\n## Model report against `origin/main`\n\nfirst\n")
        reviews = site.api.project.notes.setdefault(("merge_requests", 1), [])
        for number in range(25):  # a busy merge request: the report lands on the second page of notes
            reviews.append({"id": 10_000 + number, "body": f"review {number}", "system": number % 5 == 0})
        first = site.calls_during(lambda: site.make("pr-note", "NUMBER=1"))
        report.write_text(f"{MARKER}\n## Model report against `origin/main`\n\nsecond\n")
        second = site.calls_during(lambda: site.make("pr-note", "NUMBER=1", "FILE=reports/pr.md"))
        report_id = reviews[-1]["id"]
        assert [c.route for c in first + second] == [
            "GET /projects/:id/merge_requests/1/notes",  # page 1 of 2
            "GET /projects/:id/merge_requests/1/notes",
            "POST /projects/:id/merge_requests/1/notes",
            "GET /projects/:id/merge_requests/1/notes",
            "GET /projects/:id/merge_requests/1/notes",  # page 2: the report note
            f"PUT /projects/:id/merge_requests/1/notes/{report_id}",
        ]
        assert [c.query.get("page", "1") for c in second[:2]] == ["1", "2"]
        assert len(reviews) == 26 and reviews[-1]["body"].endswith("second\n"), "one report note, replaced"
        assert reviews[-1]["body"].startswith(MARKER) and reviews[0]["body"] == "review 0"

    def test_the_retraining_proposal_is_opened_labelled_then_updated_in_place(
        self, gitlab_project: GitLabProject
    ) -> None:
        site, branch = gitlab_project, "retrain/2026-12-08-abc1234"
        site.git("switch", "--quiet", "-c", branch)
        (site.path / "params.yaml").write_text((site.path / "params.yaml").read_text() + "# retrained\n")
        site.git("commit", "--quiet", "-am", "retrain: the challenger")
        site.git("switch", "--quiet", "main")
        summary = {"proposed": True, "branch": branch, "title": "Retrain: better", "body": "reports/improvement/r.md"}
        folder = site.path / "reports" / "improvement"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "summary.json").write_text(json.dumps({**summary, "reasons": ["better"], "decision": "propose"}))
        (folder / "r.md").write_text("# Champion against challenger\n")
        opened = site.calls_during(lambda: site.make("publish"))
        (folder / "r.md").write_text("# Champion against challenger, rerun\n")
        output: list[str] = []
        updated = site.calls_during(lambda: output.append(site.make("publish")))
        [label] = bodies(opened, "POST /projects/:id/labels")
        assert label == {"name": "model-retrain", "color": "#0e8a16", "description": label["description"]}
        [created] = bodies(opened, "POST /projects/:id/merge_requests")
        assert created["labels"] == "model-retrain" and created["title"] == "Retrain: better"
        assert [c.route for c in updated] == [
            "POST /projects/:id/labels",  # 409: it exists, so …
            "PUT /projects/:id/labels/model-retrain",  # … it is updated instead
            "GET /projects/:id/merge_requests",
            "PUT /projects/:id/merge_requests/3",
        ]
        assert updated[0].status == 409 and updated[-1].body["description"].startswith(
            "# Champion against challenger, rerun"
        )
        assert "updated the open merge request !3 (title and body)" in output[0]
        assert len(site.api.project.merge_requests) == 3 and site.api.project.merge_requests[-1]["labels"] == [
            "model-retrain"
        ]

    def test_the_monitoring_issue_is_opened_noted_and_closed_and_retraining_dispatched(
        self, gitlab_project: GitLabProject
    ) -> None:
        site = gitlab_project
        path = site.path / "reports" / "monitoring" / "summary.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(MONITOR_SUMMARY))
        opened = site.calls_during(lambda: site.make("monitor-alert", "RUN_URL=https://ci.example/1"))
        assert [c.route for c in opened] == [
            "GET /projects/:id/issues",
            "POST /projects/:id/labels",
            "POST /projects/:id/issues",
            "POST /projects/:id/pipeline",
        ]
        assert opened[0].query == {"labels": "model-monitor", "state": "opened"}
        issue = opened[2].body
        assert issue["labels"] == "model-monitor" and issue["description"].startswith("<!-- modelops-model-monitor -->")
        pipeline = opened[3].body
        assert pipeline["ref"] == "main"
        variables = {v["key"]: v["value"] for v in pipeline["variables"]}
        assert variables["MODELOPS_JOB"] == "retrain" and variables["SUMMARY_RUN"] == "https://ci.example/1"
        assert variables["DRIFTED_FEATURES"] == "mean radius" and "live accuracy" in variables["REASON"]

        path.write_text(json.dumps({**MONITOR_SUMMARY, "decision": "retire", "exit_code": 20}))
        noted = site.calls_during(lambda: site.make("monitor-alert"))
        assert [c.route for c in noted] == [
            "GET /projects/:id/issues",
            "POST /projects/:id/issues/1/notes",
            "PUT /projects/:id/issues/1",
        ]
        assert "retire" in noted[2].body["title"].lower()

        path.write_text(json.dumps({**MONITOR_SUMMARY, "decision": "keep", "exit_code": 0, "reasons": []}))
        closed = site.calls_during(lambda: site.make("monitor-alert"))
        assert [c.route for c in closed][1:] == ["POST /projects/:id/issues/1/notes", "PUT /projects/:id/issues/1"]
        assert closed[-1].body == {"state_event": "close"}
        [issue_state] = site.api.project.issues
        assert issue_state["state"] == "closed" and len(site.api.project.notes[("issues", 1)]) == 2

    def test_release_publish_uploads_the_report_and_creates_then_updates_the_release(
        self, gitlab_project: GitLabProject
    ) -> None:
        site = gitlab_project
        (site.path / "docs" / "evaluation_report.md").write_text("# Evaluation report\n\naccuracy 0.95\n")
        site.git("add", "docs/evaluation_report.md")
        site.git("commit", "--quiet", "-m", "docs: the evaluation report")
        version = f"0.1.0-{site.git('rev-parse', '--short=7', 'HEAD')}"
        site.make("promote", "ENV=production", f"VERSION={version}")
        site.git("merge", "--quiet", "--no-ff", f"promote/production/{version}", "-m", "Merge production")
        first = site.calls_during(lambda: site.make("release", "ENV=production", "RELEASE_ARGS=--publish"))
        package = "/projects/:id/packages/generic/release-assets/0.1.0/evaluation_report.md"
        assert [c.route for c in first][:3] == [
            "GET /projects/:id/releases/v0.1.0",
            f"PUT {package}",
            "POST /projects/:id/releases",
        ]
        assert first[0].status == 404 and first[1].body == {"bytes": len("# Evaluation report\n\naccuracy 0.95\n")}
        release = first[2].body
        assert release["tag_name"] == "v0.1.0" and release["description"].startswith("# Release v0.1.0")
        [link] = release["assets"]["links"]
        assert link["name"] == "evaluation_report.md"
        assert link["url"] == f"{site.api.url}/api/v4{package.replace(':id', quote(site.api.path, safe=''))}"
        assert bodies(first, "POST /projects/:id/merge_requests")[0]["source_branch"] == "release/v0.1.0"
        tag = run(["git", "--git-dir", site.remote, "rev-parse", "v0.1.0^{commit}"], cwd=site.path).stdout.strip()
        assert tag == site.git("rev-parse", version.split("-")[1]), "the tag is on the commit production runs"

        again = site.calls_during(lambda: site.make("release", "ENV=production", "RELEASE_ARGS=--publish"))
        assert [c.route for c in again][:3] == [
            "GET /projects/:id/releases/v0.1.0",
            f"PUT {package}",
            "PUT /projects/:id/releases/v0.1.0",
        ]
        assert len(site.api.project.releases) == 1

    def test_doctor_checks_what_gitlab_holds(self, gitlab_project: GitLabProject) -> None:
        site, held = gitlab_project, gitlab_project.api.project
        missing = site.make("doctor", "DOCTOR_ARGS=--skip-cluster", check=False)
        assert f"ok: project — {site.api.path} (private)" in missing
        assert "missing: protected branch main — protect main: Settings → Repository → Protected branches" in missing
        assert "missing: variable GITLAB_TOKEN" in missing and "missing: variable GITLAB_REPORT_TOKEN" in missing
        assert "4 missing" in missing
        held.protected_branches.append(
            {
                "id": 1,
                "name": "main",
                "push_access_levels": [{"access_level": 0, "access_level_description": "No one"}],
                "merge_access_levels": [{"access_level": 40, "access_level_description": "Maintainers"}],
                "allow_force_push": False,
                "code_owner_approval_required": False,
            }
        )
        held.protected_environments.append(
            {
                "name": "production",
                "deploy_access_levels": [{"access_level": 40, "access_level_description": "Maintainers"}],
                "required_approval_count": 1,
                "approval_rules": [],
            }
        )
        for scope in ("forge", "staging", "production"):  # as .gitlab-ci.yml's jobs name their environments
            held.variables.append(
                {
                    "key": "GITLAB_TOKEN",
                    "value": site.api.token,
                    "variable_type": "env_var",
                    "protected": True,
                    "masked": True,
                    "raw": True,
                    "environment_scope": scope,
                }
            )
        held.variables.append(
            {
                "key": "GITLAB_REPORT_TOKEN",
                "value": "glpat-report",  # pragma: allowlist secret
                "variable_type": "env_var",
                "protected": False,
                "masked": True,
                "raw": True,
                "environment_scope": "*",
            }
        )
        found = site.make("doctor", "DOCTOR_ARGS=--skip-cluster")
        assert "ok: protected branch main — no one pushes" in found
        assert "ok: protected environment production — 1 approval(s) required to deploy" in found
        assert "ok: variable GITLAB_TOKEN — masked, protected (environments: forge, production, staging)" in found
        assert "ok: variable GITLAB_REPORT_TOKEN — masked, unprotected" in found and "nothing missing" in found
        assert "ok: pipeline variables — the minimum role to set them is developer" in found
        assert site.api.token not in found + missing

    def test_a_refused_call_names_itself_and_its_fix_and_never_shows_the_token(
        self, gitlab_project: GitLabProject
    ) -> None:
        site = gitlab_project
        path = site.path / "reports" / "monitoring" / "summary.json"
        path.write_text(json.dumps(MONITOR_SUMMARY))
        site.api.fail(r"GET /projects/:id/issues")  # its message names the token, as a careless server might
        said = site.make("monitor-alert", check=False)
        site.api.heal()
        call = f"gitlab GET '/projects/{quote(site.api.path, safe='')}/issues?labels=model-monitor&state=opened'"
        assert f"error: `{call}` failed (403): 403 Forbidden: token *** may not" in said
        assert site.api.token not in said
        site.api.project.pipeline_variables_role = "no_one_allowed"  # GitLab.com's default for new projects
        refused = site.make("monitor-alert", check=False)
        assert "failed (400): {'base': ['Insufficient permissions to set pipeline variables']}" in refused
        assert "Minimum role to use pipeline variables: Maintainer" in refused
        doctor = site.make("doctor", "DOCTOR_ARGS=--skip-cluster", check=False)
        assert "missing: pipeline variables — retraining is dispatched as a pipeline with variables" in doctor
        wrong = site.make("pr-note", "NUMBER=1", check=False, GITLAB_TOKEN="glpat-wrong")
        assert "failed (401)" in wrong and "GitLab refused GITLAB_TOKEN" in wrong and "glpat-wrong" not in wrong
