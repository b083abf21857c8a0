"""A fake GitLab REST API (v4) on loopback for the tests: real HTTP, answers shaped as GitLab's API docs shape them.

    with FakeGitLab() as api:
        run(command, env={**os.environ, **api.environment()})   # CI_SERVER_URL, CI_PROJECT_ID, GITLAB_TOKEN
        assert [c.route for c in api.calls] == [...]

One project (id 42, `acme/model` unless named otherwise, addressed by id or URL-encoded path) holds
labels, merge requests and their notes, issues and their notes, releases with asset links, generic
package files and pipelines (and, for `make doctor`, protected branches and environments and CI/CD
variables, seeded by the test). Every request needs the PRIVATE-TOKEN header (401 without it, as GitLab answers); every
request is recorded (`calls`: method, path, query, JSON body or the size of a file sent). What it
does not know answers 404 `{"message": "404 Not Found"}`. Timestamps are fixed: same calls, same answers.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

TOKEN = "glpat-fake0token0that0must0never0show"  # noqa: S105  # pragma: allowlist secret
PROJECT_ID = 42
PROJECT_PATH = "acme/model"
WHEN = "2026-01-01T00:00:00.000Z"
USER = {"id": 7, "username": "project_42_bot", "name": "modelops bot", "state": "active"}

Json = dict[str, Any]


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str  # under /api/v4, decoded, the project written `:id`: /projects/:id/merge_requests/1/notes
    query: dict[str, str]
    body: Any  # the JSON body, {"bytes": N} for a file sent raw, or None
    status: int
    project: str = ""  # the project as the call named it: "42" or "acme/model" (decoded)

    @property
    def route(self) -> str:
        """`METHOD path`: `POST /projects/:id/merge_requests`."""
        return f"{self.method} {self.path}"


@dataclass
class Project:
    """What the fake project holds; tests read and seed it."""

    labels: list[Json] = field(default_factory=list)
    merge_requests: list[Json] = field(default_factory=list)
    issues: list[Json] = field(default_factory=list)
    notes: dict[tuple[str, int], list[Json]] = field(default_factory=dict)  # ("merge_requests"|"issues", iid)
    releases: list[Json] = field(default_factory=list)
    packages: dict[str, bytes] = field(default_factory=dict)  # "name/version/file" → content
    pipelines: list[Json] = field(default_factory=list)
    protected_branches: list[Json] = field(default_factory=list)
    protected_environments: list[Json] = field(default_factory=list)
    variables: list[Json] = field(default_factory=list)
    # Settings → CI/CD → Variables → Minimum role to use pipeline variables (GitLab.com's new projects: no_one_allowed)
    pipeline_variables_role: str = "developer"
    next_id: int = 100

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


@dataclass(frozen=True)
class Request:
    """What a handler reads of a request: the query, the JSON body ({} when none), the raw bytes."""

    query: dict[str, str]
    body: Json
    raw: bytes


class Refused(Exception):
    def __init__(self, status: int, message: Any) -> None:
        super().__init__(status)
        self.status, self.message = status, message


def not_found() -> Refused:
    return Refused(404, "404 Not Found")


def named(items: list[Json], name: str) -> Json:
    """The item called `name`, or GitLab's 404."""
    for item in items:
        if item.get("name") == name:
            return item
    raise not_found()


class FakeGitLab:
    """The fake API: start it (a context manager), point CI_SERVER_URL at `url`, read `calls` and `project`.

    `remote`, when given, is the project's git repository (a bare one): a release's tag must exist
    there, as GitLab requires of a release created without `ref`. `path` is the project's
    `group/project` (default acme/model).
    """

    def __init__(self, token: str = TOKEN, remote: Path | None = None, path: str = PROJECT_PATH) -> None:
        self.token, self.remote, self.path = token, remote, path
        self.project = Project()
        self.calls: list[Recorded] = []
        self._lock = threading.Lock()
        self._failing: dict[str, int] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> FakeGitLab:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        """The server's URL, as CI_SERVER_URL: http://127.0.0.1:PORT."""
        assert self._server, "start the fake first: `with FakeGitLab() as api:`"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def web(self) -> str:
        return f"{self.url}/{self.path}"

    def environment(self, project: str = "") -> dict[str, str]:
        """The variables the generated commands read: GitLab CI's own names, the fake's values (the project
        by its path unless `project` names it otherwise, e.g. by its id "42")."""
        return {"CI_SERVER_URL": self.url, "CI_PROJECT_ID": project or self.path, "GITLAB_TOKEN": self.token}

    def routes(self) -> list[str]:
        """Every call so far as `METHOD path` (project as `:id`)."""
        return [call.route for call in self.calls]

    def fail(self, route: str, status: int = 403) -> None:
        """Answer every call whose route (as `routes()` writes it) matches the regular expression `route`
        with `status` from now on, its message naming the token as a careless server might."""
        self._failing[route] = status

    def heal(self) -> None:
        """Answer every call again (undo `fail`)."""
        self._failing.clear()

    # --- HTTP ----------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # quiet
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                found = re.fullmatch(r"/api/v4/projects/([^/]+)(/.*)?", parts.path)
                project = unquote(found.group(1)) if found else ""
                rest = "/".join(unquote(part) for part in (found.group(2) or "").split("/")) if found else ""
                path = f"/projects/:id{rest}" if found else unquote(parts.path).removeprefix("/api/v4")
                kind = self.headers.get("Content-Type", "")
                body: Any = None
                if raw and "json" in kind:
                    body = json.loads(raw)
                elif raw:
                    body = {"bytes": len(raw)}
                request = Request(query, body if isinstance(body, dict) and "bytes" not in body else {}, raw)
                token = self.headers.get("PRIVATE-TOKEN")
                status, answer = fake._answer(self.command, project if found else None, rest, request, token)
                with fake._lock:
                    fake.calls.append(Recorded(self.command, path, query, body, status, project))
                headers: dict[str, str] = {}
                if isinstance(answer, list):
                    answer, headers = fake._page(answer, query, parts.path)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        return Handler

    def _page(self, items: list[Any], query: dict[str, str], path: str) -> tuple[list[Any], dict[str, str]]:
        """One page of a list, as GitLab pages it: `page` and `per_page` (20, at most 100), the X-* headers
        and a `Link` to the next page (what python-gitlab follows)."""
        per_page = min(int(query.get("per_page") or 20), 100)
        page, pages = int(query.get("page") or 1), max(1, -(-len(items) // per_page))
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(len(items)),
            "X-Total-Pages": str(pages),
            "X-Next-Page": str(page + 1) if page < pages else "",
        }
        if page < pages:
            following = urlencode({**query, "page": page + 1, "per_page": per_page})
            headers["Link"] = f'<{self.url}{path}?{following}>; rel="next"'
        return items[(page - 1) * per_page : page * per_page], headers

    def _answer(
        self, method: str, project: str | None, rest: str, request: Request, token: str | None
    ) -> tuple[int, Any]:
        if token != self.token:
            return 401, {"message": "401 Unauthorized"}
        route = f"{method} /projects/:id{rest}"
        for pattern, status in self._failing.items():
            if re.fullmatch(pattern, route):
                return status, {"message": f"{status} {HTTPStatus(status).phrase}: token {token} may not"}
        if project not in (str(PROJECT_ID), self.path):
            return 404, {"message": "404 Project Not Found"}
        with self._lock:
            try:
                return self._route(method, rest, request)
            except Refused as refused:
                return refused.status, {"message": refused.message}

    # --- the API -------------------------------------------------------------------------------

    def _route(self, method: str, rest: str, request: Request) -> tuple[int, Any]:
        """Answer `METHOD /projects/:id<rest>`: each handler takes the request, then the path's groups."""
        table: list[tuple[str, str, Callable[..., tuple[int, Any]]]] = [
            ("GET", r"", self._get_project),
            ("GET", r"/labels", lambda _: (200, self.project.labels)),
            ("POST", r"/labels", self._create_label),
            ("PUT", r"/labels/(.+)", self._update_label),
            ("GET", r"/merge_requests", self._list_merge_requests),
            ("POST", r"/merge_requests", self._create_merge_request),
            ("GET", r"/merge_requests/(\d+)", lambda _, iid: (200, self._merge_request(int(iid)))),
            ("PUT", r"/merge_requests/(\d+)", self._update_merge_request),
            ("GET", r"/(merge_requests|issues)/(\d+)/notes", self._list_notes),
            ("POST", r"/(merge_requests|issues)/(\d+)/notes", self._create_note),
            ("PUT", r"/(merge_requests|issues)/(\d+)/notes/(\d+)", self._update_note),
            ("GET", r"/issues", self._list_issues),
            ("POST", r"/issues", self._create_issue),
            ("PUT", r"/issues/(\d+)", self._update_issue),
            ("GET", r"/releases", lambda _: (200, self.project.releases)),
            ("GET", r"/releases/(.+)", lambda _, tag: (200, self._release(tag))),
            ("POST", r"/releases", self._create_release),
            ("PUT", r"/releases/(.+)", self._update_release),
            ("PUT", r"/packages/generic/([^/]+)/([^/]+)/([^/]+)", self._put_package),
            ("GET", r"/packages/generic/([^/]+)/([^/]+)/([^/]+)", self._get_package),
            ("POST", r"/pipeline", self._create_pipeline),
            ("GET", r"/protected_branches/(.+)", lambda _, n: (200, named(self.project.protected_branches, n))),
            ("GET", r"/protected_environments/(.+)", lambda _, n: (200, named(self.project.protected_environments, n))),
            ("GET", r"/variables", lambda _: (200, self.project.variables)),
        ]  # fmt: skip
        for verb, pattern, action in table:
            found = re.fullmatch(pattern, rest)
            if verb == method and found:
                return action(request, *found.groups())
        raise not_found()

    def _get_project(self, request: Request) -> tuple[int, Json]:
        return 200, {
            "id": PROJECT_ID,
            "path_with_namespace": self.path,
            "default_branch": "main",
            "web_url": self.web,
            "visibility": "private",
            "ci_pipeline_variables_minimum_override_role": self.project.pipeline_variables_role,
        }

    @staticmethod
    def _require(body: Json, *names: str) -> None:
        missing = [name for name in names if not body.get(name)]
        if missing:
            raise Refused(400, f"{missing[0]} is missing")

    # labels
    def _create_label(self, request: Request) -> tuple[int, Json]:
        body = request.body
        self._require(body, "name", "color")
        if any(label["name"] == body["name"] for label in self.project.labels):
            raise Refused(409, "Label already exists")
        label = {
            "id": self.project.new_id(),
            "name": body["name"],
            "color": body["color"],
            "text_color": "#FFFFFF",
            "description": body.get("description"),
            "open_issues_count": 0,
            "subscribed": False,
            "priority": None,
            "is_project_label": True,
        }
        self.project.labels.append(label)
        return 201, label

    def _update_label(self, request: Request, name: str) -> tuple[int, Json]:
        body = request.body
        label = named(self.project.labels, name)
        label.update({key: body[key] for key in ("color", "description") if key in body})
        if body.get("new_name"):
            label["name"] = body["new_name"]
        return 200, label

    def _labels(self, names: str | list[str] | None) -> list[str]:
        listed = names.split(",") if isinstance(names, str) else list(names or [])
        for name in listed:  # GitLab creates a label it does not know, in its default colour
            if not any(label["name"] == name for label in self.project.labels):
                self._create_label(Request({}, {"name": name, "color": "#6699cc"}, b""))
        return [name for name in listed if name]

    # merge requests
    def _list_merge_requests(self, request: Request) -> tuple[int, list[Json]]:
        query = request.query
        found = [
            mr
            for mr in self.project.merge_requests
            if query.get("state", "all") in ("all", mr["state"])
            and query.get("source_branch", mr["source_branch"]) == mr["source_branch"]
        ]
        return 200, sorted(found, key=lambda mr: -mr["iid"])  # newest first, as GitLab lists them

    def _merge_request(self, iid: int) -> Json:
        for mr in self.project.merge_requests:
            if mr["iid"] == iid:
                return mr
        raise not_found()

    def _create_merge_request(self, request: Request) -> tuple[int, Json]:
        body = request.body
        self._require(body, "source_branch", "target_branch", "title")
        if any(
            mr["state"] == "opened" and mr["source_branch"] == body["source_branch"]
            for mr in self.project.merge_requests
        ):
            raise Refused(409, ["Another open merge request already exists for this source branch"])
        iid = 1 + len(self.project.merge_requests)
        mr = {
            "id": self.project.new_id(),
            "iid": iid,
            "project_id": PROJECT_ID,
            "title": body["title"],
            "description": body.get("description") or "",
            "state": "opened",
            "created_at": WHEN,
            "updated_at": WHEN,
            "target_branch": body["target_branch"],
            "source_branch": body["source_branch"],
            "author": USER,
            "labels": self._labels(body.get("labels")),
            "draft": False,
            "force_remove_source_branch": bool(body.get("remove_source_branch")),
            "merge_status": "can_be_merged",
            "detailed_merge_status": "mergeable",
            "references": {"short": f"!{iid}", "full": f"{self.path}!{iid}"},
            "web_url": f"{self.web}/-/merge_requests/{iid}",
        }
        self.project.merge_requests.append(mr)
        return 201, mr

    def _update_merge_request(self, request: Request, iid: str) -> tuple[int, Json]:
        body = request.body
        mr = self._merge_request(int(iid))
        mr.update({key: body[key] for key in ("title", "description", "target_branch") if key in body})
        if body.get("add_labels"):
            mr["labels"] = sorted({*mr["labels"], *self._labels(body["add_labels"])})
        if body.get("state_event") == "close":
            mr["state"] = "closed"
        return 200, mr

    # issues
    def _issue(self, iid: int) -> Json:
        for issue in self.project.issues:
            if issue["iid"] == iid:
                return issue
        raise not_found()

    def _list_issues(self, request: Request) -> tuple[int, list[Json]]:
        query = request.query
        wanted = [name for name in query.get("labels", "").split(",") if name]
        found = [
            issue
            for issue in self.project.issues
            if query.get("state", "all") in ("all", issue["state"]) and all(name in issue["labels"] for name in wanted)
        ]
        return 200, sorted(found, key=lambda issue: -issue["iid"])

    def _create_issue(self, request: Request) -> tuple[int, Json]:
        body = request.body
        self._require(body, "title")
        iid = 1 + len(self.project.issues)
        issue = {
            "id": self.project.new_id(),
            "iid": iid,
            "project_id": PROJECT_ID,
            "title": body["title"],
            "description": body.get("description") or "",
            "state": "opened",
            "created_at": WHEN,
            "updated_at": WHEN,
            "closed_at": None,
            "labels": self._labels(body.get("labels")),
            "author": USER,
            "type": "ISSUE",
            "web_url": f"{self.web}/-/issues/{iid}",
        }
        self.project.issues.append(issue)
        return 201, issue

    def _update_issue(self, request: Request, iid: str) -> tuple[int, Json]:
        body = request.body
        issue = self._issue(int(iid))
        issue.update({key: body[key] for key in ("title", "description") if key in body})
        if body.get("state_event") == "close":
            issue.update(state="closed", closed_at=WHEN)
        elif body.get("state_event") == "reopen":
            issue.update(state="opened", closed_at=None)
        return 200, issue

    # notes (merge requests and issues alike)
    def _noteable(self, kind: str, iid: str) -> tuple[Json, list[Json]]:
        item = self._merge_request(int(iid)) if kind == "merge_requests" else self._issue(int(iid))
        return item, self.project.notes.setdefault((kind, int(iid)), [])

    def _list_notes(self, request: Request, kind: str, iid: str) -> tuple[int, list[Json]]:
        query = request.query
        _, notes = self._noteable(kind, iid)
        return 200, list(notes) if query.get("sort") == "asc" else list(reversed(notes))

    def _create_note(self, request: Request, kind: str, iid: str) -> tuple[int, Json]:
        body = request.body
        self._require(body, "body")
        item, notes = self._noteable(kind, iid)
        note = {
            "id": self.project.new_id(),
            "type": None,
            "body": body["body"],
            "author": USER,
            "created_at": WHEN,
            "updated_at": WHEN,
            "system": False,
            "noteable_id": item["id"],
            "noteable_type": "MergeRequest" if kind == "merge_requests" else "Issue",
            "noteable_iid": item["iid"],
            "resolvable": False,
            "confidential": False,
            "internal": False,
        }
        notes.append(note)
        return 201, note

    def _update_note(self, request: Request, kind: str, iid: str, note_id: str) -> tuple[int, Json]:
        body = request.body
        self._require(body, "body")
        _, notes = self._noteable(kind, iid)
        for note in notes:
            if note["id"] == int(note_id):
                note["body"] = body["body"]
                return 200, note
        raise not_found()

    # releases
    def _release(self, tag: str) -> Json:
        for release in self.project.releases:
            if release["tag_name"] == tag:
                return release
        raise not_found()

    def _tag_exists(self, tag: str) -> bool:
        if self.remote is None:
            return True
        found = subprocess.run(
            ["git", "--git-dir", str(self.remote), "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}"],
            capture_output=True,
        )
        return found.returncode == 0

    def _create_release(self, request: Request) -> tuple[int, Json]:
        body = request.body
        self._require(body, "tag_name")
        tag = body["tag_name"]
        if any(release["tag_name"] == tag for release in self.project.releases):
            raise Refused(409, "Release already exists")
        if not body.get("ref") and not self._tag_exists(tag):
            raise Refused(422, "Ref is not specified")
        links = [
            {
                "id": self.project.new_id(),
                "name": link["name"],
                "url": link["url"],
                "direct_asset_url": link["url"],
                "link_type": link.get("link_type", "other"),
            }
            for link in (body.get("assets") or {}).get("links", [])
        ]
        release = {
            "tag_name": tag,
            "name": body.get("name") or tag,
            "description": body.get("description") or "",
            "created_at": WHEN,
            "released_at": WHEN,
            "upcoming_release": False,
            "author": USER,
            "assets": {"count": len(links), "sources": [], "links": links},
            "_links": {"self": f"{self.web}/-/releases/{tag}"},
        }
        self.project.releases.append(release)
        return 201, release

    def _update_release(self, request: Request, tag: str) -> tuple[int, Json]:
        body = request.body
        release = self._release(tag)
        release.update({key: body[key] for key in ("name", "description") if key in body})
        return 200, release

    # generic packages
    def _put_package(self, request: Request, name: str, version: str, file: str) -> tuple[int, Json]:
        if not re.fullmatch(r"(\.?[\w+-]+\.?)+", version) or not re.fullmatch(r"[\w.~+-]+", file):
            raise Refused(400, "version or file name is invalid")
        self.project.packages[f"{name}/{version}/{file}"] = request.raw
        return 201, {"message": "201 Created"}

    def _get_package(self, request: Request, name: str, version: str, file: str) -> tuple[int, Any]:
        if f"{name}/{version}/{file}" not in self.project.packages:
            raise not_found()
        return 200, {"bytes": len(self.project.packages[f"{name}/{version}/{file}"])}

    # pipelines
    def _create_pipeline(self, request: Request) -> tuple[int, Json]:
        body = request.body
        self._require(body, "ref")
        if body.get("variables") and self.project.pipeline_variables_role == "no_one_allowed":
            raise Refused(400, {"base": ["Insufficient permissions to set pipeline variables"]})
        for variable in body.get("variables") or []:
            if not isinstance(variable, dict) or not variable.get("key") or "value" not in variable:
                raise Refused(400, "variables is invalid")
        pipeline_id = self.project.new_id()
        pipeline = {
            "id": pipeline_id,
            "iid": 1 + len(self.project.pipelines),
            "project_id": PROJECT_ID,
            "sha": "0" * 40,
            "ref": body["ref"],
            "status": "created",
            "source": "api",
            "created_at": WHEN,
            "updated_at": WHEN,
            "web_url": f"{self.web}/-/pipelines/{pipeline_id}",
            "variables": body.get("variables") or [],  # not in GitLab's answer: kept for the tests
        }
        self.project.pipelines.append(pipeline)
        return 201, {key: value for key, value in pipeline.items() if key != "variables"}
