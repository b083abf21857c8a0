"""GitLab CI, executed: the generated .gitlab-ci.yml checked against GitLab's schema and run on this machine.

The `ci: gitlab` configuration is baked, committed and given a bare git remote; gitlab-ci-local
(support.gitlabci) then runs its merge-request pipeline for a branch that changes a model parameter,
and, once that branch is merged, its main-branch pipeline. Every job runs in its own copy of the
project with the shell executor, so what a later job reads arrives as an artifact; the forge calls go
to the fake GitLab API (support.fakegitlab). The merge-request pipeline's `make lint` and `make test`
stand in for the lifecycle tests that configuration skips (support.lifecycle.RUN_BY_GITLAB_PIPELINE),
with the same hooks skipped and the same tests chosen. Both runs' output is kept as the template CI's
artifact (build/artifacts/gitlab-ci-local.log).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from support import gitlabci
from support.fakegitlab import PROJECT_ID, FakeGitLab
from support.lifecycle import (
    CONFIGURED,
    NAME_ONLY_HOOKS,
    ONE_PER_PYTHON,
    ONLY_IN,
    PYTHON_ONLY_HOOKS,
    REFERENCE,
    RELAXED_SLO,
    RUN_BY_GITLAB_PIPELINE,
    Lifecycle,
)
from support.matrix import CONFIGURATIONS, Configuration
from support.processes import run

CONFIG = next(c for c in CONFIGURATIONS if c.answers.get("ci") == "gitlab" and c.lifecycle)
BRANCH = "lower-regularisation"
REPORT_MARKER = "<!-- modelops-pr-report -->"
# Jobs each pipeline must run green, and jobs its rules must leave out.
MR_JOBS = {"check", "report"}
MAIN_JOBS = {"build", "staging"}
MAIN_LEFT_OUT = {"container-image", "release", "check", "report"}
GIT = ["git", "-c", "user.name=Developer", "-c", "user.email=developer@example.com"]


@dataclass(frozen=True)
class Pipelines:
    """The project, the two runs, what the fake GitLab recorded in each, and the bare remote."""

    project: Path
    remote: Path
    merge_request: gitlabci.PipelineRun
    report_again: gitlabci.PipelineRun
    main: gitlabci.PipelineRun
    mr_calls: list[str]
    main_calls: list[tuple[str, dict]]
    api: FakeGitLab


def lint_skips(config: Configuration) -> str:
    """The hooks `make lint` skips in this configuration, as tests/test_lifecycle.py skips them."""
    skipped = [] if config == REFERENCE else list(NAME_ONLY_HOOKS)
    skipped += [] if config in ONE_PER_PYTHON else list(PYTHON_ONLY_HOOKS)
    return ",".join(skipped)


def chosen_tests(config: Configuration) -> str:
    """PYTEST_ADDOPTS for `make test`: the tests tests/test_lifecycle.py chooses for this configuration."""
    deselect = [test for test, configs in ONLY_IN.items() if config not in configs]
    choose = ([] if config == REFERENCE else [*CONFIGURED]) + [f"--deselect={test}" for test in deselect]
    return " ".join(["-v", *choose])


def relax_slo(project: Path) -> None:
    """The load test's SLO and length for a shared 2-core runner (support.lifecycle.RELAXED_SLO), committed."""
    path = project / "docs" / "criteria.yaml"
    criteria = yaml.safe_load(path.read_text())
    text = path.read_text()
    for key, value in {**RELAXED_SLO, "users": 10, "duration_s": 8}.items():
        old = f"  {key}: {criteria['slo'][key]}\n"
        assert old in text, f"docs/criteria.yaml has no line {old!r}"
        text = text.replace(old, f"  {key}: {value:g}\n")
    path.write_text(text)


def open_merge_request(api: FakeGitLab) -> int:
    """The developer's merge request of BRANCH, opened through the API as GitLab's UI would."""
    body = json.dumps({"source_branch": BRANCH, "target_branch": "main", "title": "Lower regularisation"})
    request = urllib.request.Request(
        f"{api.url}/api/v4/projects/{PROJECT_ID}/merge_requests",
        data=body.encode(),
        headers={"PRIVATE-TOKEN": api.token, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  # the fake, on loopback
        return int(json.load(answer)["iid"])


def common_variables(lifecycle: Lifecycle, api: FakeGitLab, dvc_remote: Path) -> dict[str, str]:
    """What every run passes: the project's Python, the shared caches, the DVC remote, the fake GitLab."""
    home = Path.home()
    return {
        "PYTHON": lifecycle.python,
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", str(home / ".cache" / "uv")),
        "PRE_COMMIT_HOME": os.environ.get("PRE_COMMIT_HOME", str(home / ".cache" / "pre-commit")),
        "DVC_SITE_CACHE_DIR": lifecycle.env["DVC_SITE_CACHE_DIR"],
        "MODELOPS_DVC_REMOTE": str(dvc_remote),
        "MODELOPS_WORKERS": "1",  # one service process beside Locust on 2 cores (support.lifecycle)
        "MODELOPS_IMAGE": "off",  # no Docker here: the image job is left out, not failed
        "CI_SERVER_URL": api.url,
        "CI_PROJECT_ID": str(PROJECT_ID),
    }


@pytest.fixture(scope="module")
def pipelines(
    bake_configuration: Callable[[Configuration], Path],
    new_lifecycle: Callable[[Configuration, Path], Lifecycle],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pipelines]:
    tool = gitlabci.provision()
    lifecycle = new_lifecycle(CONFIG, bake_configuration(CONFIG))
    project, scratch = lifecycle.path, tmp_path_factory.mktemp("gitlab")
    remote, dvc_remote = scratch / "remote.git", scratch / "dvc-remote"
    dvc_remote.mkdir()
    run(["git", "init", "--quiet", "--bare", "--initial-branch=main", remote], cwd=scratch)
    relax_slo(project)
    run([*GIT, "commit", "--quiet", "--no-verify", "-am", "test: the SLO of a shared runner"], cwd=project)
    run(["git", "remote", "add", "origin", remote], cwd=project)
    run(["git", "push", "--quiet", "origin", "main"], cwd=project)
    run(["git", "remote", "set-head", "origin", "main"], cwd=project)
    base = run(["git", "rev-parse", "HEAD"], cwd=project).stdout.strip()
    # The merge request: a branch changing a model parameter.
    run(["git", "checkout", "--quiet", "-b", BRANCH], cwd=project)
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("    alpha: 1.0\n", "    alpha: 0.5\n"))
    run([*GIT, "commit", "--quiet", "--no-verify", "-am", "feat(train): ridge alpha 0.5"], cwd=project)
    run(["git", "push", "--quiet", "origin", BRANCH], cwd=project)
    env = {k: v for k, v in lifecycle.env.items() if not k.startswith(("GITLAB_", "CI_"))} | {"CI": "false"}
    with FakeGitLab(remote=remote) as api:
        iid = open_merge_request(api)
        common = common_variables(lifecycle, api, dvc_remote)
        before = len(api.calls)
        mr_variables = common | {
            "CI_PIPELINE_SOURCE": "merge_request_event",
            "CI_MERGE_REQUEST_IID": str(iid),
            "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": BRANCH,
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
            "GITLAB_REPORT_TOKEN": api.token,
            "SKIP": lint_skips(CONFIG),
            "PYTEST_ADDOPTS": chosen_tests(CONFIG),
        }
        merge_request = gitlabci.run_pipeline(tool, project, mr_variables, env)
        # The report job again, as on the next push: it reads the check job's kept artifacts and edits its note.
        rerun = gitlabci.run_pipeline(tool, project, mr_variables, env, jobs=["report"])
        mr_calls = [c.route for c in api.calls[before:]]
        # Merged: main moves on; the remote's main is still the base, as in GitLab's push event.
        run(["git", "checkout", "--quiet", "main"], cwd=project)
        run([*GIT, "merge", "--quiet", "--no-ff", "--no-verify", "-m", f"Merge branch '{BRANCH}'", BRANCH], cwd=project)
        before = len(api.calls)
        main = gitlabci.run_pipeline(tool, project, common | {"GITLAB_TOKEN": api.token}, env)
        main_calls = [(c.route, c.body if isinstance(c.body, dict) else {}) for c in api.calls[before:]]
        runs = {"merge-request pipeline": merge_request, "its report job again": rerun, "main-branch pipeline": main}
        gitlabci.keep_log(runs)
        yield Pipelines(project, remote, merge_request, rerun, main, mr_calls, main_calls, api)


def artifact(pipelines: Pipelines, job: str, path: str) -> Path:
    """A file a job kept as an artifact (gitlab-ci-local keeps them per job in its state folder)."""
    return pipelines.project / ".gitlab-ci-local" / "artifacts" / job / path


# --- the file -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered(bake_configuration: Callable[[Configuration], Path]) -> Path:
    """The configuration rendered, for the checks that read its files (the pipelines bake their own)."""
    return bake_configuration(CONFIG)


def check_gitlab_ci(project: Path) -> subprocess.CompletedProcess[str]:
    """The project's own pre-commit hook: `check-jsonschema --builtin-schema vendor.gitlab-ci`."""
    pre_commit = Path(sys.executable).parent / "pre-commit"
    command = [pre_commit, "run", "check-gitlab-ci", "--files", ".gitlab-ci.yml"]
    return run(command, cwd=project, check=False, timeout=300)


def test_gitlab_ci_validates_against_gitlabs_schema(rendered):
    """The generated file passes GitLab's CI schema (the project's pre-commit hook); a broken job fails it."""
    ok = check_gitlab_ci(rendered)
    assert ok.returncode == 0 and "Passed" in ok.stdout, ok.stdout
    good = (rendered / ".gitlab-ci.yml").read_text()
    try:
        (rendered / ".gitlab-ci.yml").write_text(
            good.replace("  stage: check\n", "  stage: check\n  when: sometimes\n", 1)
        )
        bad = check_gitlab_ci(rendered)
    finally:
        (rendered / ".gitlab-ci.yml").write_text(good)
    assert bad.returncode != 0 and "$.check" in bad.stdout, bad.stdout


def test_every_job_script_is_make_calls(rendered):
    """Each job's script lines are one `make` target each, no variable expanded in them: the logic lives in
    commands the suite tests, the values in the environment."""
    document = yaml.safe_load((rendered / ".gitlab-ci.yml").read_text())
    jobs = {name: job for name, job in document.items() if isinstance(job, dict) and "script" in job}
    assert jobs, "no jobs in .gitlab-ci.yml"
    other = {f"{name}: {line}" for name, job in jobs.items() for line in job["script"] if not line.startswith("make ")}
    assert other == set()
    # Values reach make through the environment (job variables), never expanded into the script's text.
    expanded = {f"{name}: {line}" for name, job in jobs.items() for line in job["script"] if "$" in line}
    assert expanded == set()
    assert document["default"]["before_script"][-1] == "make install"


# --- the pipelines, run ---------------------------------------------------------------------------


@pytest.mark.slow  # bakes a project and runs its pipelines (minutes)
def test_merge_request_pipeline_runs_green(pipelines):
    """lint, the pipeline and its gate, the project's tests, build, load test, evidence, impact check, report: green."""
    run_ = pipelines.merge_request
    assert set(run_.jobs) == MR_JOBS and run_.failed() == [] and run_.returncode == 0, run_.output[-4000:]
    check = gitlabci.job_output(run_, "check")
    for target in (*RUN_BY_GITLAB_PIPELINE, "pipeline", "build", "load-test", "evidence", "impact-check"):
        assert f"$ make {target}" in check, f"the check job ran no `make {target}`"
    assert " passed" in check and " failed" not in check
    assert "tests/model/" in check, "no model test ran"
    assert {"build", "staging", "container-image"} <= set(run_.left_out)


@pytest.mark.slow  # bakes a project and runs its pipelines (minutes)
def test_the_report_job_reads_the_check_jobs_artifacts_and_keeps_one_note(pipelines):
    """The report compares with the branch's base using the load figures the check job left (an artifact),
    and goes to the merge request as its one report note: posted once, edited when the job runs again."""
    report = artifact(pipelines, "report", "reports/pr.md").read_text()
    assert REPORT_MARKER in report and "train.ridge.alpha" in report
    assert "No load test recorded" not in report, "the check job's reports/load.json did not reach the report job"
    assert pipelines.report_again.failed() == [] and set(pipelines.report_again.jobs) == {"report"}, (
        pipelines.report_again.output[-3000:]
    )
    notes = [route for route in pipelines.mr_calls if route.startswith("POST /projects/:id/merge_requests/1/notes")]
    edits = [route for route in pipelines.mr_calls if route.startswith("PUT /projects/:id/merge_requests/1/notes/")]
    assert (len(notes), len(edits)) == (1, 1), pipelines.mr_calls
    posted = pipelines.api.project.notes[("merge_requests", 1)]
    assert [n["body"].splitlines()[0] for n in posted] == [REPORT_MARKER]


@pytest.mark.slow  # bakes a project and runs its pipelines (minutes)
def test_main_pipeline_builds_and_opens_the_staging_merge_request(pipelines):
    """After the merge: build (pull, pipeline, build, load test) then the merge request moving staging to
    the version the build job made — read from its artifact —, the image job left out (no registry)."""
    run_ = pipelines.main
    assert set(run_.jobs) == MAIN_JOBS and run_.failed() == [] and run_.returncode == 0, run_.output[-4000:]
    assert MAIN_LEFT_OUT <= set(run_.left_out)
    version = json.loads(artifact(pipelines, "build", "reports/build.json").read_text())["version"]
    opened = [body for route, body in pipelines.main_calls if route == "POST /projects/:id/merge_requests"]
    assert len(opened) == 1, pipelines.main_calls
    assert opened[0]["target_branch"] == "main" and version in json.dumps(opened[0])
    branch = opened[0]["source_branch"]
    overlay = run(["git", "show", f"{branch}:deploy/staging/kustomization.yaml"], cwd=pipelines.remote).stdout
    assert version in overlay, f"the pushed branch {branch} does not move staging to {version}"


@pytest.mark.slow  # bakes a project and runs its pipelines (minutes)
def test_the_run_log_is_kept_for_the_templates_ci(pipelines):
    log = gitlabci.RUN_LOG.read_text()
    for title in ("merge-request pipeline", "its report job again", "main-branch pipeline"):
        assert f"===== {title}: exit 0" in log, f"{title} is not in the log, or failed"
    assert pipelines.api.token not in log, "the token reached the log"
