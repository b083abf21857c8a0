"""The demo's record of a run: events as JSON lines (`<demo folder>/events.jsonl`), written and read here.

One JSON object a line, its `event` naming the kind:

- `demo-started`: `steps` asked (names), `load_seconds`, `tune_trials`;
- `generated`: `project`, the generated project's folder name in the demo folder;
- `step-started`: `step`, `proves`, `log` (the step's output, a path relative to the demo folder);
- `command-finished`: `step`, `command` as a user types it, `seconds`, `exit_code` (of a `make`, its
  recipe's: make itself exits 2 for any failure), `expected` (the exit status the step needs);
- `noted`: `step`, `text` (a verdict the demo checked, e.g. the monitor's);
- `step-finished`: `step`, `seconds`, `error` (null when it passed);
- `demo-finished`: `seconds` in all, `failed` (the step that stopped it, or null).

`Events` appends them as they happen; `read(folder)` gives the run as a `Run` (its steps with their
commands and notes), and `stale(folder, steps)` says why a folder holds no finished run of `steps`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

FILE = "events.jsonl"
LOGS = "logs"  # the steps' output, one file per step, beside the events


@dataclass(frozen=True)
class DemoStarted:
    kind: ClassVar[str] = "demo-started"
    steps: tuple[str, ...]
    load_seconds: int
    tune_trials: int


@dataclass(frozen=True)
class Generated:
    kind: ClassVar[str] = "generated"
    project: str


@dataclass(frozen=True)
class StepStarted:
    kind: ClassVar[str] = "step-started"
    step: str
    proves: str
    log: str


@dataclass(frozen=True)
class CommandFinished:
    kind: ClassVar[str] = "command-finished"
    step: str
    command: str
    seconds: float
    exit_code: int
    expected: int = 0


@dataclass(frozen=True)
class Noted:
    kind: ClassVar[str] = "noted"
    step: str
    text: str


@dataclass(frozen=True)
class StepFinished:
    kind: ClassVar[str] = "step-finished"
    step: str
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class DemoFinished:
    kind: ClassVar[str] = "demo-finished"
    seconds: float
    failed: str | None = None


Event = DemoStarted | Generated | StepStarted | CommandFinished | Noted | StepFinished | DemoFinished
KINDS: dict[str, type[Event]] = {
    kind.kind: kind
    for kind in (DemoStarted, Generated, StepStarted, CommandFinished, Noted, StepFinished, DemoFinished)
}


class EventsError(Exception):
    """A demo folder holds no readable run; the message names the fix."""


def dumps(event: Event) -> str:
    return json.dumps({"event": event.kind, **asdict(event)}, ensure_ascii=False)


def loads(line: str) -> Event:
    """One line back as its event; ValueError when it is none."""
    fields: dict[str, Any] = json.loads(line)
    kind = KINDS.get(str(fields.pop("event", "")))
    if kind is None:
        raise ValueError(f"no known `event` in {line!r}")
    if "steps" in fields:
        fields["steps"] = tuple(fields["steps"])
    try:
        return kind(**fields)
    except TypeError as error:
        raise ValueError(f"{line!r}: {error}") from None


@dataclass
class Events:
    """The events file of one run, appended to (and flushed) as the run goes."""

    path: Path

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")

    def write(self, event: Event) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(dumps(event) + "\n")


# --- a run, read back ------------------------------------------------------------------------------


@dataclass
class CommandRun:
    command: str
    seconds: float
    exit_code: int
    expected: int = 0


@dataclass
class StepRun:
    name: str
    proves: str
    log: Path
    items: list[CommandRun | str] = field(default_factory=list)  # its commands and notes, in order
    seconds: float | None = None  # None: it never finished
    error: str | None = None

    @property
    def commands(self) -> list[CommandRun]:
        return [item for item in self.items if isinstance(item, CommandRun)]


@dataclass
class Run:
    folder: Path
    asked: tuple[str, ...]  # the steps asked, `generate` (always first) left out
    project: Path | None = None
    steps: list[StepRun] = field(default_factory=list)  # `generate` first
    seconds: float | None = None  # None: the run did not finish
    failed: str | None = None

    @property
    def finished(self) -> bool:
        """Whether it ran every step it was asked to, and each passed."""
        return self.seconds is not None and self.failed is None


def read(folder: Path) -> Run:
    """The run recorded in `folder`; EventsError when there is none."""
    path = folder / FILE
    if not path.is_file():
        raise EventsError(
            f"no `make demo` run in {folder} (no {FILE}) — run `make demo` first, or `make docs`, which runs it"
        )
    run: Run | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            event = loads(line)
        except ValueError as error:
            raise EventsError(f"{path}, line {number}: {error} — run `make demo` again") from None
        if isinstance(event, DemoStarted):
            run = Run(folder, event.steps)
        elif run is None:
            raise EventsError(f"{path} does not start with `demo-started` — run `make demo` again")
        else:
            add(run, event)
    if run is None:
        raise EventsError(f"{path} is empty — run `make demo` again")
    return run


def add(run: Run, event: Event) -> None:
    if isinstance(event, Generated):
        run.project = run.folder / event.project
    elif isinstance(event, StepStarted):
        run.steps.append(StepRun(event.step, event.proves, run.folder / event.log))
    elif isinstance(event, CommandFinished):
        run.steps[-1].items.append(CommandRun(event.command, event.seconds, event.exit_code, event.expected))
    elif isinstance(event, Noted):
        run.steps[-1].items.append(event.text)
    elif isinstance(event, StepFinished):
        run.steps[-1].seconds, run.steps[-1].error = event.seconds, event.error
    elif isinstance(event, DemoFinished):
        run.seconds, run.failed = event.seconds, event.failed


def stale(folder: Path, steps: tuple[str, ...] | None = None) -> str | None:
    """Why `folder` holds no finished run (of `steps`, when given) with every step's log; None if it does."""
    try:
        run = read(folder)
    except EventsError as error:
        return str(error)
    if run.failed:
        return f"the demo in {folder} stopped at step {run.failed}"
    if not run.finished:
        return f"the demo in {folder} did not finish"
    if steps is not None and run.asked != steps:
        return f"the demo in {folder} ran the steps {' '.join(run.asked)}, not {' '.join(steps)}"
    missing = [str(step.log) for step in run.steps if not step.log.is_file()]
    if missing:
        return f"the demo in {folder} lacks the logs {', '.join(missing)}"
    return None
