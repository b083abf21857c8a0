"""Unit tests of governance/evidence/: each check on a toy project (a real git repository), and the project's own map.

The toy holds one piece of each kind. Every failing case must name its duty, the reason and the
command to run. `dvc status` is given as data, except in the one test that runs DVC for real.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import yaml

TOY_MAP = """
standard: a toy standard
sections: {"1": Components, "2": Deployment, "3": Performance}
duties:
  - id: "1.4"
    duty: Dependencies.
    evidence:
      - what: locked dependencies
        kind: file
        path: requirements.lock
        current: {newer_than: requirements.in}
        fix: make lock
  - id: "1.5"
    duty: Problem definition, model and evaluation report.
    evidence:
      - {what: problem definition, kind: file, path: docs/problem_definition.md, filled: release, fix: write it}
      - what: evaluation report
        kind: file
        path: docs/evaluation_report.md
        current: {stage: evaluate}
        fix: make pipeline
      - {what: the model, kind: dvc, path: models/model.joblib, fix: make pipeline}
  - id: "2.4"
    duty: Deploy.
    evidence:
      - {what: deploy an environment, kind: make, target: deploy}
      - {what: deployment history, kind: history, path: .deploy/history.jsonl, when: deploy, fix: make deploy}
  - id: "2.5"
    duty: Releases.
    evidence:
      - {what: release tag, kind: tag, when: release, fix: make release}
      - {what: changelog, kind: file, path: CHANGELOG.md, when: release, current: {mentions: tag}, fix: make release}
  - id: rollback
    scope_of: "2"
    duty: Roll back.
    evidence:
      - {what: the rollback workflow, kind: workflow, path: .github/workflows/rollback.yml, runs: make rollback}
  - id: "3.3"
    duty: Monitoring.
    evidence:
      - what: monitoring report
        kind: file
        path: reports/monitoring/summary.json
        when: deploy
        current: {versions: deployed}
        fix: make monitor
"""
TOY_PIPELINE = """
stages:
  train:
    cmd: mkdir -p models && echo model > models/model.joblib
    outs: [models/model.joblib]
  evaluate:
    cmd: cat params.yaml > docs/evaluation_report.md
    deps: [params.yaml, models/model.joblib]
    outs:
      - docs/evaluation_report.md:
          cache: false
"""
V1, V2 = "0.1.0-1111111", "0.1.0-2222222"
# What the scope notes of the standard are called in the project's map.
SCOPE_NOTES = {"reproducibility", "verification", "impact", "risk", "rollback", "concurrency", "retirement"}
DUTIES = {f"{s}.{n}" for s, count in ((1, 5), (2, 5), (3, 4), (4, 3)) for n in range(1, count + 1)}
UP_TO_DATE: tuple[dict, str] = ({}, "")  # `dvc status --json` of a reproduced pipeline


class Toy:
    """A toy project in a real git repository; each commit one second after the one before."""

    def __init__(self, path: Path, records: ModuleType) -> None:
        self.path = path
        self.records = records  # core.records: the deployment history as `make deploy` appends it
        self.clock = 1_767_225_600  # 2026-01-01, UTC

    def git(self, *args: str) -> str:
        self.clock += 1
        stamp = f"@{self.clock} +0000"
        env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
        done = subprocess.run(["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def write(self, files: dict[str, str]) -> None:
        for rel, text in files.items():
            (self.path / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.path / rel).write_text(text)

    def commit(self, files: dict[str, str] | None = None, message: str = "change") -> None:
        self.write(files or {})
        self.git("add", "--all")
        self.git("commit", "--quiet", "--no-verify", "-m", message)

    def monitored(self, judged: list[str], in_log: list[str] | None = None) -> None:
        """A monitor summary, written as `make monitor` writes it, that judged `judged`."""
        summary = self.records.MonitorSummary(decision="keep", model_versions=judged, versions_in_log=in_log or [])
        summary.write(self.path / "reports/monitoring/summary.json")

    def deploy(self, version: str, result: str = "ok") -> None:
        """A deployment of `version` to local, recorded as `make deploy` does, after every commit so far."""
        self.clock += 1
        when = datetime.fromtimestamp(self.clock, UTC).isoformat(timespec="seconds")
        event = self.records.DeploymentEvent(time=when, env="local", version=version, commit="nogit", result=result)
        self.records.append_history(event)


def lock(model_md5: str) -> str:
    """A dvc.lock whose train stage made the model with this hash."""
    train = {"outs": [{"path": "models/model.joblib", "md5": model_md5}]}
    return yaml.safe_dump({"schema": "2.0", "stages": {"train": train}})


@pytest.fixture(scope="module")
def evidence(pkg) -> SimpleNamespace:
    """The modules of governance/evidence/: map, facts, checks, page and the command (`main`, its `__main__`)."""
    modules = ("map", "facts", "checks", "page", "__main__")
    return SimpleNamespace(
        **{name.strip("_"): importlib.import_module(f"{pkg.name}.governance.evidence.{name}") for name in modules}
    )


@pytest.fixture
def toy(pkg, isolated) -> Toy:
    """A complete toy: every piece present and current, nothing promoted, no release."""
    project = Toy(isolated, pkg.core.records)
    project.git("init", "--quiet", "--initial-branch=main")
    project.git("config", "user.name", "toy")
    project.git("config", "user.email", "toy@localhost")
    project.git("config", "commit.gpgsign", "false")
    (isolated / ".gitignore").write_text(".deploy/\nmodels/\nreports/monitoring/\n")
    project.commit({"requirements.in": "pyyaml\n"}, "the input first")
    project.commit(
        {
            "docs/evidence.yaml": TOY_MAP,
            "requirements.lock": "pyyaml==6.0.2\n",
            "docs/problem_definition.md": "# Problem\n\nWho uses it: the clinic's triage nurses.\n",
            "docs/evaluation_report.md": "# Evaluation report\n",
            "dvc.yaml": TOY_PIPELINE,
            "dvc.lock": lock("a" * 32),
            "models/model.joblib": "model",
            "Makefile": "deploy:\n\t@echo deploy\n",
            "deploy/local/environment.yaml": "version: ''\nport: 3000\n",
            ".github/workflows/rollback.yml": "jobs:\n  revert:\n    steps:\n      - run: make rollback ENV=local\n",
            "CHANGELOG.md": "# Changelog\n",
        },
        "the toy",
    )
    return project


def check(evidence, skip: frozenset[str] = frozenset(), status: tuple[dict | None, str] = UP_TO_DATE) -> list[str]:
    """The failure lines `make evidence` prints for the toy."""
    rows = evidence.checks.evaluate(evidence.map.load_map(), evidence.facts.observe(skip, status))
    return evidence.page.failures(rows)


def rows_of(evidence, piece: str, status: tuple[dict | None, str] = UP_TO_DATE) -> list:
    rows = evidence.checks.evaluate(evidence.map.load_map(), evidence.facts.observe(frozenset(), status))
    return [row for row in rows if row.piece.label == piece]


def promote(toy: Toy, version: str) -> None:
    toy.commit({"deploy/local/environment.yaml": f"version: '{version}'\nport: 3000\n"}, f"promote {version}")


def release(toy: Toy, tag: str = "v0.1.0") -> None:
    toy.commit({"CHANGELOG.md": f"# Changelog\n\n## {tag}\n"}, f"chore(release): {tag}")
    toy.git("tag", "--annotate", tag, "-m", tag)


# --- a complete project ------------------------------------------------------------------------------


def test_a_complete_toy_passes_and_its_page_is_the_same_bytes_every_time(evidence, toy):
    assert check(evidence) == []
    facts = evidence.facts.observe(frozenset(), UP_TO_DATE)
    assert facts.reached == {"always"}
    found = evidence.map.load_map()
    pages = {evidence.page.page(found, evidence.checks.evaluate(found, facts), facts) for _ in range(2)}
    assert len(pages) == 1
    page = pages.pop()
    assert "[`docs/evaluation_report.md`](evaluation_report.md)" in page  # links from docs/ to the file
    assert "[`requirements.lock`](../requirements.lock)" in page
    assert "| 1.5 | the model: " in page and "md5 `aaaaaaaa`" in page
    assert "2026-01-01" in page and "Every required piece is present" in page
    assert "not required (until deploy): missing" in page  # listed, not failed: nothing is promoted


def test_the_points_reached_come_from_git(evidence, toy):
    promote(toy, V1)
    assert evidence.facts.observe(frozenset(), UP_TO_DATE).reached == {"always", "deploy"}
    release(toy)
    toy.commit({"data/production.dvc": "outs: []\n"}, "feat(model): retrain")
    assert evidence.facts.observe(frozenset(), UP_TO_DATE).reached == set(evidence.map.POINTS)
    assert evidence.map.parse_points("deploy, release") == {"deploy", "release"}
    with pytest.raises(SystemExit, match="--skip always: name some of retrain, deploy, release"):
        evidence.map.parse_points("always")


# --- each check fails naming its duty, the reason and the command --------------------------------------


def test_an_edited_params_file_makes_the_evaluation_report_stale(evidence, toy, capsys):
    """DVC for real: a stage reproduced, then its parameters edited."""
    dvc = str(Path(sys.executable).with_name("dvc"))
    env = {**os.environ, "DVC_NO_ANALYTICS": "true"}
    subprocess.run([dvc, "init", "--quiet"], check=True, env=env)
    toy.write({"params.yaml": "evaluate:\n  threshold: 0.5\n"})
    (toy.path / "dvc.lock").unlink()
    subprocess.run([dvc, "repro", "--quiet"], check=True, env=env, capture_output=True)
    toy.commit(message="the pipeline")
    assert check(evidence, status=None) == []
    (toy.path / "params.yaml").write_text("evaluate:\n  threshold: 0.9\n")
    with pytest.raises(SystemExit) as stop:
        evidence.main.main([])  # what `make evidence` runs
    assert stop.value.code == 1
    out = capsys.readouterr()
    (found,) = out.err.splitlines()
    assert found.startswith("error: 1.5: evaluation report (docs/evaluation_report.md) stale: dvc status: evaluate")
    assert "changed deps: params.yaml" in found and found.endswith("— run `make pipeline`")
    assert "FAIL: stale: dvc status: evaluate" in out.out
    assert "FAIL: stale" in (toy.path / "docs/evidence.md").read_text()


def test_a_stage_is_stale_when_one_it_reads_from_is(evidence, toy):
    """Trained on other parameters: the model is stale, and so is the report that evaluates it."""
    status = ({"train": [{"changed params": {"params.yaml": {"train.seed": "modified"}}}]}, "")
    assert check(evidence, status=status) == [
        "error: 1.5: evaluation report (docs/evaluation_report.md) stale: dvc status:"
        " upstream train (changed params: params.yaml) — run `make pipeline`",
        "error: 1.5: the model (models/model.joblib) stale: dvc status: train (changed params: params.yaml)"
        " — run `make pipeline`",
    ]


def test_dvc_that_cannot_say_makes_stage_pieces_stale(evidence, toy):
    found = check(evidence, status=(None, "not a DVC repository"))
    assert [line.split(" (")[0] for line in found] == ["error: 1.5: evaluation report", "error: 1.5: the model"]
    assert all("stale: `dvc status` failed (not a DVC repository)" in line for line in found)


def test_a_lock_older_than_its_input_is_stale(evidence, toy):
    toy.commit({"requirements.in": "pyyaml\njinja2\n"}, "a new dependency, not locked")
    (found,) = check(evidence)
    assert found.startswith("error: 1.4: locked dependencies (requirements.lock) stale: older than requirements.in")
    assert found.endswith("— run `make lock`")
    toy.write({"requirements.lock": "jinja2==3.1.6\npyyaml==6.0.2\n"})  # locked, not committed yet: its mtime counts
    assert check(evidence) == []


def test_a_placeholder_fails_the_problem_definition_from_the_first_release(evidence, toy):
    toy.commit({"docs/problem_definition.md": "# Problem\n\n- Who uses it? *(fill in)*\n"}, "the template's page")
    assert check(evidence) == []  # before a release it is a gap, shown
    (row,) = rows_of(evidence, "docs/problem_definition.md")
    assert row.verdict == "not required (until release): unfilled: 1 × `(fill in)` left"
    release(toy)
    assert check(evidence) == [
        "error: 1.5: problem definition (docs/problem_definition.md) unfilled: 1 × `(fill in)` left — write it"
    ]


def test_a_missing_piece_fails_once_its_point_is_reached_and_not_when_skipped(evidence, toy):
    promote(toy, V1)
    toy.deploy(V1)
    assert check(evidence) == [
        "error: 3.3: monitoring report (reports/monitoring/summary.json) missing — run `make monitor`"
    ]
    assert check(evidence, skip=frozenset({"deploy"})) == []
    (row,) = rows_of(evidence, "reports/monitoring/summary.json")
    assert row.finding.exists is False and row.failed


def test_a_monitoring_report_of_another_version_is_stale(evidence, toy):
    promote(toy, V2)
    toy.deploy(V2)
    toy.monitored([V1], [V1])
    (found,) = check(evidence)
    assert found.startswith(f"error: 3.3: monitoring report (reports/monitoring/summary.json) stale: judged {V1}")
    assert f"deploy/ names local {V2}" in found and found.endswith("— run `make monitor`")
    toy.monitored([V2], [V1, V2])
    assert check(evidence) == []
    toy.write({"reports/monitoring/summary.json": json.dumps({"model_versions": [V2]})})  # no decision: unreadable
    (found,) = check(evidence)
    assert "stale: judged nothing, deploy/ names local" in found, "an unreadable summary is a gap, not a crash"


def test_the_deployment_history_must_match_the_desired_state(evidence, toy):
    toy.monitored([V1, V2])
    promote(toy, V1)
    assert check(evidence) == ["error: 2.4: deployment history (.deploy/history.jsonl) missing — run `make deploy`"]
    toy.deploy(V1)
    assert check(evidence) == []
    promote(toy, V2)  # merged, not deployed
    (found,) = check(evidence)
    assert found.startswith("error: 2.4: deployment history (.deploy/history.jsonl) stale: local last deployed")
    assert f"names {V2}" in found and found.endswith("— run `make deploy`")
    toy.deploy(V2, result="failed")
    assert "the last deployment of local failed" in check(evidence)[0]
    toy.deploy(V2)
    assert check(evidence) == []
    toy.commit({"deploy/local/environment.yaml": f"version: '{V2}'\nport: 3001\n"}, "another port")
    assert "changed after the last deployment of local" in check(evidence)[0]


def test_the_release_tag_is_stale_once_the_model_changes(evidence, toy):
    release(toy)
    assert check(evidence) == []
    (row,) = rows_of(evidence, "release tag vX.Y.Z")
    assert row.finding.version == "v0.1.0 2026-01-01"
    toy.commit({"dvc.lock": lock("b" * 32)}, "feat(model): retrained")
    assert check(evidence) == [
        "error: 2.5: release tag (release tag vX.Y.Z) stale: the model changed since v0.1.0 (dvc.lock)"
        " — run `make release`"
    ]
    toy.commit({"CHANGELOG.md": "# Changelog\n"}, "the changelog lost its release")
    assert "error: 2.5: changelog (CHANGELOG.md) stale: does not name the release v0.1.0 — run `make release`" in check(
        evidence
    )


def test_a_workflow_must_run_its_command_and_a_target_must_exist(evidence, toy):
    toy.commit({".github/workflows/rollback.yml": "jobs: {}\n", "Makefile": "help:\n\t@echo help\n"}, "broken")
    assert check(evidence) == [
        "error: 2.4: deploy an environment (make deploy) missing: no target `deploy` in Makefile"
        " — restore it from git or the template",
        "error: 2 · rollback: the rollback workflow (.github/workflows/rollback.yml) missing:"
        " it does not run `make rollback` — restore it from git or the template",
    ]


def test_a_dvc_output_missing_from_the_work_tree_names_the_pull(evidence, toy):
    (toy.path / "models/model.joblib").unlink()
    assert check(evidence) == [
        "error: 1.5: the model (models/model.joblib) missing: not in the work tree (`make pull`) — run `make pipeline`"
    ]


@pytest.mark.parametrize(
    ("piece", "message"),
    [
        ("{what: x, kind: folder, path: a}", "duty 9.9, x: kind 'folder' is none of file, dvc"),
        ("{what: x, kind: file, path: a, when: later}", "`when: later` is none of always, retrain, deploy, release"),
        ("{what: x, kind: file, path: a, current: {age: 3} }", "`current:` `age: 3` is none of stage: <name>"),
        ("{what: x, kind: workflow, path: a.yml}", "a workflow names the command it `runs`"),
        ("{what: x, kind: make}", "no `target`"),
    ],
)
def test_a_wrong_map_names_the_duty_and_the_piece(evidence, toy, piece, message):
    toy.write(
        {"docs/evidence.yaml": 'sections: {"9": x}\nduties:\n  - id: "9.9"\n    evidence:\n      - ' + piece + "\n"}
    )
    with pytest.raises(SystemExit, match=message.replace("(", r"\(")):
        evidence.map.load_map()


# --- the project's own map ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project_map(evidence, root):
    return evidence.map.load_map(root / "docs/evidence.yaml")


def test_the_map_covers_every_duty_and_scope_note_of_the_standard(project_map):
    assert {duty.id for duty in project_map.duties} == DUTIES | SCOPE_NOTES
    assert {duty.id for duty in project_map.duties if duty.scope} == SCOPE_NOTES


def test_the_map_names_real_targets_workflows_stages_and_fixes(evidence, root, project_map):
    targets = evidence.facts.makefile_targets((root / "Makefile").read_text())
    stages = set(yaml.safe_load((root / "dvc.yaml").read_text())["stages"]) | {"all", "data/production.dvc"}
    wrong = []
    for duty in project_map.duties:
        for piece in duty.pieces:
            if piece.kind == "make" and piece.name not in targets:
                wrong.append(f"{duty.id}: no make target {piece.name}")
            if piece.kind == "workflow" and str(piece.runs) not in (root / piece.name).read_text():
                wrong.append(f"{duty.id}: {piece.name} does not run {piece.runs}")
            if piece.check == "stage" and piece.against not in stages:
                wrong.append(f"{duty.id}: no stage {piece.against}")
            if piece.fix and piece.fix.startswith("make ") and piece.fix.split()[1] not in targets:
                wrong.append(f"{duty.id}: its fix `{piece.fix}` is no make target")
            if (
                piece.kind in ("file", "workflow")
                and piece.when == "always"
                and not piece.check
                and "*" not in piece.name
            ):
                if not (root / piece.name).exists():  # what the template ships (outputs are checked by `current`)
                    wrong.append(f"{duty.id}: {piece.name} is not in the project")
    assert not wrong, "\n".join(wrong)
