"""Generated projects, run for real: install, lint, pipeline, incremental rebuild, same inputs → same bytes,
own tests, DVC remotes (.env, S3), bento build, load test (SLO gate), quality gate, the README's paths.

One test class per configuration (support.matrix.per_configuration): its project is baked and
installed once, where the configuration keeps it (one lives in a dot-folder with a space), and
its steps run in the order written here. Every step also works alone (`-k`): it runs the steps
it needs first. Under `--dist loadscope` each class runs whole on one worker; configurations run
in parallel.

A step that does not depend on every answer runs in fewer classes (support.lifecycle): one per Python version
(ONE_PER_PYTHON: mypy, the project's own check of every command's --help; the S3 plugin where
tests/test_storage.py does not push to S3), once (REFERENCE: the project's whole suite; elsewhere only its
CONFIGURED folders run), one per task (ONE_PER_TASK: a model parameter's rerun, the gate's failure), where
every task and every data source appear (EACH_TASK_AND_SOURCE: an unchanged pipeline's rerun, the same bytes
from the same inputs, the load test of the built bento), where every Python, task and source appear
(EACH_PYTHON_TASK_AND_SOURCE: lint, DVC's push and pull, the evidence map, the READMEs' paths; the wine and
the classification CSV run what their data change), or once (REFERENCE: the project's slow code tests, the
lint hooks that read only names, the load test's failure); elsewhere it is skipped naming the classes that run
it. A `ci: gitlab` configuration skips the targets its GitLab merge-request pipeline runs as jobs
(RUN_BY_GITLAB_PIPELINE: `make lint`, `make test`), which tests/test_gitlab.py executes.
"""

from __future__ import annotations

import csv
import fnmatch
import re
import shutil
from pathlib import Path

import pytest
import yaml
from support.lifecycle import (
    CONFIGURED,
    EACH_PYTHON_TASK_AND_SOURCE,
    EACH_TASK_AND_SOURCE,
    LOAD_TEST_ENV,
    MODEL_PARAMETER,
    NAME_ONLY_HOOKS,
    ONE_PER_PYTHON,
    ONE_PER_TASK,
    ONLY_IN,
    PIP_BOOTSTRAP,
    PYTHON_ONLY_HOOKS,
    REFERENCE,
    RELAXED_SLO,
    RUN_BY_THE_PROJECTS_TESTS,
    S3_PLUGIN_ELSEWHERE,
    STAGES,
    Lifecycle,
    only_in,
    restored,
    sha256,
    slo,
    unless_its_gitlab_pipeline_runs,
)
from support.markdown import (
    MADE_BY_DELIVERY,
    MADE_BY_MONITORING,
    MADE_BY_RETRAINING,
    PACKAGE_SECTIONS,
    USER_MADE,
    path_mentions,
    unfound_paths,
)
from support.matrix import LIFECYCLE_CONFIGURATIONS, Configuration, per_configuration
from support.options import REPO_ROOT
from support.processes import interpreter_version, run
from support.repos import default_remote_dir, dvc_lock_md5, stages_run, versioned_files

pytestmark = pytest.mark.slow

RECORDS = [
    "reports/data/ingest.json",
    "reports/data/prepare.json",
    "data/processed/schema.json",
    "features/features.json",
    "features/stats.json",
    "reports/train.json",
    "reports/metrics.json",
]
ARTIFACTS = [
    "data/raw/dataset.csv",
    "data/interim/clean.csv",
    "data/processed/train.csv",
    "data/processed/test.csv",
    "features/train.csv",
    "features/test.csv",
    "features/transformer.joblib",
    "models/model.joblib",
]
DOCUMENTS = [
    "docs/evaluation_report.md",
    "docs/data_card.md",
    "docs/model_card.md",
    "docs/evaluation_criteria.md",
    "docs/architecture.md",
    "docs/deployment_manual.md",
    "docs/openapi.json",
]
# What the pipeline writes that git versions and must come out byte-identical from the same inputs.
REPRODUCIBLE = ["reports/*", "docs/*", "data/processed/schema.json", "features/*.json"]
TIMED = {"reports/build.json", "reports/load.json"}  # when a build or a load test ran is their subject
UNREACHABLE = 0.9999  # a `min` no honest model reaches on these data (perfect metrics are skipped)
LOAD_RECORD_KEYS = {"requests", "failures", "error_rate", "rps", "p50_ms", "p95_ms", "p99_ms", "slo_passed", "target"}
# An object store no test can reach: pushing there must fail for want of credentials or network.
S3_URL = "s3://modelops-test-bucket/x"
S3_MISSING_PLUGIN = re.compile(r"dvc-s3|dvc\[s3\]|is supported, but requires|unsupported|not supported", re.I)
S3_REACHED_FOR = re.compile(
    r"credential|could not connect|connect(ion)? (timeout|error|refused)|endpoint|name resolution|"
    r"temporary failure|network|access denied|forbidden|\b403\b|timed out",
    re.I,
)


def csv_rows(path: Path) -> int:
    with path.open(newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def reproducible_hashes(project: Lifecycle) -> dict[str, str]:
    """sha256 of every git-versioned file the pipeline writes (REPRODUCIBLE), times (TIMED) left out."""
    chosen = [
        rel
        for rel in sorted(versioned_files(project.path))
        if any(fnmatch.fnmatch(rel, pattern) for pattern in REPRODUCIBLE) and rel not in TIMED
    ]
    return {rel: sha256(project.path / rel) for rel in chosen}


def _unreachable_check(metrics: dict) -> tuple[str, str, float, float] | None:
    """(metric, rule, value, new threshold) for a gate check that can be made to fail."""
    rules = [(m, r) for m, by_rule in metrics["gate"]["checks"].items() for r in by_rule]
    for metric, rule in rules:
        value = metrics["metrics"][metric]
        if rule == "min" and value < UNREACHABLE:
            return metric, "min", value, UNREACHABLE
    for metric, rule in rules:
        value = metrics["metrics"][metric]
        if rule == "max" and value > 1 - UNREACHABLE:
            return metric, "max", value, round(1 - UNREACHABLE, 4)
    return None


class LifecycleSteps:
    """The whole life of one generated project, run for real."""

    config: Configuration

    # --- install and lint ---------------------------------------------------------------------

    def test_install_builds_venv_with_the_chosen_python(self, project):
        project.install()
        venv_python = project.path / ".venv" / "bin" / "python"
        assert interpreter_version(venv_python) == interpreter_version(project.python)
        uv = shutil.which("uv", path=project.env["PATH"])  # setup-uv's, or none (PIP_BOOTSTRAP): pip installs it
        made_by_uv = "uv = " in (project.path / ".venv" / "pyvenv.cfg").read_text()
        assert made_by_uv == (uv is not None), f"make install made .venv {'without' if uv else 'with'} the uv on PATH"
        assert project.config != PIP_BOOTSTRAP or uv is None, "the pip bootstrap has uv on its PATH"
        hook = project.path / ".git" / "hooks" / "pre-commit"
        assert hook.is_file() and "pre-commit" in hook.read_text(), "make install did not install the git hook"
        if project.config.folder:
            assert project.config.folder in project.path.as_posix(), "the project is not kept where asked"

    def test_lint_passes_on_the_fresh_project(self, project):
        """`make lint` passes and changes nothing: every hook in REFERENCE, the hooks whose files vary by answer
        in the others (NAME_ONLY_HOOKS skipped, and PYTHON_ONLY_HOOKS outside ONE_PER_PYTHON); the hooks the
        project's own tests run (RUN_BY_THE_PROJECTS_TESTS) nowhere."""
        only_in(project, EACH_PYTHON_TASK_AND_SOURCE, "`make lint` (its files follow the Python, task and source)")
        unless_its_gitlab_pipeline_runs(project, "lint")
        project.install()
        hooks = {hook["id"] for repo in yaml.safe_load((project.path / ".pre-commit-config.yaml").read_text())["repos"]
                 for hook in repo["hooks"]}  # fmt: skip
        named = {*NAME_ONLY_HOOKS, *PYTHON_ONLY_HOOKS, *RUN_BY_THE_PROJECTS_TESTS}
        assert named <= hooks, f"no such hooks: {sorted(named - hooks)}"
        skipped = [] if project.config == REFERENCE else list(NAME_ONLY_HOOKS)
        skipped += [] if project.config in ONE_PER_PYTHON else list(PYTHON_ONLY_HOOKS)
        skipped += [hook for hook in RUN_BY_THE_PROJECTS_TESTS if hook not in skipped]
        skip = {"SKIP": ",".join(skipped)} if skipped else {}
        before = run(["git", "status", "--porcelain"], cwd=project.path).stdout
        project.make("lint", env=skip)
        after = run(["git", "status", "--porcelain"], cwd=project.path).stdout
        assert after == before, f"make lint changed files:\n{after}"

    # --- pipeline -------------------------------------------------------------------------------

    def test_pipeline_runs_every_stage_in_order(self, project):
        out = project.pipeline().stdout
        assert stages_run(out) == STAGES

    def test_pipeline_writes_records_artifacts_and_documents(self, project):
        project.pipeline()
        missing = [rel for rel in RECORDS + ARTIFACTS + DOCUMENTS if not (project.path / rel).is_file()]
        assert missing == []
        for rel in RECORDS:
            assert isinstance(project.read(rel), dict), rel
        plots = list((project.path / "reports" / "plots").glob("*.png"))
        assert plots and all(p.stat().st_size > 0 for p in plots)

    def test_records_agree_with_the_data(self, project):
        project.pipeline()
        ingest, prepare = project.read("reports/data/ingest.json"), project.read("reports/data/prepare.json")
        schema = project.read("data/processed/schema.json")
        raw_rows = csv_rows(project.path / "data/raw/dataset.csv")

        assert ingest["rows"] == raw_rows == prepare["rows_in"]
        assert prepare["rows_out"] == prepare["rows_in"] - prepare["rows_dropped_missing_target"]
        assert prepare["train"]["rows"] + prepare["test"]["rows"] == prepare["rows_out"]
        assert prepare["train"]["sha256"] == sha256(project.path / "data/processed/train.csv")

        table = project.table
        if table is None:
            assert prepare["rows_dropped_missing_target"] == 0
            return
        assert ingest["source_sha256"] == sha256(table.path)
        assert ingest["rows"] == table.rows
        assert ingest["column_names"] == list(table.columns)
        assert prepare["rows_dropped_missing_target"] == table.missing_target
        assert set(prepare["missing_values"]) and set(prepare["missing_values"]) < set(table.columns)
        assert [f["name"] for f in schema["features"]] == [c for c in table.columns if c != table.target]
        kinds = {f["name"]: f["kind"] for f in schema["features"]}
        assert "categorical" in kinds.values() and "numeric" in kinds.values()
        if table.classes:
            assert schema["target"]["classes"] == list(table.classes)

    def test_gate_passes_and_the_model_beats_the_baseline(self, project):
        project.pipeline()
        metrics = project.read("reports/metrics.json")
        assert metrics["gate"]["passed"] is True
        checks = [c for by_rule in metrics["gate"]["checks"].values() for c in by_rule.values()]
        assert checks and all(c["passed"] for c in checks)
        ours, base = metrics["metrics"], metrics["baseline"]
        if project.config.task == "classification":
            assert ours["accuracy"] > base["accuracy"] + 0.05
        else:
            assert ours["rmse"] < 0.9 * base["rmse"]
        assert "PASS" in (project.path / "docs/evaluation_report.md").read_text()

    def test_second_repro_runs_no_stage(self, project):
        only_in(project, EACH_TASK_AND_SOURCE, "an unchanged pipeline's rerun (its stages follow the task and source)")
        project.pipeline()
        out = project.make("pipeline").stdout
        assert stages_run(out) == [], f"an unchanged pipeline re-ran stages:\n{out[-2000:]}"

    def test_same_inputs_give_the_same_bytes(self, project):
        """`dvc repro --force` rewrites every versioned record and document byte for byte (the deployment manual
        and the OpenAPI document, which the docs stage renders, included)."""
        only_in(project, EACH_TASK_AND_SOURCE, "the same bytes (they follow the task and the data's source)")
        project.pipeline()
        before = reproducible_hashes(project)
        unversioned = set(RECORDS + DOCUMENTS) - set(before)
        assert not unversioned, f"git does not version {sorted(unversioned)}"

        ran = stages_run(project.dvc("repro", "--force").stdout)

        assert ran == STAGES, f"--force ran {ran}, not the whole pipeline"
        after = reproducible_hashes(project)
        changed = sorted(rel for rel in before.keys() | after.keys() if before.get(rel) != after.get(rel))
        assert changed == [], f"the same inputs gave other bytes (a time, an order, a random seed?) in {changed}"

    def test_changing_a_model_parameter_reruns_only_train_evaluate_docs(self, project):
        only_in(project, ONE_PER_TASK, "a model parameter's rerun (the parameter and its stages follow the task)")
        project.pipeline()
        section, name = MODEL_PARAMETER[project.config.task]
        params_file = project.path / "params.yaml"
        params = yaml.safe_load(params_file.read_text())
        assert params["train"]["model"] == section
        new_value = params["train"][section][name] / 2
        params["train"][section][name] = new_value
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))

        ran = stages_run(project.dvc("repro").stdout)

        assert set(ran) == {"train", "evaluate", "docs"}
        assert not {"ingest", "prepare", "featurize"} & set(ran)
        assert ran == [s for s in STAGES if s in ran], "stages ran out of order"
        assert project.read("reports/train.json")["params"][name] == new_value

    def test_project_own_tests_pass(self, project):
        """`make test` passes: the whole suite in REFERENCE; elsewhere the tests of what the answers
        change (CONFIGURED, each test of ONLY_IN where it is to run).

        Every data, model and service contract test reads or serves this configuration's pipeline
        outputs, and the stage code tests follow its task and schema; the rest of tests/code (git, the
        forge, GitOps, governance, monitoring, retraining, packaging, storage, and serving, whose tests
        serve toy models of both tasks) runs code no answer changes. The other Python runs those where they
        meet the version: mypy at that version (`make lint`), every command's `--help`, the pipeline,
        the build and the served service.
        """
        unless_its_gitlab_pipeline_runs(project, "test")
        project.pipeline()
        reference = project.config == REFERENCE
        deselect = [test for test, configs in ONLY_IN.items() if project.config not in configs]
        choose = ([] if reference else [*CONFIGURED]) + [f"--deselect={test}" for test in deselect]
        # -v lists each test with its outcome, so the output shows the service contract tests ran too.
        out = project.make("test", env={"PYTEST_ADDOPTS": " ".join(["-v", *choose])}).stdout
        assert " passed" in out and " failed" not in out
        ran = {line.split("::")[0] for line in out.splitlines() if "::" in line and " PASSED" in line}
        assert any(name.startswith("tests/code/gitops/") for name in ran) is reference, (
            f"tests/code/gitops ran: {sorted(ran)[:5]}..."
        )
        assert any(name.startswith("tests/model/") for name in ran), f"no model test ran:\n{out[-2000:]}"
        deselected = set(re.findall(r" (\d+) deselected", out))  # the collection line and the summary's
        assert deselected == ({str(len(deselect))} if deselect else set()), out[-2000:]
        service = [line for line in out.splitlines() if line.startswith("tests/service/") and " PASSED" in line]
        assert any(line.startswith("tests/service/test_contract.py::") for line in service), (
            f"make test ran no passing tests/service/test_contract.py test:\n{out[-2000:]}"
        )

    # --- DVC remotes ----------------------------------------------------------------------------

    def test_push_then_pull_restores_data_and_model(self, project):
        only_in(project, EACH_PYTHON_TASK_AND_SOURCE, "DVC's push and pull (they move files whatever they hold)")
        project.pipeline()
        model = project.path / "models" / "model.joblib"
        raw = project.path / "data" / "raw" / "dataset.csv"
        before = {model: sha256(model), raw: sha256(raw)}

        project.push()
        remote = default_remote_dir(project.path)
        assert not remote.is_relative_to(project.path.resolve()), f"the DVC remote {remote} is inside the repo"
        assert any(p.is_file() for p in remote.rglob("*")), f"make push left {remote} empty"
        for path in before:
            path.unlink()
        shutil.rmtree(project.path / ".dvc" / "cache")
        project.make("pull")

        assert {path: sha256(path) for path in before if path.exists()} == before

    def test_push_goes_to_the_remote_named_in_dotenv(self, project):
        """MODELOPS_DVC_REMOTE in `.env` alone (no shell variable) sends `make push` to that folder."""
        only_in(project, EACH_PYTHON_TASK_AND_SOURCE, "the remote named in .env (it follows no data)")
        project.pipeline()
        assert not any(k.startswith("MODELOPS_") for k in project.env), "the shell must not set it here"
        remote = project.scratch / "remote-from-dotenv"
        assert not remote.exists()
        dotenv, local_config = project.path / ".env", project.path / ".dvc" / "config.local"
        with restored(dotenv, local_config):
            dotenv.write_text(f"MODELOPS_DVC_REMOTE={remote}\n")
            project.make("push")

        md5 = dvc_lock_md5(project.path, "models/model.joblib")
        model_object = remote / "files" / "md5" / md5[:2] / md5[2:]
        landed = sorted(p.relative_to(remote).as_posix() for p in remote.rglob("*") if p.is_file())
        assert model_object.is_file(), f"the model's object is not in {remote} (it holds {landed[:10]})"

    def test_s3_remote_needs_only_credentials(self, project):
        """Pushing to S3 fails for want of credentials or network, not of DVC's plugin (in .venv, from the one lock).

        Both ways a user reaches S3: `make push` with MODELOPS_DVC_REMOTE=s3://…, and a remote
        added by hand (`dvc remote add`, `dvc push -r`). A real push and pull against an S3 server
        on loopback: tests/test_storage.py, at its Python (S3_PLUGIN_ELSEWHERE: the other versions).
        """
        only_in(project, S3_PLUGIN_ELSEWHERE, "the S3 plugin (it depends on the Python version alone)")
        project.pipeline()
        aws = project.scratch / "no-aws"  # the machine user's AWS credentials are never read
        env = {k: v for k, v in project.env.items() if not k.startswith("AWS_")}
        env.update(
            AWS_CONFIG_FILE=str(aws / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(aws / "credentials"),
            AWS_EC2_METADATA_DISABLED="true",  # no instance-metadata probe for credentials
        )
        s3_dvc = project.path / ".venv" / "bin" / "dvc"
        with restored(project.path / ".dvc" / "config.local"):
            by_make = project.make("push", check=False, env={**env, "MODELOPS_DVC_REMOTE": S3_URL})
            run([s3_dvc, "remote", "add", "--local", "-f", "s3test", S3_URL], cwd=project.path, env=env)
            by_hand = run([s3_dvc, "push", "-r", "s3test"], cwd=project.path, env=env, check=False)
        for how, result in {"make push": by_make, "dvc push -r s3test": by_hand}.items():
            out = result.stdout
            assert result.returncode != 0, f"`{how}` to {S3_URL} succeeded?\n{out[-1500:]}"
            assert not S3_MISSING_PLUGIN.search(out), f"`{how}`: DVC cannot talk to S3 (plugin missing):\n{out[-1500:]}"
            assert S3_REACHED_FOR.search(out), f"`{how}` failed, but not for credentials or network:\n{out[-1500:]}"

    # --- service: bento build, load test ---------------------------------------------------

    def test_build_makes_a_checked_bento_tagged_version_commit(self, project):
        out = project.build().stdout
        tag = project.tag
        built = f"built {project.slug}:{tag}"
        assert built in out.splitlines(), f"no `{built}` line:\n{out[-2000:]}"
        assert project.read("reports/build.json")["version"] == tag

        bento = project.bentoml_home / "bentos" / project.slug / tag
        assert bento.is_dir(), f"no bento at {bento}"
        model = bento / "src" / "models" / "model.joblib"
        assert model.is_file() and sha256(model) == sha256(project.path / "models" / "model.joblib")
        assert (bento / "apis").is_dir() and any((bento / "apis").iterdir()), "the bento has no API description"
        dockerfile = (bento / "env" / "docker" / "Dockerfile").read_text()
        python = re.escape(project.config.python_version)
        assert re.search(rf"^FROM python:{python}-slim\b", dockerfile, re.MULTILINE), "wrong or missing base image"
        assert re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)[-1:] == ["bentoml"], (
            "the image does not run as bentoml"
        )
        assert re.search(r"^HEALTHCHECK\b", dockerfile, re.MULTILINE), "no HEALTHCHECK in the bento's Dockerfile"

    def test_load_test_of_the_built_bento_meets_the_slo(self, project):
        only_in(project, EACH_TASK_AND_SOURCE, "the built bento's load test (it follows the task and the schema)")
        out = project.load_test().stdout
        load = project.read("reports/load.json")
        assert LOAD_RECORD_KEYS <= set(load), f"reports/load.json lacks {LOAD_RECORD_KEYS - set(load)}"
        assert load["target"] == f"{project.slug}:{project.tag}"
        assert load["requests"] > 0 and load["failures"] == 0, load
        assert load["slo_passed"] is True, f"{load}\n{out[-2000:]}"
        assert "SLO MISSED" not in out

    # --- the evidence map, before anything is promoted -----------------------------------------

    def test_evidence_lists_every_duty_and_requires_only_what_a_fresh_checkout_holds(self, project):
        """Every duty of docs/evidence.yaml is listed; what the pipeline, build and load test make is present
        and current; the deployment's, the release's and a retraining's evidence waits for its point."""
        only_in(project, EACH_PYTHON_TASK_AND_SOURCE, "the evidence map (its duties follow no data)")
        done = project.evidence()
        out = done.stdout
        assert done.returncode == 0, f"make evidence failed on a fresh project:\n{out[-3000:]}"
        assert "required here: always;" in out and "every required piece is present, current and filled" in out
        page = (project.path / "docs/evidence.md").read_text()
        duties = yaml.safe_load((project.path / "docs/evidence.yaml").read_text())["duties"]
        labels = [f"{d['scope_of']} · {d['id']}" if "scope_of" in d else d["id"] for d in duties]
        unlisted = [label for label in labels if f"| {label} |" not in page]
        assert len(labels) == 24 and unlisted == [], f"docs/evidence.md lists no row for {unlisted}"
        assert "FAIL" not in page
        for waiting in ("until deploy): missing", "until release): missing", "until retrain): missing"):
            assert waiting in page, f"no piece says `{waiting}`"
        assert "not required (until release): unfilled: 4 × `(fill in)` left" in page  # docs/problem_definition.md

    def test_load_test_fails_outside_the_slo(self, project):
        """An SLO no service meets makes `make load-test` fail and name the rule (the source tree is served here).

        The gate is the load test's own code: every configuration's passing load test above runs it too."""
        only_in(project, [REFERENCE], "the load test's failure outside the SLO")
        project.pipeline()
        with slo(project, **{**RELAXED_SLO, "p95_ms": 0.001}):
            result = project.make("load-test", "LOAD_ARGS=--seconds 3 --users 2", env=LOAD_TEST_ENV, check=False)
        out = result.stdout
        assert result.returncode != 0, f"make load-test passed a p95 of 0.001 ms:\n{out[-2000:]}"
        missed = [line for line in out.splitlines() if line.startswith("SLO MISSED")]
        assert any("p95" in line for line in missed), f"no `SLO MISSED` line names p95:\n{out[-2000:]}"
        assert project.read("reports/load.json")["slo_passed"] is False

    # --- the READMEs' paths, once everything has run ------------------------------------------

    def test_every_path_the_readmes_name_exists_after_the_lifecycle(self, project):
        """What tests/test_readme.py could only find declared (dvc.yaml, a command) exists now."""
        only_in(project, EACH_PYTHON_TASK_AND_SOURCE, "the READMEs' paths (their text follows the task and the source)")
        project.push()
        project.evidence()
        made_later = {**MADE_BY_DELIVERY, **MADE_BY_MONITORING, **MADE_BY_RETRAINING}  # test_delivery, test_monitoring
        if project.config in EACH_TASK_AND_SOURCE:
            project.load_test()
        else:
            made_later["reports/load.json"] = "make load-test"  # checked in EACH_TASK_AND_SOURCE
        names = {"package": project.package, "project": project.slug}
        generated = path_mentions((project.path / "README.md").read_text(), PACKAGE_SECTIONS)
        user_made = [m for m in generated if m.text in USER_MADE]
        for mention in user_made:
            ignored = run(["git", "check-ignore", "-q", mention.text], cwd=project.path, check=False)
            assert ignored.returncode == 0, f"README.md line {mention.line}: git does not ignore `{mention.text}`"
        generated = [m for m in generated if m.text not in USER_MADE and m.text not in made_later]
        missing = unfound_paths(generated, [project.path], names)
        assert not missing, "the generated README.md names missing paths:\n" + "\n".join(missing)
        template = [
            m
            for m in path_mentions((REPO_ROOT / "README.md").read_text())
            if not m.text.startswith("build/") and m.text not in USER_MADE
        ]
        # the template's own project folder too: a path of one `ci` answer's files (`.github/`) is absent in another's
        missing = unfound_paths(template, [REPO_ROOT, project.path, REPO_ROOT / "{{cookiecutter.project}}"], names)
        assert not missing, "README.md names paths neither the template nor the project holds:\n" + "\n".join(missing)

    # --- the quality gate, last: it leaves the project failing it ------------------------------

    def test_gate_fails_on_an_unreachable_threshold(self, project):
        only_in(project, ONE_PER_TASK, "the gate's failure (its metrics and rules follow the task)")
        project.pipeline()
        chosen = _unreachable_check(project.read("reports/metrics.json"))
        if chosen is None:
            pytest.skip("every gate metric is already perfect here: no threshold can fail it")
        metric, rule, value, threshold = chosen
        criteria_file = project.path / "docs" / "criteria.yaml"
        original = criteria_file.read_text()
        criteria = yaml.safe_load(original)
        criteria["gate"][metric][rule] = threshold
        try:
            criteria_file.write_text(yaml.safe_dump(criteria, sort_keys=False))
            result = project.dvc("repro", check=False)
        finally:
            criteria_file.write_text(original)

        out = result.stdout
        assert result.returncode != 0, f"the gate let {metric}={value} through {rule} {threshold}"
        ran = stages_run(out)
        assert "evaluate" in ran and not {"ingest", "prepare", "featurize", "train"} & set(ran)
        shown = {f"{value:.{n}f}" for n in range(2, 7)} | {repr(value)}
        lines = [line for line in out.splitlines() if metric in line and str(threshold) in line]
        assert any(s in line for line in lines for s in shown), (
            f"no output line names {metric}, its value {value} and the threshold {threshold}:\n{out[-2000:]}"
        )
        assert project.read("reports/metrics.json")["gate"]["passed"] is False
        assert "FAIL" in (project.path / "docs/evaluation_report.md").read_text()


globals().update(per_configuration(LifecycleSteps, LIFECYCLE_CONFIGURATIONS))
