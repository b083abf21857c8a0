"""GitLab CI on this machine: gitlab-ci-local (npm) and rsync provisioned, a generated project's pipelines run.

`provision()` installs gitlab-ci-local at the pinned version into the user's cache folder
(~/.cache/cookiecutter-modelops/, or under XDG_CACHE_HOME: once per machine, a clean clone reuses it),
and rsync with apt-get when it is missing and the tests run as root. What cannot be provisioned skips
the test with the command to run, and fails it under CI=true. On a fresh machine the npm install takes
1-2.5 min: the session starts it in the background (`provision_in_background`, from conftest.py) and the
test waits for it under the same file lock, so it overlaps the other tests instead of lengthening one.
`run_pipeline()` runs one pipeline with the shell executor, every job in its own rsynced copy of the
project (`--shell-isolation`: artifacts pass between jobs as on a runner), and reads each job's result.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.options import REPO_ROOT

VERSION = "4.60.0"  # 4.75.x needs Node 22 (Set.prototype.union); this machine and CI have Node 20
PACKAGE = f"gitlab-ci-local@{VERSION}"
# Where the template's CI keeps the run log of both pipelines as its artifact.
RUN_LOG = REPO_ROOT / "build" / "artifacts" / "gitlab-ci-local.log"
INSTALL_TIMEOUT = 600  # seconds: a cold npm install took 2.5 min here
# The summary gitlab-ci-local prints per job at the end: " PASS  [1.85 min] check" (or FAIL, WARN).
JOB_RESULT = re.compile(r"^\s*(PASS|FAIL|WARN)\s+\[\s*([\d.]+)\s*(ms|s|min)\]\s+(\S+)\s*$")
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "min": 60.0}


class Unavailable(Exception):
    """A tool the run needs cannot be provisioned here; the message names the command that would."""


@dataclass(frozen=True)
class JobResult:
    """One job of a pipeline as gitlab-ci-local reported it."""

    name: str
    status: str  # PASS | FAIL | WARN (failed, allowed to)
    seconds: float


@dataclass(frozen=True)
class PipelineRun:
    """What one `gitlab-ci-local` run printed, its exit code, each job's result and the jobs its rules left out."""

    returncode: int
    output: str
    jobs: dict[str, JobResult]
    left_out: list[str]  # jobs whose rules gave `when: never` for this pipeline
    seconds: float

    def failed(self) -> list[str]:
        return [name for name, job in self.jobs.items() if job.status != "PASS"]


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip locally, fail under CI=true: the pipelines are part of the template's CI."""
    if under_ci():
        pytest.fail(f"error: {reason}", pytrace=False)
    pytest.skip(reason)


def tools() -> Path:
    """Where npm installs gitlab-ci-local: a folder per version in the user's cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "cookiecutter-modelops" / f"gitlab-ci-local-{VERSION}"


def binary() -> Path:
    return tools() / "node_modules" / ".bin" / "gitlab-ci-local"


def installed_version(path: Path) -> str | None:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@contextmanager
def provisioning_lock() -> Iterator[None]:
    """One provisioning at a time on this machine (the background one, the test's, another session's)."""
    tools().parent.mkdir(parents=True, exist_ok=True)
    with (tools().parent / f"gitlab-ci-local-{VERSION}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def provision_gitlab_ci_local() -> Path:
    """gitlab-ci-local at VERSION, installed with npm into tools() unless already there."""
    if installed_version(binary()) == VERSION:
        return binary()
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        raise Unavailable(
            f"no Node.js/npm on PATH — install Node 20 and npm, then `npm install --prefix {tools()} {PACKAGE}`"
        )
    tools().mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(tools()), PACKAGE]
    result = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    if result.returncode != 0 or installed_version(binary()) != VERSION:
        raise Unavailable(f"`{' '.join(command)}` failed: {result.stderr.strip()[-500:]}")
    return binary()


def provision_rsync() -> None:
    """rsync (gitlab-ci-local copies the project and the artifacts with it): apt-get when root and missing."""
    if shutil.which("rsync"):
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise Unavailable("no rsync — run `sudo apt-get install -y rsync`")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "rsync"]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        if result.returncode != 0:
            raise Unavailable(f"`{' '.join(command)}` failed: {result.stderr.strip()[-500:]}")


def provision() -> Path:
    """The gitlab-ci-local binary, rsync beside it; skips (locally) or fails (CI=true) naming the fix."""
    try:
        with provisioning_lock():
            provision_rsync()
            return provision_gitlab_ci_local()
    except Unavailable as missing:
        unavailable(str(missing))
        raise  # unreachable: skip and fail raise


def provision_in_background(log: Path) -> subprocess.Popen[bytes] | None:
    """Start provisioning in a process of its own (its output in `log`); None when both tools are there."""
    if shutil.which("rsync") and binary().exists():
        return None
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "support.gitlabci"],
            cwd=Path(__file__).parents[1],  # tests/: `support` is a package there
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives an interrupted session; the lock keeps a second one waiting
        )


def main() -> int:
    """Provision both tools under the lock (what the background process runs); 0, or 1 naming what failed."""
    try:
        with provisioning_lock():
            provision_rsync()
            print(f"gitlab-ci-local {VERSION}: {provision_gitlab_ci_local()}")
    except Unavailable as missing:
        print(f"error: {missing}")
        return 1
    return 0


def arguments(variables: Mapping[str, str]) -> list[str]:
    """The options every run takes: the shell executor for every job (the file names a runner image), each
    job in its own copy of the project, artifacts kept in gitlab-ci-local's state folder (never copied back
    into the project, whose tree later pipelines copy), and the pipeline's variables."""
    args = ["--force-shell-executor", "--shell-isolation", "--no-artifacts-to-source", "--no-color", "--timestamps"]
    args += ["--max-job-name-padding", "0"]
    for name, value in sorted(variables.items()):
        args += ["--variable", f"{name}={value}"]
    return args


def left_out_jobs(tool: Path, project: Path, variables: Mapping[str, str], env: Mapping[str, str]) -> list[str]:
    """Jobs whose rules leave them out of this pipeline (`when: never`), hidden templates aside."""
    command = [str(tool), *arguments(variables), "--list-json"]
    result = subprocess.run(command, cwd=project, env=dict(env), capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"gitlab-ci-local --list-json exited {result.returncode}:\n{result.stderr[-2000:]}")
    lines = result.stdout.splitlines()  # warnings come first, then the JSON array, its brackets on lines of their own
    listed = json.loads("\n".join(lines[lines.index("[") :]))
    return sorted(job["name"] for job in listed if job.get("when") == "never")


def run_pipeline(
    tool: Path,
    project: Path,
    variables: Mapping[str, str],
    env: Mapping[str, str],
    timeout: float = 900,
    jobs: Sequence[str] = (),
) -> PipelineRun:
    """Run the pipeline these variables make of the project's .gitlab-ci.yml (or only `jobs`)."""
    left_out = left_out_jobs(tool, project, variables, env)
    started = time.monotonic()
    command = [str(tool), *arguments(variables), *jobs]
    proc = subprocess.run(
        command,
        cwd=project,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    seconds = time.monotonic() - started
    results = {}
    for line in proc.stdout.splitlines():
        match = JOB_RESULT.match(line)
        if match:
            status, amount, unit, name = match.groups()
            results[name] = JobResult(name, status, float(amount) * UNIT_SECONDS[unit])
    return PipelineRun(proc.returncode, proc.stdout, results, left_out, seconds)


def job_output(run: PipelineRun, job: str) -> str:
    """The lines a job printed (gitlab-ci-local prefixes each with the job's name)."""
    pattern = re.compile(rf"^\[[^\]]*\]\s+{re.escape(job)}\s+(.*)$")
    return "\n".join(m.group(1) for m in map(pattern.match, run.output.splitlines()) if m)


def keep_log(runs: Mapping[str, PipelineRun], path: Path = RUN_LOG) -> Path:
    """Both pipelines' output in one file, each headed by its jobs' results: the template CI's artifact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = []
    for title, run in runs.items():
        summary = ", ".join(f"{j.name} {j.status} {j.seconds:.0f} s" for j in run.jobs.values())
        parts.append(
            f"===== {title}: exit {run.returncode}, {run.seconds:.0f} s — {summary}"
            f" — left out by rules: {', '.join(run.left_out) or 'none'}\n{run.output}"
        )
    path.write_text("\n".join(parts))
    return path


if __name__ == "__main__":
    sys.exit(main())
