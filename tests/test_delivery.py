"""GitOps delivery of a generated project, for real: deploy, promote, roll back, release, and what is refused.

The deployed project (conftest.py's `deployed`: the default route, in a dot-folder with a space,
just updated by tests/test_update.py; monitoring goes on from where delivery leaves it) goes
through: version 1 deployed
locally through a promotion merged in git; version 2 promoted and deployed; a rollback merged and
deployed; a version whose model cannot load and one whose predictions are wrong, each rolled
back by the deploy itself; bad requests refused with nothing half-done; a Kubernetes overlay
promoted and rendered; releases of what local runs, with their changelog and model deltas; production
released through an origin whose main refuses pushes, a fake GitHub CLI and a rollback. Its steps run in
the order written and share the project.
"""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest
import yaml
from support.deployment import Forge
from support.lifecycle import MODEL_PARAMETER
from support.markdown import MADE_BY_DELIVERY
from support.processes import run

pytestmark = pytest.mark.slow

ONE_LINE_ERROR = re.compile(r"^error: .+ — .+$", re.M)  # the problem, a dash, the fix

# Run by the project's Python in the project: `bentoml serve` of each bento's folder on a free port, the three
# started at once, each stopped with every worker by the project's own packaging.localserver. The analysis runs in the
# canary's bento folder, as the Job runs in the image (its workingDir): the criteria and the schema are the
# build's. Prints {case: [exit code, output]} last, its timings before (on stderr: `run` merges both).
CANARY_DRIVER = """
import concurrent.futures, importlib, json, os, subprocess, sys, tempfile, time, urllib.request
package, stable, canary, stable_bento, canary_bento = sys.argv[1:6]
localserver = importlib.import_module(package + ".packaging.localserver")
settings = importlib.import_module(package + ".core.settings").Settings.from_env()
records = importlib.import_module(package + ".core.schema").Schema.load().example_records(60)
folder = tempfile.mkdtemp(prefix="canary-")
began = time.monotonic()

def elapsed(what):
    print(f"{time.monotonic() - began:6.1f} s {what}", file=sys.stderr)

def post(url, i):
    headers = {"content-type": "application/json"}
    if settings.api_key:
        headers["authorization"] = "Bearer " + settings.api_key
    body = json.dumps({"records": [records[i % len(records)]]}).encode()
    urllib.request.urlopen(urllib.request.Request(url + "/predict", data=body, headers=headers), timeout=30).read()

def logged(name, version):
    path = os.path.join(folder, name, "predictions")
    rows = 0
    for entry in sorted(os.listdir(path)) if os.path.isdir(path) else []:
        with open(os.path.join(path, entry)) as handle:
            rows += sum(1 for line in handle if version in line)
    return rows

def analyse(canary_url, stable_url, name, src):
    command = [sys.executable, "-m", package + ".improvement.canary", "--canary-url", canary_url,
               "--stable-url", stable_url, "--log", os.path.join(folder, name)]
    env = {**os.environ, **({"MODELOPS_API_KEY": settings.api_key} if settings.api_key else {})}
    done = subprocess.run(command, capture_output=True, text=True, cwd=src, env=env)
    return [done.returncode, done.stdout + done.stderr]

servers = {}
try:  # the three start at once (each `bentoml serve` loads for seconds); each process carries its mark
    for name, bento in (("stable", stable_bento), ("canary", canary_bento), ("twin", stable_bento)):
        port, mark = localserver.free_port(), localserver.new_mark()
        # A BentoML home each, as each pod has: BentoML keeps /metrics' counters under it, shared otherwise.
        env = {**os.environ, "MODELOPS_METRICS": "true", "MODELOPS_WORKERS": "1", localserver.MARK: mark,
               "MODELOPS_MONITORING_DIR": os.path.join(folder, name),
               "BENTOML_HOME": os.path.join(folder, name, "home")}
        os.makedirs(env["BENTOML_HOME"])
        command = [os.path.join(os.path.dirname(sys.executable), "bentoml"), "serve", bento,
                   "--host", "127.0.0.1", "--port", str(port)]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        servers[name] = (f"http://127.0.0.1:{port}", process, mark)
    for url, process, mark in servers.values():
        localserver.wait_ready(url, process, 120)
    elapsed("three servers ready")
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda job: post(*job), [(url, i) for url, _, _ in servers.values() for i in range(210)]))
    elapsed("traffic sent")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and min(logged("canary", canary), logged("twin", stable)) < 210:
        time.sleep(0.2)
    urls = {name: url for name, (url, _, _) in servers.items()}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        different = pool.submit(analyse, urls["canary"], urls["stable"], "canary", os.path.join(canary_bento, "src"))
        same = pool.submit(analyse, urls["twin"], urls["stable"], "twin", os.path.join(stable_bento, "src"))
        results = {"different": different.result(), "same": same.result()}
    elapsed("analysed")
finally:
    for url, process, mark in servers.values():
        localserver.stop_server(process.pid, mark)
        process.wait()
    elapsed("stopped")
print(json.dumps(results))
"""


class TestDelivery:
    """Deploy, promote, roll back and release the deployed project (support.deployment.DEPLOYED)."""

    # --- deploy, promote, roll back -------------------------------------------------------------

    def test_deploy_of_a_merged_promotion_serves_version_1(self, delivery):
        v1 = delivery.versions["v1"] = delivery.build()
        branch = delivery.promote_and_merge()
        assert branch == f"promote/local/{v1}"
        changed = delivery.git("show", "--name-only", "--format=", branch).split()
        assert changed == ["deploy/local/environment.yaml"], "a promotion touches only its environment"
        assert delivery.desired()["version"] == v1
        out = delivery.make("deploy").stdout
        assert f"local: ok {v1}" in out
        assert delivery.served_version() == v1

    def test_the_bentos_dockerfile_passes_checkov(self, delivery):
        dockerfile = delivery.project.bentoml_home / "bentos" / delivery.project.slug / delivery.versions["v1"]
        dockerfile = dockerfile / "env" / "docker" / "Dockerfile"
        result = run(
            [delivery.path / ".venv/bin/pre-commit", "run", "checkov-dockerfile", "--hook-stage", "manual",
             "--verbose", "--files", dockerfile],
            cwd=delivery.path, env=delivery.project.env, check=False,
        )  # fmt: skip
        assert result.returncode == 0 and "Failed checks: 0" in result.stdout, result.stdout[-2000:]

    def test_version_2_promoted_then_rolled_back_to_version_1(self, delivery):
        v1 = delivery.versions["v1"]
        delivery.retrain(0.5)
        v2 = delivery.versions["v2"] = delivery.build()
        assert v2 != v1
        # what local logged (v1's smoke tests) replayed through v2 and v1, both read at their commits
        judged = delivery.make("impact", f"CANDIDATE={v2}", check=False)
        report = json.loads((delivery.path / f"reports/impact/local-{v2}.json").read_text())
        assert (report["champion"], report["candidate"]) == (v1, v2) and report["rows"]["logged"] > 0, judged.stdout
        code = {"pass": 0, "fail": 1, "too little traffic": 3}[report["verdict"]]  # make exits 2 on any error
        assert judged.returncode == (2 if code else 0) and (not code or f"Error {code}" in judged.stdout), judged.stdout
        assert f"Impact on replayed traffic: `{v2}` against `{v1}` in local" in judged.stdout
        delivery.promote_and_merge()
        delivery.make("deploy")
        assert delivery.served_version() == v2
        branch = delivery.rollback_and_merge()
        subject = delivery.git("log", "-1", "--format=%s", branch)
        assert subject == f"revert(local): roll back {v2}"
        assert delivery.desired()["version"] == v1
        delivery.make("deploy")
        assert delivery.served_version() == v1
        events = [(e["version"], e["result"], e["rolled_back"]) for e in delivery.history()]
        assert events[-3:] == [(v1, "ok", False), (v2, "ok", False), (v1, "ok", False)]
        shown = delivery.make("history").stdout
        assert all(v in shown for v in (v1, v2)) and shown.count(" ok ") >= 3

    @pytest.mark.parametrize("damage", ["model-fails-to-load", "wrong-prediction"])
    def test_a_broken_version_is_rolled_back_by_the_deploy(self, delivery, damage):
        """Each damage breaks the same build (support.deployment's `build_to_break`), promoted again."""
        v1 = delivery.versions["v1"]
        model = delivery.build_to_break()
        broken = delivery.versions["to-break"]
        if damage == "model-fails-to-load":
            model.write_bytes(b"not a model")
            check = "readiness"
        else:
            expected = json.loads(delivery.bento_file(broken, "reports/smoke.json").read_text())
            python = delivery.path / ".venv/bin/python"
            script = (
                "import joblib, sys; from sklearn.dummy import DummyClassifier, DummyRegressor\n"
                "m = joblib.load(sys.argv[1]); classes = list(getattr(m, 'classes_', []))\n"
                "x = [[0.0] * m.n_features_in_] * 2\n"
                "wrong = [c for c in classes if c != sys.argv[2]][:1]\n"
                "d = DummyClassifier(strategy='constant', constant=wrong[0]).fit(x, [wrong[0], classes[0]])"
                " if classes else DummyRegressor(strategy='constant', constant=-1e6).fit(x, [0, 0])\n"
                "joblib.dump(d, sys.argv[1])\n"
            )
            run([python, "-c", script, str(model), str(expected["predictions"][0])], cwd=delivery.path)
            check = "prediction"
        delivery.promote_and_merge()
        before = len(delivery.history())
        result = delivery.make("deploy", check=False)
        assert result.returncode != 0
        assert f"deploy of {broken} to local failed — {check}:" in result.stdout, result.stdout[-1500:]
        assert f"{v1} runs again" in result.stdout
        assert delivery.served_version() == v1, "the previous version must keep answering"
        event = delivery.history()[-1]
        assert len(delivery.history()) == before + 1
        assert (event["version"], event["result"], event["rolled_back"], event["restored"]) == (
            broken,
            "failed",
            True,
            v1,
        )
        assert any(p.startswith(f"{check}:") for p in event["failed"])
        delivery.rollback_and_merge()  # git says v1 again: the desired state matches what runs
        assert delivery.desired()["version"] == v1
        assert "local: unchanged" in delivery.make("deploy").stdout

    def test_the_canary_analysis_fails_a_canary_that_predicts_differently(self, delivery):
        """Argo Rollouts' analysis step on this machine: the stable version (v1) and a canary each served by its
        bento with BentoML's /metrics on and a prediction log of its own, traffic through both, then the project's
        analysis command. The build the case above left predicting one constant class fails on disagreement,
        naming the check; a second server of v1 — a canary that behaves as the stable version — passes."""
        stable, broken = delivery.versions["v1"], delivery.versions["to-break"]  # to-break: the wrong prediction
        started = time.monotonic()
        done = run(
            [delivery.path / ".venv/bin/python", "-c", CANARY_DRIVER, delivery.project.package, stable, broken,
             delivery.bento_file(stable, "").parent, delivery.bento_file(broken, "").parent],
            cwd=delivery.path, env=delivery.project.env, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        results = json.loads(done.stdout.strip().splitlines()[-1])
        code, out = results["different"]
        assert code == 1, out
        assert re.search(r"^FAIL disagreement: \d+\.\d+% of \d+ logged records predicted differently", out, re.M), out
        assert "PASS traffic: 210 prediction requests" in out, out  # its own /metrics: the stable's are not counted
        assert "PASS errors:" in out and f"canary {broken}: FAIL" in out
        record = json.loads(out.splitlines()[-2])
        assert (record["canary_version"], record["stable_version"], record["verdict"]) == (broken, stable, "FAIL")
        assert record["replay"]["records"] == 210 and record["replay"]["changed"] > 0
        assert record["canary"]["requests"] == 210 and record["stable"]["requests"] >= 210
        code, out = results["same"]
        assert code == 0, out
        assert [line.split(":")[0] for line in out.splitlines()[1:5]] == [
            "PASS traffic", "PASS errors", "PASS latency", "PASS disagreement"
        ], out  # fmt: skip
        assert "0.00% of" in out and f"canary {stable}: PASS" in out
        timings = "\n".join(done.stdout.strip().splitlines()[:-1])
        print(f"canary analysis, three servers and traffic: {time.monotonic() - started:.1f} s\n{timings}")

    # --- what is refused, with nothing half-done -------------------------------------------------

    @pytest.mark.parametrize(
        ("case", "words"),
        [
            ("never-built", "no bento"),
            ("unknown-environment", "unknown environment 'qa'"),
            ("dirty-tree", "needs a clean work tree"),
            ("no-change", "nothing to promote"),
            ("uncommitted-desired-state", "has uncommitted changes"),
        ],
    )
    def test_bad_requests_are_refused_naming_the_fix(self, delivery, case, words):
        v1 = delivery.versions["v1"]
        head, branches, events = delivery.git("rev-parse", "HEAD"), delivery.git("branch"), len(delivery.history())
        local = delivery.path / "deploy/local/environment.yaml"
        original = local.read_text()
        try:
            if case == "never-built":
                result = delivery.make("promote", "ENV=local", "VERSION=9.9.9-abcdef0", check=False)
            elif case == "unknown-environment":
                result = delivery.make("deploy", "ENV=qa", check=False)
            elif case == "dirty-tree":
                (delivery.path / "params.yaml").write_text((delivery.path / "params.yaml").read_text() + "\n")
                result = delivery.make("promote", "ENV=local", f"VERSION={delivery.versions['v2']}", check=False)
            elif case == "no-change":
                result = delivery.make("promote", "ENV=local", f"VERSION={v1}", check=False)
            else:
                local.write_text(original.replace(f"version: '{v1}'", f"version: '{delivery.versions['v2']}'"))
                result = delivery.make("deploy", check=False)
        finally:
            delivery.git("checkout", "--", "params.yaml", "deploy/local/environment.yaml")
        assert result.returncode != 0
        errors = ONE_LINE_ERROR.findall(result.stdout)
        assert errors and words in errors[-1], result.stdout[-1500:]
        assert delivery.git("rev-parse", "HEAD") == head and delivery.git("branch") == branches
        assert len(delivery.history()) == events, "a refused command records no deployment"
        assert delivery.served_version() == v1, "what runs keeps running"

    # --- Kubernetes environments: the overlay is the desired state -----------------------------

    def test_promotion_to_staging_moves_only_its_image_tag(self, delivery):
        v1 = delivery.versions["v1"]
        branch = delivery.promote_and_merge("staging", VERSION=v1)
        changed = delivery.git("show", "--name-only", "--format=", branch).split()
        assert changed == ["deploy/staging/kustomization.yaml"]
        out = delivery.make("deploy", "ENV=staging").stdout
        assert f"staging: rendered {v1}" in out
        rendered = run(["kubectl", "kustomize", "deploy/staging"], cwd=delivery.path).stdout
        images = set(re.findall(r"image: (\S+)", rendered))
        assert images == {f"ghcr.io/ml-team/{delivery.project.slug}:{v1}"}
        promoted = delivery.make("promote", "ENV=production", "FROM=staging").stdout.strip().splitlines()[-1]
        assert promoted == f"promote/production/{v1}"

    # --- releases -------------------------------------------------------------------------------

    def test_releases_tag_the_commit_local_runs_with_the_changelog_and_the_model_deltas(self, delivery):
        """The laptop's releases: local runs v1, then v2, then is rolled back to v1 (no remote, no forge)."""
        section, name = MODEL_PARAMETER[delivery.project.config.task]
        v1, v2 = delivery.versions["v1"], delivery.versions["v2"]
        assert delivery.desired()["version"] == v1
        assert delivery.release_and_merge() == "release/v0.1.0"
        assert delivery.git("rev-parse", "v0.1.0^{commit}") == delivery.git("rev-parse", v1.rpartition("-")[2])
        assert v1.startswith("0.1.0-"), "the first build is called what its release is"
        notes = (delivery.path / "reports/releases/v0.1.0.md").read_text()
        assert "## The model (first release)" in notes and f"Ships build `{v1}` (local)" in notes
        old = yaml.safe_load(delivery.git("show", f"{v1.rpartition('-')[2]}:params.yaml"))["train"][section][name]
        delivery.git("branch", "--quiet", "--delete", f"promote/local/{v2}")  # merged before, as a forge deletes it
        delivery.promote_and_merge(VERSION=v2)
        released = delivery.make("release").stdout
        assert released.strip().splitlines()[-1] == "release/v0.2.0", "a feat commit bumps the minor version"
        assert f"v0.2.0 (build {v2}): the tag is on {v2.rpartition('-')[2]}" in released, "v2 was built before v0.1.0"
        delivery.git("merge", "--quiet", "--no-ff", "--no-verify", "release/v0.2.0", "-m", "Merge release/v0.2.0")
        notes = (delivery.path / "reports/releases/v0.2.0.md").read_text()
        assert "## Model changes since v0.1.0" in notes
        param_row = next(line for line in notes.splitlines() if line.startswith(f"| train.{section}.{name} |"))
        assert str(old) in param_row or f"{old:.4f}" in param_row
        shown = subprocess.run(
            [delivery.path / ".venv/bin/dvc", "metrics", "diff", "v0.1.0", "v0.2.0", "--json"],
            cwd=delivery.path, env=delivery.project.env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        diff = json.loads(shown.stdout or "{}")
        changed = {k.removeprefix("metrics.") for k, v in diff.get("reports/metrics.json", {}).items() if v.get("diff")}
        for metric in changed:
            assert f"| {metric} |" in notes, f"{metric} changed but is not in the notes"
        assert "model sha256" in notes
        changelog = (delivery.path / "CHANGELOG.md").read_text()
        assert [h.split()[1] for h in re.findall(r"(?m)^## v\S+", changelog)] == ["v0.2.0", "v0.1.0"]
        line = changelog.split("## v0.2.0", 1)[1].splitlines()[2]  # the heading, a blank line, the release's line
        assert line.startswith(f"Ships build `{v2}` (local). Model: ") and f"train.{section}.{name}" in line, line
        assert delivery.git("tag", "--list", "v*").split() == ["v0.1.0", "v0.2.0"]
        assert not delivery.git("branch", "--no-merged", "main", "--list", "release/*"), "the changelog branches merged"
        delivery.rollback_and_merge()  # local runs v1 again: released as v0.1.0
        delivery.retrain(0.5)  # a new model on main that no environment runs: the release follows local, not main
        nothing = delivery.make("release")
        assert nothing.stdout.strip().splitlines()[-1] == "local runs v0.1.0 (released): nothing to release"
        assert delivery.git("tag", "--list", "v*").split() == ["v0.1.0", "v0.2.0"]

    def test_production_is_released_through_a_protected_main(self, delivery):
        """staging → production by merged pull requests on an origin whose main refuses pushes; the release tags
        what production runs, a failed upload is finished by a rerun, a rollback has nothing to release."""
        forge = Forge(delivery, delivery.project.scratch / "forge")
        v2, build = delivery.versions["v2"], delivery.versions["to-break"]  # built after v2 (a fix), v2's model
        for version in (v2, build):  # staging, then production from staging: each a pull request, merged
            staged = forge.make("promote", "ENV=staging", f"VERSION={version}", "PROMOTE_ARGS=--pull-request").stdout
            assert staged.strip().splitlines()[-1].startswith("https://github.invalid/pull/"), staged[-800:]
            forge.merge(f"promote/staging/{version}")
            forge.make("promote", "ENV=production", "FROM=staging", "PROMOTE_ARGS=--pull-request")
            forge.merge(f"promote/production/{version}")
        (forge.state / "fail-upload").touch()
        failed = forge.make("release", "ENV=production", "RELEASE_ARGS=--publish", check=False)
        assert failed.returncode != 0 and "HTTP 502" in failed.stdout, failed.stdout[-1500:]
        built_from = delivery.git("rev-parse", build.rpartition("-")[2])
        assert forge.remote("rev-parse", "v0.2.1^{commit}") == built_from, "the tag is on production's commit"
        resumed = forge.make("release", "ENV=production", "RELEASE_ARGS=--publish").stdout
        assert "resumed" in resumed and "nothing to release" not in resumed, resumed[-1500:]
        assert resumed.strip().splitlines()[-1].startswith("https://github.invalid/pull/"), resumed[-800:]
        calls = [" ".join(call[:2]) for call in forge.calls() if call[0] == "release"]
        first, rerun = ["release view", "release create", "release upload"], ["release view", "release edit"]
        assert calls == [*first, *rerun, "release upload"], "the rerun edits the release and uploads again"
        assert any(call[:2] == ["pr", "create"] and "release/v0.2.1" in call for call in forge.calls())
        changelog = forge.remote("show", "release/v0.2.1:CHANGELOG.md")
        section = changelog.split("## v0.2.1", 1)[1].split("\n## ", 1)[0]
        assert f"Ships build `{build}` (production). No model change since v0.2.0." in section, section
        assert "fake-token" not in failed.stdout + resumed, "the token is never printed"
        rollback = forge.make("rollback", "ENV=production", "ROLLBACK_ARGS=--pull-request").stdout
        forge.merge(re.search(r"prepared (rollback/production/\S+):", rollback).group(1))  # production runs v2 again
        nothing = forge.make("release", "ENV=production", "RELEASE_ARGS=--publish").stdout
        assert nothing.strip().splitlines()[-1] == "production runs v0.2.0 (released): nothing to release"
        assert forge.remote("tag", "--list").split() == ["v0.2.1"], "only what production ran is published"
        updates = forge.main_updates()
        assert updates and all(update.endswith(" forge") for update in updates), updates
        assert forge.remote("rev-parse", "main") == delivery.git("rev-parse", "main")

    def test_pr_report_compares_metrics_params_and_load_with_the_base(self, delivery):
        report = delivery.make("pr-report", "BASE=v0.1.0").stdout
        section, name = MODEL_PARAMETER[delivery.project.config.task]
        written = (delivery.path / "reports/pr.md").read_text()
        assert written.startswith("<!-- modelops-pr-report -->") and written.strip() in report
        assert "Model report against `v0.1.0`" in written and f"train.{section}.{name}" in written
        assert "Quality gate (`docs/criteria.yaml`): **PASS**" in written

    def test_every_path_the_readme_says_delivery_makes_exists(self, delivery):
        for rel, command in MADE_BY_DELIVERY.items():
            found = list(delivery.path.glob(rel.replace("<tag>", "*")))
            assert found, f"`{command}` ran, yet no {rel}"
