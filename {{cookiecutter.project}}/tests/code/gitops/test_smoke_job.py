"""The in-cluster smoke test: the command the PostSync Job runs, and the Job's wiring in each overlay.

The command runs for real, as a process, from a folder laid out like the bento's (reports/build.json,
reports/smoke.json, nothing else: no git, no deploy/) against an HTTP server that answers as the
service does — what the Job does in the cluster after each Argo CD sync. The wiring checks run on
the overlays as kubectl renders them, each mistake named.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BUILT = "0.3.0-1a2b3c4"
API_KEY = "smoke-" + "k" * 40  # pragma: allowlist secret (a test key)
EXPECTED = {"records": [{"x": 1.0}, {"x": 2.0}], "predictions": [0, 1]}


class FakeService:
    """An HTTP server answering /readyz, /metadata and /predict as the model service does."""

    def __init__(self, version: str, predictions: list[int]) -> None:
        self.version, self.predictions = version, predictions
        self.authorized: list[str | None] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def answer(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/readyz":
                    self.answer(200, "ok")
                elif self.path == "/metadata":
                    service.authorized.append(self.headers.get("authorization"))
                    self.answer(200, {"version": service.version})
                else:
                    self.answer(404, {})

            def do_POST(self) -> None:
                service.authorized.append(self.headers.get("authorization"))
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                ok = self.path == "/predict" and body == {"records": EXPECTED["records"]}
                self.answer(200 if ok else 422, {"predictions": service.predictions} if ok else {})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeService:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bento_folder(tmp_path) -> Path:
    """What the image's workingDir holds for the Job: the build record and the expected answers, no git."""
    folder = tmp_path / "bento" / "src"
    (folder / "reports").mkdir(parents=True)
    (folder / "reports" / "build.json").write_text(json.dumps({"version": BUILT, "model_version": "0.3.0"}))
    (folder / "reports" / "smoke.json").write_text(json.dumps(EXPECTED))
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "api-key").write_text(API_KEY + "\n")
    return folder


def run_smoke(pkg, folder: Path, url: str) -> subprocess.CompletedProcess[str]:
    """`python -m <package>.packaging.smoke --built` as the Job runs it: the key from a file, cwd the bento's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELOPS_", "GIT_"))}
    env |= {
        "MODELOPS_API_KEY_FILE": str(folder.parents[1] / "secrets" / "api-key"),
        "PYTHONPATH": str(Path(pkg.core.__file__).parents[2]),
        "GIT_CEILING_DIRECTORIES": str(folder.parents[2]),  # no repository above: git finds none
    }
    command = [sys.executable, "-m", f"{pkg.name}.packaging.smoke", "--built", "--url", url]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_the_job_command_passes_a_service_that_serves_its_build(pkg, bento_folder):
    with FakeService(BUILT, EXPECTED["predictions"]) as service:
        result = run_smoke(pkg, bento_folder, service.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"this image's build at {service.url} serves {BUILT}" in result.stdout
    assert set(service.authorized) == {f"Bearer {API_KEY}"}, "the API key comes from MODELOPS_API_KEY_FILE"
    assert not (bento_folder / "deploy").exists() and not (bento_folder / ".git").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("version", "predictions", "words"),
    [
        ("0.2.0-9f9f9f9", EXPECTED["predictions"], f"version: /metadata reports '0.2.0-9f9f9f9', expected '{BUILT}'"),
        (BUILT, [1, 1], "prediction: /predict answered 200 [1, 1], expected [0, 1] (the build's)"),
    ],
    ids=["another version", "other predictions"],
)
def test_the_job_command_fails_a_service_that_does_not(pkg, bento_folder, version, predictions, words):
    with FakeService(version, predictions) as service:
        result = run_smoke(pkg, bento_folder, service.url)
    assert result.returncode == 1
    assert f"SMOKE FAILED: {words}" in result.stdout
    assert API_KEY not in result.stdout + result.stderr


def test_the_job_command_without_the_build_record_names_the_fix(pkg, bento_folder, monkeypatch):
    monkeypatch.chdir(bento_folder)
    (bento_folder / "reports" / "build.json").unlink()
    with pytest.raises(SystemExit, match=r"no reports/build.json — run from the bento's folder"):
        pkg.packaging.smoke.built_version()


def test_the_command_wants_an_environment_or_the_build(pkg, capsys):
    with pytest.raises(SystemExit):
        pkg.packaging.smoke.main(["--url", "http://x"])
    assert "one of the arguments --env --built is required" in capsys.readouterr().err


# --- the Job in each overlay ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered(pkg, root) -> Iterator[dict]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        manifests = pkg.gitops.manifests
        yield {env: (manifests.overlay(env), manifests.render(env)) for env in manifests.environments()}


def job(objects: list[dict]) -> dict:
    (found,) = [o for o in objects if o["kind"] == "Job"]
    return found


def pod(objects: list[dict]) -> dict:
    return job(objects)["spec"]["template"]["spec"]


def container(objects: list[dict]) -> dict:
    return pod(objects)["containers"][0]


def smoke_policy(objects: list[dict]) -> dict:
    (found,) = [o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["name"].endswith("-smoke")]
    return found


def test_every_overlay_runs_the_smoke_job_as_a_post_sync_hook(pkg, rendered):
    for env, (kustomization, objects) in rendered.items():
        (found,) = pkg.gitops.wiring.smoke_jobs(objects)
        assert found["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PostSync"
        assert (
            container(objects)["image"]
            == f"{kustomization['images'][0]['newName']}:{kustomization['images'][0]['newTag']}"
        )
        assert found["metadata"]["namespace"] == kustomization["namespace"]
        assert pkg.gitops.wiring.check_smoke_job(env, objects, kustomization) == [], env


def _deployment_pod(objects):
    (found,) = [o for o in objects if o["kind"] == "Deployment"]
    return found["spec"]["template"]


JOB_MISTAKES = {
    "another image": (lambda o: container(o).update(image="ghcr.io/x/y:1.0.0-aaaaaaa"), "it must test its own build"),
    "the environment's version, not the build's": (
        lambda o: container(o)["command"].remove("--built"),
        "does not run `python -m <package>.packaging.smoke --built`",
    ),
    "a URL to no Service": (
        lambda o: container(o)["command"].__setitem__(container(o)["command"].index("--url") + 1, "http://other"),
        "--url 'http://other' is not a Service of the overlay",
    ),
    "no backoff limit": (lambda o: job(o)["spec"].pop("backoffLimit"), "no backoffLimit"),
    "no deadline": (lambda o: job(o)["spec"].pop("activeDeadlineSeconds"), "no activeDeadlineSeconds"),
    "no delete policy": (
        lambda o: job(o)["metadata"]["annotations"].pop("argocd.argoproj.io/hook-delete-policy"),
        "no argocd.argoproj.io/hook-delete-policy",
    ),
    "a writable root": (
        lambda o: container(o)["securityContext"].update(readOnlyRootFilesystem=False),
        "the root filesystem is writable",
    ),
    "capabilities kept": (lambda o: container(o)["securityContext"].pop("capabilities"), "do not drop ALL"),
    "root allowed": (lambda o: pod(o)["securityContext"].pop("runAsNonRoot"), "runAsNonRoot is not set"),
    "no API key file": (
        lambda o: container(o).update(env=[e for e in container(o)["env"] if e["name"] != "MODELOPS_API_KEY_FILE"]),
        "no MODELOPS_API_KEY_FILE",
    ),
    "the service's labels on its pod": (
        lambda o: job(o)["spec"]["template"]["metadata"].update(labels=dict(_deployment_pod(o)["metadata"]["labels"])),
        "the Service would send traffic to it",
    ),
    "egress closed": (lambda o: smoke_policy(o)["spec"].update(egress=[]), "do not let its pod reach DNS"),
    "egress to other pods only": (
        lambda o: smoke_policy(o)["spec"]["egress"][1]["to"][0]["podSelector"].update(matchLabels={"app": "other"}),
        "do not let its pod reach DNS and the service's pods on port 3000",
    ),
}


@pytest.mark.parametrize("mistake", list(JOB_MISTAKES))
def test_the_smoke_job_check_names_each_mistake(pkg, rendered, mistake):
    break_it, words = JOB_MISTAKES[mistake]
    kustomization, objects = rendered["staging"]
    objects = copy.deepcopy(objects)
    break_it(objects)
    messages = [str(p) for p in pkg.gitops.wiring.check_smoke_job("staging", objects, kustomization)]
    assert any(words in m for m in messages), messages


def test_an_overlay_without_the_smoke_component_is_named(pkg, rendered):
    kustomization, objects = copy.deepcopy(rendered["staging"])
    kustomization["components"] = []
    messages = [str(p) for p in pkg.gitops.wiring.check_smoke_job("staging", objects, kustomization)]
    assert messages == [
        "staging: deploy/staging/kustomization.yaml: components does not include ../components/smoke-test:"
        " nothing tests the service after a sync"
    ]
