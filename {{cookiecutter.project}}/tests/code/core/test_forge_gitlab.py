"""Tests of core/forge's choice of forge, its GitLab plans (plain data, what --dry-run prints), the one report
note on both forges, the tokens' redaction and the push credentials git reads from its environment.

The GitLab calls themselves run against a fake GitLab API in the template's own tests
(tests/test_forge_gitlab.py); here nothing reaches a network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOKEN = "glpat-unit0token0never0shown"  # noqa: S105  # pragma: allowlist secret
URL = "https://gitlab.example.com"
MARKER = "<!-- modelops-pr-report -->"


@pytest.fixture
def forge(module):
    return module("core.forge")


@pytest.fixture
def gitlab(forge):
    return forge.GitLab(URL, "acme/ml/model", TOKEN, ref="trunk")


def parts(call) -> tuple[str, str, dict | None]:
    """A GitLab call as (method, path, JSON body)."""
    assert call.program == "gitlab"
    return call.args[0], call.args[1], json.loads(call.stdin) if call.stdin else None


# --- which forge --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "files", "expected"),
    [
        ({}, (), "github"),
        ({}, (".gitlab-ci.yml",), "gitlab"),
        ({}, (".gitlab-ci.yml", ".github/workflows/ci.yml"), "github"),
        ({"GITLAB_CI": "true"}, (".github/workflows/ci.yml",), "gitlab"),
        ({"GITHUB_ACTIONS": "true"}, (".gitlab-ci.yml",), "github"),
        ({"MODELOPS_FORGE": "gitlab", "GITHUB_ACTIONS": "true"}, (), "gitlab"),
        ({"MODELOPS_FORGE": "GitHub", "GITLAB_CI": "true"}, (".gitlab-ci.yml",), "github"),
    ],
    ids=["nothing", "gitlab-ci-file", "both-files", "in-gitlab-ci", "in-actions", "named-gitlab", "named-github"],
)
def test_the_forge_is_named_then_the_ci_that_runs_then_the_project_files(forge, tmp_path, environ, files, expected):
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert forge.choice(environ, tmp_path) == expected


def test_an_unknown_forge_name_is_refused_naming_the_choices(forge, tmp_path):
    with pytest.raises(SystemExit, match=r"MODELOPS_FORGE='gitea' — set it to github or gitlab, or unset it"):
        forge.choice({"MODELOPS_FORGE": "gitea"}, tmp_path)


def test_default_configures_gitlab_from_gitlab_cis_own_variables(forge, isolated, monkeypatch):
    for name, value in {
        "GITLAB_CI": "true",
        "CI_SERVER_URL": URL + "/",
        "CI_PROJECT_ID": "1234",
        "GITLAB_TOKEN": TOKEN,
        "CI_DEFAULT_BRANCH": "trunk",
        "CI_SERVER_TLS_CA_FILE": "/builds/ca.pem",
    }.items():
        monkeypatch.setenv(name, value)
    site = forge.default()
    assert isinstance(site, forge.GitLab) and (site.url, site.project, site.ref) == (URL, "1234", "trunk")
    assert site.client().ssl_verify == "/builds/ca.pem", "a self-managed server's CA, as GitLab CI names it"
    assert forge.GitLab(URL, "1", TOKEN).client().ssl_verify is True
    assert site.noun == "merge request" and site.sigil == "!"


@pytest.mark.parametrize(
    ("missing", "fix"),
    [
        ("CI_SERVER_URL", r"no CI_SERVER_URL — set it to your GitLab's address"),
        ("CI_PROJECT_ID", r"no CI_PROJECT_ID — set it to the project's numeric id or its group/project path"),
        ("GITLAB_TOKEN", r"no GITLAB_TOKEN — add a project access token with api and write_repository scopes"),
    ],
)
def test_gitlab_without_its_configuration_names_the_fix(forge, missing, fix):
    environ = {"CI_SERVER_URL": URL, "CI_PROJECT_ID": "1", "GITLAB_TOKEN": TOKEN}
    del environ[missing]
    with pytest.raises(SystemExit, match=rf"^error: {fix}"):
        forge.GitLab.from_environment(environ).check()


def test_without_python_gitlab_the_error_names_make_install(forge, monkeypatch):
    monkeypatch.setitem(sys.modules, "gitlab", None)  # what `import gitlab` finds when it is not installed
    with pytest.raises(SystemExit, match=r"^error: python-gitlab is not installed — run `make install`"):
        forge.GitLab(URL, "1", TOKEN).check()


# --- GitLab's plans -----------------------------------------------------------------------------


def test_a_merge_request_is_created_with_its_label_or_the_open_one_retitled(forge, gitlab):
    label = forge.Label("model-retrain", "0e8a16", "proposals")
    request = forge.PullRequest("retrain/x", "Retrain: better", "the body\n", base="main", label=label)
    assert parts(gitlab.pull_request_query("retrain/x")) == (
        "GET",
        "/projects/acme%2Fml%2Fmodel/merge_requests?source_branch=retrain%2Fx&state=opened",
        None,
    )
    [create] = gitlab.pull_request_calls(request, None, labelled=True)
    assert parts(create) == (
        "POST",
        "/projects/acme%2Fml%2Fmodel/merge_requests",
        {
            "source_branch": "retrain/x",
            "target_branch": "main",
            "title": "Retrain: better",
            "description": "the body\n",
            "remove_source_branch": True,
            "labels": "model-retrain",
        },
    )
    [update] = gitlab.pull_request_calls(request, "7", labelled=False)
    assert parts(update) == (
        "PUT",
        "/projects/acme%2Fml%2Fmodel/merge_requests/7",
        {"title": "Retrain: better", "description": "the body\n"},
    )
    assert str(update) == "gitlab PUT /projects/acme%2Fml%2Fmodel/merge_requests/7", "a dry run prints this line"


def test_the_one_issue_is_created_then_noted_and_retitled_then_noted_and_closed(forge, gitlab):
    label = forge.Label("model-monitor", "d93f0b", "monitor")
    opened = forge.IssueUpdate(label, "Model monitor: retrain", "findings\n", marker="<!-- m -->")
    assert [parts(c) for c in gitlab.issue_calls(opened, None)] == [
        (
            "POST",
            "/projects/acme%2Fml%2Fmodel/labels",
            {"name": "model-monitor", "color": "#d93f0b", "description": "monitor"},
        ),
        (
            "POST",
            "/projects/acme%2Fml%2Fmodel/issues",
            {"title": "Model monitor: retrain", "labels": "model-monitor", "description": "<!-- m -->\nfindings\n"},
        ),
    ]
    again = forge.IssueUpdate(label, "Model monitor: retire", "worse\n")
    assert [parts(c) for c in gitlab.issue_calls(again, "3")] == [
        ("POST", "/projects/acme%2Fml%2Fmodel/issues/3/notes", {"body": "worse\n"}),
        ("PUT", "/projects/acme%2Fml%2Fmodel/issues/3", {"title": "Model monitor: retire"}),
    ]
    closed = forge.IssueUpdate(label, "Model monitor: keep", "back\n", close=True)
    assert [parts(c) for c in gitlab.issue_calls(closed, "3")] == [
        ("POST", "/projects/acme%2Fml%2Fmodel/issues/3/notes", {"body": "back\n"}),
        ("PUT", "/projects/acme%2Fml%2Fmodel/issues/3", {"state_event": "close"}),
    ]
    assert gitlab.issue_calls(closed, None) == []
    assert parts(gitlab.issue_query(label))[1] == "/projects/acme%2Fml%2Fmodel/issues?labels=model-monitor&state=opened"


def test_retraining_is_a_pipeline_on_the_default_branch_with_the_job_and_its_inputs_as_variables(gitlab):
    call = gitlab.dispatch_call("retrain.yml", {"reason": "drift", "summary_run": ""})
    assert parts(call) == (
        "POST",
        "/projects/acme%2Fml%2Fmodel/pipeline",
        {
            "ref": "trunk",
            "variables": [
                {"key": "MODELOPS_JOB", "value": "retrain"},
                {"key": "REASON", "value": "drift"},
                {"key": "SUMMARY_RUN", "value": ""},
            ],
        },
    )


def test_a_release_uploads_its_files_then_links_them_or_replaces_its_notes(forge, gitlab):
    release = forge.Release("v1.2.0", "v1.2.0: better", "notes\n", ("/tmp/x/evaluation_report.md",))
    upload, create = gitlab.release_calls(release, exists=False)
    package = "/projects/acme%2Fml%2Fmodel/packages/generic/release-assets/1.2.0/evaluation_report.md"
    assert upload.args == ("PUT", package, "/tmp/x/evaluation_report.md") and upload.stdin is None
    assert parts(create) == (
        "POST",
        "/projects/acme%2Fml%2Fmodel/releases",
        {
            "tag_name": "v1.2.0",
            "name": "v1.2.0: better",
            "description": "notes\n",
            "assets": {
                "links": [{"name": "evaluation_report.md", "url": f"{URL}/api/v4{package}", "link_type": "other"}]
            },
        },
    )
    again, update = gitlab.release_calls(release, exists=True)
    assert again == upload
    assert parts(update) == (
        "PUT",
        "/projects/acme%2Fml%2Fmodel/releases/v1.2.0",
        {"name": "v1.2.0: better", "description": "notes\n"},
    )
    assert parts(gitlab.release_query("v1.2.0"))[:2] == ("GET", "/projects/acme%2Fml%2Fmodel/releases/v1.2.0")


def test_a_dry_run_without_a_project_prints_gitlabs_own_placeholder(forge):
    site = forge.GitLab("", "", "")
    assert str(site.pull_request_query("b")) == "gitlab GET '/projects/:id/merge_requests?source_branch=b&state=opened'"
    link = json.loads(site.release_calls(forge.Release("v1.0.0", "t", "n", ("r.md",)), False)[-1].stdin)
    assert link["assets"]["links"][0]["url"].startswith("$CI_SERVER_URL/api/v4/projects/:id/packages/generic/")


# --- the one report note ------------------------------------------------------------------------


def test_gitlab_posts_the_report_note_or_replaces_the_one_the_marker_finds(gitlab):
    assert parts(gitlab.note_query("5", MARKER))[:2] == (
        "GET",
        "/projects/acme%2Fml%2Fmodel/merge_requests/5/notes?sort=asc&order_by=created_at",
    )
    assert [parts(c) for c in gitlab.note_calls("5", "text", None)] == [
        ("POST", "/projects/acme%2Fml%2Fmodel/merge_requests/5/notes", {"body": "text"})
    ]
    assert [parts(c) for c in gitlab.note_calls("5", "text", "901")] == [
        ("PUT", "/projects/acme%2Fml%2Fmodel/merge_requests/5/notes/901", {"body": "text"})
    ]


# A fake `gh` of the report note's calls alone: comments on one pull request kept in a JSON file; `api`
# with --jq answers the ids of the comments whose first line is the marker (what the real jq selects).
FAKE_GH_NOTES = """\
import json, os, sys
args = sys.argv[1:]
path = os.environ["FAKE_GH_NOTES"]
comments = json.load(open(path)) if os.path.exists(path) else []
with open(path + ".log", "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:2] == ["pr", "comment"]:
    comments.append({"id": 1000 + len(comments), "body": sys.stdin.read()})
    print("https://github.com/acme/model/pull/%s#issuecomment-%d" % (args[2], comments[-1]["id"]))
elif args[:1] == ["api"] and "--jq" in args:
    marker = json.loads(args[args.index("--jq") + 1].split("== ")[1].split(")")[0])
    print("\\n".join(str(c["id"]) for c in comments if c["body"].split("\\n")[0] == marker))
elif args[:3] == ["api", "--method", "PATCH"]:
    note = int(args[3].rsplit("/", 1)[1])
    for comment in comments:
        if comment["id"] == note:
            comment["body"] = json.load(sys.stdin)["body"]
json.dump(comments, open(path, "w"))
"""


def test_github_posts_the_report_note_once_then_edits_that_comment(forge, isolated, fake_program, monkeypatch, capsys):
    store = isolated / "comments.json"
    store.write_text(json.dumps([{"id": 7, "body": "a reviewer's comment\n"}]))
    fake_program(isolated / "bin" / "gh", FAKE_GH_NOTES)
    monkeypatch.setenv("PATH", f"{isolated / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_GH_NOTES", str(store))
    monkeypatch.setenv("GH_TOKEN", "ghp_unit")
    said = forge.post_note(forge.GitHub(), "12", "## Model report\n", MARKER)
    assert said.startswith("posted the report note on pull request #12: https://github.com/acme/model/pull/12#")
    said = forge.post_note(forge.GitHub(), "12", f"{MARKER}\n## Model report, again\n", MARKER)
    assert said == "replaced the report note 1001 on pull request #12"
    comments = json.loads(store.read_text())
    assert [c["body"] for c in comments] == ["a reviewer's comment\n", f"{MARKER}\n## Model report, again\n"]
    calls = [json.loads(line) for line in Path(f"{store}.log").read_text().splitlines()]
    assert calls[-1][:4] == ["api", "--method", "PATCH", "repos/{owner}/{repo}/issues/comments/1001"]


def test_make_pr_note_dry_run_prints_the_forges_calls(module, isolated, monkeypatch, capsys):
    prreport = module("governance.prreport")
    (isolated / "reports").mkdir()
    (isolated / "reports/pr.md").write_text(f"{MARKER}\n## Model report\n")
    for name, value in {"MODELOPS_FORGE": "gitlab", "CI_SERVER_URL": URL, "CI_PROJECT_ID": "9"}.items():
        monkeypatch.setenv(name, value)
    prreport.main(["--post", "4", "--dry-run"])
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "gitlab GET '/projects/9/merge_requests/4/notes?sort=asc&order_by=created_at'",
        f"# if no note on merge request !4 starts with {MARKER}",
        "gitlab POST /projects/9/merge_requests/4/notes",
        "# if note NOTE does: its text replaced",
        "gitlab PUT /projects/9/merge_requests/4/notes/NOTE",
    ]
    with pytest.raises(SystemExit, match=r"NUMBER='x' — give the pull/merge request's number"):
        prreport.main(["--post", "x"])
    with pytest.raises(SystemExit, match=r"no other.md — run `make pr-report` first"):
        prreport.main(["--post", "4", "--file", "other.md"])


# --- tokens -------------------------------------------------------------------------------------


def test_gitlab_tokens_and_their_basic_credentials_are_redacted(forge, monkeypatch):
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    monkeypatch.setenv("CI_JOB_TOKEN", "job-token-value")
    monkeypatch.setenv("GITLAB_REPORT_TOKEN", "glpat-report")
    said = f"token {TOKEN}, job job-token-value, report glpat-report, header Basic {forge.basic_credentials(TOKEN)}"
    assert forge.redact(said) == "token ***, job ***, report ***, header Basic ***"


def test_git_pushes_with_the_token_as_a_header_for_the_gitlab_server_alone_never_in_argv(
    forge, gitlab, private_git, monkeypatch
):
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")  # a runner's own setting stays
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.quotePath")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "false")
    env = gitlab.git_environment()
    assert env["GIT_CONFIG_COUNT"] == "2" and env["GIT_CONFIG_KEY_1"] == f"http.{URL}/.extraHeader"
    assert TOKEN not in json.dumps(env), "the token travels as Basic credentials only"
    header = subprocess.run(
        ["git", "config", "--get-urlmatch", "http.extraHeader", f"{URL}/acme/ml/model.git"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert header == f"Authorization: Basic {forge.basic_credentials(TOKEN)}"
    elsewhere = subprocess.run(
        ["git", "config", "--get-urlmatch", "http.extraHeader", "https://github.com/acme/model.git"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert elsewhere.stdout == "", "the header goes to the GitLab server alone"
    assert forge.GitLab(URL, "1", "").git_environment() == {} and forge.GitHub().git_environment() == {}


# --- make doctor on GitLab ------------------------------------------------------------------------


def canned(forge, answers: dict):
    """A GitLab whose read-only queries answer from `answers` (path → (status, body)); 404 elsewhere."""

    class Canned(forge.GitLab):
        def get(self, path: str):
            status, body = answers.get(path, (404, {"message": "404 Not Found"}))
            return forge.Answer(status, body)

    return Canned(URL, "acme/model", TOKEN)


@pytest.fixture
def doctor_project(module):
    doctor = module("gitops.doctor")
    return doctor, doctor.Project("acme/model", "", False, [], ())


def test_doctor_on_gitlab_finds_main_and_production_protected_and_the_token_set(forge, doctor_project):
    doctor, project = doctor_project
    site = canned(
        forge,
        {
            "/projects/:id": (200, {"path_with_namespace": "acme/model", "visibility": "private"}),
            "/projects/:id/protected_branches/main": (
                200,
                {"name": "main", "push_access_levels": [{"access_level": 0}], "allow_force_push": False},
            ),
            "/projects/:id/protected_environments/production": (
                200,
                {"name": "production", "required_approval_count": 0, "approval_rules": [{"required_approvals": 2}]},
            ),
            "/projects/:id/variables?per_page=100": (
                200,
                [
                    {"key": "GITLAB_TOKEN", "masked": True, "protected": True, "environment_scope": "staging"},
                    {"key": "GITLAB_TOKEN", "masked": True, "protected": True, "environment_scope": "forge"},
                    {"key": "GITLAB_REPORT_TOKEN", "masked": True, "protected": False, "environment_scope": "*"},
                ],
            ),
        },
    )
    facts = doctor.ForgeFacts()
    found = [(f.status, f.piece, f.detail) for f in doctor.gitlab_findings(site, project, facts)]
    assert found == [
        ("ok", "project", "acme/model (private)"),
        ("ok", "protected branch main", "no one pushes, no force push: changes arrive by merge request"),
        ("ok", "protected environment production", "2 approval(s) required to deploy"),
        ("ok", "variable GITLAB_TOKEN", "masked, protected (environments: forge, staging)"),
        ("ok", "variable GITLAB_REPORT_TOKEN", "masked, unprotected (environments: *)"),
    ]
    assert facts.private_repository is True


def test_doctor_on_gitlab_names_each_missing_piece_and_its_fix(forge, doctor_project):
    doctor, project = doctor_project
    site = canned(
        forge,
        {
            "/projects/:id": (200, {"path_with_namespace": "acme/other", "visibility": "public"}),
            "/projects/:id/protected_branches/main": (200, {"push_access_levels": [{"access_level": 40}]}),
            "/projects/:id/protected_environments/production": (403, {"message": "403 Forbidden"}),
            "/projects/:id/variables?per_page=100": (
                200,
                [
                    {"key": "GITLAB_TOKEN", "masked": True, "protected": True},
                    {"key": "GITLAB_TOKEN", "masked": True, "protected": False, "environment_scope": "forge"},
                    {"key": "GITLAB_REPORT_TOKEN", "masked": True, "protected": True},
                ],
            ),
        },
    )
    found = {f.piece: (f.status, f.detail) for f in doctor.gitlab_findings(site, project, doctor.ForgeFacts())}
    assert found["project name"][0] == "missing" and "deploy/argocd/ names acme/model" in found["project name"][1]
    assert found["protected branch main"] == (
        "missing",
        f"pushes or force pushes are allowed — {doctor.GITLAB_BRANCH_FIX}",
    )
    assert found["protected environment production"][0] == "unknown"
    assert found["variable GITLAB_TOKEN"][1].startswith("mark it protected: only protected branches' jobs")
    assert found["variable GITLAB_REPORT_TOKEN"][1].startswith("unprotect it: merge-request pipelines run on")
    unset = doctor.gitlab_findings(forge.GitLab(URL, "acme/model", ""), project, doctor.ForgeFacts())
    assert [(f.status, f.piece) for f in unset] == [("missing", "gitlab")] and "no GITLAB_TOKEN" in unset[0].detail


def test_a_push_sends_the_token_as_its_header_not_the_job_token_of_the_clone_url(
    forge, project_with_remote, monkeypatch
):
    """A GitLab CI clone's URL carries the job token, which may not push: git must send GITLAB_TOKEN instead."""
    import base64
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen: list[str] = []

    class Server(BaseHTTPRequestHandler):
        def do_GET(self):  # git's first request of a push: the refs, here refused
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(403)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    monkeypatch.setenv("CI_JOB_TOKEN", "job0token")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    try:
        with pytest.raises(SystemExit) as refused:
            site = forge.GitLab(url, "acme/model", TOKEN)
            clone = f"http://gitlab-ci-token:job0token@{url[7:]}/acme/model.git"  # pragma: allowlist secret
            forge.push_branch(clone, "main", "-", site.git_environment())
    finally:
        server.shutdown()
    assert seen and {base64.b64decode(header.split()[1]).decode() for header in seen} == {f"oauth2:{TOKEN}"}
    message = str(refused.value.code)
    assert message.startswith("error: `git push http://gitlab-ci-token:***@") and TOKEN not in message
    assert "job0token" not in message
