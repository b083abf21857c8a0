"""Tune: search the hyperparameters of `train.model` for `make retrain`, within a trial and time budget.

The search is Optuna's TPE sampler (seeded by `retrain.tune.seed`) over the family's space in
params.yaml `retrain.tune.space`; each trial scores the estimator by cross-validation
(`retrain.tune.folds`) on features/train.csv with the metric of docs/criteria.yaml `retrain.metric`.
Trial 0 is the current `train.<model>` values (the baseline), so the best can only match or beat
them; on a tie the baseline stays. It stops after `retrain.tune.trials` trials or
`retrain.tune.seconds` seconds, whichever comes first (the running trial finishes).

Writes reports/improvement/tuning.json, trials.csv and tuning.png (the study itself is in
tuning.sqlite there); `--apply` writes the best values into params.yaml `train.<model>`, every
other line and comment kept.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from threadpoolctl import threadpool_limits

from ..core import cli, config, paths
from ..core.artifacts import read_table, write_json, write_table
from ..core.estimators import ESTIMATORS, build_estimator, split_xy
from ..core.metrics import HIGHER_IS_BETTER
from ..core.params import set_values

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
SCORING = {  # the metrics a search can maximise or minimise, per task, and sklearn's scorer for each
    "classification": {"accuracy": "accuracy", "f1_macro": "f1_macro"},
    "regression": {"rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error"},
}
NUMBER_KEYS = ("low", "high", "log", "step")
SHAPE = "{low, high[, log, step]} for a number or {choices: [...]} for a pick"
PROGRESS_EVERY = 10  # trials between progress lines
Choice = None | bool | int | float | str


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter's range: numbers from `low` to `high` (`log` scale, `step` grid) or a pick of `choices`."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Choice, ...] = ()

    @property
    def integer(self) -> bool:
        return not self.choices and all(isinstance(v, int) for v in (self.low, self.high, self.step) if v is not None)

    def contains(self, value: Any) -> bool:
        """Whether the search can propose `value`."""
        if self.choices:
            return any(value == c and type(value) is type(c) for c in self.choices)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (self.integer and not isinstance(value, int))
        ):
            return False
        assert self.low is not None and self.high is not None
        on_grid = (
            self.step is None or abs((value - self.low) / self.step - round((value - self.low) / self.step)) < 1e-9
        )
        return self.low <= value <= self.high and on_grid

    def suggest(self, trial: optuna.Trial) -> Any:
        """The trial's value for this hyperparameter."""
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        assert self.low is not None and self.high is not None
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)


@dataclass(frozen=True)
class Tuning:
    """The record of one search: the best values, the baseline they beat, every trial and the budget that ended it."""

    model: str
    metric: str
    direction: Literal["maximize", "minimize"]
    best_params: dict[str, Any]
    best_value: float
    baseline_value: float
    trials: list[dict[str, Any]]  # number, value, params, state, seconds
    stopped_by: Literal["trials", "seconds"]
    seconds: float
    trials_per_second: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def search_space(space: dict[str, Any], model: str, task: str | None = None) -> dict[str, Dimension]:
    """The validated space of one model family (`retrain.tune.space.<model>`), by parameter name.

    Each parameter must be one the family's estimator accepts: that of `task`, or, without a task,
    of every task that has the family.
    """
    where = f"params.yaml retrain.tune.space.{model}"
    entries = (space or {}).get(model)
    if not entries or not isinstance(entries, dict):
        raise SystemExit(
            f"error: {where}: no search space for {model}"
            f" — add `{model}:` with one `<param>: <range>` line each, {SHAPE}"
        )
    accepted = _accepted_params(model, task)
    dimensions = {}
    for name, entry in entries.items():
        here = f"{where}.{name}"
        if name not in accepted:
            raise SystemExit(
                f"error: {here}: {model} has no parameter {name!r} — use one of {', '.join(sorted(accepted))}"
            )
        dimensions[name] = _dimension(here, name, entry)
    return dimensions


def _accepted_params(model: str, task: str | None) -> set[str]:
    tasks = [task] if task else [t for t, families in ESTIMATORS.items() if model in families]
    if not tasks:
        every = sorted({f for families in ESTIMATORS.values() for f in families})
        raise SystemExit(f"error: params.yaml retrain.tune.space.{model}: no model family {model!r} — use {every}")
    names = [set(build_estimator(t, {"model": model, "seed": 0}).get_params()) for t in tasks]
    return set.intersection(*names)


def _dimension(here: str, name: str, entry: Any) -> Dimension:
    if not isinstance(entry, dict):
        raise SystemExit(f"error: {here}: {entry!r} is not a range — write {SHAPE}")
    if "choices" in entry:
        choices = entry["choices"]
        if set(entry) != {"choices"}:
            raise SystemExit(f"error: {here}: {sorted(set(entry) - {'choices'})} beside choices — keep only choices")
        if not isinstance(choices, list) or not choices or not all(_is_choice(c) for c in choices):
            raise SystemExit(f"error: {here}.choices: {choices!r} — list one or more plain values (null allowed)")
        return Dimension(name, choices=tuple(choices))
    unknown = sorted(set(entry) - set(NUMBER_KEYS))
    if unknown:
        raise SystemExit(f"error: {here}: unknown key {unknown[0]!r} — use {', '.join(NUMBER_KEYS)} or choices")
    low, high, log, step = (entry.get(k) for k in NUMBER_KEYS)
    if not _is_number(low):
        raise SystemExit(f"error: {here}.low: {low!r} is not a number — write {SHAPE}")
    if not _is_number(high):
        raise SystemExit(f"error: {here}.high: {high!r} is not a number — write {SHAPE}")
    if low > high:
        raise SystemExit(f"error: {here}: low {low} > high {high} — swap them")
    if log not in (None, True, False):
        raise SystemExit(f"error: {here}.log: {log!r} — write true or false")
    if log and low <= 0:
        raise SystemExit(f"error: {here}: log scale needs low > 0, not {low} — raise low or drop log")
    if step is not None and (not _is_number(step) or step <= 0):
        raise SystemExit(f"error: {here}.step: {step!r} — write a positive number")
    if step is not None and log:
        raise SystemExit(f"error: {here}: step and log together — drop one (Optuna cannot combine them)")
    return Dimension(name, low=low, high=high, log=bool(log), step=step)


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_choice(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def scoring(task: str, metric: str) -> tuple[str, Literal["maximize", "minimize"]]:
    """The sklearn scorer of `metric` and whether the search maximises or minimises it."""
    if metric not in SCORING.get(task, {}):
        raise SystemExit(
            f"error: docs/criteria.yaml retrain.metric {metric!r} cannot be tuned for {task}"
            f" — use one of {', '.join(SCORING.get(task, {}))}"
        )
    return SCORING[task][metric], "maximize" if HIGHER_IS_BETTER[metric] else "minimize"


def tune(
    x: np.ndarray, y: Any, task: str, train_params: dict[str, Any], settings: dict[str, Any], metric: str,
    storage: Path, study_name: str,
) -> Tuning:  # fmt: skip
    """Search `train_params["model"]`'s space (`settings` is `retrain.tune`) and return the record.

    Each call is a fresh study: a study of the same name in `storage` (an SQLite file) is deleted first,
    so the file holds the last search of each name and trial numbers start at 0.
    """
    import optuna  # 0.5 s to import: only the search pays it

    model = train_params["model"]
    _check_budget(settings)
    scorer, direction = scoring(task, metric)
    space = search_space(settings.get("space") or {}, model, task)
    current = dict(train_params.get(model) or {})
    defaults = build_estimator(task, train_params).get_params()
    baseline = {name: current.get(name, defaults[name]) for name in space}
    for name, value in baseline.items():
        if not space[name].contains(value):
            raise SystemExit(
                f"error: params.yaml train.{model}.{name}: {value!r} is outside retrain.tune.space.{model}.{name}"
                " — widen the space to include it (the current values are the search's baseline, trial 0)"
            )
    seed, folds = int(settings["seed"]), int(settings["folds"])
    split = (StratifiedKFold if task == "classification" else KFold)(n_splits=folds, shuffle=True, random_state=seed)
    sign = -1.0 if scorer.startswith("neg_") else 1.0

    def objective(trial: optuna.Trial) -> float:
        suggested = {name: dimension.suggest(trial) for name, dimension in space.items()}
        estimator = build_estimator(task, {**train_params, model: {**current, **suggested}})
        scores = cross_val_score(estimator, x, y, scoring=scorer, cv=split, n_jobs=1, error_score="raise")
        return sign * float(np.mean(scores))

    started = time.perf_counter()

    def progress(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        done = trial.number + 1
        if done % PROGRESS_EVERY == 0 and any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
            best = study.best_trial
            log.info(
                "trial %d: best %s %.6f (trial %d), %.1f s", done, metric, best.value, best.number,
                time.perf_counter() - started,
            )  # fmt: skip

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{storage.resolve()}"
    try:
        optuna.delete_study(study_name=study_name, storage=url)
    except KeyError:
        pass  # no earlier study of this name
    study = optuna.create_study(
        study_name=study_name, storage=url, direction=direction, sampler=optuna.samplers.TPESampler(seed=seed)
    )
    study.enqueue_trial(baseline)
    # One OpenMP/BLAS thread: measured on 2 busy cores, hist_gradient_boosting's 5-fold score took 33 s
    # with the default threads and 0.5 s with one (threads spin against each other and other processes).
    with threadpool_limits(1):
        study.optimize(
            objective, n_trials=int(settings["trials"]), timeout=float(settings["seconds"]), callbacks=[progress],
            catch=(ValueError,),  # an invalid combination fails its trial, not the search
        )  # fmt: skip
    seconds = time.perf_counter() - started
    trials = [_trial_row(t) for t in study.trials]
    if trials[0]["state"] != "COMPLETE":
        raise SystemExit(f"error: the current train.{model} values fail to train (trial 0) — fix them in params.yaml")
    best = study.best_trial
    assert best.value is not None
    return Tuning(
        model=model,
        metric=metric,
        direction=direction,
        best_params=_plain(best.params),
        best_value=round(best.value, 6),
        baseline_value=trials[0]["value"],
        trials=trials,
        stopped_by="trials" if len(trials) >= int(settings["trials"]) else "seconds",
        seconds=round(seconds, 3),
        trials_per_second=round(len(trials) / seconds, 3),
    )


def _check_budget(settings: dict[str, Any]) -> None:
    for key, minimum in (("seed", 0), ("trials", 1), ("folds", 2)):
        value = settings.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise SystemExit(f"error: params.yaml retrain.tune.{key}: {value!r} — set a whole number ≥ {minimum}")
    if not _is_number(settings.get("seconds")) or settings["seconds"] <= 0:
        raise SystemExit(f"error: params.yaml retrain.tune.seconds: {settings.get('seconds')!r} — set a number > 0")


def _trial_row(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {
        "number": trial.number,
        "value": None if trial.value is None else round(trial.value, 6),
        "params": _plain(trial.params),
        "state": trial.state.name,
        "seconds": round(trial.duration.total_seconds(), 3) if trial.duration else None,
    }


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Plain Python values, floats to 6 significant digits (what params.yaml receives)."""
    return {k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in sorted(params.items())}


def write_record(tuning: Tuning, out: Path) -> None:
    """Write `out`/tuning.json (the record), trials.csv (one row per trial) and tuning.png (the history)."""
    write_json(out / "tuning.json", tuning.to_dict())
    names = sorted({name for trial in tuning.trials for name in trial["params"]})
    rows = [{**{k: t[k] for k in ("number", "value", "state", "seconds")}, **t["params"]} for t in tuning.trials]
    write_table(out / "trials.csv", pd.DataFrame(rows, columns=["number", "value", "state", "seconds", *names]))
    _plot_history(tuning, out / "tuning.png")
    log.info("wrote %s", out / "tuning.png")


def _plot_history(tuning: Tuning, path: Path) -> None:
    """Each trial's value, the best so far and the baseline (matplotlib's Agg canvas, no pyplot state)."""
    from matplotlib.figure import Figure

    done = [t for t in tuning.trials if t["value"] is not None]
    numbers, values = [t["number"] for t in done], [t["value"] for t in done]
    best = (np.maximum if tuning.direction == "maximize" else np.minimum).accumulate(values)
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    ax.scatter(numbers, values, s=12, color="tab:blue", label="trial")
    ax.step(numbers, best, where="post", color="tab:red", label=f"best so far ({tuning.best_value:g})")
    ax.axhline(tuning.baseline_value, color="tab:gray", linestyle="--", label=f"baseline ({tuning.baseline_value:g})")
    ax.set(
        title=f"Tuning {tuning.model}: {tuning.metric} over {len(tuning.trials)} trials"
        f" ({tuning.direction}, stopped by {tuning.stopped_by})",
        xlabel="trial",
        ylabel=tuning.metric,
    )
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def apply(params_path: Path, model: str, best: dict[str, Any]) -> str:
    """The text of params.yaml with `train.<model>.<param>` set to `best` (floats to 6 significant
    digits); every other line is kept, a missing parameter or model block is added at its block's end."""
    values = {f"train.{model}.{name}": value for name, value in _plain(best).items()}
    return set_values(params_path.read_text(), values, params_path, add=True)


def summary(tuning: Tuning) -> str:
    """The one line `make retrain` prints."""
    return (
        f"tuned {tuning.model}: {tuning.metric} {tuning.baseline_value:g} → {tuning.best_value:g}"
        f" in {len(tuning.trials)} trials ({tuning.seconds:.1f} s, {tuning.trials_per_second:.1f} trials/s,"
        f" stopped by {tuning.stopped_by})"
    )


def main(argv: list[str] | None = None) -> None:
    p = cli.parser(__doc__)
    p.add_argument("--apply", action="store_true", help="write the best values into params.yaml train.<model>")
    p.add_argument("--trials", type=int, help="trial budget (default: retrain.tune.trials)")
    p.add_argument("--seconds", type=float, help="time budget in seconds (default: retrain.tune.seconds)")
    p.add_argument("--out", type=Path, default=paths.IMPROVEMENT, help="folder of the record (default: %(default)s)")
    args = p.parse_args(argv)
    cli.start(args)
    params = config.load_params(args.params)
    criteria = config.load_criteria(params["evaluate"]["criteria"])
    metric = (criteria.get("retrain") or {}).get("metric")
    if not metric:
        raise SystemExit(f"error: no retrain.metric in {params['evaluate']['criteria']} — add one, e.g. f1_macro")
    settings = dict((params.get("retrain") or {}).get("tune") or {})
    if not settings:
        raise SystemExit(f"error: no retrain.tune section in {args.params} — restore it from the template")
    settings.update({k: v for k, v in (("trials", args.trials), ("seconds", args.seconds)) if v is not None})
    task, target, train_params = params["task"], params["ingest"]["target"], params["train"]
    x, y = split_xy(read_table(paths.FEATURES_TRAIN, "featurize"), target)
    log.info(
        "tuning %s on %d rows x %d features: %s trials or %s s, %s-fold %s", train_params["model"], *x.shape,
        settings.get("trials"), settings.get("seconds"), settings.get("folds"), metric,
    )  # fmt: skip
    tuning = tune(
        x.to_numpy(), y.to_numpy(), task, train_params, settings, metric, args.out / "tuning.sqlite",
        f"tune-{train_params['model']}",
    )  # fmt: skip
    write_record(tuning, args.out)
    print(summary(tuning))
    if args.apply:
        text = apply(args.params, tuning.model, tuning.best_params)
        if text != args.params.read_text():
            args.params.write_text(text)
            log.info("wrote %s: train.%s %s", args.params, tuning.model, tuning.best_params)
        else:
            log.info("%s unchanged: the current train.%s values are the best found", args.params, tuning.model)


if __name__ == "__main__":
    main()
