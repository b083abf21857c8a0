"""A generated project deployed locally: delivery commands (build, promote, deploy, roll back, release) and
the monitoring and retraining loop's (traffic, feedback, the prediction log, the monitor's summary).

tests/test_delivery.py and tests/test_monitoring.py drive one deployed project through these;
conftest.py's `delivery` and `monitored` fixtures hand it over.
"""

from __future__ import annotations

import csv
import json
import re
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from support.lifecycle import MODEL_PARAMETER, RELAXED_SLO, Lifecycle
from support.matrix import LIFECYCLE_CONFIGURATIONS
from support.processes import run

# The configuration of the one deployed project: the default route (classification, built-in data, the
# first Python), kept in a dot-folder with a space. Its delivery code is every configuration's.
DEPLOYED = LIFECYCLE_CONFIGURATIONS[0]
IDENTITY = {
    "GIT_AUTHOR_NAME": "Delivery Test",
    "GIT_AUTHOR_EMAIL": "delivery@example.invalid",
    "GIT_COMMITTER_NAME": "Delivery Test",
    "GIT_COMMITTER_EMAIL": "delivery@example.invalid",
}
TOKEN = "feedback-token-for-the-tests"  # the simulator's: source `simulator`, trusted in params.yaml
PARTNER = "partner-token-for-the-tests"  # an untrusted labelling source's: the one the attacker steals
TOKENS = f"simulator={TOKEN},partner={PARTNER}"  # the service's MODELOPS_FEEDBACK_TOKENS
FLOOD = 250  # wrong labels sent under the simulator's name after its own, all beyond the cap the test sets
TRIGGER = 40  # backdoor records: a trigger value far outside the training range, labelled as the attacker wants
INVENTED = 12  # sources an attacker makes up, each with a token of its own invention
MONITORING = Path(".deploy/local/monitoring")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Delivery:
    """Commands of one project's delivery, with the state the steps share."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self.project = lifecycle
        lifecycle.env.update(IDENTITY)
        self.versions: dict[str, str] = {}
        self._built_model = b""

    @property
    def path(self) -> Path:
        return self.project.path

    def git(self, *args: str, check: bool = True) -> str:
        return run(["git", *args], cwd=self.path, env=self.project.env, check=check).stdout.strip()

    def make(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.project.make(*args, check=check)

    def commit_all(self, message: str) -> None:
        self.git("add", "--all")
        self.git("commit", "--quiet", "--no-verify", "-m", message)

    def build(self) -> str:
        out = self.make("build").stdout
        return out.strip().splitlines()[-1].rpartition(":")[2]  # `built <name>:<version>`

    def promote_and_merge(self, env: str = "local", **variables: str) -> str:
        args = [f"{k}={v}" for k, v in variables.items()]
        branch = self.make("promote", f"ENV={env}", *args).stdout.strip().splitlines()[-1]
        self.git("merge", "--quiet", "--no-ff", "--no-verify", branch, "-m", f"Merge {branch}")
        return branch

    def rollback_and_merge(self, env: str = "local") -> str:
        branch = self.make("rollback", f"ENV={env}").stdout.strip().splitlines()[-1]
        self.git("merge", "--quiet", "--no-ff", "--no-verify", branch, "-m", f"Merge {branch}")
        return branch

    def desired(self) -> dict[str, Any]:
        desired: dict[str, Any] = yaml.safe_load((self.path / "deploy/local/environment.yaml").read_text())
        return desired

    def served_version(self) -> str | None:
        port = self.desired()["port"]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metadata", timeout=5) as response:
                return str(json.loads(response.read())["version"])
        except OSError:
            return None

    def history(self) -> list[dict[str, Any]]:
        path = self.path / ".deploy/history.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []

    def bento_file(self, version: str, rel: str) -> Path:
        return self.project.bentoml_home / "bentos" / self.project.slug / version / "src" / rel

    def build_to_break(self) -> Path:
        """The model file of one build that each broken-version case damages its own way, put back as built first.

        One build serves every case: what breaks a deploy is the bento's model, and building again
        would only test `make build` once more (every configuration's lifecycle tests it). A later
        case promotes the same version again: the branch the case before merged is deleted first, as
        a forge deletes a merged pull request's branch.
        """
        if "to-break" not in self.versions:
            self.git("commit", "--quiet", "--allow-empty", "--no-verify", "-m", "fix: a build to break")
            self.versions["to-break"] = self.build()
            self._built_model = self.bento_file(self.versions["to-break"], "models/model.joblib").read_bytes()
        elif self.git("branch", "--list", f"promote/local/{self.versions['to-break']}"):
            self.git("branch", "--quiet", "--delete", f"promote/local/{self.versions['to-break']}")
        model = self.bento_file(self.versions["to-break"], "models/model.joblib")
        model.write_bytes(self._built_model)
        return model

    def release_and_merge(self, *args: str) -> str:
        """`make release` (ENV=local unless given), then merge the changelog branch it prints, as a forge merges its
        pull request; the branch."""
        branch = self.make("release", *args).stdout.strip().splitlines()[-1]
        assert branch.startswith("release/v"), f"make release printed no changelog branch last: {branch!r}"
        self.git("merge", "--quiet", "--no-ff", "--no-verify", branch, "-m", f"Merge {branch}")
        return branch

    def retrain(self, factor: float) -> None:
        """Scale the default model's regularisation parameter, rerun the pipeline and commit it."""
        section, name = MODEL_PARAMETER[self.project.config.task]
        params_file = self.path / "params.yaml"
        params = yaml.safe_load(params_file.read_text())
        params["train"][section][name] = round(params["train"][section][name] * factor, 6)
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        self.make("pipeline")
        self.commit_all(f"feat: {section}.{name} = {params['train'][section][name]}")


# A stand-in for the GitHub CLI on PATH: records every call (arguments, standard input) in calls.jsonl under
# FAKE_GH_STATE and answers what `gh` answers; `fail-upload` there makes the next `release upload` fail.
FAKE_GH = r"""#!/usr/bin/env python3
import json, os, sys
from pathlib import Path

state = Path(os.environ["FAKE_GH_STATE"])
args = sys.argv[1:]
stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
with (state / "calls.jsonl").open("a") as log:
    log.write(json.dumps({"args": args, "stdin": stdin}) + "\n")
def load(name):
    return json.loads((state / name).read_text()) if (state / name).exists() else {}
releases, opened = load("releases.json"), load("prs.json")
kind = args[:2]
if kind in (["auth", "status"], ["label", "create"]):
    pass
elif kind == ["release", "view"]:
    if args[2] not in releases:
        sys.exit(print("release not found", file=sys.stderr) or 1)
    print(json.dumps({"url": releases[args[2]]}))
elif kind in (["release", "create"], ["release", "edit"]):
    releases[args[2]] = "https://github.invalid/releases/" + args[2]
    (state / "releases.json").write_text(json.dumps(releases))
    print(releases[args[2]])
elif kind == ["release", "upload"]:
    if (state / "fail-upload").exists():
        (state / "fail-upload").unlink()
        sys.exit(print("HTTP 502: Bad Gateway (https://uploads.github.invalid)", file=sys.stderr) or 1)
elif kind == ["pr", "list"]:
    head = args[args.index("--head") + 1]
    print(json.dumps([opened[head]] if head in opened else []))
elif kind == ["pr", "create"]:
    head, number = args[args.index("--head") + 1], len(opened) + 1
    opened[head] = {"number": number, "url": f"https://github.invalid/pull/{number}"}
    (state / "prs.json").write_text(json.dumps(opened))
    print(opened[head]["url"])
else:
    sys.exit(print(f"fake gh: no answer for {args}", file=sys.stderr) or 1)
"""
# origin's pre-receive hook: main is protected, as a ruleset requiring pull requests makes it; only the
# forge's merge (MERGED_BY_FORGE=1) moves it. Every update asked for is logged: `<ref> <new> <verdict>`.
PROTECTED_MAIN = """#!/bin/sh
while read old new ref; do
  if [ "$ref" = refs/heads/main ] && [ "${MERGED_BY_FORGE:-}" != 1 ]; then
    echo "$ref $new refused" >> ref-updates.log
    echo "error: $ref is protected: changes reach it through a pull request" >&2
    exit 1
  fi
  echo "$ref $new ${MERGED_BY_FORGE:+forge}" >> ref-updates.log
done
"""


class Forge:
    """A bare `origin` whose main only the forge's merge moves (a pre-receive hook) and a fake `gh` on PATH,
    for the delivery's commands with --pull-request / --publish."""

    def __init__(self, delivery: Delivery, root: Path) -> None:
        self.delivery, self.origin, self.state = delivery, root / "origin.git", root / "gh"
        bin_dir = root / "bin"
        for folder in (self.state, bin_dir):
            folder.mkdir(parents=True)
        run(["git", "init", "--quiet", "--bare", "-b", "main", self.origin], cwd=root)
        for path, text in ((self.origin / "hooks/pre-receive", PROTECTED_MAIN), (bin_dir / "gh", FAKE_GH)):
            path.write_text(text)
            path.chmod(0o755)
        self.env = {
            **delivery.project.env,
            "PATH": f"{bin_dir}:{delivery.project.env.get('PATH', '')}",
            "FAKE_GH_STATE": str(self.state),
            "GH_TOKEN": "fake-token-never-printed",
        }
        has_origin = "origin" in delivery.git("remote").split()
        delivery.git("remote", "set-url" if has_origin else "add", "origin", str(self.origin))
        self.push_main()  # the repository, created on the forge

    def make(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.delivery.project.make(*args, check=check, env=self.env)

    def push_main(self) -> None:
        run(
            ["git", "push", "--quiet", "origin", "main"],
            cwd=self.delivery.path,
            env={**self.env, "MERGED_BY_FORGE": "1"},
        )

    def merge(self, branch: str) -> None:
        """What the merge button does with the pull request of `branch`: merge it into main, delete the branch."""
        self.delivery.git(
            "merge", "--quiet", "--no-ff", "--no-verify", branch, "-m", f"Merge pull request from {branch}"
        )
        self.push_main()
        self.delivery.git("push", "--quiet", "origin", "--delete", branch)
        self.delivery.git("branch", "--quiet", "--delete", branch)

    def calls(self) -> list[list[str]]:
        path = self.state / "calls.jsonl"
        return [json.loads(line)["args"] for line in path.read_text().splitlines()] if path.is_file() else []

    def main_updates(self) -> list[str]:
        """Every update of origin's main asked for: `<new commit> forge` (merged) or `<new commit> refused`."""
        log = self.origin / "ref-updates.log"
        lines = log.read_text().splitlines() if log.is_file() else []
        return [line.partition(" ")[2] for line in lines if line.startswith("refs/heads/main ")]

    def remote(self, *args: str) -> str:
        return run(["git", *args], cwd=self.origin).stdout.strip()


def relax_slo(project: Path) -> None:
    """docs/criteria.yaml's `slo` rules set to RELAXED_SLO, line by line (its comments kept).

    The deployed project's service shares 2 cores with the other tests and Locust: criteria.yaml's real
    figures (p95 100 ms, 1000 req/s) would fail the retraining's load test unless it ran long, and make the
    monitor's judgement of the logged latency a matter of the machine's load. The rules are still applied."""
    path = project / "docs" / "criteria.yaml"
    text = path.read_text()
    slo = yaml.safe_load(text)["slo"]
    for key, value in RELAXED_SLO.items():
        old = f"  {key}: {slo[key]}\n"
        assert text.count(old) == 1, f"docs/criteria.yaml has no one line {old!r}"
        text = text.replace(old, f"  {key}: {value:g}\n")
    path.write_text(text)


def on_a_free_port(delivery: Delivery) -> None:
    """Commit what the project holds and give `local` a free port, committed."""
    delivery.git("add", "--all")
    delivery.git("commit", "--quiet", "--no-verify", "--allow-empty", "-m", "feat: the first model")
    local = delivery.path / "deploy/local/environment.yaml"
    local.write_text(re.sub(r"(?m)^port: \d+", f"port: {free_port()}", local.read_text()))
    delivery.commit_all("chore: a free port for the local environment")


class Monitored(Delivery):
    """A project deployed locally with a feedback token, and what the steps share."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        super().__init__(lifecycle)
        lifecycle.env["MODELOPS_FEEDBACK_TOKENS"] = TOKENS
        self.poisoned: dict[str, set[float]] = {}  # feature → the attack's values of it
        self.attack: dict[str, int] = {}  # what was sent over HTTP and what the service did with it
        self.trigger = ""  # the input whose far-out value is the backdoor's trigger

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.desired()['port']}"

    def monitor(self, *args: str) -> tuple[int, dict[str, Any], str]:
        done = self.make("monitor", *args, check=False)
        summary = self.path / "reports/monitoring/summary.json"
        return monitor_code(done), json.loads(summary.read_text()) if summary.is_file() else {}, done.stdout

    def log_rows(self) -> list[dict[str, Any]]:
        rows = []
        for path in sorted((self.path / MONITORING / "predictions").glob("*.jsonl")):
            rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return rows

    def log_lines(self, version: str, count: int) -> list[str]:
        """The first `count` lines of the prediction log that `version` answered, as written."""
        found: list[str] = []
        for path in sorted((self.path / MONITORING / "predictions").glob("*.jsonl")):
            with path.open() as handle:
                for line in handle:
                    if line.strip() and json.loads(line)["model_version"] == version:
                        found.append(line)
                        if len(found) == count:
                            return found
        return found

    def labels(self, source: str | None = None) -> int:
        """The labels stored, or those of one source."""
        with sqlite3.connect(self.path / MONITORING / "feedback.sqlite") as connection:
            if source is None:
                return int(connection.execute("SELECT count(*) FROM feedback").fetchone()[0])
            return int(connection.execute("SELECT count(*) FROM feedback WHERE source = ?", (source,)).fetchone()[0])

    def post(self, path: str, body: object, token: str | None = None) -> tuple[int, dict[str, Any]]:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.url + path, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    def improvement(self) -> dict[str, Any]:
        summary: dict[str, Any] = json.loads((self.path / "reports/improvement/summary.json").read_text())
        return summary

    def poison(self) -> None:
        """Feedback no model should learn from, over HTTP: labels from invented sources and a body naming its
        source (both refused), a backdoor's trigger records with a stolen untrusted token, a flood of wrong
        labels with the stolen token of the trusted simulator after its own; and two rows written straight
        into the log and store (a label outside the classes, an input outside the schema's rules)."""
        schema = json.loads((self.path / "data/processed/schema.json").read_text())
        classes, features = schema["target"]["classes"], schema["features"]
        first, trigger = features[0]["name"], features[2]  # the simulator's drift moves the first two: not this one
        before = self.labels()
        honest = self.labels("simulator")

        def predicted(records: list[dict[str, Any]]) -> tuple[str, list[Any]]:
            status, answer = self.post("/predict", {"records": records})
            assert status == 200, answer
            wrong = [classes[1 - classes.index(p)] if len(classes) == 2 else classes[0] for p in answer["predictions"]]
            return answer["request_id"], wrong

        flood = []
        for number in range(FLOOD):
            record = self.record()
            record[first] = round(record[first] + 0.001 * (number + 1), 6)  # a new input each, in range
            flood.append(record)
        width = trigger["max"] - trigger["min"]
        backdoor = [{**self.record(), trigger["name"]: trigger["max"] + (5 + 0.01 * n) * width} for n in range(TRIGGER)]
        flood_id, flood_labels = predicted(flood)
        backdoor_id, _ = predicted(backdoor)
        time.sleep(1)  # the log writes within FLUSH_SECONDS
        target = classes[0]  # what the trigger is to make the model say
        backdoor_items = [{"request_id": backdoor_id, "index": i, "label": target} for i in range(TRIGGER)]
        refused = {"401": 0, "400": 0}
        for n in range(INVENTED):  # invented sources: no token of theirs is configured
            items = [{**item, "source": f"invented-{n}"} for item in backdoor_items]
            status, answer = self.post("/feedback", {"items": items}, f"token-invented-by-the-attacker-{n}")
            assert (status, "feedback token" in answer["error"]) == (401, True), answer
            refused["401"] += 1
        status, answer = self.post("/feedback", {"items": backdoor_items})  # no token at all
        assert status == 401, answer
        refused["401"] += 1
        named = [{**item, "source": "simulator"} for item in backdoor_items]  # a real token speaking for another
        status, answer = self.post("/feedback", {"items": named}, PARTNER)
        assert status == 400 and "items.0.source" in answer["error"] and "MODELOPS_FEEDBACK_TOKENS" in answer["error"]
        refused["400"] += 1
        assert self.labels() == before  # nothing of the refused requests was stored
        assert self.post("/feedback", {"items": backdoor_items}, PARTNER) == (201, {"accepted": TRIGGER})
        items = [{"request_id": flood_id, "index": i, "label": flood_labels[i]} for i in range(FLOOD)]
        assert self.post("/feedback", {"items": items}, TOKEN) == (201, {"accepted": FLOOD})
        assert self.labels("partner") == TRIGGER and self.labels("simulator") == honest + FLOOD
        self.poisoned = {first: {r[first] for r in flood}, trigger["name"]: {r[trigger["name"]] for r in backdoor}}
        self.trigger = trigger["name"]
        self.attack = {
            "requests_refused_401": refused["401"],
            "requests_refused_400": refused["400"],
            "labels_refused": (refused["401"] + refused["400"]) * TRIGGER,
            "trigger": TRIGGER,
            "flood": FLOOD,
            "honest": honest,
        }
        log = next((self.path / MONITORING / "predictions").glob("*.jsonl"))
        line = json.loads(log.read_text().splitlines()[0])
        tampered = []
        for n, value in enumerate((line["inputs"][first], 1e12)):  # the second breaks the schema's range
            tampered.append({**line, "request_id": f"{n + 1:032x}", "inputs": {**line["inputs"], first: value}})
            tampered[-1]["time"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        with log.open("a") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in tampered)
        with sqlite3.connect(self.path / MONITORING / "feedback.sqlite") as connection:
            stamp = tampered[0]["time"]
            connection.execute(
                "INSERT INTO feedback VALUES (?, 0, ?, ?, 'tamper')", (tampered[0]["request_id"], "7", stamp)
            )
            connection.execute(
                "INSERT INTO feedback VALUES (?, 0, ?, ?, 'tamper')",
                (tampered[1]["request_id"], json.dumps(classes[0]), stamp),
            )

    def record(self) -> dict[str, Any]:
        schema = json.loads((self.path / "data/processed/schema.json").read_text())
        with open(self.path / "data/processed/test.csv", newline="") as handle:
            row = next(csv.DictReader(handle))
        return {
            f["name"]: float(row[f["name"]]) if f["kind"] == "numeric" else row[f["name"]] for f in schema["features"]
        }


def monitor_code(done: subprocess.CompletedProcess[str]) -> int:
    """The monitor's own exit code, read through make's `Error N` (make itself exits 2)."""
    if done.returncode == 0:
        return 0
    found = re.search(r"\[Makefile:\d+: monitor\] Error (\d+)", (done.stdout or "") + (done.stderr or ""))
    return int(found.group(1)) if found else -done.returncode


def commit_edit(monitored: Delivery, rel: str, old: str, new: str) -> str:
    """Replace `old` by `new` in one tracked file and commit it; the new commit."""
    path = monitored.path / rel
    text = path.read_text()
    assert old in text, f"{rel} has no {old!r}"
    path.write_text(text.replace(old, new))
    monitored.commit_all(f"test: {rel} {new}")
    return monitored.git("rev-parse", "HEAD")


def tuning_budget(monitored: Delivery) -> int:
    return int(yaml.safe_load((monitored.path / "params.yaml").read_text())["retrain"]["tune"]["trials"])
