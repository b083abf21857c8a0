"""Run the demo: generate the default project, run the scenario's steps on it, record what happened.

`make demo` runs `python -m demo`. One line per step on the terminal (its name, what it proves, its
seconds); each step's full output in `<demo folder>/logs/`; the events in `<demo folder>/events.jsonl`
(demo/events.py). The first failure stops the run, naming the step and the log to read.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import events, scenario
from .scenario import Commit, Make, Merge, Printed, Step

TEMPLATE = Path(__file__).resolve().parent.parent  # the cookiecutter template: this package's repo
IDENTITY = {  # the demo commits: an identity of its own when git has none
    "GIT_AUTHOR_NAME": "modelops-demo",
    "GIT_AUTHOR_EMAIL": "demo@localhost",
    "GIT_COMMITTER_NAME": "modelops-demo",
    "GIT_COMMITTER_EMAIL": "demo@localhost",
}
FEEDBACK_TOKEN = "demo-feedback-token"  # the simulator's (source `simulator`), unless MODELOPS_FEEDBACK_TOKENS is set
TAIL = 25  # lines of a failed step's log shown on the terminal
# make exits 2 whatever status its recipe failed with, and says that status on its last line of error.
RECIPE_ERROR = re.compile(r"^make(?:\[\d+\])?: \*\*\* \[[^\n]*\] Error (\d+)$", re.MULTILINE)


class StepFailed(Exception):
    """A step did not do what it proves; the message says what went wrong."""


def shown(path: Path) -> str:
    """A path as the user can type it: relative to the current folder when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def recipe_status(code: int, output: str) -> int:
    """The exit status of the recipe make ran: `make monitor` exits 2 when the monitor exits 10."""
    found = RECIPE_ERROR.findall(output)
    return int(found[-1]) if code == 2 and found else code


def last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@dataclass
class Demo:
    """One run: the demo folder, the generated project in it, the environment its commands get."""

    folder: Path
    env: dict[str, str]
    record: events.Events
    project: Path | None = None
    step: str = ""
    log: Path | None = None

    # --- one command, its output appended to the step's log ---------------------------------------------

    def execute(
        self,
        argv: Sequence[str],
        command: str,
        expected: int = 0,
        cwd: Path | None = None,
        status: Callable[[int, str], int] = lambda code, _: code,
    ) -> tuple[int, str]:
        """Run `argv` (shown as `command`); its exit status (as `status` reads it from the process's and
        its output) and its output (stdout and stderr, as they came)."""
        assert self.log is not None
        with self.log.open("ab") as out:
            out.write(f"$ {command}\n".encode())
            out.flush()
            start = out.tell()
            began = time.perf_counter()
            code = subprocess.run(
                list(argv), cwd=cwd or self.project, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            ).returncode  # fmt: skip
            seconds = time.perf_counter() - began
        with self.log.open("rb") as log:
            log.seek(start)
            output = log.read().decode("utf-8", errors="replace")
        code = status(code, output)
        self.record.write(events.CommandFinished(self.step, command, round(seconds, 2), code, expected))
        return code, output

    def git(self, *args: str) -> str:
        """A git command the step takes (recorded, its output logged)."""
        code, output = self.execute(["git", *args], shlex.join(["git", *args]))
        if code != 0:
            raise StepFailed(f"`{shlex.join(['git', *args])}` exited with {code}")
        return output

    def ask_git(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A git question (not recorded): its answer."""
        return subprocess.run(["git", *args], cwd=self.project, env=self.env, capture_output=True, text=True)

    def make(self, make: Make) -> str:
        """`make` in the project; its output. StepFailed unless its recipe exits and records as `make` expects."""
        argv = ["make", "--no-print-directory", *make.argv]
        code, output = self.execute(argv, make.line, make.exit_code, status=recipe_status)
        if code != make.exit_code:
            expected = "success" if make.exit_code == 0 else f"exit status {make.exit_code}"
            raise StepFailed(
                f"`{make.line}` exited with {code}, not {expected}" + (f" ({make.why})" if make.why else "")
            )
        if make.expect:
            found = self.field(make.expect.record, make.expect.key)
            if found != make.expect.value:
                raise StepFailed(
                    f"{make.expect.record} says {make.expect.key} {found!r} after `{make.line}`, not"
                    f" {make.expect.value!r}" + (f" ({make.why})" if make.why else "")
                )
        if make.note:
            self.note(make.note)
        return output

    def field(self, record: str, key: str) -> object:
        assert self.project is not None
        path = self.project / record
        try:
            found: object = json.loads(path.read_text()).get(key)
        except (OSError, ValueError, AttributeError) as error:
            raise StepFailed(f"cannot read {key!r} from {record}: {error}") from None
        return found

    def note(self, text: str) -> None:
        assert self.log is not None
        with self.log.open("a", encoding="utf-8") as out:
            out.write(f"==> {text}\n")
        self.record.write(events.Noted(self.step, text))

    # --- the scenario's actions ----------------------------------------------------------------------------

    def act(self, action: Make | Commit | Merge) -> None:
        if isinstance(action, Make):
            self.make(action)
        elif isinstance(action, Commit):
            if self.ask_git("status", "--porcelain").stdout.strip():
                self.git("add", "--all")
                self.git("commit", "--quiet", "--no-verify", "-m", action.message)
        elif isinstance(action.branch, Printed):
            self.merge(last_line(self.make(action.branch.by)), f"`{action.branch.by.line}` printed no branch")
        else:
            branch = self.field(action.branch.record, action.branch.key)
            self.merge(str(branch or ""), f"{action.branch.missing} (see {action.branch.record})")

    def merge(self, branch: str, nothing: str) -> None:
        if not branch or self.ask_git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}").returncode:
            raise StepFailed(f"{nothing}: no branch {branch!r} to merge" if branch else nothing)
        self.git("merge", "--quiet", "--no-ff", "--no-verify", branch, "-m", f"Merge {branch}")

    # --- steps ------------------------------------------------------------------------------------------

    def begin(self, index: int, name: str, proves: str) -> float:
        self.step, self.log = name, self.folder / events.LOGS / f"{index:02d}-{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_text("")
        self.record.write(events.StepStarted(name, proves, self.log.relative_to(self.folder).as_posix()))
        print(f"  {name:<12} {proves} ", end="", flush=True)
        return time.perf_counter()

    def end(self, began: float, error: str | None = None) -> None:
        seconds = time.perf_counter() - began
        self.record.write(events.StepFinished(self.step, round(seconds, 2), error))
        print(f"({seconds:.1f} s)" if error is None else f"FAILED after {seconds:.1f} s", flush=True)

    def generate(self, template: Path) -> Path:
        """The default project, in the demo folder; its path."""
        argv = [sys.executable, "-m", "cookiecutter", "--no-input", "--output-dir", str(self.folder), str(template)]
        code, _ = self.execute(argv, f"cookiecutter --no-input --output-dir {shown(self.folder)} .", cwd=template)
        if code != 0:
            raise StepFailed(f"cookiecutter exited with {code}")
        found = [
            p for p in sorted(self.folder.iterdir())
            if p.is_dir() and p.name != events.LOGS and not p.name.endswith("-dvc-storage")
        ]  # fmt: skip
        if len(found) != 1:
            raise StepFailed(f"cookiecutter left {[p.name for p in found]} in {shown(self.folder)}, not one project")
        self.record.write(events.Generated(found[0].name))
        return found[0]

    def run(
        self, steps: Sequence[Step], template: Path, load_seconds: int, tune_trials: int, project: Path | None = None
    ) -> bool:
        """Generate (or take `project`, generated before), then run `steps`; whether every one passed."""
        started = time.perf_counter()
        self.record.start()
        self.record.write(events.DemoStarted(tuple(s.name for s in steps), load_seconds, tune_trials))
        began, current = started, "generate"
        try:
            if project is None:
                began = self.begin(0, "generate", "cookiecutter renders the default answers; hooks set up git, DVC")
                self.project = self.generate(template)
                self.end(began)
            else:
                self.project = project.resolve()
                self.record.write(events.Generated(os.path.relpath(self.project, self.folder)))
            self.identify()
            for index, step in enumerate(steps, 1):
                current = step.name
                began = self.begin(index, step.name, step.proves)
                for action in step.actions:
                    self.act(action)
                self.end(began)
        except StepFailed as error:
            self.end(began, str(error))
            self.record.write(events.DemoFinished(round(time.perf_counter() - started, 2), current))
            self.report_failure(current, str(error))
            return False
        self.record.write(events.DemoFinished(round(time.perf_counter() - started, 2)))
        return True

    def identify(self) -> None:
        """Git's identity for the demo's commits when none is configured; the feedback token."""
        if self.ask_git("config", "user.email").returncode != 0:
            self.env.update(IDENTITY)
        self.env.setdefault("MODELOPS_FEEDBACK_TOKENS", f"simulator={FEEDBACK_TOKEN}")  # the simulator's source

    def report_failure(self, step: str, error: str) -> None:
        assert self.log is not None
        lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-TAIL:]
        print("\n".join(f"    {line}" for line in lines), file=sys.stderr)
        print(f"error: step {step} failed: {error} — read {shown(self.log)}", file=sys.stderr)


def summary(run: events.Run) -> str:
    """The step times, and where to look next."""
    lines = [f"{step.seconds or 0:7.1f} s  {step.name}" for step in run.steps]
    lines.append(f"{run.seconds or 0:7.1f} s  in all")
    project = shown(run.project) if run.project else "the project"
    return "\n".join(
        [
            f"==> step times ({shown(run.folder / events.FILE)} has each command's):",
            *lines,
            f"==> demo done: see {project}/docs/evaluation_report.md, {project}/reports/improvement/,"
            f" {project}/CHANGELOG.md and `make -C {project} history`",
        ]
    )


def steps_argument(values: list[str] | None) -> tuple[str, ...]:
    """`--steps` as given: names separated by spaces or commas, in one argument or several."""
    if not values:
        return tuple(step.name for step in scenario.SCENARIO)
    return tuple(name for value in values for name in value.replace(",", " ").split())


def parser() -> argparse.ArgumentParser:
    listed = "\n".join(f"  {step.name:<12} {step.proves}" for step in scenario.SCENARIO)
    result = argparse.ArgumentParser(
        prog="python -m demo",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
        epilog=f"steps, in order (demo/scenario.py):\n{listed}\n"
        "A name outside the scenario runs that target of the project (e.g. `test`).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    result.add_argument("--steps", nargs="+", metavar="STEP", help="the steps to run (default: all, in order)")
    result.add_argument(
        "--load-seconds",
        type=int,
        default=scenario.DEFAULT_LOAD_SECONDS,
        help="length of each load test, `make load-test`'s and the retraining's (default: %(default)s)",
    )
    result.add_argument(
        "--tune-trials",
        type=int,
        default=scenario.DEFAULT_TUNE_TRIALS,
        help="trial budget of the retraining's hyperparameter search (default: %(default)s)",
    )
    result.add_argument(
        "--output-dir",
        type=Path,
        default=Path("build/demo"),
        help="the demo folder, emptied first (default: %(default)s)",
    )
    result.add_argument(
        "--project",
        type=Path,
        help="run the steps on this project, generated before (by a demo that stopped, say), instead of a new one",
    )
    result.add_argument(
        "--check",
        action="store_true",
        help="run nothing: exit 0 when the demo folder holds a finished run of these steps, else say why and exit 1",
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    names = steps_argument(args.steps)
    folder: Path = args.output_dir
    if args.check:
        reason = events.stale(folder, names)
        if reason:
            print(f"==> no finished demo to show: {reason}")
        return 1 if reason else 0
    if args.project is not None and args.project.resolve().is_relative_to(folder.resolve()):
        print(f"error: --project {args.project} is inside --output-dir {folder}, which the demo empties first")
        return 2
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    demo = Demo(folder.resolve(), dict(os.environ), events.Events(folder.resolve() / events.FILE))
    steps = scenario.select(names, scenario.scenario(args.load_seconds, args.tune_trials))
    logs = shown(folder / events.LOGS)
    where = shown(args.project) if args.project else f"a project generated in {shown(folder)}"
    print(f"==> make demo: {len(steps)} step{'s' * (len(steps) != 1)} on {where} (their output: {logs}/)")
    if not demo.run(steps, TEMPLATE, args.load_seconds, args.tune_trials, args.project):
        return 1
    print(summary(events.read(demo.folder)))
    return 0
