"""The generated workflows and Makefile as a platform engineer runs them: values reach commands as data, never as code.

One default project is rendered (no install). Its workflows are read as GitHub reads them; its
Makefile is run for real by make and bash, with a stand-in for the project's Python that records
the arguments it got, so a hostile value (a branch named `x";touch pwned;"`) would show.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_cookies.plugin import Cookies
from support.baking import bake_ok
from support.processes import run

EXPRESSION = "${{"
HOSTILE = 'x";touch pwned;"'
# Make expands `$(...)` in a value given on its command line, never in one from the environment.
HOSTILE_ENV = HOSTILE + "$(touch pwned)`touch pwned`$(shell touch pwned)"
# `make … NAME="$VAR"`: a shell value handed to make as make text.
MAKE_ASSIGNS_SHELL_VALUE = re.compile(r"\bmake\b[^\n]*\b[A-Z_]+=[\"']?[^\"'\s]*\$")
# The commands that push a bot branch or tag and open its pull request or release.
PROPOSING = re.compile(r"make (promote|rollback|publish|(release|template-update) [A-Z]+_ARGS=--publish)\b")
APP_TOKEN_ACTION = re.compile(r"^actions/create-github-app-token@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


@pytest.fixture(scope="module")
def project(cookies_session: Cookies, template: str) -> Path:
    return bake_ok(cookies_session, template, {"github_owner": "acme"})


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def workflows(project: Path) -> dict[str, dict[str, Any]]:
    return {p.name: load(p) for p in sorted((project / ".github/workflows").glob("*.yml"))}


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    return on if isinstance(on, dict) else {name: None for name in ([on] if isinstance(on, str) else on)}


def steps(project: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every step of every workflow and composite action: (where, the step)."""
    for name, workflow in workflows(project).items():
        for job_id, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                yield f"{name}:{job_id}:{step.get('name', step.get('uses', step.get('run', '')))}", step
    for path in sorted((project / ".github/actions").glob("*/action.yml")):
        for step in load(path)["runs"].get("steps", []):
            yield f"{path.parent.name}:{step.get('name', '')}", step


def test_no_run_step_pastes_an_expression_into_shell_text(project):
    pasted = [where for where, step in steps(project) if EXPRESSION in str(step.get("run", ""))]
    assert pasted == [], f"expressions go through `env:`, not into `run:` — {pasted}"


def test_no_run_step_hands_a_shell_value_to_make_as_make_text(project):
    handed = [
        f"{where}: {line.strip()}"
        for where, step in steps(project)
        for line in str(step.get("run", "")).splitlines()
        if MAKE_ASSIGNS_SHELL_VALUE.search(line)
    ]
    assert handed == [], f"pass the value in `env:` under the make variable's name — {handed}"


def test_every_bot_step_uses_the_bots_token_and_says_which_it_is(project):
    calls = [(where, step) for where, step in steps(project) if "bot-identity" in str(step.get("uses", ""))]
    assert {where.split(":")[0] for where, _ in calls} >= {
        "cd.yml",
        "promote-production.yml",
        "release.yml",
        "retrain.yml",
        "rollback.yml",
        "template-update.yml",
    }
    for where, step in calls:
        assert step["id"] == "bot", where
        assert step["with"]["app-id"] == "${{ vars.MODELOPS_APP_ID }}", where
        assert step["with"]["app-private-key"] == "${{ secrets.MODELOPS_APP_PRIVATE_KEY }}", where
        assert step["with"]["github-token"] == "${{ github.token }}", where
    for where, step in steps(project):
        if PROPOSING.search(str(step.get("run", ""))):
            env = step.get("env", {})
            assert env.get("GH_TOKEN") == "${{ steps.bot.outputs.token }}", f"{where} opens a PR with another token"
            assert env.get("MODELOPS_BOT") == "${{ steps.bot.outputs.kind }}", f"{where} does not say which token"


def test_the_app_token_is_minted_by_the_pinned_action_with_the_permissions_listed(project):
    action = load(project / ".github/actions/bot-identity/action.yml")
    text = (project / ".github/actions/bot-identity/action.yml").read_text()
    (mint,) = [s for s in action["runs"]["steps"] if "create-github-app-token" in s.get("uses", "")]
    pin = re.search(r"uses: (actions/create-github-app-token@\S+ # \S+)", text)
    assert pin and APP_TOKEN_ACTION.match(pin.group(1)), "pin the action to a commit, its tag in a comment"
    assert mint["with"]["permission-contents"] == "write" and mint["with"]["permission-pull-requests"] == "write"
    for permission in ("Contents: read and write", "Pull requests: read and write", "Workflows: read and write"):
        assert permission in text, f"the App's permission {permission!r} is not listed for whoever creates it"


def test_the_templates_hooks_run_in_a_step_without_a_token(project):
    (job,) = workflows(project)["template-update.yml"]["jobs"].values()
    runs = [s for s in job["steps"] if "make template-update" in str(s.get("run", ""))]
    update, publish = runs
    assert "--publish" not in update["run"] and not update.get("env"), "the update step must get no token"
    assert "--publish" in publish["run"] and publish["if"] == "${{ !cancelled() }}"
    bot = next(s for s in job["steps"] if s.get("id") == "bot")
    assert bot["with"]["workflows"] == "true", "template updates may change workflows: the App's token needs it"


def test_production_is_proposed_when_the_cluster_reports_staging_healthy(project):
    flows = workflows(project)
    promote = flows["promote-production.yml"]
    assert list(triggers(promote)) == ["deployment_status"]
    (job,) = promote["jobs"].values()
    assert "github.event.deployment.environment == 'staging'" in job["if"]
    assert "github.event.deployment_status.state == 'success'" in job["if"]
    checkout = job["steps"][0]["with"]
    assert checkout["ref"] == "main" and checkout["fetch-depth"] == 0
    (step,) = [s for s in job["steps"] if "make promote" in str(s.get("run", ""))]
    assert "ENV=production FROM=staging" in step["run"]
    assert step["env"]["SYNCED"] == "${{ github.event.deployment.sha }}"
    assert step["env"]["HEALTH"] == "${{ github.event.deployment_status.description }}"
    assert step["env"]["HEALTH_URL"] == "${{ github.event.deployment_status.log_url }}"
    assert set(flows["cd.yml"]["jobs"]) == {"image", "staging"}, "cd.yml must not smoke-test staging from a runner"
    reaching = [name for name in flows if "STAGING_URL" in (project / ".github/workflows" / name).read_text()]
    assert reaching == [], f"{reaching} reach staging from a hosted runner"
    monitor_runs = " ".join(str(s.get("run", "")) for where, s in steps(project) if where.startswith("monitor.yml"))
    assert "load-test" not in monitor_runs, "the monitor judges latency from the prediction log"


def test_code_owners_guard_production_the_workflows_and_the_criteria(project):
    rules = [
        line.split()
        for line in (project / ".github/CODEOWNERS").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {rule[0]: rule[1:] for rule in rules} == {
        "/deploy/production/": ["@acme"],
        "/.github/": ["@acme"],
        "/docs/criteria.yaml": ["@acme"],
    }
    assert all((project / rule[0].strip("/")).exists() for rule in rules), "a rule names a path the project lacks"


# --- the Makefile, read and run for real -------------------------------------------------------------


def test_no_recipe_pastes_a_value_a_workflow_may_set(project):
    text = (project / "Makefile").read_text()
    exported = re.search(r"^export ((?:[A-Z_]+ ?)+)$", text, re.MULTILINE)
    assert exported, "the Makefile exports no variable: recipes cannot read workflow values from the environment"
    names = set(exported.group(1).split())
    assert {variable for _, variable in RECIPE_VALUES} <= names
    # $(NAME) or ${NAME} is make's; $$NAME and $${NAME} are the shell's, reading the environment
    reference = re.compile(rf"(?<!\$)\$[({{]({'|'.join(sorted(names))})[)}}]")
    pasted = [line.strip() for line in text.splitlines() if line.startswith("\t") and reference.search(line)]
    assert pasted == [], f'read the value as "$$NAME" (the environment), not $(NAME) — {pasted}'


# (target, the make variable a workflow may set): every recipe that hands a value to a command.
RECIPE_VALUES = [
    ("pr-report", "BASE"),
    ("promote", "VERSION"),
    ("promote", "FROM"),
    ("promote", "SYNCED"),
    ("promote", "HEALTH"),
    ("promote", "HEALTH_URL"),
    ("rollback", "ENV"),
    ("deploy", "ENV"),
    ("smoke", "URL"),
    ("load-test", "URL"),
    ("image", "REGISTRY"),
    ("simulate", "PHASE"),
    ("monitor", "DATA"),
    ("fetch-logs", "SOURCE"),
    ("score", "INPUT"),
    ("score", "OUTPUT"),
    ("monitor-alert", "RUN_URL"),
    ("retrain", "DATA"),
    ("impact", "CANDIDATE"),
    ("impact", "DAYS"),
    ("impact", "DATA"),
    ("impact-check", "BASE"),
    ("evidence", "SKIP"),
]
STAND_IN = '#!/bin/sh\nprintf "%s\\0" "$@" > "$ARGV_FILE"\n'


@pytest.fixture
def installed(project, tmp_path) -> Path:
    """The project's .venv as make sees it after `make install`, its python a stand-in recording its arguments."""
    venv = project / ".venv"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    python = venv / "bin" / "python"
    python.write_text(STAND_IN)
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    for marker in (".synced", ".installed"):  # newer than the lock file and pyproject.toml
        (venv / marker).touch()
    for leftover in project.glob("pwned"):
        leftover.unlink()
    return tmp_path / "argv"


@pytest.mark.parametrize("given", ["command-line", "environment"])
@pytest.mark.parametrize(("target", "variable"), RECIPE_VALUES, ids=[f"{t}-{v}" for t, v in RECIPE_VALUES])
def test_a_hostile_value_reaches_the_command_as_one_argument_and_runs_nothing(
    project, installed, target, variable, given
):
    value = HOSTILE if given == "command-line" else HOSTILE_ENV
    env = {**os.environ, "ARGV_FILE": str(installed)}
    args = ["make", "--no-print-directory", target]
    if given == "command-line":
        args.append(f"{variable}={value}")
    else:
        env[variable] = value
    if target == "promote" and variable != "FROM":
        args.append("FROM=staging")  # --synced needs it; any value will do for the stand-in
    run(args, cwd=project, env=env)
    assert not (project / "pwned").exists(), f"make {target} ran shell text from {variable}"
    received = installed.read_bytes().split(b"\0")
    assert value.encode() in received, f"{variable} did not arrive as one argument: {received}"
