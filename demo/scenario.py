"""The demo's scenario as data: each step, what it proves, and the project commands it runs in order.

Nothing here runs anything: `demo.run` executes the steps on a freshly generated project, the docs'
walkthrough names them, and the template's tests can replay them on a project of their own.

- `SCENARIO`: every step in order, with the demo's defaults; `scenario(load_seconds, tune_trials)`
  builds the same steps with other lengths for the load tests and the retraining's search.
- `step(name)` and `select(names)`: steps by name; a name outside the scenario is a one-command
  step running that target of the project (`select(["install", "test"])` runs `make test` second).
- A `Step` is `name`, `proves` (one line), `actions`. An action is one of:
  - `Make(target, args)`: `make <target> <args>` in the project; `exit_code` is the exit status its
    recipe must end with (`make monitor`'s decision), `expect` a field a JSON record must then hold
    (`Field`), `note` a line to report once both hold;
  - `Commit(message)`: `git add --all` and commit (hooks skipped: `make lint` ran them), when
    anything changed;
  - `Merge(branch)`: `git merge --no-ff` of a branch named by the last line a `Make` prints
    (`Printed`) or by a field of a JSON record (`Recorded`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_LOAD_SECONDS = 10  # each load test: `make load-test`'s and the challenger's in `make retrain`
# The retraining's hyperparameter search: a trial budget (params.yaml's own: 100 trials or 45 s), so the
# search and the challenger it picks are the same on every machine; the challenger wins by its new data.
DEFAULT_TUNE_TRIALS = 25
MONITOR_SUMMARY = "reports/monitoring/summary.json"
IMPROVEMENT_SUMMARY = "reports/improvement/summary.json"
MONITOR_KEEP, MONITOR_RETRAIN = 0, 10  # `make monitor`'s exit status per decision (retire: 20)


@dataclass(frozen=True)
class Field:
    """A JSON record of the project (a path in it) whose `key` must hold `value`."""

    record: str
    key: str
    value: str


@dataclass(frozen=True)
class Make:
    """`make <target> <args…>` in the project, expected to exit with `exit_code`."""

    target: str
    args: tuple[str, ...] = ()
    exit_code: int = 0
    expect: Field | None = None
    why: str = ""  # what a wrong exit status or record would mean, for the error
    note: str = ""  # reported once the command and its record are as expected

    @property
    def argv(self) -> tuple[str, ...]:
        """The arguments after `make`: the target, then its variables."""
        return (self.target, *self.args)

    @property
    def line(self) -> str:
        """The command as a user types it: `make deploy ENV=local`."""
        return " ".join(["make", self.target, *map(quoted, self.args)])


def quoted(arg: str) -> str:
    """`NAME=value` as a shell needs it: the value in double quotes when it holds a space."""
    name, equals, value = arg.partition("=")
    return f'{name}="{value}"' if equals and " " in value else arg


@dataclass(frozen=True)
class Commit:
    """Everything the steps so far changed, committed (when anything did)."""

    message: str


@dataclass(frozen=True)
class Printed:
    """The branch a command prints on its last line (`make promote`, `make rollback`)."""

    by: Make


@dataclass(frozen=True)
class Recorded:
    """The branch a JSON record of the project names (`make retrain`'s proposal)."""

    record: str
    key: str
    missing: str  # why there is none, for the error


@dataclass(frozen=True)
class Merge:
    """`git merge --no-ff` of a branch the steps prepared: merging is the approval."""

    branch: Printed | Recorded


Action = Make | Commit | Merge


@dataclass(frozen=True)
class Step:
    name: str
    proves: str  # one line: what the step shows works
    actions: tuple[Action, ...]

    @property
    def commands(self) -> tuple[Make, ...]:
        """Every `make` the step runs, those naming a branch to merge included, in order."""
        found: list[Make] = []
        for action in self.actions:
            if isinstance(action, Make):
                found.append(action)
            elif isinstance(action, Merge) and isinstance(action.branch, Printed):
                found.append(action.branch.by)
        return tuple(found)


def promote_and_merge(env: str = "local") -> tuple[Action, ...]:
    """Promote the last build to `env`, approve it (merge), deploy it."""
    return (Merge(Printed(Make("promote", (f"ENV={env}",)))), Make("deploy", (f"ENV={env}",)))


def scenario(load_seconds: int = DEFAULT_LOAD_SECONDS, tune_trials: int = DEFAULT_TUNE_TRIALS) -> tuple[Step, ...]:
    """The demo's steps, in order. Each builds on the ones before it."""
    keep = Make(
        "monitor",
        exit_code=MONITOR_KEEP,
        expect=Field(MONITOR_SUMMARY, "decision", "keep"),
        why="the monitor must keep a model serving traffic within its targets",
    )
    return (
        Step("install", "the project's .venv installs from its lock file", (Make("install"),)),
        Step("pipeline", "the DVC pipeline reproduces; the model passes its gate", (Make("pipeline"),)),
        Step("lint", "every pre-commit hook passes: ruff, mypy --strict, YAML, secrets", (Make("lint"),)),
        Step(
            "load-test",
            "the service holds its SLO under load (docs/criteria.yaml)",
            (Make("load-test", (f"LOAD_ARGS=--seconds {load_seconds}",)),),
        ),
        Step("push", "data and artifacts reach the DVC remote", (Make("push"),)),
        Step(
            "build",
            "the first model committed and its bento built, Dockerfile checked",
            (Commit("feat: the first model"), Make("build")),
        ),
        Step(
            "gitops",
            "version 1 deployed through a merged promotion, then released: the tag on the commit local runs,"
            " the changelog branch merged",
            (*promote_and_merge(), Merge(Printed(Make("release")))),
        ),
        Step(
            "monitoring",
            "the monitor keeps the model on clean traffic, asks to retrain on drift",
            (
                Make("simulate", ("PHASE=clean",)),
                keep,
                Make("simulate", ("PHASE=drift",)),
                Make(
                    "monitor",
                    exit_code=MONITOR_RETRAIN,
                    expect=Field(MONITOR_SUMMARY, "decision", "retrain"),
                    why="the monitor must ask to retrain under drifted traffic",
                    note=f"monitor: retrain, as the drifted traffic asks (see {MONITOR_SUMMARY})",
                ),
            ),
        ),
        Step(
            "improvement",
            "a retrained challenger merged, deployed and released as version 2; rollback to 1",
            (
                Make("retrain", (f"RETRAIN_ARGS=--trials {tune_trials} --load-seconds {load_seconds}",)),
                Merge(Recorded(IMPROVEMENT_SUMMARY, "branch", "the retraining proposed nothing")),
                Make("pipeline"),  # the merged dvc.lock: DVC restores the challenger from its cache
                Make("build"),
                *promote_and_merge(),
                Merge(Printed(Make("release"))),
                Make("simulate", ("PHASE=drift",)),
                Make(
                    "monitor",
                    exit_code=MONITOR_KEEP,
                    expect=Field(MONITOR_SUMMARY, "decision", "keep"),
                    why="the monitor must keep the retrained model under the drifted traffic",
                    note="monitor: keep, the retrained model serves the drifted traffic within its targets",
                ),
                Merge(Printed(Make("rollback", ("ENV=local",)))),
                Make("deploy", ("ENV=local",)),
                Make("history"),
            ),
        ),
    )


SCENARIO = scenario()


def step(name: str, steps: Iterable[Step] = SCENARIO) -> Step:
    """The step called `name`, or a one-command step running that target of the project."""
    for known in steps:
        if known.name == name:
            return known
    return Step(name, f"the project's `make {name}`", (Make(name),))


def select(names: Iterable[str], steps: tuple[Step, ...] = SCENARIO) -> tuple[Step, ...]:
    """The steps called `names`, in the order given (see `step`)."""
    return tuple(step(name, steps) for name in names)
