"""The data card, model card, criteria page and architecture page, from the pipeline's records."""

from __future__ import annotations

from typing import Any

from ..core.schema import Schema
from .render import num, render

SIGNS = {"min": "≥", "max": "≤"}


def data_card(ingest: dict[str, Any], prepare: dict[str, Any], schema: Schema, stats: dict[str, Any]) -> str:
    """Source, size, hashes, split, target and per-feature facts of the training data."""
    features = []
    for feature in schema.features:
        s = stats[feature.name]
        if feature.numeric:
            shape = f"mean {s['mean']:.4g}, std {s['std']:.4g}, range [{s['min']:.4g}, {s['max']:.4g}]"
        else:
            shape = f"{len(s['frequencies'])} categories"
        features.append([f"`{feature.name}`", feature.kind, prepare["missing_values"].get(feature.name, 0), shape])
    splits = [
        [name, prepare[name]["rows"], f"`{prepare[name]['sha256'][:16]}`", _summary(prepare[name]["target"])]
        for name in ("train", "test")
    ]
    source = [
        ["source", f"`{ingest['source']}`"],
        ["task", ingest["task"]],
        ["target", f"`{ingest['target']}`"],
        ["raw rows × columns", f"{ingest['rows']} × {ingest['columns']}"],
        ["raw sha256", f"`{ingest['raw_sha256']}`"],
        ["rows dropped (missing target)", prepare["rows_dropped_missing_target"]],
        ["rows used", prepare["rows_out"]],
        ["labelled production records joining the train set", (prepare.get("production") or {}).get("rows", 0)],
    ]
    return render("data_card.md.j2", source=source, split=prepare["split"], splits=splits, features=features)


def model_card(
    ingest: dict[str, Any], trained: dict[str, Any], metrics: dict[str, Any], features: dict[str, Any]
) -> str:
    """What the model is, what it was trained on, how well it does, and its limits."""
    facts = [
        ["estimator", f"{trained['estimator']} (`train.model: {trained['model']}`)"],
        ["task", ingest["task"]],
        ["training rows", trained["rows"]],
        ["input features", len(features["inputs"])],
        ["model features (after transformation)", trained["features"]],
        ["model sha256", f"`{trained['model_sha256'][:16]}`"],
        ["transformer sha256", f"`{features['transformer_sha256'][:16]}`"],
    ]
    hyperparameters = [[k, f"`{v}`"] for k, v in sorted(trained["params"].items())]
    performance = [[m, num(v), num(metrics["baseline"][m])] for m, v in metrics["metrics"].items()]
    return render(
        "model_card.md.j2",
        facts=facts,
        hyperparameters=hyperparameters,
        performance=performance,
        passed=metrics["gate"]["passed"],
    )


def criteria_page(criteria: dict[str, Any]) -> str:
    """The human page of docs/criteria.yaml."""
    rules = [[m, f"{SIGNS[op]} {t}"] for m, rule in criteria.get("gate", {}).items() for op, t in rule.items()]
    live = criteria.get("live") or {}
    targets = [
        [
            f"`{metric}`",
            *(f"{SIGNS[op]} {t[op]}" for op in ("min", "max") if op in t),
            t.get("retire_below", t.get("retire_above")),
        ]
        for metric, t in (live.get("targets") or {}).items()
    ]
    others = {name: section for name, section in sorted(criteria.items()) if name != "gate"}
    drift = live.get("drift") or {}
    policy = [
        [what, value]
        for what, value in (
            ("labelled records before quality is judged (`min_labels`)", live.get("min_labels")),
            ("logged records before drift is judged (`min_predictions`)", live.get("min_predictions")),
            ("days of traffic judged (`window_days`)", live.get("window_days")),
            ("drift: PSI above (`drift.psi_max`)", drift.get("psi_max")),
            ("drift: and a chi-square p-value below (`drift.p_value_max`)", drift.get("p_value_max")),
        )
        if value is not None
    ]
    return render("evaluation_criteria.md.j2", rules=rules, targets=targets, policy=policy, sections=others)


def architecture(pipeline: dict[str, Any]) -> str:
    """A Mermaid diagram of the DVC stages (an edge from each output to the stages reading it) and the parts."""
    stages = pipeline["stages"]
    producer = {_path(out): name for name, s in stages.items() for k in _OUTPUTS for out in s.get(k, [])}
    edges = sorted(
        {
            (producer[dep], name)
            for name, s in stages.items()
            for dep in s.get("deps", [])
            if producer.get(dep, name) != name
        }
    )
    rows = [
        [
            name,
            f"`{s['cmd']}`",
            ", ".join(f"`{d}`" for d in s.get("deps", []) if not str(d).startswith("src/")),
            ", ".join(f"`{_path(o)}`" for k in _OUTPUTS for o in s.get(k, [])),
        ]
        for name, s in stages.items()
    ]
    return render("architecture.md.j2", stages=list(stages), edges=edges, rows=rows)


_OUTPUTS = ("outs", "metrics", "plots")


def _path(out: str | dict[str, Any]) -> str:
    return str(out if isinstance(out, str) else next(iter(out)))


def _summary(target: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in target.items())
