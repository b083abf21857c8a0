"""Performance management and improvement of a generated project, for real, against its deployed service.

The deployed project (conftest.py's `deployed`, where tests/test_delivery.py left it) has its next
version deployed through a merged promotion and released, then: clean
traffic → `make monitor` keeps the model; drifted traffic → it asks for retraining and names the
shifted features; poisoned feedback (invented sources and a body naming its source refused over HTTP, a
backdoor's trigger records with a stolen token quarantined, a flood under a real source's name capped
after that source's own labels) reaches neither training nor judging, and a challenger held to an unreachable margin
(and a one-second search) changes nothing; `make retrain` proposes a challenger that beats the
champion, which is merged, deployed, released and kept under the new traffic, then rolled back;
feedback without its token or with bad labels is refused with nothing written; thin,
missing and corrupt logs are told apart; under 100 Locust users the log holds exactly one row
per answered prediction; and a SIGTERM (what `make undeploy` and Kubernetes send) loses nothing
queued; `make evidence` finds every duty's proof present and current, and names the duty when
a piece goes stale or missing. The steps run in the order written and share the deployment.
"""

from __future__ import annotations

import csv
import json
import re
import threading
import time

import pytest
import yaml
from support.deployment import FLOOD, TOKEN, TRIGGER, commit_edit, tuning_budget
from support.markdown import MADE_BY_MONITORING, MADE_BY_RETRAINING

from demo.scenario import DEFAULT_TUNE_TRIALS as TUNE_TRIALS  # the demo's search budget

pytestmark = pytest.mark.slow


class TestMonitoring:
    """Watch, retrain and redeploy the deployed project (support.deployment.DEPLOYED)."""

    def test_clean_traffic_then_the_monitor_keeps_the_model(self, monitored):
        out = monitored.make("simulate", "PHASE=clean").stdout
        clean = json.loads((monitored.path / "reports/monitoring/simulation-clean.json").read_text())
        assert clean["answered"] == clean["sent"] > 100 and clean["feedback"] > 50, out
        code, summary, out = monitored.monitor()
        assert (code, summary["decision"]) == (0, "keep"), out
        assert summary["quality"]["verdict"] == "ok" and summary["drift"]["verdict"] == "ok"
        assert summary["labelled"] == clean["feedback"]
        commit = monitored.versions["champion"].rpartition("-")[2]  # the built commit, before promotion and release
        assert summary["criteria"] == f"docs/criteria.yaml at {commit}"  # the served version's targets
        report = monitored.path / summary["report"]
        assert "Decision: `keep`" in report.read_text()
        assert all(
            (report.parent / name).stat().st_size > 5000
            for name in re.findall(r"\]\(([^)]+\.png)\)", report.read_text())
        )

    def test_drifted_traffic_asks_for_retraining_naming_the_shifted_features(self, monitored):
        monitored.make("simulate", "PHASE=drift")
        drift = json.loads((monitored.path / "reports/monitoring/simulation-drift.json").read_text())
        code, summary, out = monitored.monitor()
        assert (code, summary["decision"]) == (10, "retrain"), out
        assert sorted(summary["drift"]["drifted"]) == sorted(drift["shifted_features"]), out
        assert all(name in out for name in drift["shifted_features"])
        assert summary["model_versions"] == [monitored.versions["champion"]]

    # --- improvement: the monitor asked for retraining ------------------------------------------

    def test_poisoned_feedback_and_a_worse_challenger_change_nothing(self, monitored):
        monitored.poison()
        attack = monitored.attack
        assert attack["requests_refused_401"] > 10 and attack["requests_refused_400"] == 1  # refused over HTTP
        cap = attack["honest"]  # the simulator's own labels count; the flood under its name comes after them
        commit_edit(monitored, "params.yaml", "max_labels_per_source: 1000", f"max_labels_per_source: {cap}")
        head = commit_edit(monitored, "docs/criteria.yaml", "min_margin: 0.01", "min_margin: 5.0")  # unreachable
        params = (monitored.path / "params.yaml").read_text()
        out = monitored.make("retrain", "RETRAIN_ARGS=--seconds 1 --load-seconds 3").stdout
        summary = monitored.improvement()
        assert not summary["proposed"] and summary["branch"] is None, out
        assert "no proposal" in out and "margin" in out, out
        assert any(reason.startswith("margin: below min_margin 5.0: margin ") for reason in summary["reasons"]), out
        assert "% CI " in out and ", n=" in out, out  # the refusal prints the margin's interval
        # nothing changed: same commit, clean tree, no branch, same params, the data folder as committed
        assert monitored.git("rev-parse", "HEAD") == head
        assert monitored.git("status", "--porcelain", "--untracked-files=no") == ""
        assert monitored.git("branch", "--list", "retrain/*") == ""
        assert (monitored.path / "params.yaml").read_text() == params
        assert (monitored.path / "data/production/train.csv").stat().st_size == 0
        # untrusted feedback: counted by reason, in the plan and the report
        data = summary["data"]
        quarantined = data["quarantined"]
        assert quarantined["cap"] == FLOOD and data["capped"] == {"simulator": FLOOD}, data
        assert quarantined["label"] == 1 and quarantined["input"] >= TRIGGER + 1, quarantined
        assert data["sources"]["partner"] == TRIGGER and data["sources"]["simulator"] == cap + FLOOD, data["sources"]
        trigger = f"input {monitored.trigger!r} outside"
        outside = [n for reason, n in data["reasons"].items() if reason.startswith(trigger)]
        assert outside == [TRIGGER], data["reasons"]  # every trigger record, quarantined for its input
        assert data["judged_by"] == "trusted sources: simulator"
        assert f"source 'simulator' sent {cap + FLOOD} labels" in (monitored.path / summary["body"]).read_text()
        # the time budget ended the search, which kept the best trial so far
        tuning = json.loads((monitored.path / "reports/improvement/tuning.json").read_text())
        assert tuning["stopped_by"] == "seconds" and 1 < len(tuning["trials"]) < tuning_budget(monitored), tuning
        best = max(trial["value"] for trial in tuning["trials"] if trial["value"] is not None)
        assert tuning["best_value"] == pytest.approx(best)
        assert tuning["best_params"] in [trial["params"] for trial in tuning["trials"] if trial["value"] == best]
        monitored.git("reset", "--quiet", "--hard", "HEAD~1")  # back to the reachable margin

    def test_retraining_proposes_a_challenger_that_beats_the_champion(self, monitored):
        head = monitored.git("rev-parse", "HEAD")
        # A short load test: the committed SLO is relaxed (conftest.py's `deployed`), its check still runs. The demo's
        # trial budget, not params.yaml's (100 trials or 45 s, which a loaded machine spends whole): the challenger
        # wins by its new data, as in the demo.
        args = f"RETRAIN_ARGS=--trials {TUNE_TRIALS} --load-seconds 3"
        out = monitored.make("retrain", args).stdout
        summary = monitored.improvement()
        assert summary["proposed"], out
        assert summary["tuning"]["stopped_by"] == "trials", summary["tuning"]  # the step above saw the time budget
        branch = summary["branch"]
        assert branch.startswith("retrain/") and f"proposed: {branch}" in out
        assert monitored.git("rev-parse", "HEAD") == head  # the proposal is on its branch; the tree is the champion's
        assert monitored.git("status", "--porcelain", "--untracked-files=no") == ""
        changed = set(monitored.git("diff", "--name-only", f"{head}...{branch}").split())
        day = summary["body"]
        assert {"params.yaml", "dvc.lock", "data/production.dvc", "docs/model_card.md", "docs/data_card.md"} <= changed
        assert any(name.startswith("reports/improvement/") and name.endswith(".md") for name in changed), changed
        assert not any(name.startswith("reports/monitoring/") for name in changed)
        checks = {check["name"]: check["passed"] for check in summary["comparison"]["checks"]}
        assert all(checks.values()) and {"gate", "slo", "margin", "holdout", "impact"} <= set(checks), checks
        impact = summary["comparison"]["impact"]  # the window's logged inputs replayed through both models
        assert impact["rows"]["replayed"] > 0 and impact["verdict"] != "fail", impact["reasons"]
        body = (monitored.path / "reports/improvement/pr-body.md").read_text()
        assert (
            "### Impact on replayed traffic" in body and f"| records replayed | {impact['rows']['replayed']} |" in body
        )
        scores = summary["comparison"]["scores"]
        assert scores["challenger"]["recent"]["f1_macro"] >= 1.01 * scores["champion"]["recent"]["f1_macro"]
        recent = summary["comparison"]["intervals"]["recent"]["f1_macro"]  # better, not one lucky record:
        assert 0 < recent["low"] <= recent["margin"] <= recent["high"], recent  # the paired interval above zero
        assert "every check passed; shown better: margin +" in out and "(95 % CI +" in out, out
        # the tuning is a record; params.yaml on the branch holds what it chose, the pipeline reproduces from it
        params = yaml.safe_load(monitored.git("show", f"{branch}:params.yaml"))
        assert params["train"]["logistic_regression"] == {
            **params["train"]["logistic_regression"],
            **summary["tuning"]["best_params"],
        }
        assert params["featurize"]["reference"] == "recent"  # the drifted world is the new reference
        assert int(monitored.git("cat-file", "-s", f"{branch}:reports/improvement/comparison.png")) > 5000
        monitored.git("merge", "--quiet", "--no-ff", "--no-verify", branch, "-m", f"Merge {branch}")
        monitored.make("pipeline")  # DVC restores the challenger from its cache: nothing reruns
        assert "Data and pipelines are up to date" in monitored.project.dvc("status").stdout
        # the poison is in quarantine, with its reasons; none of it trains or judges
        production = monitored.path / "data/production"
        with open(production / "quarantine.csv", newline="") as handle:
            refused = list(csv.DictReader(handle))
        capped = [row for row in refused if row["reason"].startswith("cap: source 'simulator'")]
        assert len(capped) == FLOOD  # the flood under the simulator's name, all of it; none of the simulator's own
        partner = [row["reason"] for row in refused if row["source"] == "partner"]
        assert len(partner) == TRIGGER and all("outside the training range" in reason for reason in partner)
        for name in ("train.csv", "recent.csv", "recent_inputs.csv"):
            with open(production / name, newline="") as handle:
                rows = list(csv.DictReader(handle))
            assert rows, f"data/production/{name} is empty"
            for feature, values in monitored.poisoned.items():
                used = {round(float(row[feature]), 6) for row in rows}
                assert not used & {round(v, 6) for v in values}, f"a poisoned {feature} is in data/production/{name}"
        monitored.versions["report"] = day

    def test_the_merged_proposal_is_deployed_and_kept_under_the_new_traffic(self, monitored):
        v2 = monitored.build()
        monitored.promote_and_merge()
        monitored.make("deploy")
        assert monitored.served_version() == v2 != monitored.versions["champion"]
        monitored.release_and_merge()
        notes = sorted((monitored.path / "reports/releases").glob("v*.md"))[-1].read_text()
        # the retrained model's deltas: a metric of the model that changed (which one follows the search)
        metrics = json.loads((monitored.path / "reports/metrics.json").read_text())["metrics"]
        assert "(`dvc metrics diff`)" in notes and any(f"| {name} |" in notes for name in metrics), notes
        monitored.make("simulate", "PHASE=drift")
        code, summary, out = monitored.monitor()
        assert (code, summary["decision"]) == (0, "keep"), out
        assert summary["model_versions"] == [v2] and monitored.versions["champion"] in summary["versions_in_log"]

    def test_a_rollback_restores_the_champion(self, monitored):
        monitored.rollback_and_merge()
        monitored.make("deploy")
        assert monitored.served_version() == monitored.versions["champion"]

    def test_feedback_needs_its_token_and_bad_labels_write_nothing(self, monitored):
        status, answer = monitored.post("/predict", {"records": [monitored.record()]})
        assert status == 200
        request_id = answer["request_id"]
        classes = json.loads((monitored.path / "data/processed/schema.json").read_text())["target"]["classes"]
        time.sleep(1)  # the log writes within FLUSH_SECONDS
        before = monitored.labels()
        good = {"request_id": request_id, "label": classes[0]}
        cases = [
            (None, good, 401, "feedback token"),
            ("wrong-token", good, 401, "feedback token"),
            (TOKEN, {"request_id": "0" * len(request_id), "label": classes[0]}, 404, "unknown request_id"),
            (TOKEN, {"request_id": request_id, "label": "no-such-class"}, 422, "not a known class"),
            (TOKEN, {"request_id": request_id}, 400, "label"),
        ]
        for token, body, status, reason in cases:
            got, answer = monitored.post("/feedback", body, token)
            assert (got, reason in answer["error"]) == (status, True), answer
        assert monitored.labels() == before
        assert monitored.post("/feedback", good, TOKEN) == (201, {"accepted": 1})
        assert monitored.post("/feedback", good, TOKEN)[0] == 409
        assert monitored.labels() == before + 1
        assert monitored.post("/predict", {"records": [monitored.record()]})[0] == 200  # still serving

    def test_no_log_thin_data_and_a_corrupt_line_are_told_apart(self, monitored, tmp_path):
        code, _, out = monitored.monitor(f"DATA={tmp_path / 'empty'}")
        assert code == 3 and "no prediction log" in out
        thin = tmp_path / "thin"
        (thin / "predictions").mkdir(parents=True)
        lines = monitored.log_lines(monitored.versions["champion"], 150)  # the log holds delivery's versions too
        assert len(lines) == 150
        (thin / "predictions" / "predictions-copy-w1-2026-01-01.jsonl").write_text(
            "".join(lines[:120]) + "{truncated\n" + "".join(lines[120:])
        )
        code, summary, out = monitored.monitor(f"DATA={thin}")
        assert summary["quality"]["verdict"] == "insufficient data" and summary["drift"]["verdict"] == "ok", out
        assert summary["corrupt_lines"] == 1 and summary["predictions"] >= 140
        assert "Traceback" not in out

    def test_every_path_the_readme_says_monitoring_and_retraining_make_exists(self, monitored):
        for rel, command in {**MADE_BY_MONITORING, **MADE_BY_RETRAINING}.items():
            assert list(monitored.path.glob(rel.replace("<date>", "*"))), f"`{command}` ran, yet no {rel}"

    def test_under_100_users_the_log_holds_one_row_per_answered_prediction(self, monitored):
        before = len(monitored.log_rows())
        monitored.make("load-test", f"URL={monitored.url}", "LOAD_ARGS=--users 100 --seconds 5", check=False)
        load = json.loads((monitored.path / "reports/load.json").read_text())
        answered = load["requests"] - load["failures"]
        assert answered > 1000
        time.sleep(1)
        rows = monitored.log_rows()[before:]
        assert len(rows) == answered and all(r["status"] == 200 for r in rows)
        assert len({r["request_id"] for r in rows}) == answered

    def test_sigterm_writes_what_is_queued(self, monitored):
        before = len(monitored.log_rows())
        answered = []

        def burst():
            for _ in range(300):
                answered.append(monitored.post("/predict", {"records": [monitored.record()]})[0])

        threads = [threading.Thread(target=burst) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        monitored.make("undeploy")  # SIGTERM at once: the last answers are still queued
        assert answered.count(200) == 1200
        assert len(monitored.log_rows()) - before == 1200

    # --- the evidence map, once the whole loop ran ----------------------------------------------

    def test_evidence_after_the_whole_loop_lists_every_duty_present_and_current(self, monitored):
        """Deployed, monitored, retrained, released and rolled back: every point of `when` is reached, and
        every piece of every duty is present and current once the team has written its problem definition."""
        monitored.make("monitor", check=False)  # a summary of what runs now (the step above judged a copied log)
        definition = monitored.path / "docs/problem_definition.md"
        definition.write_text(re.sub(r"\*?\(fill in[^)]*\)\*?", "written by the team", definition.read_text()))
        monitored.commit_all("docs: the problem definition, written")
        done = monitored.make("evidence", check=False)
        out = done.stdout
        assert done.returncode == 0, out[-4000:]
        assert "required here: always, retrain, deploy, release;" in out, out[-4000:]
        rows = out.splitlines()
        for duty in yaml.safe_load((monitored.path / "docs/evidence.yaml").read_text())["duties"]:
            label = f"{duty['scope_of']} · {duty['id']}" if "scope_of" in duty else duty["id"]
            listed = [row for row in rows if row.startswith(f"{label}  ")]
            assert len(listed) == len(duty["evidence"]), f"{label}: {listed}"
            assert all("  yes  " in row and row.endswith("  ok") for row in listed), "\n".join(listed)
        assert "FAIL" not in (monitored.path / "docs/evidence.md").read_text()

    def test_a_stale_or_missing_piece_of_evidence_fails_naming_its_duty(self, monitored):
        params_file = monitored.path / "params.yaml"
        summary = monitored.path / "reports/monitoring/summary.json"
        params = yaml.safe_load(params_file.read_text())
        params["train"]["seed"] += 1  # edited after the pipeline: the report evaluates a model about to change
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        kept = summary.read_bytes()
        summary.unlink()  # the monitor's summary gone
        try:
            done = monitored.make("evidence", check=False)
        finally:
            monitored.git("checkout", "--", "params.yaml")
            summary.write_bytes(kept)
        errors = [line for line in done.stdout.splitlines() if line.startswith("error: ")]
        assert done.returncode != 0 and errors, done.stdout[-4000:]
        report = [line for line in errors if "evaluation report (docs/evaluation_report.md) stale" in line]
        assert report and report[0].startswith("error: 1.5, 3.1: ") and "upstream train" in report[0], errors
        assert report[0].endswith("— run `make pipeline`")
        missing = [line for line in errors if "(reports/monitoring/summary.json) missing" in line]
        assert missing and all(d in missing[0] for d in ("3.2", "3.3", "3.4", "2 · risk", "3 · retirement")), errors
        assert missing[0].endswith("— run `make monitor`")
        assert monitored.make("evidence", check=False).returncode == 0  # put back: present and current again
