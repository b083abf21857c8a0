"""The stages run end to end on a tiny CSV, write every output dvc.yaml declares, and have a --help."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

GATE_METRIC = {"classification": "accuracy", "regression": "r2"}
ESTIMATOR = {"classification": "logistic_regression", "regression": "ridge"}


@pytest.fixture
def project(pkg, root, isolated, make_toy, monkeypatch):
    """A tiny project in a temporary folder: params.yaml, criteria, the real dvc.yaml and a CSV source.

    It has the task of this project, a target not called `target`, a categorical column and
    missing feature and target values. It is not a git repository: the code version is stubbed.
    """
    monkeypatch.setattr(pkg.evaluate, "code_version", lambda: "test")
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
    gate = {"gate": {GATE_METRIC[task]: {"min": threshold}}}
    (folder / "docs/criteria.yaml").write_text(yaml.safe_dump(gate))


def declared_outputs(pipeline: dict) -> list[str]:
    """Every path dvc.yaml says a stage writes."""
    return [
        str(out if isinstance(out, str) else next(iter(out)))
        for stage in pipeline["stages"].values()
        for key in ("outs", "metrics", "plots")
        for out in stage.get(key, [])
    ]


def test_stages_run_end_to_end(pkg, project):
    folder, task = project
    for stage in pkg.stages:
        getattr(pkg, stage).main([])
    declared = declared_outputs(yaml.safe_load((folder / "dvc.yaml").read_text()))
    missing = [path for path in declared if not (folder / path).exists()]
    assert not missing, f"stages did not write these dvc.yaml outputs: {missing}"

    prepare = json.loads((folder / pkg.paths.PREPARE_RECORD).read_text())
    assert prepare["rows_in"] == 80 and prepare["rows_dropped_missing_target"] == 2 and prepare["rows_out"] == 78
    assert prepare["train"]["rows"] + prepare["test"]["rows"] == 78
    assert prepare["missing_values"] == {"weight": 3, "colour": 2}
    features = json.loads((folder / pkg.paths.FEATURE_LIST).read_text())
    assert features["inputs"] == ["size", "weight", "colour"]
    assert {"colour_blue", "colour_green", "colour_red"} <= set(features["outputs"])
    trained = json.loads((folder / pkg.paths.TRAIN_RECORD).read_text())
    assert trained["rows"] == prepare["train"]["rows"] and trained["features"] == len(features["outputs"])
    metrics = json.loads((folder / pkg.paths.METRICS).read_text())
    assert metrics["gate"]["passed"] is True
    assert [c["metric"] for c in metrics["gate"]["checks"]] == [GATE_METRIC[task]]
    assert "Verdict: PASS" in (folder / pkg.paths.EVALUATION_REPORT).read_text()
    assert "gate PASS" in (folder / "docs/model_card.md").read_text()


def test_failed_gate_is_recorded_then_exits_non_zero(pkg, project, capsys):
    folder, task = project
    for stage in ("ingest", "prepare", "featurize", "train"):
        getattr(pkg, stage).main([])
    set_gate(folder, task, threshold=2.0)  # no model reaches it
    with pytest.raises(SystemExit) as raised:
        pkg.evaluate.main([])
    assert raised.value.code == 1
    assert f"gate FAILED: {GATE_METRIC[task]}" in capsys.readouterr().err
    metrics = json.loads((folder / pkg.paths.METRICS).read_text())
    assert metrics["gate"]["passed"] is False
    assert "Verdict: FAIL" in (folder / pkg.paths.EVALUATION_REPORT).read_text()


def test_a_stage_without_its_input_names_the_stage_to_run(pkg, project):
    with pytest.raises(SystemExit, match="dvc repro ingest"):
        pkg.prepare.main([])


@pytest.mark.slow
def test_every_stage_has_a_help(pkg, root):
    """`python -m <package>.<stage> --help` exits 0 and shows the module's first docstring line."""
    running = {
        stage: subprocess.Popen(
            [sys.executable, "-m", f"{pkg.name}.{stage}", "--help"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for stage in pkg.stages
    }
    for stage, process in running.items():
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, f"{stage} --help failed: {err}"
        first_line = getattr(pkg, stage).__doc__.strip().splitlines()[0]
        assert first_line in out, f"{stage} --help does not show {first_line!r}"
        assert "--params" in out
