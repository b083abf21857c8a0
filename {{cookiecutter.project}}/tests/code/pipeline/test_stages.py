"""The stages run end to end on a tiny CSV in a temporary folder, write every output dvc.yaml declares,
and every command has a --help.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

GATE_METRIC = {"classification": "accuracy", "regression": "r2"}
LIVE_METRIC = {"classification": "accuracy", "regression": "rmse"}
ESTIMATOR = {"classification": "logistic_regression", "regression": "ridge"}
MAIN_GUARD = 'if __name__ == "__main__":'  # what makes a module a command (`python -m …`)


@pytest.fixture
def project(root, isolated, make_toy):
    """A tiny project in a temporary folder: params.yaml, criteria, the real dvc.yaml and a CSV source.

    It has the task of this project, a target not called `target`, a categorical column and
    missing feature and target values. It is not a git repository.
    """
    task = yaml.safe_load((root / "params.yaml").read_text())["task"]
    source = make_toy(n=80, task=task, seed=1).rename(columns={"target": "label"})
    if task == "classification":
        source["label"] = np.where(source["label"] == 1, "yes", "no").astype(object)
    source.loc[[3, 30], "label"] = np.nan
    (isolated / "data/external").mkdir(parents=True)
    source.to_csv(isolated / "data/external/source.csv", index=False)
    model = ESTIMATOR[task]
    params = {
        "task": task,
        "ingest": {"source": "csv:data/external/source.csv", "target": "label"},
        "prepare": {"test_size": 0.25, "seed": 1, "stratify": True},
        "featurize": {"numeric_impute": "median", "scale": True, "histogram_bins": 5},
        "train": {"seed": 1, "model": model, model: {}},
        "evaluate": {"criteria": "docs/criteria.yaml"},
    }
    (isolated / "params.yaml").write_text(yaml.safe_dump(params))
    (isolated / "docs").mkdir()
    set_gate(isolated, task, threshold=-1.0)
    shutil.copyfile(root / "dvc.yaml", isolated / "dvc.yaml")
    shutil.copyfile(root / ".env.example", isolated / ".env.example")  # the manual lists its variables
    return isolated, task


def set_gate(folder, task, threshold):
    live = {"tolerance": {LIVE_METRIC[task]: 0.1}, "retire": "baseline"}
    criteria = {"gate": {GATE_METRIC[task]: {"min": threshold}}, "live": live}
    (folder / "docs/criteria.yaml").write_text(yaml.safe_dump(criteria))


def declared_outputs(pipeline: dict) -> list[str]:
    """Every path dvc.yaml says a stage writes."""
    return [
        str(out if isinstance(out, str) else next(iter(out)))
        for stage in pipeline["stages"].values()
        for key in ("outs", "metrics", "plots")
        for out in stage.get(key, [])
    ]


def stage(pkg, name):
    return getattr(pkg.pipeline, name)


def test_stages_run_end_to_end(pkg, project):
    folder, task = project
    paths = pkg.core.paths
    for name in pkg.stages:
        stage(pkg, name).main([])
    declared = declared_outputs(yaml.safe_load((folder / "dvc.yaml").read_text()))
    missing = [path for path in declared if not (folder / path).exists()]
    assert not missing, f"stages did not write these dvc.yaml outputs: {missing}"

    prepare = json.loads((folder / paths.PREPARE_RECORD).read_text())
    assert prepare["rows_in"] == 80 and prepare["rows_dropped_missing_target"] == 2 and prepare["rows_out"] == 78
    assert prepare["train"]["rows"] + prepare["test"]["rows"] == 78
    assert prepare["missing_values"] == {"weight": 3, "colour": 2}
    features = json.loads((folder / paths.FEATURE_LIST).read_text())
    assert features["inputs"] == ["size", "weight", "colour"]
    assert {"colour_blue", "colour_green", "colour_red"} <= set(features["outputs"])
    trained = json.loads((folder / paths.TRAIN_RECORD).read_text())
    assert trained["rows"] == prepare["train"]["rows"] and trained["features"] == len(features["outputs"])
    metrics = json.loads((folder / paths.METRICS).read_text())
    assert metrics["gate"]["passed"] is True
    assert list(metrics["gate"]["checks"]) == [GATE_METRIC[task]]
    assert "Verdict: PASS" in (folder / paths.EVALUATION_REPORT).read_text()
    assert "gate PASS" in (folder / "docs/model_card.md").read_text()


def test_evaluate_sets_the_live_targets_from_the_report_keeping_the_rest(pkg, project):
    folder, task = project
    for name in ("ingest", "prepare", "featurize", "train"):
        stage(pkg, name).main([])
    criteria = folder / "docs/criteria.yaml"
    criteria.write_text("# a comment the user wrote\n" + criteria.read_text())
    pkg.pipeline.evaluate.main([])
    written = criteria.read_text()
    metric = LIVE_METRIC[task]
    report = json.loads((folder / pkg.core.paths.METRICS).read_text())
    value, baseline = report["metrics"][metric], report["baseline"][metric]
    target = yaml.safe_load(written)["live"]["targets"][metric]
    if task == "classification":
        assert target == {"min": round(value * 0.9, 4), "retire_below": round(baseline, 4)}
    else:
        assert target == {"max": round(value * 1.1, 4), "retire_above": round(baseline, 4)}
    assert written.startswith("# a comment the user wrote\n")
    pkg.pipeline.evaluate.main([])
    assert criteria.read_text() == written  # same report, same bytes


def test_live_tolerance_of_a_metric_the_monitor_cannot_compute_is_refused(pkg, project):
    folder, task = project
    for name in ("ingest", "prepare", "featurize", "train"):
        stage(pkg, name).main([])
    criteria = folder / "docs/criteria.yaml"
    document = yaml.safe_load(criteria.read_text())
    document["live"]["tolerance"] = {"roc_auc" if task == "classification" else "rmse_vs_baseline": 0.1}
    criteria.write_text(yaml.safe_dump(document))
    with pytest.raises(SystemExit, match="the monitor cannot compute"):
        pkg.pipeline.evaluate.main([])


def test_failed_gate_is_recorded_then_exits_non_zero(pkg, project, capsys):
    folder, task = project
    for name in ("ingest", "prepare", "featurize", "train"):
        stage(pkg, name).main([])
    set_gate(folder, task, threshold=2.0)  # no model reaches it
    with pytest.raises(SystemExit) as raised:
        pkg.pipeline.evaluate.main([])
    assert raised.value.code == 1
    assert f"gate FAILED: {GATE_METRIC[task]}" in capsys.readouterr().err
    metrics = json.loads((folder / pkg.core.paths.METRICS).read_text())
    assert metrics["gate"]["passed"] is False
    assert "Verdict: FAIL" in (folder / pkg.core.paths.EVALUATION_REPORT).read_text()


def test_a_stage_without_its_input_names_the_stage_to_run(pkg, project):
    with pytest.raises(SystemExit, match="dvc repro ingest"):
        pkg.pipeline.prepare.main([])


# Runs each command the way `python -m` does (runpy), in one process so the imports are paid once.
HELP = """
import runpy, sys
for module in sys.argv[1:]:
    print(f"==> {module}", flush=True)
    sys.argv = [module, "--help"]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code:
            raise
    else:
        raise SystemExit(f"{module} --help did not exit: no `if __name__ == '__main__': main()`?")
"""


def commands(root, package):
    """`python -m` name → the module holding its main guard, for every module of the package that has one (a
    package's `__main__.py` runs as the package)."""
    src = root / "src"
    found = {}
    for path in sorted((src / package).rglob("*.py")):
        if MAIN_GUARD in path.read_text():
            module = ".".join(path.relative_to(src).with_suffix("").parts)
            found[module.removesuffix(".__main__")] = module
    return found


@pytest.mark.slow
def test_every_command_has_a_help(pkg, root):
    """Every command (each module with a main guard: the stages, the Makefile's tools) exits 0 on `--help` and shows
    its docstring's first line; a stage's help names `--params`."""
    found = commands(root, pkg.name)
    stages = {stage(pkg, name).__name__ for name in pkg.stages}
    assert stages <= set(found), f"stages without a main guard: {sorted(stages - set(found))}"
    result = subprocess.run([sys.executable, "-c", HELP, *found], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"--help failed: {result.stderr[-2000:]}"
    helps = dict(part.split("\n", 1) for part in result.stdout.split("==> ")[1:])
    assert list(helps) == list(found), result.stdout[-2000:]
    for command, module in found.items():
        out = helps[command]
        assert "usage:" in out, f"python -m {command} --help printed no usage:\n{out[-800:]}"
        first_line = importlib.import_module(module).__doc__.strip().splitlines()[0]
        assert first_line in out, f"{command} --help does not show {first_line!r}"
        if command in stages:
            assert "--params" in out
